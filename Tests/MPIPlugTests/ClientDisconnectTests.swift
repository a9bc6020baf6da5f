import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// A call whose client hung up while it waited is dropped before any rank runs it.
@Suite(.serialized)
struct ClientDisconnectTests {
    @Test func aCallWhoseClientHungUpIsNeverRun() async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test(.live) { client in
            let port = try #require(client.http.port)
            // The holding call goes on a connection of its own: the test client has one, in order.
            let holdingClient = TestClient(host: "localhost", port: port)
            holdingClient.connect()
            let holder = Task {
                try await holdingClient.execute(.init("/test.v1.Test/Hold", method: .post, headers: [.contentType: "application/json"],
                                                      body: ByteBuffer(string: "{}"))).status
            }
            for _ in 0..<5_000 where harness.health.currentRoundAge == nil { try await Task.sleep(for: .milliseconds(2)) }
            try #require(harness.health.currentRoundAge != nil, "the holding round started")
            let requestsBefore = harness.service.statistics.snapshot.requests

            // A raw client sends a whole Echo call, waits until it is queued, and hangs up.
            let socket = try RawSocket(port: port)
            try socket.send(
                "POST /mpiplug.v1.DiagnosticsService/Echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 2\r\n\r\n{}")
            for _ in 0..<3_000 where harness.service.queue.depth < 1 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(harness.service.queue.depth == 1, "the raw call is queued")
            socket.close()
            // The hang-up answers it at once (canceled), still in the queue.
            try await Task.sleep(for: .milliseconds(300))

            harness.hold.signal()
            #expect(try await holder.value == .ok)
            try await holdingClient.shutdown()
            let after = try await client.callSucceeding(
                Mpiplug_V1_DiagnosticsService.echo, Mpiplug_V1_EchoRequest.with { $0.value = 1 }, returning: Mpiplug_V1_EchoResponse.self)
            #expect(after.checksum == 1)
            let ran = harness.service.statistics.snapshot.requests - requestsBefore
            #expect(ran == 2, "the holding call and the last echo ran, not the abandoned one (\(ran) ran)")
            let metrics = try await client.http.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains(#"mpiplug_requests_shed_total{reason="client_gone"} 1"#))
        }
    }
}
