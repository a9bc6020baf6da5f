import Foundation
import GeoPredict
import GeoPredictProtos
import Logging
import MPI
import MPIPlug

/// GeoPredict built on every rank and ready to serve: data loaded, the last model checkpoint
/// restored (or a model trained), the write-ahead logs replayed, and the routes registered on an
/// ``MPIPlugService``.
///
/// Building and serving are separate steps, as in Hummingbird's `buildApplication`: `geopredict serve`
/// builds and then calls ``serve(onReady:)``; tests build one on `MPI.shared()` and call
/// `service.test { client in ... }` (`MPIPlugTesting`) to run ingest, predict and train in one process.
public final class GeoPredictApplication {
    /// The MPIPlug service with GeoPredict's routes registered.
    public let service: MPIPlugService
    /// One line: ranks, users, stores, visits, model and how long building took.
    public let summary: String
    /// A user the data holds (rank 0's with the most visits), for an example call; `nil` when no
    /// user of rank 0 has a visit.
    public let exampleUserID: String?
    let node: GeoPredictNode
    private let logger: Logger

    /// Builds the application on every rank. Collective.
    public init(environment: MPIEnvironment, options: GeoPredictServerOptions, logger: Logger) throws {
        let world = environment.world
        let shards = ShardMap(rankCount: world.size)
        let say: (String) -> Void = { line in if world.rank == 0 { logger.info("\(line)") } }

        let started = ContinuousClock.now
        let dataset = try GeoPredictServer.loadData(options, shards: shards, world: world, say: say)
        let histories = UserHistories(
            base: dataset.visits, baseFixCounts: dataset.fixCounts, catalogue: dataset.catalogue, shards: shards
        )
        let eventIDs = EventIDMemory(idsPerUser: options.eventIDsPerUser)
        let checkpoints = ModelCheckpointing(
            stateDirectory: options.stateDirectory, dataFingerprint: dataset.fingerprint, logger: logger
        )
        if options.ignoresCheckpoints { say("--retrain: model checkpoints are ignored") }
        let restoreStarted = ContinuousClock.now
        let restored = options.ignoresCheckpoints ? nil : try checkpoints.restore(catalogue: dataset.catalogue, on: world)
        // Every rank reads every log (from any earlier rank count), one file at a time, and keeps its
        // own users' events, split by what the restored model was trained on.
        let walDirectory = GeoPredictServer.walDirectory(options)
        let logged = try LoggedEvents.read(
            directory: walDirectory, prefix: "events", checkpoint: restored?.metadata.manifest, shards: shards, rank: world.rank)
        checkpoints.replayedLogs = logged.manifest
        if logged.fold.generation > 0 {
            let folded = Int(try world.allReduce(Int64(logged.trained.count + logged.recent.count), .sum))
            say("read fold generation \(logged.fold.generation) of the write-ahead log (written at \(logged.fold.rankCount) ranks, "
                + "\(logged.fold.segments.recordCounts.count) segments folded) and the segments after it: \(folded) logged events")
        }
        let log = try WriteAheadLog(directory: walDirectory, prefix: "events")
        // Every region replay passed over, with its reason: none is skipped silently.
        WriteAheadLog.skippedReport(logged.skipped).forEach(say)
        let undecodable = Int(try world.allReduce(Int64(logged.undecodable), .sum))
        if undecodable > 0 { say("write-ahead log replay skipped \(undecodable) intact record(s) that are not events") }
        let first: (model: NextVisitModel, version: String, sequence: Int, origin: String)
        if let restored {
            first = try GeoPredictServer.recover(
                from: restored, started: restoreStarted, logged: logged, into: histories, eventIDs: eventIDs,
                world: world, say: say
            )
        } else {
            // Recover acknowledged events before the first training, so the model covers them.
            let replayed = try GeoPredictServer.replay(
                logged.recent, into: histories, eventIDs: eventIDs, world: world)
            if replayed > 0 { say("recovered \(replayed) events from the write-ahead logs") }
            let trainingStarted = ContinuousClock.now
            let model = try GeoPredictServer.initialModel(
                histories: histories, catalogue: dataset.catalogue, shards: shards, world: world, booster: options.booster, say: say)
            let sequence = try checkpoints.highestSequence(on: world) + 1
            let version = ModelVersion.make(sequence: sequence, unixSeconds: Int64(Date().timeIntervalSince1970))
            try checkpoints.save(
                model, version: version, sequence: sequence, trainingSeconds: GeoPredictServer.seconds(since: trainingStarted),
                log: log, on: world
            )
            first = (model, version, sequence, "trained at start")
        }
        node = GeoPredictNode(
            shards: shards, shardRank: world.rank, catalogue: dataset.catalogue, histories: histories, eventIDs: eventIDs,
            log: log, limits: options.ingestLimits, model: first.model, modelVersion: first.version, modelSequence: first.sequence, checkpoints: checkpoints,
            foldInMemoCapacity: options.foldInMemoCapacity, logger: logger
        )
        node.booster = options.booster
        node.foldedLog = logged.fold
        service = try MPIPlugService(environment: environment, configuration: options.plug, logger: logger)
        try service.register(Geopredict_V1_GeoPredictService.routes(GeoPredictHandler(
            node: node, health: service.health, metrics: service.metricsFactory)))
        // The front door sends each user's requests to the rank whose shard holds the user.
        service.ownKeys { [shards] userID in shards.owner(of: userID) }
        try service.serveFiles(GeoPredictConsole.files)
        summary = "\(world.size) ranks, \(dataset.userCount) users, \(dataset.catalogue.count) stores, "
            + "\(dataset.visitCount) visits, model \(node.status.servingVersion) (\(first.origin)), "
            + "started in \(String(format: "%.1f", GeoPredictServer.seconds(since: started))) s"
        exampleUserID = GeoPredictServer.exampleUser(in: dataset.visits)
        self.logger = logger
    }

    /// Serves until SIGTERM to rank 0. Collective: every rank calls it.
    ///
    /// - Parameter onReady: called on rank 0 once requests are answered.
    public func serve(onReady: @escaping @Sendable (GeoPredictServer.Ready) -> Void) throws {
        let (summary, example) = (summary, exampleUserID)
        try service.serve { address in
            onReady(GeoPredictServer.Ready(address: address, summary: summary, exampleUserID: example))
        }
        // A run cannot be resumed (its state lives in the trainer threads), and waiting for it would
        // hold up the stop for minutes: it is dropped, and the operator should know.
        let status = node.status
        if status.state == .running, service.communicator.rank == 0 {
            let line = "training \(status.runVersion) abandoned at shutdown (stage \(status.progress.value) of \(status.stages)): "
                + "nothing of it was saved; the next start serves \(status.servingVersion), the last checkpointed model; call Train again"
            logger.info("\(line)")
        }
    }
}
