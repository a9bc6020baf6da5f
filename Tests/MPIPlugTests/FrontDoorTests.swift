import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// The Connect error table and the happy paths, through the real responder and round loop.
@Suite(.serialized)
struct FrontDoorTests {
    private static let echo = "/mpiplug.v1.DiagnosticsService/Echo"

    private func withFrontDoor(
        token: String? = nil, maximumBodyBytes: Int = 64 * 1024,
        _ body: @Sendable (any TestClientProtocol, FrontDoorHarness) async throws -> Void
    ) async throws {
        let harness = try FrontDoorHarness(token: token, maximumBodyBytes: maximumBodyBytes)
        try await harness.service.test { client in try await body(client.http, harness) }
    }

    private static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    private static func errorCode(_ response: TestResponse) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        return object?["code"] as? String
    }

    @Test func echoAnswersJSONWithEveryRankCounted() async throws {
        try await withFrontDoor { client, _ in
            try await client.execute(
                uri: Self.echo, method: .post, headers: [.contentType: "application/json"],
                body: Self.json(#"{"message":"hello","value":"41","unknownField":1}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let answer = try Mpiplug_V1_EchoResponse(jsonUTF8Bytes: Array(buffer: response.body))
                #expect(answer.message == "hello")
                #expect(answer.rankCount == 1)
                #expect(answer.checksum == 41)
            }
        }
    }

    @Test func echoAnswersBinaryProtobuf() async throws {
        try await withFrontDoor { client, _ in
            let request = try Mpiplug_V1_EchoRequest.with { $0.message = "bin"; $0.value = -3 }.serializedBytes() as [UInt8]
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/proto", HTTPField.Name("Connect-Protocol-Version")!: "1"],
                body: ByteBuffer(bytes: request)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/proto")
                let answer = try Mpiplug_V1_EchoResponse(serializedBytes: Array(buffer: response.body))
                #expect(answer.message == "bin")
                #expect(answer.checksum == -3)
            }
        }
    }

    @Test func gzipBodiesAreAccepted() async throws {
        try await withFrontDoor { client, _ in
            var plain = ByteBuffer(string: #"{"message":"zipped"}"#)
            let compressed = try plain.compress(with: .gzip())
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .contentEncoding: "gzip"], body: compressed
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("zipped"))
            }
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .contentEncoding: "gzip"], body: Self.json("not gzip")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(response) == "invalid_argument")
            }
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .contentEncoding: "br"], body: Self.json("{}")
            ) { response in
                #expect(Self.errorCode(response) == "unimplemented")
            }
        }
    }

    @Test func errorsFollowTheConnectTable() async throws {
        try await withFrontDoor(maximumBodyBytes: 1024) { client, _ in
            let cases: [(uri: String, method: HTTPRequest.Method, contentType: String, body: String, status: HTTPResponse.Status, code: String)] = [
                (Self.echo, .post, "application/json", "{not json", .badRequest, "invalid_argument"),
                (Self.echo, .post, "application/json", #"{"value":"twelve"}"#, .badRequest, "invalid_argument"),
                (Self.echo, .post, "application/proto", "\u{FF}\u{FF}\u{FF}", .badRequest, "invalid_argument"),
                ("/mpiplug.v1.DiagnosticsService/Nope", .post, "application/json", "{}", .notFound, "unimplemented"),
                ("/no.such.Service/Echo", .post, "application/json", "{}", .notFound, "unimplemented"),
                (Self.echo, .get, "application/json", "", .methodNotAllowed, "unimplemented"),
                (Self.echo, .put, "application/json", "{}", .methodNotAllowed, "unimplemented"),
                (Self.echo, .post, "text/plain", "{}", .unsupportedMediaType, "unimplemented"),
                (Self.echo, .post, "application/json", "{\"message\":\"" + String(repeating: "x", count: 2000) + "\"}",
                 .contentTooLarge, "resource_exhausted"),
                ("/test.v1.Test/Fail", .post, "application/json", "{}", .badRequest, "failed_precondition"),
                ("/test.v1.Test/Throw", .post, "application/json", "{}", .internalServerError, "internal"),
            ]
            for testCase in cases {
                try await client.execute(
                    uri: testCase.uri, method: testCase.method, headers: [.contentType: testCase.contentType],
                    body: Self.json(testCase.body)
                ) { response in
                    #expect(response.status == testCase.status, "\(testCase.method) \(testCase.uri) \(testCase.body.prefix(20))")
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(Self.errorCode(response) == testCase.code, "\(testCase.uri)")
                    #expect(!String(buffer: response.body).contains("secret-path"), "internals leaked")
                }
            }
        }
    }

    @Test func protocolVersionOtherThanOneIsRefused() async throws {
        try await withFrontDoor { client, _ in
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("Connect-Protocol-Version")!: "2"],
                body: Self.json("{}")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(response) == "invalid_argument")
            }
        }
    }

    @Test func deadlinesAreHonoured() async throws {
        try await withFrontDoor { client, _ in
            try await client.execute(
                uri: "/test.v1.Test/Sleep", method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("Connect-Timeout-Ms")!: "50"],
                body: Self.json(#"{"value":"400"}"#)
            ) { response in
                #expect(response.status == .gatewayTimeout)
                #expect(Self.errorCode(response) == "deadline_exceeded")
            }
            try await client.execute(
                uri: "/test.v1.Test/Sleep", method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("Connect-Timeout-Ms")!: "5000"],
                body: Self.json(#"{"value":"1","message":"in time"}"#)
            ) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func bearerTokenIsRequiredExceptForHealth() async throws {
        try await withFrontDoor(token: "letmein") { client, _ in
            try await client.execute(uri: Self.echo, method: .post, headers: [.contentType: "application/json"], body: Self.json("{}")) { response in
                #expect(response.status == .unauthorized)
                #expect(Self.errorCode(response) == "unauthenticated")
            }
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .authorization: "Bearer wrong"], body: Self.json("{}")
            ) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(
                uri: Self.echo, method: .post,
                headers: [.contentType: "application/json", .authorization: "Bearer letmein"], body: Self.json("{}")
            ) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func healthAndMetricsReflectTheService() async throws {
        try await withFrontDoor { client, harness in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"serving\""))
            }
            try await client.execute(uri: Self.echo, method: .post, headers: [.contentType: "application/json"], body: Self.json("{}")) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.status == .ok)
                #expect(text.contains(#"mpiplug_requests_total{route="/mpiplug.v1.DiagnosticsService/Echo"} 1"#))
                #expect(text.contains("mpiplug_rounds_total"))
            }
            harness.health.startDraining()
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
            try await client.execute(uri: Self.echo, method: .post, headers: [.contentType: "application/json"], body: Self.json("{}")) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.errorCode(response) == "unavailable")
            }
        }
    }

    @Test func backgroundJobsRunBesideRequests() async throws {
        try await withFrontDoor { client, harness in
            let start = "/test.v1.Test/Background"
            let headers: HTTPFields = [.contentType: "application/json"]
            try await client.execute(uri: start, method: .post, headers: headers, body: Self.json(#"{"value":"4"}"#)) { response in
                #expect(response.status == .ok)
            }
            // The job waits at its gate after one step: requests are answered meanwhile, and a
            // second job is refused.
            for value in 0..<5 {
                try await client.execute(uri: Self.echo, method: .post, headers: headers, body: Self.json("{\"value\":\"\(value)\"}")) { response in
                    #expect(response.status == .ok)
                }
            }
            try await client.execute(uri: start, method: .post, headers: headers, body: Self.json(#"{"value":"1"}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(response) == "failed_precondition")
            }
            harness.background.gate.signal()
            // The job ends in a step of its own; a request or two give the leader rounds to run them in.
            var results: [Int64] = []
            for _ in 0..<200 {
                results = harness.background.results.withLock { $0 }
                if results.count == 4 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(results == [1, 2, 3, 4])
            var accepted = false
            for _ in 0..<200 where !accepted {
                try await client.execute(uri: start, method: .post, headers: headers, body: Self.json(#"{"value":"1"}"#)) { response in
                    accepted = response.status == .ok
                }
                if !accepted { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(accepted, "a new job starts once the last one has ended")
            harness.background.gate.signal()
        }
    }

    @Test func concurrentRequestsAreBatchedAndAllAnswered() async throws {
        try await withFrontDoor { client, _ in
            try await withThrowingTaskGroup(of: Int64.self) { group in
                for value in 0..<200 {
                    group.addTask {
                        try await client.execute(
                            uri: Self.echo, method: .post, headers: [.contentType: "application/json"],
                            body: Self.json("{\"value\":\"\(value)\"}")
                        ) { response in
                            try Mpiplug_V1_EchoResponse(jsonUTF8Bytes: Array(buffer: response.body)).checksum
                        }
                    }
                }
                var answers = [Int64]()
                for try await answer in group { answers.append(answer) }
                #expect(answers.sorted() == (0..<200).map(Int64.init))
            }
        }
    }
}
