import Dispatch
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import MPI
import MPIPlugProtos
import CoreMetrics
import NIOCore
import Prometheus
import Synchronization

/// An MPI job served as a microservice: rank 0 answers HTTP, and every route runs on all ranks.
///
/// Every rank builds the service, registers the same routes in the same order, and calls
/// ``serve(onReady:)``. Rank 0 then runs the HTTP front door (Hummingbird) on other threads while its
/// own thread — the only one that calls MPI — turns queued requests into rounds; the other ranks wait
/// for rounds, sleeping between them.
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
    private lazy var metrics = PlugMetrics(routes: executor.routeOrder, registry: metricsRegistry)
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
        let cluster = ClusterStatusHandler(
            statistics: statistics,
            host: (try? environment.processorName) ?? ProcessInfo.processInfo.hostName,
            threadLevel: environment.providedThreadLevel.description,
            frontDoorView: { (queue.depth, routes.paths) }
        )
        try executor.register(Mpiplug_V1_ClusterService.routes(cluster))
        try executor.register(Mpiplug_V1_DiagnosticsService.routes(DiagnosticsHandler()))
        routeList = routes
        routes.paths = executor.routeOrder
    }

    private let routeList: RouteList
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

    private func makeKeyedTraffic(health: ServiceHealth?) -> KeyedTraffic {
        KeyedTraffic(
            communicator: keyedCommunicator, routes: executor.keyedRoutes, logger: logger, statistics: statistics,
            health: health, maximumBatchSize: configuration.maximumBatchSize,
            maximumMessageBytes: configuration.maximumRoundBytes, maximumBacklog: configuration.maximumQueuedRequests)
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
        if communicator.rank != 0 {
            // mpirun forwards SIGTERM to every rank; only rank 0 decides when to stop.
            signal(SIGTERM, SIG_IGN)
            try RoundFollower(executor: executor, channel: channel, keyed: makeKeyedTraffic(health: nil)).run()
            return
        }
        try serveFrontDoor(channel: channel, onReady: onReady)
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

    private func makeFrontDoor() -> FrontDoor {
        FrontDoor(
            codecs: executor.codecs, queue: queue, health: health, metrics: metrics,
            maximumBodyBytes: configuration.maximumBodyBytes, defaultTimeout: configuration.defaultTimeout,
            token: configuration.bearerToken.map(BearerToken.init),
            compressionThresholdBytes: configuration.responseCompressionThresholdBytes,
            crossOrigin: CrossOriginPolicy(origins: configuration.corsOrigins, allowsAuthorization: configuration.bearerToken != nil),
            files: staticFiles, rankCount: communicator.size, ownership: keyOwnership, logger: logger
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
            keyed: makeKeyedTraffic(health: health), maximumBatchSize: configuration.maximumBatchSize, maximumRoundBytes: configuration.maximumRoundBytes
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

/// The registered route paths, readable from any thread (for `GetClusterStatus`).
final class RouteList: Sendable {
    private let storage = Mutex<[String]>([])

    var paths: [String] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
