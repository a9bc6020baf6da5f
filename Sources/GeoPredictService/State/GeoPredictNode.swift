import Foundation
import GeoPredict
import GeoPredictProtos
import Logging
import MPI
import MPIPlug

/// One rank's share of the service: its users' histories and write-ahead log, the replicated store
/// catalogue, and the replicated model. Lives on the rank's MPI thread only.
final class GeoPredictNode {
    let shards: ShardMap
    let catalogue: StoreCatalogue
    let histories: UserHistories
    /// The ids of stored events, so that a retried event is not stored twice.
    let eventIDs: EventIDMemory
    let log: WriteAheadLog
    /// How many users and events per user ingest may add to this rank.
    let limits: IngestLimits
    /// The users this rank holds: counted once at start, then kept up to date by ingest.
    private var userCount: Int
    let logger: Logger
    private(set) var model: NextVisitModel
    /// The boosted ranker each `Train` run adds (`serve --ranker xgboost`); `nil` for the linear model alone.
    var booster: BoostedRankerParameters?
    private(set) var status = TrainingStatus()
    /// The serving model's sequence number (the `n` of `mn-…`); checkpoints keep it across restarts.
    private var modelSequence: Int
    /// Writes a checkpoint after each training (nil in tests without a state folder).
    private let checkpoints: ModelCheckpointing?
    /// Scratch buffers of the model's scorer, reused by every prediction on this thread, with the memo
    /// of recent users' fold-ins (made anew with each model).
    private var scratch: NextVisitScratch
    private let foldInMemoCapacity: Int
    /// The folded log generation (``LogFold``) the next fold builds on: the one read at start, then
    /// each one written. The same on every rank.
    var foldedLog = LogFold.State()
    /// Whether checkpoints fold the log (off once a fold found the state folder not shared by every
    /// rank: removing segments another node's rank still needs would lose events).
    var foldsLog = true

    init(
        shards: ShardMap, shardRank: Int, catalogue: StoreCatalogue, histories: UserHistories,
        eventIDs: EventIDMemory = EventIDMemory(), log: WriteAheadLog, limits: IngestLimits = IngestLimits(),
        model: NextVisitModel, modelVersion: String, modelSequence: Int = 1, checkpoints: ModelCheckpointing? = nil,
        foldInMemoCapacity: Int = 0, logger: Logger
    ) {
        self.shards = shards
        self.shardRank = shardRank
        self.catalogue = catalogue
        self.histories = histories
        self.eventIDs = eventIDs
        self.limits = limits
        userCount = histories.userCount
        self.log = log
        self.model = model
        self.modelSequence = modelSequence
        self.checkpoints = checkpoints
        self.logger = logger
        self.foldInMemoCapacity = foldInMemoCapacity
        scratch = model.makeScratch(foldInMemoCapacity: foldInMemoCapacity)
        status.servingVersion = modelVersion
        status.runVersion = modelVersion
        status.stage = status.stages
        status.loss = model.fitReport?.objective ?? 0
    }

    /// Whether this rank owns `userID`.
    func owns(_ userID: String) -> Bool { shards.owner(of: userID) == shardRank }

    /// This rank's number in the shard map: its world rank (the service's communicator duplicates the
    /// world, so rounds see the same ranks).
    let shardRank: Int

    // MARK: Predictions

    /// The prediction for a user this rank owns.
    func predict(_ request: Geopredict_V1_PredictNextVisitsRequest, nowUnixSeconds: Int64) -> Geopredict_V1_PredictNextVisitsResponse {
        let trained = histories.trainedVisits(of: request.userID)
        let recent = histories.recentVisits(of: request.userID)
        let requestPosition = request.hasLatitude
            ? GeoPoint(latitude: request.latitude, longitude: request.longitude) : nil
        let position = requestPosition ?? histories.reportedPosition(of: request.userID)
        let time = request.atUnixSeconds == 0 ? nowUnixSeconds : request.atUnixSeconds
        let query = NextVisitRequest(
            time: time, position: position, limit: request.effectiveLimit, categories: Self.filter(for: request)
        )
        let prediction = model.predict(trainingVisits: trained, recentVisits: recent, request: query, scratch: &scratch)
        let origin = prediction.origin
        return .with { response in
            response.visits = prediction.stores.map { ranked in
                let store = ranked.store
                let point = catalogue.position(of: store)
                return .with {
                    $0.storeID = catalogue.ids[store]
                    $0.score = ranked.score
                    $0.latitude = point.latitude
                    $0.longitude = point.longitude
                    if let origin { $0.distanceMeters = origin.distance(to: point) }
                    $0.category = catalogue.category(of: store)
                }
            }
            if let trip = prediction.nextTrip {
                response.nextTrip = .with {
                    $0.earliestUnixSeconds = trip.earliest
                    $0.latestUnixSeconds = trip.latest
                    $0.probabilityWithin24H = trip.probabilityWithinHorizon
                }
            }
            response.modelVersion = status.servingVersion
            response.coldStart = trained.isEmpty && recent.isEmpty
        }
    }

