import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugTesting
import NIOCore
import Testing

/// The headers each error status calls for, and a success in the request's own media type.
@Suite(.serialized)
struct ErrorHeaderTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"

    private static func withClient(token: String? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try FrontDoorHarness(token: token)
        try await harness.service.test { client in try await body(client.http) }
    }

    @Test func unauthorizedNamesTheBearerScheme() async throws {
        try await Self.withClient(token: "secret") { client in
            for (uri, method) in [(Self.echo, HTTPRequest.Method.post), ("/metrics", .get), ("/no.such.Service/Nope", .post)] {
                try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer", "\(uri)")
                }
            }
        }
    }

    @Test func unsupportedMediaTypeNamesWhatIsAccepted() async throws {
        try await Self.withClient { client in
            try await client.execute(uri: Self.echo, method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi")) { response in
                #expect(response.status == .unsupportedMediaType)
                let accepted = response.headers[.init("Accept-Post")!] ?? ""
                #expect(accepted.contains("application/proto") && accepted.contains("application/json"))
            }
        }
    }

    @Test func methodNotAllowedNamesThePathsOwnMethods() async throws {
        try await Self.withClient { client in
            for (uri, allow) in [("/healthz", "GET, HEAD"), ("/metrics", "GET"), (Self.echo, "POST")] {
                try await client.execute(uri: uri, method: uri == Self.echo ? .get : .post, headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .methodNotAllowed, "\(uri)")
                    #expect(response.headers[.allow] == allow, "\(uri)")
                }
            }
        }
    }

    @Test func successEchoesTheRequestsMediaType() async throws {
        try await Self.withClient { client in
            for (sent, answered) in [("application/x-protobuf", "application/x-protobuf"), ("application/proto", "application/proto"),
                                     ("application/json; charset=utf-8", "application/json"), ("Application/JSON", "application/json")] {
                let body = sent.lowercased().contains("json") ? ByteBuffer(string: #"{"message":"hi"}"#) : ByteBuffer(bytes: [0x0A, 0x02, 0x68, 0x69])
                try await client.execute(uri: Self.echo, method: .post, headers: [.contentType: sent], body: body) { response in
                    #expect(response.status == .ok, "\(sent)")
                    #expect(response.headers[.contentType] == answered, "\(sent)")
                }
            }
        }
    }
}
