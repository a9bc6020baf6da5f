import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// Admission control at the front door: a bounded queue (count and bytes) that sheds with 429 and
/// `Retry-After`, and a default deadline for clients that send none.
@Suite(.serialized)
struct AdmissionTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"
    private static let sleep = "/test.v1.Test/Sleep"
    private static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    private struct Answer: Sendable {
        let status: HTTPResponse.Status
        let retryAfter: String?
        let code: String?
    }

    private static func answer(_ response: TestResponse) -> Answer {
        let object = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        return Answer(status: response.status, retryAfter: response.headers[.retryAfter], code: object?["code"] as? String)
    }

    /// Starts a `Hold` call that holds the round loop until ``release(_:)``, and returns once its round runs.
    private static func holdRoundLoop(
        _ client: any TestClientProtocol, _ harness: FrontDoorHarness
    ) async throws -> Task<HTTPResponse.Status, any Error> {
        let task = Task {
            try await client.execute(uri: "/test.v1.Test/Hold", method: .post, headers: jsonHeaders, body: ByteBuffer(string: "{}")) {
                $0.status
            }
        }
        for _ in 0..<5_000 where harness.health.currentRoundAge == nil { try await Task.sleep(for: .milliseconds(2)) }
        try #require(harness.health.currentRoundAge != nil, "the holding round started")
        return task
    }

    /// Waits (up to 30 s) until `queued` calls wait in the queue and `shed` have been refused.
    private static func waitForQueue(
        _ client: any TestClientProtocol, _ harness: FrontDoorHarness, queued: Int, shed: Int, reason: String = "queue_full"
    ) async throws {
        let line = "mpiplug_requests_shed_total{reason=\"\(reason)\"} \(shed)"
        for _ in 0..<3_000 {
            let text = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            if harness.service.queue.depth == queued && (shed == 0 || text.contains(line)) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the queue never held \(queued) calls with \(shed) shed (it holds \(harness.service.queue.depth))")
    }

    /// Sends `count` echo calls at once, in the background.
    private static func startBurst(_ client: any TestClientProtocol, count: Int, message: String = "") -> Task<[Answer], any Error> {
        Task { try await burst(client, count: count, message: message) }
    }

    /// Sends `count` echo calls at once and returns their answers.
    private static func burst(_ client: any TestClientProtocol, count: Int, message: String = "") async throws -> [Answer] {
        try await withThrowingTaskGroup(of: Answer.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await client.execute(
                        uri: echo, method: .post, headers: jsonHeaders, body: ByteBuffer(string: "{\"message\":\"\(message)\"}")
                    ) { answer($0) }
                }
            }
            var answers = [Answer]()
            for try await answer in group { answers.append(answer) }
            return answers
        }
    }

    @Test func aQueueFullByCountShedsWithRetryAfterAndCountsIt() async throws {
        let harness = try FrontDoorHarness { $0.maximumQueuedRequests = 4 }
        try await harness.service.test { client in
            let holder = try await Self.holdRoundLoop(client.http, harness)
            let burst = Self.startBurst(client.http, count: 10)
            try await Self.waitForQueue(client.http, harness, queued: 4, shed: 6)
            harness.hold.signal()
            let answers = try await burst.value
            #expect(try await holder.value == .ok)
            let served = answers.filter { $0.status == .ok }
            let shed = answers.filter { $0.status == .tooManyRequests }
            #expect(served.count == 4, "the four that fit in the queue are served")
            #expect(shed.count == 6)
            #expect(shed.allSatisfy { $0.code == "resource_exhausted" && $0.retryAfter == "1" })
            try await client.http.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains(#"mpiplug_requests_shed_total{reason="queue_full"} 6"#))
            }
            // Once the backlog is gone, calls are served again.
            #expect(try await Self.burst(client.http, count: 3).allSatisfy { $0.status == .ok })
        }
    }

    @Test func aQueueFullByBytesSheds() async throws {
        // Each call below holds 400 + 35 + 40 = 478 queued bytes (message, path, framing): two fit in 1,000.
        let harness = try FrontDoorHarness { $0.maximumQueuedBytes = 1_000 }
        try await harness.service.test { client in
            let holder = try await Self.holdRoundLoop(client.http, harness)
            let burst = Self.startBurst(client.http, count: 5, message: String(repeating: "x", count: 400))
            try await Self.waitForQueue(client.http, harness, queued: 2, shed: 3)
            harness.hold.signal()
            let answers = try await burst.value
            #expect(try await holder.value == .ok)
            #expect(answers.filter { $0.status == .ok }.count == 2)
            #expect(answers.filter { $0.status == .tooManyRequests && $0.code == "resource_exhausted" && $0.retryAfter != nil }.count == 3)
        }
    }

    @Test func aCallWithoutATimeoutGetsTheDefaultDeadline() async throws {
        let harness = try FrontDoorHarness { $0.defaultTimeout = .milliseconds(150) }
        try await harness.service.test { client in
            let started = ContinuousClock.now
            try await client.http.execute(
                uri: Self.sleep, method: .post, headers: Self.jsonHeaders, body: ByteBuffer(string: #"{"value":"1500"}"#)
            ) { response in
                #expect(response.status == .gatewayTimeout)
                #expect(Self.answer(response).code == "deadline_exceeded")
            }
            // The 504 itself shows the default deadline answered (the round would have answered 200
            // after 1.5 s); no tighter timing, as blocked test threads can delay any answer by a second.
            #expect(ContinuousClock.now - started < .seconds(10))
            // A client's own deadline still wins over the default.
            try await client.http.execute(
                uri: Self.sleep, method: .post,
                headers: [.contentType: "application/json", .connectTimeoutMilliseconds: "5000"],
                body: ByteBuffer(string: #"{"value":"300"}"#)
            ) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func roundsStayWithinTheirByteBudget() async throws {
        // Each call holds 1,000 + 35 + 40 bytes (message, path, framing): three fit in a 4 KiB round.
        let harness = try FrontDoorHarness(maximumBodyBytes: 8 * 1024) { $0.maximumRoundBytes = 4 * 1024 }
        try await harness.service.test { client in
            let holder = try await Self.holdRoundLoop(client.http, harness)
            let roundsBefore = harness.service.statistics.snapshot.rounds
            let burst = Self.startBurst(client.http, count: 12, message: String(repeating: "y", count: 1_000))
            try await Self.waitForQueue(client.http, harness, queued: 12, shed: 0)
            harness.hold.signal()
            let answers = try await burst.value
            #expect(try await holder.value == .ok)
            #expect(answers.allSatisfy { $0.status == .ok }, "requests beyond one round's budget wait for the next")
            let statistics = harness.service.statistics.snapshot
            #expect(statistics.largestRoundBytes <= 4 * 1024, "largest round: \(statistics.largestRoundBytes) bytes")
            #expect(statistics.rounds - roundsBefore >= 5, "the holding round, then at least 4 rounds of 4 KiB for 12 queued calls of ~1 KiB")

            // One that can never fit is refused alone, with the size in the message; the others still run.
            try await client.http.execute(
                uri: Self.echo, method: .post, headers: Self.jsonHeaders,
                body: ByteBuffer(string: "{\"message\":\"\(String(repeating: "z", count: 5_000))\"}")
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(Self.answer(response).code == "resource_exhausted")
                #expect(String(buffer: response.body).contains("a round carries at most 4096"))
            }
            #expect(try await Self.burst(client.http, count: 2).allSatisfy { $0.status == .ok })
            try await client.http.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains(#"mpiplug_requests_shed_total{reason="over_round_budget"} 1"#))
            }
        }
    }
}
