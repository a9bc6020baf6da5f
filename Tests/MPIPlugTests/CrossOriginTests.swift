import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugTesting
import NIOCore
import Testing

/// CORS, opt-in: preflights answered without a token for allowed origins only; actual responses,
/// errors included, name the origin and expose the Connect headers.
@Suite(.serialized)
struct CrossOriginTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"
    private static let page = "https://app.example"

    private static func withClient(
        origins: [String], token: String? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let harness = try FrontDoorHarness(token: token) { $0.corsOrigins = origins }
        try await harness.service.test { client in try await body(client.http) }
    }

    private static func preflight(_ uri: String, origin: String, client: any TestClientProtocol) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .options,
            headers: [.origin: origin, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type,connect-protocol-version"]
        ) { $0 }
    }

    @Test func preflightFromAnAllowedOriginNeedsNoToken() async throws {
        try await Self.withClient(origins: [Self.page, "http://localhost:3000"], token: "secret") { client in
            let response = try await Self.preflight(Self.echo, origin: Self.page, client: client)
            #expect(response.status == .noContent)
            #expect(response.headers[.accessControlAllowOrigin] == Self.page)
            #expect(response.headers[values: .vary].contains("Origin"))
            #expect(response.headers[.accessControlAllowMethods] == "POST, GET")
            let allowed = Set((response.headers[.accessControlAllowHeaders] ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            })
            for name in ["content-type", "connect-protocol-version", "connect-timeout-ms", "content-encoding", "authorization"] {
                #expect(allowed.contains(name), "\(name) in Access-Control-Allow-Headers")
            }
            #expect(Int(response.headers[.accessControlMaxAge] ?? "") ?? 0 > 0)
            // Unknown routes are preflighted alike: a preflight does not tell routes apart either.
            let unknown = try await Self.preflight("/no.such.Service/Nope", origin: Self.page, client: client)
            #expect(unknown.status == .noContent)
            #expect(unknown.headers[.accessControlAllowMethods] == "POST, GET")
        }
    }

    @Test func authorizationIsAllowedOnlyWhenAuthIsOn() async throws {
        try await Self.withClient(origins: ["*"]) { client in
            let response = try await Self.preflight(Self.echo, origin: Self.page, client: client)
            #expect(response.status == .noContent)
            #expect(response.headers[.accessControlAllowOrigin] == "*")
            #expect(!(response.headers[.accessControlAllowHeaders] ?? "").lowercased().contains("authorization"))
            #expect(response.headers[.accessControlAllowCredentials] == nil, "never with credentials")
        }
    }

    @Test func aPreflightFromAnotherOriginGetsNoCORSHeaders() async throws {
        try await Self.withClient(origins: [Self.page]) { client in
            let response = try await Self.preflight(Self.echo, origin: "https://evil.example", client: client)
            #expect(response.headers[.accessControlAllowOrigin] == nil)
            #expect(response.headers[.accessControlAllowMethods] == nil)
            #expect(response.headers[.accessControlAllowHeaders] == nil)
            // An actual call from it is answered, but without CORS headers: the browser withholds it.
            try await client.execute(
                uri: Self.echo, method: .post, headers: [.contentType: "application/json", .origin: "https://evil.example"],
                body: ByteBuffer(string: #"{"message":"hi"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test func actualResponsesAndErrorsNameTheOriginAndExposeHeaders() async throws {
        try await Self.withClient(origins: [Self.page], token: "secret") { client in
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .origin: Self.page, .authorization: "Bearer secret"],
                body: ByteBuffer(string: #"{"message":"hi"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == Self.page)
                #expect(response.headers[values: .vary].contains("Origin"))
                let exposed = (response.headers[.accessControlExposeHeaders] ?? "").lowercased()
                for name in ["content-encoding", "connect-content-encoding", "retry-after", "content-type"] {
                    #expect(exposed.contains(name), "\(name) exposed")
                }
            }
            // An error (401 here, no token) carries them too, so that the page can read the Connect error.
            try await client.execute(
                uri: Self.echo, method: .post, headers: [.contentType: "application/json", .origin: Self.page],
                body: ByteBuffer(string: "{}")
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.accessControlAllowOrigin] == Self.page)
                #expect(response.headers[.accessControlExposeHeaders] != nil)
            }
        }
    }

    @Test func withoutOriginsNothingChanges() async throws {
        try await Self.withClient(origins: [], token: "secret") { client in
            let response = try await Self.preflight(Self.echo, origin: Self.page, client: client)
            #expect(response.status == .unauthorized, "OPTIONS is an ordinary method: token first, as before")
            #expect(response.headers[.accessControlAllowOrigin] == nil)
        }
        try await Self.withClient(origins: []) { client in
            let response = try await Self.preflight(Self.echo, origin: Self.page, client: client)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func originsAreChecked() {
        var configuration = MPIPlugConfiguration()
        configuration.corsOrigins = ["https://app.example/"]
        #expect(throws: MPIPlugError.self) { try configuration.validate() }
        configuration.corsOrigins = ["app.example"]
        #expect(throws: MPIPlugError.self) { try configuration.validate() }
        configuration.corsOrigins = ["*", "http://localhost:3000"]
        #expect(throws: Never.self) { try configuration.validate() }
    }
}