    private static func filter(for request: Geopredict_V1_PredictNextVisitsRequest) -> CategoryFilter? {
        switch (request.categories.isEmpty, request.shoppingOnly) {
        case (true, false): return nil
        case (true, true): return .shopping
        case (false, false): return .names(Set(request.categories))
        case (false, true): return .names(Set(request.categories.filter(ShoppingCategories.contains)))
        }
    }

    // MARK: Ingest

    /// A good event this rank owns, with where it is in the round.
    struct OwnedEvent {
        let request: Int
        let index: Int
        let event: Geopredict_V1_LocationEvent
        let kind: UserHistories.EventKind
    }

    /// Stores this rank's share of validated events durably, then applies them, and returns the ones
    /// it did not store. A retried event (its id already stored) is acknowledged again without being
    /// stored twice; events beyond ``limits`` are refused; if the log cannot be written, every event
    /// that was to be written is refused as unavailable and nothing is applied.
    func ingest(_ events: [OwnedEvent]) -> [RefusedEvent] {
        let new = eventIDs.unseen(events, userID: \.event.userID, eventID: \.event.optionalEventID)
        let (admitted, refused, newUsers) = admit(new)
        guard !admitted.isEmpty else { return refused }
        do {
            try log.append(admitted.map { try $0.event.serializedBytes() })
        } catch {
            logger.error("could not make events durable", metadata: ["error": "\(error)"])
            return refused + admitted.map { RefusedEvent(request: $0.request, index: $0.index, reason: .unavailable) }
        }
        userCount += newUsers
        for owned in admitted {
            apply(owned.event, kind: owned.kind)
            if owned.event.hasEventID { eventIDs.remember(owned.event.eventID, of: owned.event.userID) }
        }
        return refused
    }

    /// Splits `events` into those within ``limits`` and those beyond, counting the batch's own new
    /// users and events as it goes.
    private func admit(_ events: [OwnedEvent]) -> (admitted: [OwnedEvent], refused: [RefusedEvent], newUsers: Int) {
        var admitted = [OwnedEvent]()
        var refused = [RefusedEvent]()
        var eventCounts = [String: Int]()
        var newUsers = 0
        for owned in events {
            let user = owned.event.userID
            if eventCounts[user] == nil {
                if let summary = histories.summary(of: user) {
                    eventCounts[user] = summary.events
                } else if userCount + newUsers < limits.usersPerRank {
                    eventCounts[user] = 0
                    newUsers += 1
                } else {
                    refused.append(RefusedEvent(request: owned.request, index: owned.index, reason: .tooManyUsers))
                    continue
                }
            }
            let count = eventCounts[user, default: 0]
            guard count < limits.eventsPerUser else {
                refused.append(RefusedEvent(request: owned.request, index: owned.index, reason: .tooManyEvents))
                continue
            }
            eventCounts[user] = count + 1
            admitted.append(owned)
        }
        return (admitted, refused, newUsers)
    }

    /// Applies an event that is already durable (from ingest or from the log at start).
    func apply(_ event: Geopredict_V1_LocationEvent, kind: UserHistories.EventKind) {
        _ = histories.apply(
            userID: event.userID, timestamp: event.timestampUnixSeconds,
            position: GeoPoint(latitude: event.latitude, longitude: event.longitude), kind: kind
        )
    }

    // MARK: Training

