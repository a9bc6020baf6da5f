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
import NIOEmbedded
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2
import NIOPosix
import SwiftProtobuf
import Testing

/// HTTP/2 with prior knowledge (h2c) on the port HTTP/1.1 clients use, through the same responder.
@Suite(.serialized)
struct HTTP2Tests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"

    /// One call over HTTP/1.1 and over h2c on one port: what a test compares.
    private struct Answer: Equatable, CustomStringConvertible {
        var status: Int
        var contentType: String?
        var body: [UInt8]

        var description: String { "\(status) \(contentType ?? "-") \(String(decoding: body, as: UTF8.self))" }
    }

    @Test func h2cAndHTTP1GiveTheSameAnswersOnOnePort() async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            let binary = try Mpiplug_V1_EchoRequest.with { $0.value = 41; $0.message = "binary" }.serializedBytes() as [UInt8]
            let calls: [(path: String, contentType: String, body: [UInt8])] = [
                (Self.echo, "application/json", Array(#"{"value":"7","message":"h2"}"#.utf8)),
                (Self.echo, "application/proto", binary),
                // Errors too: an unknown route (404), a content type no route takes (415), a bad body (400).
                ("/mpiplug.v1.DiagnosticsService/Nothing", "application/json", Array("{}".utf8)),
                (Self.echo, "text/plain", Array("hello".utf8)),
                (Self.echo, "application/json", Array("{not json".utf8)),
            ]
            for call in calls {
                let overHTTP1 = try await client.http.execute(
                    uri: call.path, method: .post, headers: [.contentType: call.contentType], body: ByteBuffer(bytes: call.body)
                ) { response in
                    Answer(status: response.status.code, contentType: response.headers[.contentType], body: Array(buffer: response.body))
                }
                let overHTTP2 = try await H2CConnection.call(
                    port: port, path: call.path, headers: [.contentType: call.contentType], body: call.body)
                let answer = Answer(
                    status: overHTTP2.head.status.code, contentType: overHTTP2.head.headerFields[.contentType], body: overHTTP2.body)
                #expect(answer == overHTTP1, "\(call.path) \(call.contentType): h2c \(answer) vs HTTP/1.1 \(overHTTP1)")
            }
            // The binary answer is the echo itself, not an error that happened to be equal.
            let typed = try await H2CConnection.call(port: port, path: Self.echo, headers: [.contentType: "application/proto"], body: binary)
            #expect(typed.head.status == .ok)
            #expect(try Mpiplug_V1_EchoResponse(serializedBytes: typed.body).checksum == 41)
        }
    }

    @Test func h2cCallsNeedTheTokenAsHTTP1CallsDo() async throws {
        let harness = try FrontDoorHarness(token: "s3cret")
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            for authorization in [nil, "Bearer wrong", "Bearer s3cret"] {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let authorization { headers[.authorization] = authorization }
                let overHTTP1 = try await client.http.execute(uri: Self.echo, method: .post, headers: headers, body: ByteBuffer(string: "{}")) {
                    ($0.status.code, $0.headers[.wwwAuthenticate], Array(buffer: $0.body))
                }
                let overHTTP2 = try await H2CConnection.call(port: port, path: Self.echo, headers: headers, body: Array("{}".utf8))
                #expect(overHTTP2.head.status.code == overHTTP1.0 && overHTTP2.head.headerFields[.wwwAuthenticate] == overHTTP1.1
                        && overHTTP2.body == overHTTP1.2, "\(authorization ?? "no token"): \(overHTTP2.head.status) vs \(overHTTP1.0)")
                #expect(overHTTP2.head.status == (authorization == "Bearer s3cret" ? .ok : .unauthorized))
            }
        }
    }

    @Test func severalStreamsOfOneConnectionAreAnsweredEachWithItsOwn() async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            let connection = try await H2CConnection(port: port)
            let checksums = try await withThrowingTaskGroup(of: Int64.self) { group in
                for value in 1...20 {
                    group.addTask {
                        let body = try Mpiplug_V1_EchoRequest.with { $0.value = Int64(value) }.serializedBytes() as [UInt8]
                        let answer = try await connection.call(path: Self.echo, headers: [.contentType: "application/proto"], body: body)
                        return try Mpiplug_V1_EchoResponse(serializedBytes: answer.body).checksum
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            try await connection.close()
            #expect(checksums.sorted() == Array(1...20))
        }
    }

    @Test func theStreamCapIsAdvertisedInTheFirstSettings() async throws {
        let harness = try FrontDoorHarness { $0.maximumConcurrentStreams = 7 }
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            let socket = try RawSocket(port: port)
            // The preface and an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
            try socket.send(HTTP2PrefaceDetector<Int>.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
            let header = try socket.receive(exactly: 9)
            #expect(header[3] == 4, "the server's first frame is SETTINGS")
            let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            let payload = try socket.receive(exactly: length)
            var settings: [UInt16: UInt32] = [:]
            for offset in stride(from: 0, to: payload.count - 5, by: 6) {
                let identifier = UInt16(payload[offset]) << 8 | UInt16(payload[offset + 1])
                settings[identifier] = payload[(offset + 2)..<(offset + 6)].reduce(0) { $0 << 8 | UInt32($1) }
            }
            #expect(settings[0x3] == 7, "SETTINGS_MAX_CONCURRENT_STREAMS is --max-concurrent-streams: \(settings)")
        }
    }

    @Test func anIdleHTTP2ConnectionIsClosedAfterTheIdleTimeout() async throws {
        // The header-read bound far away, so that only the idle timer can close the connection early.
        let harness = try FrontDoorHarness {
            $0.idleTimeout = .milliseconds(800)
            $0.headerReadTimeout = .seconds(30)
        }
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            let connection = try await H2CConnection(port: port)
            let answer = try await connection.call(path: Self.echo, headers: [.contentType: "application/json"], body: Array("{}".utf8))
            #expect(answer.head.status == .ok)
            let started = ContinuousClock.now
            try await connection.waitUntilClosed(within: .seconds(10))
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(600) && waited < .seconds(5), "closed after \(waited)")
            // Read on a new connection: the test client's own one has been idle too.
            let metrics = try await H2CConnection.call(port: port, path: "/metrics", method: .get, headers: [:], body: [])
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains(#"mpiplug_connection_timeouts_total{kind="idle"}"#), "the idle close is counted")
            #expect(!text.contains(#"kind="header_read""#))
        }
    }

    @Test func anHTTP2ConnectionsFirstRequestMustComeWithinTheHeaderReadTimeout() async throws {
        let harness = try FrontDoorHarness {
            $0.idleTimeout = .seconds(30)
            $0.headerReadTimeout = .milliseconds(800)
        }
        try await harness.service.test(.live, usesFrontDoorServer: true) { client in
            let port = try #require(client.http.port)
            let socket = try RawSocket(port: port)
            // The preface and SETTINGS, then nothing: a connection held without a request.
            try socket.send(HTTP2PrefaceDetector<Int>.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
            let started = ContinuousClock.now
            let closed = socket.waitUntilClosed()
            let waited = ContinuousClock.now - started
            #expect(closed && waited >= .milliseconds(600) && waited < .seconds(8), "closed: \(closed), after \(waited)")
        }
    }

    @Test func theStreamLimitsAreValidated() {
        let changes: [(inout MPIPlugConfiguration) -> Void] = [
            { $0.maximumConcurrentStreams = 0 }, { $0.maximumStreamResets = 0 }, { $0.streamResetWindow = .zero },
        ]
        for change in changes {
            var configuration = MPIPlugConfiguration()
            change(&configuration)
            #expect(throws: MPIPlugError.self) { try configuration.validate() }
        }
    }

    @Test func aConnectionClosedBeforeItsFirstByteIsClosedAtOnce() throws {
        let channel = EmbeddedChannel()
        let detector = HTTP2PrefaceDetector<Bool>(eventLoop: channel.eventLoop) { isHTTP2, channel in
            channel.eventLoop.makeSucceededFuture(isHTTP2)
        }
        try channel.pipeline.syncOperations.addHandler(detector)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "PRI * "))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive, "closed, not held until the idle timeout")
        #expect(throws: ChannelError.self) { try detector.result.wait() }
    }

    @Test func theDetectorTellsThePrefaceFromHTTP1() throws {
        for (bytes, expected) in [("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true), ("POST / HTTP/1.1\r\n", false), ("PUT /", false),
                                  ("PRI * HTTP/1.1\r\n\r\n", false), ("GET /healthz HTTP/1.1\r\n\r\n", false)] {
            let channel = EmbeddedChannel()
            final class Decision { var isHTTP2: Bool? }
            let decided = Decision()
            let detector = HTTP2PrefaceDetector<Bool>(eventLoop: channel.eventLoop) { isHTTP2, channel in
                decided.isHTTP2 = isHTTP2
                return channel.eventLoop.makeSucceededFuture(isHTTP2)
            }
            try channel.pipeline.syncOperations.addHandler(detector)
            // Byte by byte: the decision waits only as long as the bytes could still be a preface.
            for byte in bytes.utf8 { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            #expect(decided.isHTTP2 == expected, "\(bytes.debugDescription)")
            // Every byte is passed on, in order, once the pipeline is configured.
            var passed = ByteBuffer()
            while var part = try channel.readInbound(as: ByteBuffer.self) { passed.writeBuffer(&part) }
            #expect(String(buffer: passed) == bytes)
            _ = try channel.finish()
        }
    }
}

/// An HTTP/2 client connection with prior knowledge to 127.0.0.1 (swift-nio-http2's client side).
private struct H2CConnection: Sendable {
    typealias Stream = NIOAsyncChannel<HTTPResponsePart, HTTPRequestPart>

    private struct Connection: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>
    }

    private let connection: Connection

    init(port: Int) async throws {
        connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(mode: .client) { stream in
                        // The server opens no streams; refuse any it tried.
                        stream.close()
                    }
                    return Connection(channel: channel, multiplexer: multiplexer)
                }
            }
    }

    /// One call on a connection of its own.
    static func call(
        port: Int, path: String, method: HTTPRequest.Method = .post, headers: HTTPFields, body: [UInt8]
    ) async throws -> (head: HTTPResponse, body: [UInt8]) {
        let connection = try await H2CConnection(port: port)
        defer { connection.connection.channel.close(promise: nil) }
        return try await connection.call(path: path, method: method, headers: headers, body: body)
    }

    /// One call on a stream of this connection.
    func call(
        path: String, method: HTTPRequest.Method = .post, headers: HTTPFields, body: [UInt8]
    ) async throws -> (head: HTTPResponse, body: [UInt8]) {
        let stream: Stream = try await connection.multiplexer.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTPClientCodec())
                return try Stream(wrappingChannelSynchronously: stream)
            }
        }
        return try await stream.executeThenClose { inbound, outbound in
            let request = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path, headerFields: headers)
            try await outbound.write(.head(request))
            if !body.isEmpty { try await outbound.write(.body(ByteBuffer(bytes: body))) }
            try await outbound.write(.end(nil))
            var head: HTTPResponse?
            var received = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let response): head = response
                case .body(var bytes): received.writeBuffer(&bytes)
                case .end: break
                }
            }
            guard let head else { throw ChannelError.eof }
            return (head, Array(buffer: received))
        }
    }

    func close() async throws { try await connection.channel.close() }

    struct StillOpen: Error {}

    /// Waits until the server closes the connection; throws ``StillOpen`` if it does not in time.
    func waitUntilClosed(within limit: Duration) async throws {
        let channel = connection.channel
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await channel.closeFuture.get()
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let closed = try await group.next() ?? false
            group.cancelAll()
            channel.close(promise: nil)
            if !closed { throw StillOpen() }
        }
    }
}
