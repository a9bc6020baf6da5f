import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// Connect's GET form for NO_SIDE_EFFECTS methods: `?message=…&encoding=…[&base64=1][&compression=gzip][&connect=v1]`.
@Suite(.serialized)
struct GetMethodTests {
    private static let read = "/test.v1.Test/Read"
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"

    private static func withClient(token: String? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try FrontDoorHarness(token: token)
        try await harness.service.test { client in try await body(client.http) }
    }

    private static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func get(_ client: any TestClientProtocol, _ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: headers) { $0 }
    }

    @Test func jsonProtoBase64AndGzipForms() async throws {
        try await Self.withClient { client in
            let json = Self.percentEncoded(#"{"message":"héllo & bye","value":"7"}"#)
            let plain = try await Self.get(client, "\(Self.read)?encoding=json&message=\(json)&connect=v1&unknown=ignored")
            #expect(plain.status == .ok)
            #expect(plain.headers[.contentType] == "application/json")
            #expect(plain.headers[.cacheControl] == "private, no-store")
            let answer = try Mpiplug_V1_EchoResponse(jsonUTF8Bytes: Array(buffer: plain.body))
            #expect(answer.message == "héllo & bye" && answer.checksum == 7)

            let request = try Mpiplug_V1_EchoRequest.with { $0.message = "binary?/+"; $0.value = 3 }.serializedBytes() as [UInt8]
            let proto = try await Self.get(client, "\(Self.read)?encoding=proto&base64=1&message=\(Self.base64URL(request))")
            #expect(proto.status == .ok)
            #expect(proto.headers[.contentType] == "application/proto")
            #expect(try Mpiplug_V1_EchoResponse(serializedBytes: Array(buffer: proto.body)).message == "binary?/+")

            var buffer = ByteBuffer(bytes: request)
            let gzipped = Array(buffer: try buffer.compress(with: .gzip()))
            let compressed = try await Self.get(
                client, "\(Self.read)?encoding=proto&base64=1&compression=gzip&message=\(Self.base64URL(gzipped))")
            #expect(compressed.status == .ok)
            #expect(try Mpiplug_V1_EchoResponse(serializedBytes: Array(buffer: compressed.body)).checksum == 3)
        }
    }

    @Test func badGetsAreRefusedAsPostsAre() async throws {
        try await Self.withClient { client in
            let refusals: [(query: String, status: HTTPResponse.Status)] = [
                ("encoding=xml&message=x", .unsupportedMediaType),  // an unknown encoding
                ("message=x", .unsupportedMediaType),  // no encoding
                ("encoding=json&message=%7B%7D&connect=v2", .badRequest),  // another protocol version
                ("encoding=proto&base64=1&message=%21%21%21", .badRequest),  // not base64
                ("encoding=json", .badRequest),  // no message
            ]
            for (query, status) in refusals {
                #expect(try await Self.get(client, "\(Self.read)?\(query)").status == status, "\(query)")
            }
            let badJSON = try await Self.get(client, "\(Self.read)?encoding=json&message=nope")
            #expect(badJSON.status == .badRequest)
            #expect(badJSON.headers[.contentEncoding] == nil && badJSON.headers[.contentType] == "application/json")
        }
    }

    @Test func onlyMethodsWithoutSideEffectsTakeGet() async throws {
        try await Self.withClient { client in
            let echo = try await Self.get(client, "\(Self.echo)?encoding=json&message=%7B%7D")
            #expect(echo.status == .methodNotAllowed)
            #expect(echo.headers[.allow] == "POST")
            let put = try await client.execute(uri: Self.read, method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: "{}")) { $0 }
            #expect(put.status == .methodNotAllowed)
            #expect(put.headers[.allow] == "POST, GET")
            // POST still works for the GET-able method.
            let post = try await client.execute(uri: Self.read, method: .post, headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"message":"p"}"#)) { $0 }
            #expect(post.status == .ok)
            #expect(post.headers[.cacheControl] == nil)
        }
    }

    @Test func getNeedsTheTokenToo() async throws {
        try await Self.withClient(token: "secret") { client in
            let without = try await Self.get(client, "\(Self.read)?encoding=json&message=%7B%7D")
            #expect(without.status == .unauthorized)
            let with = try await Self.get(client, "\(Self.read)?encoding=json&message=%7B%7D", headers: [.authorization: "Bearer secret"])
            #expect(with.status == .ok)
        }
    }
}
