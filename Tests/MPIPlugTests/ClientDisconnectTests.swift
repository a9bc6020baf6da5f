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
            let socket = try RawConnection(port: port)
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

/// A plain TCP client on 127.0.0.1, to hang up without reading the answer.
private final class RawConnection {
    private var descriptor: Int32

    struct Failure: Error { let what: String }

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(what: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw Failure(what: "connect")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw Failure(what: "send") }
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }
}