    /// Starts a training run from every stored visit, over all ranks, beside serving: the trainer
    /// runs on a background thread, its collectives run between requests, and the new model replaces
    /// the old one on every rank in the same round when it is done (then it is checkpointed).
    /// Predictions meanwhile come from the old model, with every visit ingested so far. Call it on
    /// every rank in the same round. Returns the version the run will produce, or why none starts.
    func startTraining(
        settings: Geopredict_V1_TrainRequest, nowUnixSeconds: Int64, context: RoundContext
    ) -> Result<String, ConnectError> {
        // A run that has served its model still ends in a step of its own: until then it counts too.
        guard status.state != .running, !context.hasBackgroundJob else {
            let what = status.state == .running
                ? "a training run (\(status.runVersion)) is in progress; GetTrainingStatus follows it"
                : "the last run's checkpoint is being folded into the log; call Train again shortly"
            return .failure(ConnectError(.failedPrecondition, what))
        }
        let statusBefore = status
        let visits = histories.beginTraining()
        // The run covers exactly the events applied so far: the checkpoint says so, for recovery.
        let coveredRecords = log.coverage
        modelSequence += 1
        let version = ModelVersion.make(sequence: modelSequence, unixSeconds: nowUnixSeconds)
        status.state = .running
        status.runVersion = version
        status.started = .now
        status.finishedSeconds = nil
        status.error = ""
        status.progress.reset()
        let newTrainer = Self.trainer(settings, booster: booster, progress: status.progress)
        status.plannedALSIterations = Self.plannedALSIterations(of: newTrainer)
        nonisolated(unsafe) let trainer = newTrainer  // used by the background thread alone from here on
        let (catalogue, shards, logger, progress) = (catalogue, shards, logger, status.progress)
        let isRankZero = context.rank == 0
        // The node lives on the MPI thread; the background thread only hands it to a step, which runs there.
        nonisolated(unsafe) let node = self
        // What the fold after the run needs to know of the log, taken here on the MPI thread: the
        // segments this rank wrote so far (the only ones of this run a fold can take: it takes only
        // what the run covers) and those read at start.
        let fold = LogFoldJob(
            directory: log.directory, shards: shards, rank: context.rank, ownSegments: Set(log.segmentStates.map(\.name)),
            earlierSegments: Set(checkpoints.map { Array($0.replayedLogs.recordCounts.keys) } ?? []), logger: logger)
        let started = context.startBackgroundJob { collectives in
            let outcome: Result<NextVisitModel, any Error>
            do {
                let (model, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, on: collectives) { line in
                    progress.advance()
                    if isRankZero { logger.info("training \(version): \(line)") }
                }
                outcome = .success(model)
            } catch {
                outcome = .failure(error)
            }
            let plan = try? collectives.perform { communicator throws(MPIError) in
                node.finishTraining(outcome, version: version, coveredRecords: coveredRecords, on: communicator)
            }
            // The fold's file work stays on this thread; only its agreements run on the MPI thread.
            if let plan = plan ?? nil { fold.run(plan, node: node, collectives: collectives) }
        }
        guard started else {
            // Another kind of background job holds the slot (the check above saw none): undo.
            histories.finishTraining(installed: false)
            status = statusBefore
            modelSequence -= 1
            return .failure(ConnectError(.failedPrecondition, "another background job is running"))
        }
        return .success(version)
    }

