import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugTesting
import NIOCore
import Testing

/// Files the front door serves itself (a console): GET and HEAD without a token, with a
/// Content-Security-Policy, 405 for other methods, and paths that cannot shadow the API or the probes.
@Suite(.serialized)
struct StaticFileTests {
    private static let page = StaticFile(path: "/", contentType: "text/html; charset=utf-8", body: Array("<p>console</p>".utf8))

    private static func withClient(token: String? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try FrontDoorHarness(token: token)
        try harness.service.serveFiles([page])
        try await harness.service.test { client in try await body(client.http) }
    }

    @Test func aFileIsServedWithoutATokenWithItsPolicy() async throws {
        try await Self.withClient(token: "secret") { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "<p>console</p>")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.contentSecurityPolicy] == StaticFile.sameOriginPolicy)
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
            }
            // The API beside it still needs the token.
            try await client.execute(uri: "/mpiplug.v1.DiagnosticsService/Echo", method: .post,
                                     headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func thePolicyAllowsOnlyTheSameOrigin() {
        let policy = StaticFile.sameOriginPolicy
        for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            #expect(policy.contains(directive), "\(directive)")
        }
        #expect(!policy.contains("unsafe-inline") && !policy.contains("*"))
    }

    @Test func headHasNoBodyAndOtherMethodsAre405() async throws {
        try await Self.withClient { client in
            try await client.execute(uri: "/", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.contentLength] == "14")
            }
            try await client.execute(uri: "/", method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }
    }

    @Test func pathsThatWouldShadowTheServiceAreRefused() throws {
        let harness = try FrontDoorHarness()
        for path in ["/healthz", "/metrics", "/mpiplug.v1.DiagnosticsService/Echo", "console.js", ""] {
            #expect(throws: MPIPlugError.self, "\(path)") {
                try harness.service.serveFiles([StaticFile(path: path, contentType: "text/plain", body: [])])
            }
        }
        #expect(throws: MPIPlugError.self) { try harness.service.serveFiles([Self.page, Self.page]) }
    }
}
