import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugTesting
import NIOCore
import Testing

/// What is open without a token, and what `/healthz` costs and says.
@Suite(.serialized)
struct SafeDefaultsTests {
    private static func withClient(
        token: String? = nil, _ body: @Sendable (any TestClientProtocol, FrontDoorHarness) async throws -> Void
    ) async throws {
        let harness = try FrontDoorHarness(token: token)
        try await harness.service.test { client in try await body(client.http, harness) }
    }

    private static func json(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    private static func roundsServed(_ client: any TestClientProtocol, token: String? = nil) async throws -> Int {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
            let line = String(buffer: response.body).split(separator: "\n").first { $0.hasPrefix("mpiplug_rounds_total ") }
            return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        }
    }

    @Test func withoutATokenUnknownRoutesCannotBeToldFromKnownOnes() async throws {
        try await Self.withClient(token: "secret") { client, _ in
            for (uri, method) in [("/no.such.Service/Nope", HTTPRequest.Method.post), ("/mpiplug.v1.DiagnosticsService/Echo", .post),
                                  ("/mpiplug.v1.DiagnosticsService/Echo", .get), ("/anything", .get)] {
                try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                }
            }
            // With the token, the unknown route is 404 as before.
            try await client.execute(
                uri: "/no.such.Service/Nope", method: .post,
                headers: [.contentType: "application/json", .authorization: "Bearer secret"], body: ByteBuffer(string: "{}")
            ) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok, "/healthz stays open")
            }
        }
    }

    @Test func healthProbesDoNotRunARoundEach() async throws {
        try await Self.withClient { client, _ in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["ready"] as? Bool == true, "ready once every rank answered a first round")
            }
            let before = try await Self.roundsServed(client)
            for _ in 0..<200 {
                try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
            }
            let after = try await Self.roundsServed(client)
            // Each probe used to run a ping round (a barrier over every rank): 200 rounds.
            #expect(after - before <= 1, "\(after - before) rounds for 200 probes")
        }
    }

    @Test func healthTellsLivenessReadinessAndDegradedParts() async throws {
        try await Self.withClient { client, harness in
            try await client.execute(uri: "/healthz", method: .get) { response in
                let body = Self.json(response)
                #expect(body["status"] as? String == "serving")
                #expect(body["live"] as? Bool == true && body["ready"] as? Bool == true)
                #expect((body["degraded"] as? [String])?.isEmpty == true)
            }
            harness.health.setDegraded("ingest", reason: "disk full")
            try await client.execute(uri: "/healthz", method: .get) { response in
                let body = Self.json(response)
                #expect(response.status == .ok, "a degraded service is still ready")
                #expect(body["status"] as? String == "degraded")
                #expect(body["degraded"] as? [String] == ["ingest degraded: disk full"])
            }
            harness.health.setDegraded("ingest", reason: nil)
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(Self.json(response)["status"] as? String == "serving")
            }
            harness.health.startDraining()
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable, "not ready while draining")
                #expect(Self.json(response)["ready"] as? Bool == false)
                #expect(Self.json(response)["status"] as? String == "draining")
            }
            try await client.execute(uri: "/healthz?probe=live", method: .get) { response in
                #expect(response.status == .ok, "still live while draining")
            }
            harness.health.markBroken("a rank stopped answering")
            try await client.execute(uri: "/healthz?probe=live", method: .get) { response in
                #expect(response.status == .serviceUnavailable, "a broken job is not live")
                #expect(Self.json(response)["live"] as? Bool == false)
            }
        }
    }

    @Test func nonLoopbackAddressesNeedATokenOrAnExplicitChoice() throws {
        var configuration = MPIPlugConfiguration()
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            configuration.host = host
            #expect(throws: Never.self, "\(host)") { try configuration.validate() }
        }
        for host in ["0.0.0.0", "10.203.0.1", "::", "example.org", "127.0.0.1.example.org"] {
            configuration.host = host
            #expect(throws: MPIPlugError.self, "\(host)") { try configuration.validate() }
        }
        configuration.host = "0.0.0.0"
        configuration.allowUnauthenticated = true
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.allowUnauthenticated = false
        configuration.bearerToken = "secret"
        #expect(throws: Never.self) { try configuration.validate() }
    }
}
