import Dispatch
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MPI
import MPIPlugProtos
import CoreMetrics
import NIOCore
import Prometheus
import Synchronization

/// An MPI job served as a microservice: rank 0 (and, with ``MPIPlugConfiguration/frontDoors``, more
/// ranks) answers HTTP; collective routes run on all ranks, keyed routes on the rank that owns each
/// request.
///
/// Every rank builds the service, registers the same routes in the same order, and calls
/// ``serve(onReady:)``. Rank 0 then runs the HTTP front door (Hummingbird) on other threads while its
/// own thread — the only one that calls MPI — turns queued requests into rounds; the other ranks wait
/// for rounds, sleeping between them, and answer keyed requests for their users. A door on another
/// rank sends keyed calls to their owners itself and forwards the rest to rank 0.
///
/// ```swift
/// MPI.run { environment in
///     let service = try MPIPlugService(environment: environment, configuration: configuration)
///     try service.register(Geopredict_V1_GeoPredictService.routes(handler))
///     try service.serve { address in print("serving on \(address)") }
/// }
/// ```
public final class MPIPlugService {
    /// The communicator routes run on: a duplicate of the world whose collectives idle politely.
    public let communicator: Communicator
    public let configuration: MPIPlugConfiguration
    let logger: Logger
    let statistics = RoundStatistics()
    private let executor: RoundExecutor
    let queue: RoundQueue
    /// What rank 0's `/healthz` reports; a handler marks a part degraded here
    /// (``ServiceHealth/setDegraded(_:reason:)``, "ingest", "disk full") while the rest serves.
    public let health = ServiceHealth()
    private lazy var metrics = PlugMetrics(routes: executor.routeOrder, registry: metricsRegistry, recent: statistics.recent)
    /// What rank 0's `GET /metrics` renders: the front door's metrics and the service's own.
    private let metricsRegistry = PrometheusCollectorRegistry()

