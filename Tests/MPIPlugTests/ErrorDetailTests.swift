import Foundation
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// Connect error details: a refused field travels as a `mpiplug.v1.BadRequest` detail in the error
/// body's `details` (`type`, unpadded base64 `value`, `debug` JSON), decodable by clients that have
/// only `google.rpc.BadRequest`, and unchanged between ranks.
@Suite(.serialized)
struct ErrorDetailTests {
    /// The error body's `details`, parsed as a client would.
    private static func details(ofBody body: String) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        return try #require(object["details"] as? [[String: Any]])
    }

    @Test func aFieldErrorCarriesABadRequestDetail() throws {
        let error = ConnectError.invalidArgument(field: "limit", "must be 0 (the default, 10) to 100, not 101")
        #expect(error.message == "limit: must be 0 (the default, 10) to 100, not 101")
        #expect(error.httpStatus == 400)
        let details = try Self.details(ofBody: error.jsonBody)
        #expect(details.count == 1)
        #expect(details.first?["type"] as? String == "mpiplug.v1.BadRequest")
        let value = try #require(details.first?["value"] as? String)
        #expect(!value.contains("="), "the protocol says to emit base64 without padding: \(value)")
        let bytes = try #require(ConnectErrorDetail.decodeBase64(value))
        let badRequest = try Mpiplug_V1_BadRequest(serializedBytes: bytes)
        #expect(badRequest.fieldViolations.map(\.field) == ["limit"])
        #expect(badRequest.fieldViolations.map(\.description_p) == ["must be 0 (the default, 10) to 100, not 101"])
        let debug = try #require(details.first?["debug"] as? [String: Any])
        let violations = try #require(debug["fieldViolations"] as? [[String: Any]])
        #expect(violations.first?["field"] as? String == "limit")
        #expect(error.fieldViolations.map(\.field) == ["limit"])
    }

    @Test func anErrorWithoutDetailsHasNoDetailsKey() {
        #expect(!ConnectError(.notFound, "no user").jsonBody.contains("details"))
    }

    /// google.rpc.BadRequest is `repeated FieldViolation field_violations = 1` with
    /// `string field = 1; string description = 2`: its encoding, written out by hand here, must be
    /// ours byte for byte, so that a client decoding the value as google.rpc.BadRequest reads the same.
    @Test func theDetailIsWireCompatibleWithGoogleRPCBadRequest() throws {
        let error = ConnectError.invalidArgument(field: "user_id", "required")
        let value = try #require(error.details.first?.value)
        let field = Array("user_id".utf8), description = Array("required".utf8)
        let violation: [UInt8] = [0x0A, UInt8(field.count)] + field + [0x12, UInt8(description.count)] + description
        #expect(value == [0x0A, UInt8(violation.count)] + violation)
    }

    @Test func base64IsReadPaddedOrNotStandardOrURLSafe() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0x01, 0x02]
        #expect(ConnectErrorDetail.unpaddedBase64(bytes) == "+/8BAg")
        for text in ["+/8BAg", "+/8BAg==", "-_8BAg", "-_8BAg=="] {
            #expect(ConnectErrorDetail.decodeBase64(text) == bytes, "\(text)")
        }
        #expect(ConnectErrorDetail.decodeBase64("not base64!") == nil)
    }

    /// What another rank sends rank 0 for a refused request keeps its details (the type, the value
    /// and the debug rendering), so that a field error found on the user's owner reaches the client whole.
    @Test func detailsSurviveTheTripBetweenRanks() throws {
        let error = ConnectError.invalidArgument(field: "at_unix_seconds", "more than a day in the future")
        let bytes: [UInt8] = try Mpiplug_V1_AnswerError(error).serializedBytes()
        let sent = try Mpiplug_V1_AnswerError(serializedBytes: bytes)
        let received = sent.connectError
        #expect(received == error)
        #expect(received.details.first?.debugJSON == error.details.first?.debugJSON)
        #expect(received.jsonBody == error.jsonBody)
        #expect(Mpiplug_V1_AnswerError(ConnectError(.notFound, "gone")).connectError == ConnectError(.notFound, "gone"))
    }

    /// Through the front door: a built-in route's validation (Echo takes at most 1 MiB of message)
    /// answers 400 with the detail, and the test client reads it back.
    @Test func theFrontDoorAnswersTheDetail() async throws {
        let harness = try FrontDoorHarness(maximumBodyBytes: 4 << 20)
        try await harness.service.test { client in
            let request = Mpiplug_V1_EchoRequest.with { $0.message = String(repeating: "x", count: (1 << 20) + 1) }
            let result = try await client.call(
                Mpiplug_V1_DiagnosticsService.echo, request, returning: Mpiplug_V1_EchoResponse.self, format: .json)
            guard case .failure(let error) = result else {
                Issue.record("an oversized message was accepted")
                return
            }
            #expect(error.code == .invalidArgument)
            #expect(error.fieldViolations.map(\.field) == ["message"])
            #expect(error.fieldViolations.map(\.description_p) == ["at most 1 MiB"])
            try await client.http.execute(
                uri: Mpiplug_V1_DiagnosticsService.echo.path, method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(bytes: try request.jsonUTF8Bytes() as [UInt8])
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/json")
                let details = try Self.details(ofBody: String(buffer: response.body))
                #expect(details.first?["type"] as? String == "mpiplug.v1.BadRequest")
            }
        }
    }

    /// A route's own refusal (a handler's `.failure`, not the front door's check) carries its detail too.
    @Test func aHandlersFieldRefusalReachesTheClient() async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test { client in
            let result = try await client.call(
                FrontDoorHarness.refuse, Mpiplug_V1_EchoRequest.with { $0.value = 3 }, returning: Mpiplug_V1_EchoResponse.self)
            guard case .failure(let error) = result else {
                Issue.record("an odd value was accepted")
                return
            }
            #expect(error.message == "value: must be even, not 3")
            #expect(error.fieldViolations.map(\.field) == ["value"])
        }
    }

    /// The repeated-field count limits name their field in a detail as well.
    @Test func aCountLimitNamesItsField() {
        let limit = RepeatedFieldLimit("events", number: 1, maximumCount: 10)
        #expect(limit.exceeded(count: 11).fieldViolations.map(\.field) == ["events"])
        #expect(limit.exceeded(count: 11).message == "events: at most 10 per request, not 11")
    }
}
