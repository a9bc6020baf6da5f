import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Synchronization

/// Runs the Hummingbird application on rank 0, off the MPI thread.
///
/// The application lives in a detached task: a `Task {}` started from the synchronous MPI thread
/// would inherit the main actor and never run while that thread waits for rounds.
final class HTTPFrontDoorServer: Sendable {
    private let application: Application<FrontDoor>
    private let stopped = DispatchSemaphore(value: 0)
    private let failureBox = Mutex<(any Error)?>(nil)
    // Kept only so the sources live as long as the server; set once in init, never mutated.
    nonisolated(unsafe) private let signalSources: [any DispatchSourceSignal]
    private let health: ServiceHealth

    init(
        frontDoor: FrontDoor, configuration: MPIPlugConfiguration, logger: Logger,
        onReady: @escaping @Sendable (ServiceAddress) -> Void
    ) throws {
        let usesTLS = configuration.tls != nil
        let host = configuration.host
        let serverBuilder = try Self.serverBuilder(configuration, metrics: frontDoor.metrics)
        health = frontDoor.health
        signalSources = Self.observeShutdownSignals(health: frontDoor.health)
        application = Application(
            responder: frontDoor,
            server: serverBuilder,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "MPIPlug"),
            onServerRunning: { channel in
                onReady(ServiceAddress(host: host, port: channel.localAddress?.port ?? 0, usesTLS: usesTLS))
            },
            logger: logger
        )
    }

    /// Starts serving; `onStop` runs once the server has stopped (after a graceful shutdown or a
    /// failure to start).
    func start(onStop: @escaping @Sendable () -> Void) {
        let application = application
        Task.detached { [self] in
            do {
                try await application.runService()
            } catch {
                failureBox.withLock { $0 = error }
            }
            onStop()
            stopped.signal()
        }
    }

    func waitUntilStopped() { stopped.wait() }

    /// Why the server stopped, if it failed.
    var failure: (any Error)? { failureBox.withLock { $0 } }

    /// Marks the service as draining on SIGTERM/SIGINT, beside the graceful shutdown that
    /// service-lifecycle starts for the same signals, so that the watchdog can bound the drain.
    private static func observeShutdownSignals(health: ServiceHealth) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { health.startDraining() }
            source.resume()
            return source
        }
    }

    /// HTTP/1.1 and HTTP/2 on one port (over TLS when configured, the version chosen by ALPN), each
    /// connection behind a ``ConnectionGuard``.
    static func serverBuilder(_ configuration: MPIPlugConfiguration, metrics: PlugMetrics) throws -> HTTPServerBuilder {
        let limits = ConnectionLimits(configuration)
        let counter = ConnectionCounter(metrics: metrics)
        let tls = try configuration.tls.map(tlsConfiguration)
        return HTTPServerBuilder { responder in
            let guarded = GuardedHTTPChannel(responder: responder, limits: limits, counter: counter)
            guard let tls else { return guarded }
            return try TLSChannel(guarded, tlsConfiguration: tls)
        }
    }

    private static func tlsConfiguration(_ files: MPIPlugConfiguration.TLSFiles) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(files.certificateChainPath)
            let key = try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            // TLS 1.0 and 1.1 are deprecated (RFC 8996); NIOSSL's server default would still accept them.
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = GuardedHTTPChannel.applicationProtocols
            return configuration
        } catch {
            throw MPIPlugError.invalidConfiguration("cannot read the TLS certificate or key: \(error)")
        }
    }
}

/// Bounds how long a broken or draining job can keep clients waiting.
///
/// - A round running longer than `roundTimeout` means a rank stopped answering: its requests, the
///   queued ones and new ones are answered `unavailable` (503), and a second later the process exits
///   with ``unresponsiveRankExitStatus`` (mpirun then ends the other ranks and exits non-zero), so that a
///   supervisor (`hpc/serve`) restarts the job and the write-ahead logs bring every event back. A job
///   that stayed up answering 503 for ever would need a person to notice.
/// - After SIGTERM, queued work may run for `drainTimeout`; then the rest is answered 503, and if a
///   round is still stuck a second later the process exits (mpirun then ends the other ranks).
final class Watchdog: Sendable {
    private let health: ServiceHealth
    private let queue: RoundQueue
    private let roundTimeout: Duration
    private let drainTimeout: Duration
    private let logger: Logger
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// When to exit after a round outlived the timeout (the 503s get this long to reach their clients).
    private let exitTime = Mutex<ContinuousClock.Instant?>(nil)

    /// The exit status when a rank is unresponsive: EX_TEMPFAIL, "try again later" — a restart may work.
    static let unresponsiveRankExitStatus: Int32 = 75

    init(health: ServiceHealth, queue: RoundQueue, configuration: MPIPlugConfiguration, logger: Logger) {
        self.health = health
        self.queue = queue
        self.roundTimeout = configuration.roundTimeout
        self.drainTimeout = configuration.drainTimeout
        self.logger = logger
    }

    func start() {
        let newTask = Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                check()
            }
        }
        task.withLock { $0 = newTask }
    }

    func stop() { task.withLock { $0?.cancel() } }

    private func check() {
        if let age = health.longestWaitForARank, age > roundTimeout, exitTime.withLock({ $0 == nil }) {
            logger.critical(
                "a rank has been waited for \(age) (a round or a keyed request), past the round timeout of \(roundTimeout): a rank stopped responding; exiting with status \(Self.unresponsiveRankExitStatus) so that the job is restarted")
            health.markBroken("a rank did not answer within \(roundTimeout)")
            abandonAll(ConnectError(.unavailable, "the service is unavailable: a rank stopped responding"))
            exitTime.withLock { $0 = .now + .seconds(1) }
        }
        if let time = exitTime.withLock({ $0 }), .now >= time {
            fflush(nil)
            _exit(Self.unresponsiveRankExitStatus)
        }
        if let drainAge = health.drainAge, drainAge > drainTimeout {
            abandonAll(ConnectError(.unavailable, "the service is shutting down"))
            if let age = health.currentRoundAge, age > .seconds(1), drainAge > drainTimeout + .seconds(1) {
                logger.critical("shutting down with a round stuck for \(age); exiting")
                _exit(1)
            }
        }
    }

    private func abandonAll(_ error: ConnectError) {
        health.abandonRunningRound(error)
        for job in queue.closeAndDrain(reason: error) { job.reply.resume(.failure(error)) }
    }
}
