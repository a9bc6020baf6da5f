import Foundation
import GeoPredict
import GeoPredictProtos
@testable import GeoPredictService
import Logging
import MPI
import MPIPlug
import MPIPlugTesting
import Testing

/// The whole service in one process at one rank — data, model, handler, routes, front door and round
/// loop — called through the router the way an HTTP client calls it.
@Suite(.serialized)
struct InProcessServiceTests {
    private typealias API = Geopredict_V1_GeoPredictService
    /// The synthetic city's history ends at this midnight; "now" is later, as when serving.
    private static let cityEnd = Int64(Date().timeIntervalSince1970) / Seconds.perDay * Seconds.perDay

    private static func temporaryState() -> String { NSTemporaryDirectory() + "geopredict-inprocess-\(UUID().uuidString)" }

    private static func application(state: String, booster: BoostedRankerParameters? = nil) throws -> GeoPredictApplication {
        var plug = MPIPlugConfiguration()
        plug.port = 0
        let city = SyntheticCity.Configuration(userCount: 120, storeCount: 30, meanVisitsPerUser: 10, days: 30, endUnixSeconds: cityEnd)
        let options = GeoPredictServerOptions(
            data: .synthetic(city), stateDirectory: state, plug: plug, foldInMemoCapacity: 0, booster: booster)
        var logger = Logger(label: "geopredict-test")
        logger.logLevel = .warning
        return try GeoPredictApplication(environment: MPI.shared(), options: options, logger: logger)
    }

    private static func checkIn(_ user: String, at time: Int64, store: String) -> Geopredict_V1_LocationEvent {
        .with {
            $0.userID = user
            $0.timestampUnixSeconds = time
            $0.latitude = 40.73
            $0.longitude = -73.99
            $0.storeID = store
        }
    }

