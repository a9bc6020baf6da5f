import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// gzip bodies are taken only whole: what the trailer promises (CRC-32 and length) must hold, nothing
/// may follow the stream, and the decompressed-size limit is exact.
@Suite(.serialized)
struct GzipBodyTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"
    private static let limit = 4096

    private static func gzip(_ text: String) throws -> [UInt8] {
        var plain = ByteBuffer(string: text)
        return Array(buffer: try plain.compress(with: .gzip()))
    }

    /// `{"message":"xxx…"}` of exactly `count` bytes.
    private static func echoJSON(bytes count: Int) -> String {
        let frame = #"{"message":""}"#
        return #"{"message":""# + String(repeating: "x", count: count - frame.utf8.count) + #""}"#
    }

    /// Sends `body` gzip-encoded to Echo and returns the status and the Connect code (nil on success).
    private static func send(_ body: [UInt8], to client: any TestClientProtocol) async throws -> (HTTPResponse.Status, String?) {
        try await client.execute(
            uri: echo, method: .post,
            headers: [.contentType: "application/json", .contentEncoding: "gzip"], body: ByteBuffer(bytes: body)
        ) { response in
            let object = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            return (response.status, response.status == .ok ? nil : object?["code"] as? String)
        }
    }

    private func withClient(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try FrontDoorHarness(maximumBodyBytes: Self.limit)
        try await harness.service.test { client in try await body(client.http) }
    }

    @Test func brokenTrailersAndTrailingBytesAreInvalid() async throws {
        let good = try Self.gzip(#"{"message":"whole"}"#)
        var badCRC = good
        badCRC[good.count - 8] ^= 0xFF
        var badLength = good
        badLength[good.count - 4] ^= 0x01
        let cases: [(name: String, body: [UInt8])] = [
            ("no trailer", Array(good.dropLast(8))),
            ("half a trailer", Array(good.dropLast(4))),
            ("one trailer byte missing", Array(good.dropLast(1))),
            ("bad CRC-32", badCRC),
            ("bad length", badLength),
            ("garbage after the stream", good + Array("garbage".utf8)),
            ("a zero byte after the stream", good + [0]),
            ("the start of another member", good + [0x1F]),
            ("a cut second member", good + Array(good.dropLast(8))),
            ("empty body", []),
        ]
        try await withClient { client in
            for testCase in cases {
                let (status, code) = try await Self.send(testCase.body, to: client)
                #expect(status == .badRequest, "\(testCase.name)")
                #expect(code == "invalid_argument", "\(testCase.name)")
            }
            let (status, _) = try await Self.send(good, to: client)
            #expect(status == .ok, "the intact body")
        }
    }

    @Test func concatenatedMembersAreOneBody() async throws {
        // RFC 1952: a gzip file may hold several members; their contents join.
        let first = try Self.gzip(#"{"message":"two "#)
        let second = try Self.gzip(#"members"}"#)
        try await withClient { client in
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .contentEncoding: "gzip"], body: ByteBuffer(bytes: first + second)
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("two members"))
            }
        }
    }

    @Test func decompressedLimitIsExact() async throws {
        try await withClient { client in
            let atLimit = try Self.gzip(Self.echoJSON(bytes: Self.limit))
            let (status, _) = try await Self.send(atLimit, to: client)
            #expect(status == .ok, "a body of exactly the limit")
            let overLimit = try Self.gzip(Self.echoJSON(bytes: Self.limit + 1))
            let (overStatus, code) = try await Self.send(overLimit, to: client)
            #expect(overStatus == .contentTooLarge)
            #expect(code == "resource_exhausted")
        }
    }

    @Test func bombStopsAtTheLimit() async throws {
        // 256 KiB of zeros compress to a few hundred bytes; only limit + 1 bytes are ever inflated.
        // On a thread of its own: a second of debug-build compression on Swift's cooperative pool (two
        // threads here) would hold up the timers of the front-door tests running beside it.
        let size = 256 << 10
        let (compressedBytes, small, justUnder, atSize) = try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    var zeros = ByteBuffer(bytes: [UInt8](repeating: 0, count: size))
                    let bomb = try zeros.compress(with: .gzip())
                    return (bomb.readableBytes, Result { try Gzip.decompress(bomb, limit: 16 << 10) },
                            Result { try Gzip.decompress(bomb, limit: size - 1) }, Result { try Gzip.decompress(bomb, limit: size) })
                })
            }.start()
        }
        #expect(compressedBytes < 1024)
        #expect(throws: GzipError.tooLarge) { try small.get() }
        #expect(throws: GzipError.tooLarge) { try justUnder.get() }
        #expect(try atSize.get().count == size)
    }
}
