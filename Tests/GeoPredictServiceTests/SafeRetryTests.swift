import Foundation
import GeoPredict
import GeoPredictProtos
@testable import GeoPredictService
import Logging
import MPI
import MPIPlug
import MPIPlugTesting
import Testing

/// Safe retries (`LocationEvent.event_id`) and per-owner storage failures of `IngestEvents`.
@Suite(.serialized)
struct SafeRetryTests {
    private typealias API = Geopredict_V1_GeoPredictService
    private static let cityEnd = Int64(Date().timeIntervalSince1970) / Seconds.perDay * Seconds.perDay

    // MARK: The memory of ids

    @Test func rememberedIDsAreRecognisedPerUser() {
        let memory = EventIDMemory(idsPerUser: 3)
        memory.remember("e1", of: "alice")
        #expect(memory.contains("e1", of: "alice"))
        #expect(!memory.contains("e1", of: "bob"), "ids are per user: another user's e1 is a different event")
        #expect(!memory.contains("e2", of: "alice"))
    }

    @Test func theOldestIDIsForgottenWhenAUserIsFull() {
        let memory = EventIDMemory(idsPerUser: 3)
        for id in ["e1", "e2", "e3", "e2", "e4"] { memory.remember(id, of: "alice") }
        // e2 again is not a new id, so only e4 displaced the oldest, e1.
        #expect(!memory.contains("e1", of: "alice"))
        #expect(["e2", "e3", "e4"].allSatisfy { memory.contains($0, of: "alice") })
        #expect(memory.count == 3)
        for index in 5...100 { memory.remember("e\(index)", of: "alice") }
        #expect(memory.count == 3, "memory stays bounded per user")
        #expect(["e98", "e99", "e100"].allSatisfy { memory.contains($0, of: "alice") })
    }

    @Test func unseenKeepsEventsWithoutIDsAndTheFirstOfEachNewID() {
        let memory = EventIDMemory(idsPerUser: 10)
        memory.remember("stored", of: "alice")
        let events: [(user: String, id: String?)] = [
            ("alice", "stored"), ("alice", "new"), ("alice", nil), ("alice", "new"), ("bob", "new"), ("alice", nil),
        ]
        let unseen = memory.unseen(events, userID: \.user, eventID: \.id)
        #expect(unseen.map(\.user) == ["alice", "alice", "bob", "alice"])
        #expect(unseen.map(\.id) == ["new", nil, "new", nil])
        #expect(!memory.contains("new", of: "alice"), "unseen does not remember: only what was stored is remembered")
    }

    @Test func aMemoryOfNoIDsChecksNothing() {
        let memory = EventIDMemory(idsPerUser: 0)
        memory.remember("e1", of: "alice")
        #expect(!memory.contains("e1", of: "alice"))
        #expect(memory.unseen([("alice", "e1"), ("alice", "e1")], userID: \.0, eventID: \.1).count == 2)
    }

    // MARK: Per-owner refusals

    private static func accepting(_ count: Int, rejecting indexes: [UInt32] = []) -> Geopredict_V1_IngestEventsResponse {
        .with {
            $0.accepted = UInt32(count - indexes.count)
            $0.errors = indexes.map { index in .with { $0.index = index; $0.field = "latitude"; $0.code = "invalid_argument" } }
            $0.rejected = UInt32(indexes.count)
        }
    }

    @Test func onlyTheRefusedEventsAreReportedWithTheirCodes() throws {
        // Event 3 was rejected as bad: it stays invalid_argument. Events 1 and 4 were refused by
        // their owner (its disk is full), event 2 by a limit; 0 was stored.
        let answer = try Self.accepting(5, rejecting: [3])
            .withRefusals([(4, .unavailable), (1, .unavailable), (2, .tooManyUsers)]).get()
        #expect(answer.accepted == 1)
        #expect(answer.rejected == 4)
        #expect(answer.errors.map(\.index) == [1, 2, 3, 4], "errors stay in index order")
        #expect(answer.errors.map(\.code) == ["unavailable", "resource_exhausted", "invalid_argument", "unavailable"])
    }

    @Test func aCallThatStoredNothingFailsWholeAndOthersAreUntouched() {
        let failed = Self.accepting(2).withRefusals([(0, .unavailable), (1, .unavailable)])
        #expect(failed.failure?.code == .unavailable)
        let untouched = Self.accepting(2).withRefusals([])
        #expect((try? untouched.get()) == Self.accepting(2), "another client's call in the round is not touched")
        // Refused by limits only: a retry would not help at once, so it is an answer, not a 503.
        let limited = Self.accepting(1).withRefusals([(0, .tooManyEvents)])
        #expect((try? limited.get())?.errors.map(\.code) == ["resource_exhausted"])
    }

    @Test func aSplitIngestIsMergedAtItsEventsPlacesAndAFailedOwnerTouchesOnlyItsEvents() throws {
        // Owner A got events 0, 2, 3 and refused its second (request 2) for a full disk; owner B got 1
        // and 4 and rejected its second as invalid; owner C (events 5, 6) could not be reached.
        var ownerA = Self.accepting(3).withRefusals([(1, .unavailable)])
        let ownerB: RouteResult<Geopredict_V1_IngestEventsResponse> = .success(Self.accepting(2, rejecting: [1]))
        let parts = [
            KeyedPart(positions: [0, 2, 3], result: ownerA),
            KeyedPart(positions: [1, 4], result: ownerB),
            KeyedPart(positions: [5, 6], result: .failure(ConnectError(.deadlineExceeded, "rank 2 did not answer"))),
        ]
        let merged = IngestMerge(parts)
        let response = try merged.result.get()
        #expect(response.accepted == 3)
        #expect(response.errors.map(\.index) == [2, 4, 5, 6])
        #expect(response.errors.map(\.code) == ["unavailable", "invalid_argument", "deadline_exceeded", "deadline_exceeded"])
        #expect(response.rejected == 4)
        #expect(merged.refused == [RefusedEvent(request: 0, index: 2, reason: .unavailable)])
        #expect(merged.goodEvents == 4)
        ownerA = .failure(ConnectError(.unavailable, "no event could be stored durably; retry the request"))
        let allFailed = IngestMerge([KeyedPart(positions: [0], result: ownerA), KeyedPart(positions: [1], result: ownerA)])
        #expect(throws: ConnectError.self) { try allFailed.result.get() }
    }

