import Foundation
import Hummingbird
import Logging
import MPI
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import Synchronization

/// A service with test routes beside the built-in ones, served in process through `MPIPlugTesting`:
/// the same front door and round loop as a job, over the one-rank world of the test process.
final class FrontDoorHarness: @unchecked Sendable {
    let service: MPIPlugService
    let background = BackgroundProbe()
    /// What `/test.v1.Test/Hold` waits on (at most 30 s): it holds the round loop until a test lets go.
    let hold = DispatchSemaphore(value: 0)
    var health: ServiceHealth { service.health }

    /// Test routes beside the built-in ones: `/test.v1.Test/Sleep` sleeps `value` milliseconds,
    /// `/test.v1.Test/Read` (no side effects: GET too) answers its message, and its value as checksum; `/test.v1.Test/Fail` answers `failed_precondition`, `/test.v1.Test/UnknownFields` answers how many
    /// bytes of unknown fields reached the round, `/test.v1.Test/Throw` throws.
    ///
    /// - Parameter configure: changes to the test configuration (limits under test).
    init(
        token: String? = nil, maximumBodyBytes: Int = 64 * 1024,
        configure: (inout MPIPlugConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = MPIPlugConfiguration()
        configuration.bearerToken = token
        configuration.maximumBodyBytes = maximumBodyBytes
        configuration.maximumBatchSize = 64
        configure(&configuration)
        service = try MPIPlugService(
            environment: try MPI.shared(threadLevel: .multiple), configuration: configuration, logger: Logger(label: "test"))
        try service.register(Self.testRoutes(background: background, hold: hold))
    }

    private static let testService = "test.v1.Test"
    /// `/test.v1.Test/Refuse`: answers an even `value`, refuses an odd one naming the field.
    static let refuse = RouteDescriptor(service: testService, method: "Refuse")

    /// What the `/test.v1.Test/Background` job did: each step's all-reduced value, and a gate it waits
    /// on after its first step.
    final class BackgroundProbe: Sendable {
        let results = Mutex<[Int64]>([])
        let gate = DispatchSemaphore(value: 0)
    }

    /// `/test.v1.Test/Background` starts a job of `value` all-reduce steps (answering
    /// `failed_precondition` while one runs); it pauses at ``BackgroundProbe/gate`` after the first.
    private static func testRoutes(background: BackgroundProbe, hold: DispatchSemaphore) -> [Route] {
        [
            Route(RouteDescriptor(service: testService, method: "Hold"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                _ = hold.wait(timeout: .now() + 30)
                return requests.map { _ in .success(.with { $0.message = "released" }) }
            },
            Route(RouteDescriptor(service: testService, method: "Background"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, context in
                let steps = Int(requests.first?.value ?? 0)
                let started = context.startBackgroundJob { collectives in
                    for step in 1...max(steps, 1) {
                        let total = try? collectives.perform { communicator throws(MPIError) in
                            try communicator.allReduce([Int64(step)], .sum)
                        }
                        background.results.withLock { $0.append(total?.first ?? -1) }
                        if step == 1 { background.gate.wait() }
                    }
                }
                let result: RouteResult<Mpiplug_V1_EchoResponse> = started
                    ? .success(.with { $0.message = "started" })
                    : .failure(ConnectError(.failedPrecondition, "a job is running"))
                return requests.map { _ in result }
            },
            // A NO_SIDE_EFFECTS method: callable with GET; answers the message and the rank count's sum of value.
            Route(RouteDescriptor(service: testService, method: "Read", hasNoSideEffects: true),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                requests.map { request in .success(.with { $0.message = request.message; $0.checksum = request.value }) }
            },
            Route(RouteDescriptor(service: testService, method: "Sleep"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                for request in requests { Thread.sleep(forTimeInterval: Double(request.value) / 1000) }
                return requests.map { request in .success(.with { $0.message = request.message }) }
            },
            Route(RouteDescriptor(service: testService, method: "UnknownFields"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                // What the round received: the unknown fields' bytes still in the request, if any.
                requests.map { request in .success(.with { $0.message = "\(request.unknownFields.data.count)" }) }
            },
            // Refuses an odd value as a field error (a handler's own refusal, with a detail).
            Route(refuse, request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                requests.map { request in
                    request.value % 2 == 0
                        ? .success(.with { $0.checksum = request.value })
                        : .failure(.invalidArgument(field: "value", "must be even, not \(request.value)"))
                }
            },
            Route(RouteDescriptor(service: testService, method: "Fail"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { requests, _ in
                requests.map { _ in .failure(ConnectError(.failedPrecondition, "not today")) }
            },
            Route(RouteDescriptor(service: testService, method: "Throw"),
                  request: Mpiplug_V1_EchoRequest.self, response: Mpiplug_V1_EchoResponse.self) { _, _ in
                throw TestFailure(secret: "/etc/secret-path")
            },
        ]
    }

    struct TestFailure: Error { let secret: String }
}