    @Test(
        "serve --ranker xgboost trains the booster in the served job, predicts with it and restarts from its checkpoint",
        .enabled(if: XGBoostLibrary.isAvailable, "libxgboost not found: install libxgboost-dev to run the boosted ranker tests"))
    func theBoostedRankerIsTrainedServedAndCheckpointed() async throws {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(atPath: state) }
        var booster = BoostedRankerParameters()
        booster.trees = 20
        let trees: BoostedTrees
        do {
            let application = try Self.application(state: state, booster: booster)
            trees = try #require(application.node.model.booster?.trees)
            #expect(trees.treeCount == 20)
            let user = try #require(application.exampleUserID)
            try await application.service.test { client in
                let answer = try await client.callSucceeding(
                    API.predictNextVisits, Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = user; $0.limit = 5 },
                    returning: Geopredict_V1_PredictNextVisitsResponse.self)
                #expect(answer.visits.count == 5)
            }
        }
        // A restart serves the checkpoint: the same trees, without retraining.
        let restarted = try Self.application(state: state)
        #expect(restarted.node.model.booster?.trees == trees)
    }

    @Test func ingestIsReflectedInTheNextPredictionAndInGetUser() async throws {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let application = try Self.application(state: state)
        let store = try #require(application.node.catalogue.ids.last)
        try await application.service.test { client in
            let user = "in-process-newcomer"
            let before = try await client.callSucceeding(
                API.predictNextVisits, Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = user; $0.limit = 5 }, returning: Geopredict_V1_PredictNextVisitsResponse.self)
            #expect(before.coldStart)

            let now = Int64(Date().timeIntervalSince1970)
            let events = (0..<3).map { Self.checkIn(user, at: now - Seconds.perHour * Int64(3 - $0), store: store) }
            let ingested = try await client.callSucceeding(
                API.ingestEvents, Geopredict_V1_IngestEventsRequest.with { $0.events = events }, returning: Geopredict_V1_IngestEventsResponse.self, format: .json)
            #expect(ingested.accepted == 3 && ingested.rejected == 0)

            let after = try await client.callSucceeding(
                API.predictNextVisits, Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = user; $0.limit = 5 }, returning: Geopredict_V1_PredictNextVisitsResponse.self)
            #expect(!after.coldStart)
            #expect(after.visits.contains { $0.storeID == store }, "the store the user just visited three times is predicted")

            let summary = try await client.callSucceeding(
                API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = user }, returning: Geopredict_V1_GetUserResponse.self)
            #expect(summary.eventCount == 3 && summary.visitCount == 3)
            #expect(summary.lastEventUnixSeconds == events[2].timestampUnixSeconds)
        }
    }

    @Test func badEventsAreReportedAndUnknownUsersAreNotFound() async throws {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let application = try Self.application(state: state)
        let knownStore = application.node.catalogue.ids[0]
        try await application.service.test { client in
            let now = Int64(Date().timeIntervalSince1970)
            var bad = Self.checkIn("someone", at: now, store: "no-such-store")
            let good = Self.checkIn("someone", at: now, store: knownStore)
            bad.latitude = 40.7
            let answer = try await client.callSucceeding(
                API.ingestEvents, Geopredict_V1_IngestEventsRequest.with { $0.events = [bad, good] }, returning: Geopredict_V1_IngestEventsResponse.self)
            #expect(answer.accepted == 1 && answer.rejected == 1)
            #expect(answer.errors.map(\.index) == [0] && answer.errors.first?.field == "store_id")

            let missing = try await client.call(
                API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = "never-seen" }, returning: Geopredict_V1_GetUserResponse.self)
            #expect(missing.failure?.code == .notFound)
            let tooMany = try await client.call(
                API.predictNextVisits, Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = "someone"; $0.limit = 500 }, returning: Geopredict_V1_PredictNextVisitsResponse.self)
            #expect(tooMany.failure?.code == .invalidArgument)
            // Through the front door and the test client's reading of the body: the field in a detail.
            #expect(tooMany.failure?.fieldViolations.map(\.field) == ["limit"])
            #expect(tooMany.failure?.fieldViolations.first?.description_p == "must be 0 (the default, 10) to 100, not 500")
        }
    }

    @Test func theConsoleIsServedAtTheRoot() async throws {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let application = try Self.application(state: state)
        try await application.service.test { client in
            for file in GeoPredictConsole.files {
                try await client.http.execute(uri: file.path, method: .get) { response in
                    #expect(response.status == .ok, "\(file.path)")
                    #expect(Array(buffer: response.body) == file.body, "\(file.path)")
                    #expect(response.headers[.contentSecurityPolicy] == StaticFile.sameOriginPolicy, "\(file.path)")
                }
            }
        }
    }

    @Test func trainServesANewModelAndARestartReplaysTheLog() async throws {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let user = "in-process-trained"
        let first = try Self.application(state: state)
        let store = first.node.catalogue.ids[1]
        let startVersion = first.node.status.servingVersion
        try await first.service.test { client in
            let now = Int64(Date().timeIntervalSince1970)
            _ = try await client.callSucceeding(
                API.ingestEvents, Geopredict_V1_IngestEventsRequest.with { $0.events = [Self.checkIn(user, at: now - 60, store: store)] },
                returning: Geopredict_V1_IngestEventsResponse.self)
            let started = try await client.callSucceeding(
                API.train, Geopredict_V1_TrainRequest.with { $0.iterations = 2 }, returning: Geopredict_V1_TrainResponse.self)
            #expect(started.modelVersion != startVersion)
            let status = try await Self.waitForTraining(client)
            #expect(status.state == .idle)
            #expect(status.servingModelVersion == started.modelVersion)
            // Both ALS models' iterations, in order, each with its loss.
            #expect(status.plannedAlsIterations == 4)
            #expect(status.alsIterations.map(\.model) == [.fitWindow, .fitWindow, .serving, .serving])
            #expect(status.alsIterations.map(\.iteration) == [1, 2, 1, 2])
            // The serving model has a loss; the fit-window one none (0) here: this city's history is no
            // longer than the fit window, so it has no visits to train on (its loss would divide by zero).
            let losses = status.alsIterations.map(\.loss)
            #expect(losses[2] > 0 && losses[3] > 0 && losses.allSatisfy(\.isFinite), "\(losses)")
            #expect(losses[0] == 0 && losses[1] == 0, "\(losses)")
            #expect(status.alsIterations.map(\.elapsedSeconds) == status.alsIterations.map(\.elapsedSeconds).sorted())
            // ALS lowers its loss with each sweep from the same start.
            #expect(status.alsIterations[3].loss <= status.alsIterations[2].loss)
            let prediction = try await client.callSucceeding(
                API.predictNextVisits, Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = user }, returning: Geopredict_V1_PredictNextVisitsResponse.self)
            #expect(prediction.modelVersion == started.modelVersion)
        }
        // A second start on the same state folder restores the checkpoint and replays the event.
        let second = try Self.application(state: state)
        #expect(second.node.status.servingVersion != startVersion)
        try await second.service.test { client in
            let summary = try await client.callSucceeding(
                API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = user }, returning: Geopredict_V1_GetUserResponse.self)
            #expect(summary.eventCount == 1)
        }
    }

    /// After `Train` the log segments its checkpoint covers are folded beside serving and removed;
    /// a restart then has every event, the same counts, visits and event ids as a restart from the
    /// same checkpoint and the unfolded segments, and a retried event is still not stored twice.
    @Test func trainFoldsTheLogAndARestartKeepsEveryEventAndEventID() async throws {
        let state = Self.temporaryState()
        let unfolded = Self.temporaryState()
        defer {
            try? FileManager.default.removeItem(atPath: state)
            try? FileManager.default.removeItem(atPath: unfolded)
        }
        let wal = "\(state)/wal"
        let users = (0..<6).map { "fold-user-\($0)" }
        let now = Int64(Date().timeIntervalSince1970)
        let first = try Self.application(state: state)
        let store = first.node.catalogue.ids[2]
        // Check-ins with ids, out of time order; one in five without an id.
        let runs = (0..<2).map { run in
            users.flatMap { user in
                (0..<5).map { index in
                    var event = Self.checkIn(user, at: now - Seconds.perHour * Int64((index * 3) % 5) - Int64(run), store: store)
                    if index != 2 { event.eventID = "\(user)-\(run)-\(index)" }
                    return event
                }
            }
        }
        try await first.service.test { client in _ = try await Self.ingest(runs[0], client) }
        let firstRunSegments = Self.segments(in: wal)
        #expect(!firstRunSegments.isEmpty)

        let second = try Self.application(state: state)
        try await second.service.test { client in
            _ = try await Self.ingest(runs[1], client)
            // The same folder as it is now, kept aside to be restarted unfolded below.
            try FileManager.default.copyItem(atPath: wal, toPath: "\(unfolded)-wal")
            _ = try await client.callSucceeding(
                API.train, Geopredict_V1_TrainRequest.with { $0.iterations = 2 }, returning: Geopredict_V1_TrainResponse.self)
            #expect(try await Self.waitForTraining(client).state == .idle)
            // The fold runs after the checkpoint, on the run's background thread.
            let deadline = ContinuousClock.now + .seconds(120)
            let foldFile = "\(wal)/fold-1-0-of-1.gpfold"
            while !FileManager.default.fileExists(atPath: foldFile) || !Self.segments(in: wal).isDisjoint(with: firstRunSegments),
                  ContinuousClock.now < deadline {
                _ = try await client.callSucceeding(
                    API.getTrainingStatus, Geopredict_V1_GetTrainingStatusRequest(), returning: Geopredict_V1_GetTrainingStatusResponse.self)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(second.node.foldedLog.generation == 1)
        #expect(Self.segments(in: wal).isDisjoint(with: firstRunSegments), "the first run's segments are folded and removed")
        #expect(FileManager.default.fileExists(atPath: "\(wal)/fold-1-0-of-1.gpfold"))
        // The unfolded twin: the same checkpoint and settings, the segments as they were before the fold.
        try FileManager.default.copyItem(atPath: state, toPath: unfolded)
        try FileManager.default.removeItem(atPath: "\(unfolded)/wal")
        try FileManager.default.moveItem(atPath: "\(unfolded)-wal", toPath: "\(unfolded)/wal")

        let restarted = try Self.application(state: state)
        let reference = try Self.application(state: unfolded)
        #expect(restarted.node.foldedLog.generation == 1 && reference.node.foldedLog.generation == 0)
        #expect(restarted.node.eventIDs.count == reference.node.eventIDs.count)
        #expect(restarted.node.eventIDs.count == users.count * 2 * 4)
        for user in users {
            let summary = try #require(restarted.node.histories.summary(of: user))
            #expect(summary.events == 10)
            #expect(summary.visits == 10)
            #expect(summary.lastEventUnixSeconds == now)
            #expect(reference.node.histories.summary(of: user)?.events == summary.events)
            #expect(reference.node.histories.summary(of: user)?.visits == summary.visits)
            #expect(restarted.node.histories.trainedVisits(of: user) == reference.node.histories.trainedVisits(of: user))
            #expect(restarted.node.histories.recentVisits(of: user) == reference.node.histories.recentVisits(of: user))
            for run in runs {
                for event in run where event.userID == user && event.hasEventID {
                    #expect(restarted.node.eventIDs.contains(event.eventID, of: user))
                }
            }
        }
        try await restarted.service.test { client in
            // Retries of both runs' requests: acknowledged, not stored again.
            #expect(try await Self.ingest(runs[0] + runs[1], client) == UInt32(users.count * 10))
            let summary = try await client.callSucceeding(
                API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = users[0] }, returning: Geopredict_V1_GetUserResponse.self)
            // The events without an id are stored again (nothing tells them apart): one per run.
            #expect(summary.eventCount == 10 + 2)
        }
    }

    private static func ingest(_ events: [Geopredict_V1_LocationEvent], _ client: MPIPlugTestClient) async throws -> UInt32 {
        try await client.callSucceeding(
            API.ingestEvents, Geopredict_V1_IngestEventsRequest.with { $0.events = events },
            returning: Geopredict_V1_IngestEventsResponse.self).accepted
    }

    /// The log segments in a write-ahead log folder.
    private static func segments(in wal: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: wal)) ?? []).filter { $0.hasSuffix(".wal") })
    }

    private static func waitForTraining(_ client: MPIPlugTestClient) async throws -> Geopredict_V1_GetTrainingStatusResponse {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let status = try await client.callSucceeding(
                API.getTrainingStatus, Geopredict_V1_GetTrainingStatusRequest(), returning: Geopredict_V1_GetTrainingStatusResponse.self)
            if status.state != .running || ContinuousClock.now > deadline { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension Result {
    /// The error, or nil for a success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