    /// Serves the run's model (or records its failure) and checkpoints it: the run's last step, on
    /// the MPI thread of every rank in the same round. Returns the log fold the checkpoint allows, the
    /// same on every rank (nil: none).
    private func finishTraining(
        _ outcome: Result<NextVisitModel, any Error>, version: String, coveredRecords: [String: Int], on communicator: Communicator
    ) -> LogFold.Plan? {
        switch outcome {
        case .success(let newModel):
            model = newModel
            histories.finishTraining(installed: true)
            scratch = newModel.makeScratch(foldInMemoCapacity: foldInMemoCapacity)
            status.loss = newModel.fitReport?.objective ?? 0
            status.servingVersion = version
            status.state = .idle
            status.stage = status.stages
        case .failure(let error):
            histories.finishTraining(installed: false)
            status.state = .failed
            status.error = "\(error)"
            if communicator.rank == 0 { logger.error("training \(version) failed", metadata: ["error": "\(error)"]) }
        }
        if let started = status.started {
            status.finishedSeconds = (ContinuousClock.now - started).seconds
        }
        guard status.state == .idle, let checkpoints else { return nil }
        do {
            let manifest = try checkpoints.save(
                model, version: version, sequence: modelSequence, trainingSeconds: status.finishedSeconds ?? 0, log: log,
                coveredRecords: coveredRecords, on: communicator
            )
            return try foldPlan(checkpoint: manifest, replayed: checkpoints.replayedLogs, on: communicator)
        } catch {
            logger.error("could not checkpoint the new model", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The fold of the log segments the checkpoint just written covers (``LogFold/plan(previous:checkpoint:replayed:segmentsByRank:highestGeneration:)``,
    /// decided on rank 0 from every rank's segments and broadcast). Collective; cheap: names and counts.
    ///
    /// - Parameter checkpoint: rank 0: the manifest written (nil: the checkpoint failed, nothing is folded).
    private func foldPlan(checkpoint: WALManifest?, replayed: WALManifest, on communicator: Communicator) throws(MPIError) -> LogFold.Plan? {
        var mine = ByteWriter()
        for segment in log.segmentStates {
            mine.write(segment.name)
            mine.writeVarint(UInt64(segment.records))
            mine.write(UInt8(segment.isOpen ? 1 : 0))
        }
        let gathered = try communicator.gatherVarying(mine.bytes, root: 0)
        var plan: LogFold.Plan?
        if communicator.rank == 0, let gathered, let checkpoint, foldsLog {
            let segmentsByRank = (0..<communicator.size).map { rank in
                var reader = ByteReader(gathered[rank])
                var segments = [LogFold.SegmentState]()
                while !reader.isAtEnd, let name = try? reader.readString(), let records = try? reader.readVarint(),
                      let open = try? reader.read(UInt8.self) {
                    segments.append(LogFold.SegmentState(name: name, records: Int(records), isOpen: open != 0))
                }
                return segments
            }
            let highest = LogFold.list(directory: log.directory).map(\.generation).max() ?? 0
            plan = LogFold.plan(
                previous: foldedLog, checkpoint: checkpoint, replayed: replayed, segmentsByRank: segmentsByRank,
                highestGeneration: highest)
        }
        let bytes = try communicator.broadcast(plan?.encoded ?? [], from: 0)
        return bytes.isEmpty ? nil : LogFold.Plan(decoding: bytes)
    }

    /// The trainer for a `Train` request's hyper-parameters (zero fields keep the defaults). With
    /// `progress`, it computes the ALS loss after every iteration and records it there (for
    /// `GetTrainingStatus`; it costs each iteration about a tenth more).
    static func trainer(
        _ settings: Geopredict_V1_TrainRequest, booster: BoostedRankerParameters? = nil, progress: TrainingProgress? = nil
    ) -> NextVisitTrainer {
        var trainer = NextVisitTrainer()
        trainer.booster = booster
        var configuration = ALSCollaborativeTraining().configuration
        if settings.factors > 0 { configuration.factorCount = Int(settings.factors) }
        if settings.iterations > 0 { configuration.iterations = Int(settings.iterations) }
        if settings.regularization > 0 { configuration.regularization = Float(settings.regularization) }
        if settings.alpha > 0 { configuration.confidence = .linear(alpha: Float(settings.alpha)) }
        configuration.computesLoss = progress != nil
        trainer.collaborative = ALSCollaborativeTraining(configuration: configuration) { iteration, coversEveryVisit in
            progress?.record(iteration, model: coversEveryVisit ? .serving : .fitWindow)
        }
        return trainer
    }

    /// The ALS iterations `trainer` runs: two models (before the fit window, and on every visit) when
    /// it has a collaborative part.
    static func plannedALSIterations(of trainer: NextVisitTrainer) -> Int {
        guard let als = trainer.collaborative as? ALSCollaborativeTraining,
              trainer.parameters.features.contains(.collaborative) else { return 0 }
        return 2 * als.configuration.iterations
    }
}

extension Geopredict_V1_LocationEvent {
    /// The client's `event_id`, or nil when it sent none.
    var optionalEventID: String? { hasEventID ? eventID : nil }
}