    // MARK: In one process, through the front door

    private static func application(state: String, limits: IngestLimits = IngestLimits()) throws -> GeoPredictApplication {
        var plug = MPIPlugConfiguration()
        plug.port = 0
        let city = SyntheticCity.Configuration(userCount: 60, storeCount: 20, meanVisitsPerUser: 5, days: 20, endUnixSeconds: cityEnd)
        let options = GeoPredictServerOptions(
            data: .synthetic(city), stateDirectory: state, plug: plug, foldInMemoCapacity: 0, ingestLimits: limits)
        var logger = Logger(label: "geopredict-test")
        logger.logLevel = .warning
        return try GeoPredictApplication(environment: MPI.shared(), options: options, logger: logger)
    }

    private static func fix(_ user: String, at time: Int64, id: String?) -> Geopredict_V1_LocationEvent {
        .with {
            $0.userID = user
            $0.timestampUnixSeconds = time
            $0.latitude = 40.73
            $0.longitude = -73.99
            if let id { $0.eventID = id }
        }
    }

    private static func eventCount(_ user: String, _ client: MPIPlugTestClient) async throws -> UInt64 {
        try await client.callSucceeding(
            API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = user }, returning: Geopredict_V1_GetUserResponse.self
        ).eventCount
    }

    @Test func aRetriedRequestIsAcknowledgedAndStoredOnceAcrossARestart() async throws {
        let state = NSTemporaryDirectory() + "geopredict-retry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let user = "retrying-phone"
        let now = Int64(Date().timeIntervalSince1970)
        let request = Geopredict_V1_IngestEventsRequest.with {
            $0.events = [
                Self.fix(user, at: now - 300, id: "a"), Self.fix(user, at: now - 200, id: "b"),
                Self.fix(user, at: now - 300, id: "a"), Self.fix(user, at: now - 100, id: nil),
            ]
        }
        try await Self.application(state: state).service.test { client in
            for attempt in 1...2 {
                let answer = try await client.callSucceeding(
                    API.ingestEvents, request, returning: Geopredict_V1_IngestEventsResponse.self, format: attempt == 1 ? .binary : .json)
                #expect(answer.accepted == 4 && answer.rejected == 0, "attempt \(attempt): every event is acknowledged")
            }
            // a and b once, the event without an id once per attempt.
            #expect(try await Self.eventCount(user, client) == 4)
            let badID = Geopredict_V1_IngestEventsRequest.with { $0.events = [Self.fix(user, at: now, id: "")] }
            let rejected = try await client.callSucceeding(API.ingestEvents, badID, returning: Geopredict_V1_IngestEventsResponse.self)
            #expect(rejected.errors.first?.field == "event_id" && rejected.errors.first?.code == "invalid_argument")
        }
        // After a restart the ids come back from the log: the same request again stores only the
        // event without an id.
        try await Self.application(state: state).service.test { client in
            #expect(try await Self.eventCount(user, client) == 4)
            let answer = try await client.callSucceeding(API.ingestEvents, request, returning: Geopredict_V1_IngestEventsResponse.self)
            #expect(answer.accepted == 4)
            #expect(try await Self.eventCount(user, client) == 5)
        }
    }

    @Test func eventsBeyondTheUserAndEventLimitsAreRefusedAndTheRestStored() async throws {
        let state = NSTemporaryDirectory() + "geopredict-limits-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let now = Int64(Date().timeIntervalSince1970)
        // The city has 60 users: room for one new user, and three events per user.
        let application = try Self.application(state: state, limits: IngestLimits(usersPerRank: 61, eventsPerUser: 3))
        try await application.service.test { client in
            let request = Geopredict_V1_IngestEventsRequest.with {
                $0.events = [
                    Self.fix("first-newcomer", at: now - 30, id: nil), Self.fix("second-newcomer", at: now - 20, id: nil),
                    Self.fix("first-newcomer", at: now - 10, id: nil), Self.fix("first-newcomer", at: now - 5, id: nil),
                    Self.fix("first-newcomer", at: now - 1, id: nil),
                ]
            }
            let answer = try await client.callSucceeding(API.ingestEvents, request, returning: Geopredict_V1_IngestEventsResponse.self)
            #expect(answer.accepted == 3)
            #expect(answer.errors.map(\.index) == [1, 4])
            #expect(answer.errors.allSatisfy { $0.code == "resource_exhausted" })
            #expect(answer.errors.first?.message.contains("--max-users-per-rank") == true)
            #expect(try await Self.eventCount("first-newcomer", client) == 3)
            let missing = try await client.call(
                API.getUser, Geopredict_V1_GetUserRequest.with { $0.userID = "second-newcomer" }, returning: Geopredict_V1_GetUserResponse.self)
            #expect(missing.failure?.code == .notFound, "a refused new user is not half-created")
        }
    }
}
