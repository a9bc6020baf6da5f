import Foundation
import Hummingbird
import HummingbirdTesting
import MPIPlug
import Synchronization

/// Why an in-process test could not run.
public enum MPIPlugTestingError: Error, CustomStringConvertible {
    /// The service spans several ranks; in-process tests serve a one-rank world.
    case needsOneRank(rankCount: Int)

    public var description: String {
        switch self {
        case .needsOneRank(let rankCount):
            return "in-process tests need a one-rank world, not \(rankCount) ranks (run SPMD tests under mpirun instead)"
        }
    }
}

extension MPIPlugService {
    /// Serves this service in the test process and runs `body` against it: the real front door and
    /// round loop, the way `serve(onReady:)` runs them on rank 0, with Hummingbird's test client
    /// instead of a listening server (`.router`) or on a local socket (`.live`).
    ///
    /// Build the service as a program would (``MPIPlugService/init(environment:configuration:logger:)``
    /// on `MPI.shared()`, then `register`), then:
    ///
    /// ```swift
    /// let answer = try await service.test { client in
    ///     try await client.call(Mpiplug_V1_DiagnosticsService.echo, Mpiplug_V1_EchoRequest.with { $0.value = 1 },
    ///                           returning: Mpiplug_V1_EchoResponse.self)
    /// }
    /// ```
    ///
    /// The round loop runs on a thread of its own, which is the only one to call MPI until the test
    /// ends; when `body` returns, queued work finishes and a background job still running (a
    /// training run, say) is run to its end, so that the next test starts from a quiet service.
    ///
    /// - Parameter usesFrontDoorServer: with `.live`, listen with the server a job's front door uses
    ///   (HTTP/1.1 and HTTP/2 on one port, the connection limits) instead of Hummingbird's plain
    ///   HTTP/1.1 one.
    /// - Throws: ``MPIPlugTestingError/needsOneRank(rankCount:)`` when the world has several ranks, or
    ///   whatever `body` or the round loop throws.
    public func test<Value: Sendable>(
        _ setup: TestingSetup = .router,
        usesFrontDoorServer: Bool = false,
        _ body: @Sendable (MPIPlugTestClient) async throws -> Value
    ) async throws -> Value {
        guard communicator.size == 1 else { throw MPIPlugTestingError.needsOneRank(rankCount: communicator.size) }
        // The responder first: it creates the service's metrics, which the round loop then shares
        // (made from both threads at once, each could get a registry of its own).
        let responder = makeResponder()
        let frontDoorServer = try usesFrontDoorServer ? makeServerBuilder() : nil
        let application =
            if let frontDoorServer { Application(responder: responder, server: frontDoorServer) } else { Application(responder: responder) }
        let loop = RoundLoopThread()
        loop.start(self)
        let outcome: Result<Value, any Error>
        do {
            outcome = .success(try await application.test(setup) { client in try await body(MPIPlugTestClient(client)) })
        } catch {
            outcome = .failure(error)
        }
        stopAccepting()
        try await loop.finished()
        return try outcome.get()
    }
}

/// Rank 0's MPI loop on a thread of its own, for the length of one test.
private final class RoundLoopThread: Sendable {
    private let result = Mutex<Result<Void, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func start(_ service: MPIPlugService) {
        // The thread owns the service's communicator from here until it ends.
        nonisolated(unsafe) let service = service
        let thread = Thread { [self] in
            let outcome = Result { try service.lead(finishingBackgroundJobs: true) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        thread.name = "mpiplug-test-rounds"
        thread.start()
    }

    /// Waits, off the cooperative pool, for the loop to end and rethrows what it threw.
    func finished() async throws {
        let done = done
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                done.wait()
                continuation.resume()
            }
        }
        try result.withLock { $0 }?.get()
    }
}