    /// A swift-metrics factory for a service's own metrics, shown on rank 0's `GET /metrics` beside the
    /// front door's (a handler counting what it refused, say). Use it on rank 0.
    public var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: metricsRegistry) }

    /// Builds the service on every rank. Collective (duplicates the world communicator).
    public init(
        environment: MPIEnvironment,
        configuration: MPIPlugConfiguration = MPIPlugConfiguration(),
        logger: Logger = Logger(label: "mpiplug")
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        queue = RoundQueue(maximumJobs: configuration.maximumQueuedRequests, maximumBytes: configuration.maximumQueuedBytes)
        let communicator = try environment.world.duplicate()
        communicator.waitMode = .polling(configuration.idleBackoff)
        self.communicator = communicator
        var logger = logger
        logger[metadataKey: "rank"] = "\(communicator.rank)"
        self.logger = logger
        executor = RoundExecutor(
            communicator: communicator, logger: logger, statistics: statistics, readiness: try communicator.duplicate())
        keyedCommunicator = try communicator.duplicate()
        keyOwnership = .hashing(rankCount: communicator.size, door: communicator.rank)
        let queue = self.queue
        let routes = RouteList()
        let door = DoorRecord()
        hostName = (try? environment.processorName) ?? ProcessInfo.processInfo.hostName
        let cluster = ClusterStatusHandler(
            statistics: statistics,
            host: hostName,
            threadLevel: environment.providedThreadLevel.description,
            frontDoorView: { (queue.depth, routes.paths) },
            ownDoor: { door.address.map { FrontDoorStatusReport(address: $0, accepted: queue.accepted, depth: queue.depth) } }
        )
        doorRecord = door
        try executor.register(Mpiplug_V1_ClusterService.routes(cluster))
        try executor.register(Mpiplug_V1_DiagnosticsService.routes(DiagnosticsHandler()))
        routeList = routes
        routes.paths = executor.routeOrder
    }

    private let routeList: RouteList
    /// This rank's MPI processor name (front doors are placed by host).
    private let hostName: String
    /// This rank's front door, once ``serve(onReady:)`` has placed the doors.
    private let doorRecord: DoorRecord
    /// Every front door of the job, once ``serve(onReady:)`` has placed them.
    private var frontDoors: [FrontDoorAddress] = []
    /// The keyed routes' point-to-point messages: a communicator of their own, so that they never
    /// match a round's collectives.
    private let keyedCommunicator: Communicator
    /// Which rank owns a keyed request (``ownKeys(by:)``).
    private var keyOwnership: KeyOwnership

    /// Sets which rank owns a keyed route's key (`(mpiplug.v1.owner_key)`): the rank that holds the
    /// key's data, by the same rule the handlers use. Without it, an FNV-1a hash of the key modulo
    /// the ranks. Call it on every rank before ``serve(onReady:)``.
    public func ownKeys(by owner: @escaping @Sendable (String) -> Int) {
        keyOwnership = KeyOwnership(rankCount: communicator.size, door: communicator.rank, ownerOfKey: owner)
    }

    /// This rank's point-to-point traffic; `health` is its door's (nil without a door). On rank 0,
    /// calls other doors forward go into the round queue.
    private func makeKeyedTraffic(health: ServiceHealth?) -> KeyedTraffic {
        let queue = self.queue
        let intake: (@Sendable (Job) -> ConnectError?)? = communicator.rank == 0 ? { @Sendable job in queue.submit(job) } : nil
        return KeyedTraffic(
            communicator: keyedCommunicator, routes: executor.keyedRoutes, logger: logger, statistics: statistics,
            health: health, maximumBatchSize: configuration.maximumBatchSize,
            maximumMessageBytes: configuration.maximumRoundBytes, maximumBacklog: configuration.maximumQueuedRequests,
            forwardedAnswerDecoders: executor.answerDecoders,
            roundIntake: intake,
            wake: { queue.wake() })
    }

    /// Adds routes (usually `<Service>.routes(handler)`). Every rank registers the same routes in the
    /// same order, before ``serve(onReady:)``.
    public func register(_ routes: [Route]) throws {
        try executor.register(routes)
        routeList.paths = executor.routeOrder
    }

    /// The paths of every registered route.
    public var routePaths: [String] { executor.routeOrder }

    /// The files rank 0 serves itself, by path (``serveFiles(_:)``).
    private var staticFiles: [String: StaticFile] = [:]

    /// Serves `files` at their paths on rank 0, to `GET` and `HEAD`, without a token (a console's
    /// page; its API calls still need one). Call before ``serve(onReady:)``.
    ///
    /// - Throws: ``MPIPlugError/invalidConfiguration(_:)`` for a path that does not start with `/`,
    ///   is served already, or is `/healthz`, `/metrics` or a route's.
    public func serveFiles(_ files: [StaticFile]) throws(MPIPlugError) {
        for file in files {
            let path = file.path
            guard path.hasPrefix("/") else { throw .invalidConfiguration("the file path \(path) does not start with /") }
            let taken = ["/healthz", "/metrics"].contains(path) || executor.codecs[path] != nil || staticFiles[path] != nil
            guard !taken else { throw .invalidConfiguration("\(path) is served already") }
            staticFiles[path] = file
        }
    }

    /// Serves until shut down (SIGTERM to rank 0). Collective: every rank calls it.
    ///
    /// - Parameter onReady: called on rank 0 once the port is open, with the address served.
    public func serve(onReady: @escaping @Sendable (ServiceAddress) -> Void = { _ in }) throws {
        let channel = RoundChannel(communicator: communicator, idleBackoff: configuration.idleBackoff)
        frontDoors = try FrontDoorPlacement.place(
            on: communicator, host: hostName, doors: configuration.frontDoors, basePort: configuration.port)
        // Every rank has the same placement, so every rank refuses alike (no rank waits for the others).
        if let door = frontDoors.first(where: { $0.port > 65_535 }) {
            throw MPIPlugError.invalidConfiguration("front door \(door.rank) would listen on port \(door.port), above 65535")
        }
        let ownDoor = frontDoors.first { $0.rank == communicator.rank }
        doorRecord.address = ownDoor
        if communicator.rank == 0 {
            try serveFrontDoor(channel: channel, onReady: onReady)
            return
        }
        // mpirun forwards SIGTERM to every rank; only rank 0 decides when to stop (a door's HTTP server
        // may still see it and stop taking calls early).
        signal(SIGTERM, SIG_IGN)
        if let ownDoor {
            try serveOtherFrontDoor(ownDoor, channel: channel)
        } else {
            try RoundFollower(executor: executor, channel: channel, keyed: makeKeyedTraffic(health: nil)).run()
        }
    }

    /// A front door on a rank other than 0: HTTP on its port, keyed calls straight to their owners,
    /// the rest forwarded to rank 0; otherwise the rank follows rounds like any other. It stops when
    /// rank 0 ends the job (a SIGTERM that reaches it only stops its HTTP server early).
    private func serveOtherFrontDoor(_ door: FrontDoorAddress, channel: RoundChannel) throws {
        var doorConfiguration = configuration
        doorConfiguration.port = door.port
        let frontDoor = makeFrontDoor()
        let logger = self.logger
        let server = try HTTPFrontDoorServer(frontDoor: frontDoor, configuration: doorConfiguration, logger: logger) { address in
            logger.info("front door serving", metadata: ["url": "\(address.url)"])
        }
        let watchdog = Watchdog(health: health, queue: queue, configuration: configuration, logger: logger)
        server.start { [queue, server] in
            queue.close(reason: ConnectError(.unavailable, "the service is shutting down"))
            if let failure = server.failure {
                // Rank 0 cannot know; a job with a door missing behind its load balancer should end
                // with the reason rather than serve on short-handed (mpirun ends the other ranks).
                logger.critical("the front door on rank \(door.rank) could not serve; ending the job", metadata: ["error": "\(failure)"])
                fflush(nil)
                _exit(1)
            }
        }
        watchdog.start()
        defer { watchdog.stop() }
        let follower = RoundFollower(
            executor: executor, channel: channel, keyed: makeKeyedTraffic(health: health),
            door: FollowerDoor(
                queue: queue, health: health, metrics: frontDoor.metrics, maximumBatchSize: configuration.maximumBatchSize,
                maximumMessageBytes: configuration.maximumRoundBytes))
        try follower.run()
    }

    private func serveFrontDoor(channel: RoundChannel, onReady: @escaping @Sendable (ServiceAddress) -> Void) throws {
        let frontDoor = makeFrontDoor()
        let server = try HTTPFrontDoorServer(
            frontDoor: frontDoor, configuration: configuration, logger: logger, onReady: onReady
        )
        let watchdog = Watchdog(health: health, queue: queue, configuration: configuration, logger: logger)
        server.start { [queue] in
            queue.close(reason: ConnectError(.unavailable, "the service is shutting down"))
        }
        watchdog.start()
        defer { watchdog.stop() }
        try lead(channel: channel, metrics: frontDoor.metrics, finishingBackgroundJobs: false)
        server.waitUntilStopped()
        if let failure = server.failure { throw MPIPlugError.serverFailed("\(failure)") }
    }

    /// Rank 0's HTTP responder: Connect calls, `/healthz` and `/metrics`, queueing work for
    /// ``lead(channel:metrics:finishingBackgroundJobs:)``. `MPIPlugTesting` serves it without a socket.
    package func makeResponder() -> some HTTPResponder<FrontDoorContext> { makeFrontDoor() }

    /// The server a front door listens with (HTTP/1.1 and HTTP/2 on one port, the connection limits,
    /// TLS when configured), for `MPIPlugTesting`'s live tests of it.
    package func makeServerBuilder() throws -> HTTPServerBuilder {
        try HTTPFrontDoorServer.serverBuilder(configuration, metrics: metrics)
    }

    private func makeFrontDoor() -> FrontDoor {
        FrontDoor(
            codecs: executor.codecs, queue: queue, health: health, metrics: metrics,
            maximumBodyBytes: configuration.maximumBodyBytes, defaultTimeout: configuration.defaultTimeout,
            token: configuration.bearerToken.map(BearerToken.init),
            compressionThresholdBytes: configuration.responseCompressionThresholdBytes,
            crossOrigin: CrossOriginPolicy(origins: configuration.corsOrigins, allowsAuthorization: configuration.bearerToken != nil),
            files: staticFiles, rankCount: communicator.size, ownership: keyOwnership, frontDoors: frontDoors, logger: logger
        )
    }

    /// Rank 0's MPI loop: runs rounds from the queue until it is closed and empty, then stops every
    /// rank. Call it on the one thread that calls MPI.
    ///
    /// - Parameter finishingBackgroundJobs: keep running a background job's steps after the queue
    ///   closed, until it ends (tests); a service abandons it instead, so that a stop is prompt.
    package func lead(finishingBackgroundJobs: Bool) throws {
        let channel = RoundChannel(communicator: communicator, idleBackoff: configuration.idleBackoff)
        try lead(channel: channel, metrics: metrics, finishingBackgroundJobs: finishingBackgroundJobs)
    }

    /// Stops taking new requests; the queued ones are still run, then ``lead(finishingBackgroundJobs:)``
    /// returns.
    package func stopAccepting() {
        queue.close(reason: ConnectError(.unavailable, "the service is shutting down"))
    }

    private func lead(channel: RoundChannel, metrics: PlugMetrics, finishingBackgroundJobs: Bool) throws {
        var leader = RoundLeader(
            executor: executor, channel: channel, queue: queue, health: health, metrics: metrics,
            keyed: makeKeyedTraffic(health: health), maximumBatchSize: configuration.maximumBatchSize, maximumRoundBytes: configuration.maximumRoundBytes,
            hasOtherDoors: frontDoors.count > 1
        )
        do {
            try leader.run(finishingBackgroundJobs: finishingBackgroundJobs)
        } catch {
            logger.critical("a collective failed; answering 503 until the job ends", metadata: ["error": "\(error)"])
            health.markBroken("a rank failed")
            for job in queue.closeAndDrain(reason: ConnectError(.unavailable, "a rank failed")) {
                job.reply.resume(.failure(ConnectError(.unavailable, "a rank failed")))
            }
            // Let the 503 answers reach their clients before MPI.run aborts the job.
            Thread.sleep(forTimeInterval: 2)
            throw error
        }
    }
}

/// Where rank 0 serves.
public struct ServiceAddress: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let usesTLS: Bool

    /// `http://host:port`.
    public var url: String { "\(usesTLS ? "https" : "http")://\(host):\(port)" }
    public var description: String { url }
}

/// This rank's front door, readable from any thread (for `GetClusterStatus`).
final class DoorRecord: Sendable {
    private let storage = Mutex<FrontDoorAddress?>(nil)

    var address: FrontDoorAddress? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// The registered route paths, readable from any thread (for `GetClusterStatus`).
final class RouteList: Sendable {
    private let storage = Mutex<[String]>([])

    var paths: [String] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
