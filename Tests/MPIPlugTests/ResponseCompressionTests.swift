import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugTesting
import NIOCore
import Testing

/// gzip responses: only when Accept-Encoding allows it and the body is over the threshold; errors plain.
@Suite(.serialized)
struct ResponseCompressionTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"
    /// An 8 KB Echo: its response is the same message back, well over the 1 KiB threshold.
    private static let large = #"{"message":""# + String(repeating: "store 42 at 48.8566,2.3522; ", count: 300) + #""}"#

    private static func withClient(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test { client in try await body(client.http) }
    }

    private static func call(_ client: any TestClientProtocol, body: String, acceptEncoding: String?) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let acceptEncoding { headers[.acceptEncoding] = acceptEncoding }
        return try await client.execute(uri: echo, method: .post, headers: headers, body: ByteBuffer(string: body)) { $0 }
    }

    @Test func largeResponsesAreGzipWhenAccepted() async throws {
        try await Self.withClient { client in
            let response = try await Self.call(client, body: Self.large, acceptEncoding: "br;q=1.0, gzip;q=0.8")
            #expect(response.status == .ok)
            #expect(response.headers[.contentEncoding] == "gzip")
            #expect(response.headers[.vary]?.contains("Accept-Encoding") == true)
            #expect(response.body.readableBytes < Self.large.utf8.count / 4, "\(response.body.readableBytes) bytes")
            var body = response.body
            let plain = String(buffer: try body.decompress(with: .gzip()))
            let object = try JSONSerialization.jsonObject(with: Data(plain.utf8)) as? [String: Any]
            #expect((object?["message"] as? String)?.count == Self.large.utf8.count - #"{"message":""}"#.utf8.count)
        }
    }

    @Test func notWhenRefusedAbsentOrSmall() async throws {
        try await Self.withClient { client in
            for acceptEncoding in [nil, "identity", "gzip;q=0", "br", "*;q=0", "gzip;q=0, *"] {
                let response = try await Self.call(client, body: Self.large, acceptEncoding: acceptEncoding)
                #expect(response.status == .ok)
                #expect(response.headers[.contentEncoding] == nil, "\(acceptEncoding ?? "none")")
                #expect(response.body.readableBytes > Self.large.utf8.count - 20)
            }
            let small = try await Self.call(client, body: #"{"message":"hi"}"#, acceptEncoding: "gzip")
            #expect(small.headers[.contentEncoding] == nil, "below the threshold")
        }
    }

    @Test func errorsStayPlainJSON() async throws {
        try await Self.withClient { client in
            // A large body that is not valid for the route's JSON: an error, whatever Accept-Encoding says.
            let response = try await Self.call(client, body: #"{"message":1,"pad":""# + String(repeating: "x", count: 4000) + #""}"#,
                                               acceptEncoding: "gzip")
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentEncoding] == nil)
            #expect(response.headers[.contentType] == "application/json")
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            #expect(object?["code"] as? String == "invalid_argument")
        }
    }

    @Test(arguments: [
        ("gzip", true), ("GZIP", true), ("gzip;q=0.001", true), ("x-gzip", true), ("*", true), ("deflate, *;q=0.5", true),
        ("gzip;q=0", false), ("gzip; q=0.0", false), ("*;q=0", false), ("identity", false), ("", false),
        ("gzip;q=0, *;q=1", false), ("gzip;q=bogus", false),
    ])
    func acceptEncodingIsParsed(value: String, accepted: Bool) {
        #expect(ContentEncoding.acceptsGzip(value) == accepted)
    }

    /// Round trip through our own compressor and CompressNIO's inflater, and a rough CPU figure.
    @Test func compressionRoundTripsAndItsCostIsSmall() throws {
        let bytes = Self.predictionLikeJSON(bytes: 8192)
        let compressed = try #require(Gzip.compress(bytes))
        #expect(try Gzip.decompress(ByteBuffer(bytes: compressed), limit: bytes.count) == bytes)
        let rounds = 200
        let started = ContinuousClock.now
        for _ in 0..<rounds { _ = Gzip.compress(bytes) }
        let perCall = (ContinuousClock.now - started) / rounds
        for level: Int32 in [1, 9] {
            let start = ContinuousClock.now
            for _ in 0..<rounds { _ = Gzip.compress(bytes, level: level) }
            print("gzip level \(level): \(Gzip.compress(bytes, level: level)?.count ?? 0) B, \((ContinuousClock.now - start) / rounds) per call")
        }
        print("gzip level \(Gzip.responseLevel): \(bytes.count) B -> \(compressed.count) B, \(perCall) per call (debug build)")
        // Generous: even a debug build on a busy 2-core machine stays far below a millisecond.
        #expect(perCall < .milliseconds(5))
        #expect(compressed.count < bytes.count / 2, "\(compressed.count) bytes")
    }

    /// About `count` bytes shaped like a PredictNextVisits answer: store ids, scores and coordinates
    /// from a fixed pseudo-random sequence, so that gzip sees numbers, not one repeated string.
    private static func predictionLikeJSON(bytes count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var text = #"{"userId":"user-000123","predictions":["#
        while text.utf8.count < count - 120 {
            text += #"{"storeId":"store-\#(next() % 100_000)","score":0.\#(next() % 1_000_000),"#
                + #""latitude":48.\#(next() % 1_000_000),"longitude":2.\#(next() % 1_000_000),"category":"cat-\#(next() % 40)"},"#
        }
        text += #"{"storeId":"last"}],"windowStart":"2026-12-04T00:00:00Z","windowEnd":"2026-12-04T06:00:00Z"}"#
        return Array(text.utf8)
    }
}
