import HTTPTypes
import HummingbirdTesting
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import NIOCore
import Testing

/// The pre-decode count of repeated fields, and unknown fields dropped before a round.
struct RepeatedFieldCounterTests {
    private static let limits = [RepeatedFieldLimit("store_ids", number: 2, maximumCount: 3)]

    private static func jsonCount(_ text: String) -> Int {
        Array(text.utf8).withUnsafeBufferPointer { RepeatedFieldCounter.jsonCounts($0, limits: limits) }[0]
    }

    private static func binaryCount(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { RepeatedFieldCounter.binaryCounts($0, limits: limits) }[0]
    }

    @Test func jsonCountsEveryNameTheDecoderAccepts() {
        #expect(Self.jsonCount(#"{"store_ids":["a","b"]}"#) == 2)
        #expect(Self.jsonCount(#"{"storeIds":["a","b","c","d"]}"#) == 4)
        #expect(Self.jsonCount(#"{"\u0073toreIds":["a","b"]}"#) == 2, "an escaped key is the same key")
        #expect(Self.jsonCount(#" { "other" : [1,2,3,4,5] , "storeIds" : [ ] } "#) == 0)
        #expect(Self.jsonCount(#"{"storeIds":["],[", {"x":[1,2]}, [3,4], "\"]"]}"#) == 4, "brackets in strings and nested values")
        #expect(Self.jsonCount(#"{"nested":{"storeIds":["a","b","c","d"]},"storeIds":null}"#) == 0, "only top-level members count")
    }

    @Test func binaryCountsTopLevelOccurrencesOnly() {
        // field 2 (length-delimited) twice, field 1 varint, field 3 holding bytes that look like field 2.
        let body: [UInt8] = [0x12, 0x01, 0x61, 0x08, 0x96, 0x01, 0x12, 0x00, 0x1A, 0x02, 0x12, 0x00]
        #expect(Self.binaryCount(body) == 2)
        // A group (wire type 3) holding a field 2 is skipped whole.
        #expect(Self.binaryCount([0x0B, 0x12, 0x00, 0x0C, 0x12, 0x00]) == 1)
        // Malformed (a length past the end): the count so far; the decoder reports the error.
        #expect(Self.binaryCount([0x12, 0x00, 0x12, 0x7F]) == 2)
    }

    @Test func overTheLimitIsInvalidArgumentNamingTheField() {
        #expect(throws: ConnectError.invalidArgument(field: "store_ids", "at most 3 per request, not 4")) {
            try RepeatedFieldCounter.check(Array(#"{"storeIds":[1,2,3,4]}"#.utf8), format: .json, limits: Self.limits)
        }
        #expect(throws: Never.self) {
            try RepeatedFieldCounter.check([0x12, 0x00, 0x12, 0x00, 0x12, 0x00], format: .binary, limits: Self.limits)
        }
    }

    @Test func unknownBinaryFieldsDoNotReachTheRound() async throws {
        let harness = try FrontDoorHarness()
        // Echo's message "hi", then field 99 (a varint) that EchoRequest does not have.
        let known = try Mpiplug_V1_EchoRequest.with { $0.message = "hi" }.serializedBytes() as [UInt8]
        let body = known + [0x98, 0x06, 0x01]
        try await harness.service.test { client in
            try await client.http.execute(
                uri: "/test.v1.Test/UnknownFields", method: .post, headers: [.contentType: "application/proto"],
                body: ByteBuffer(bytes: body)
            ) { response in
                #expect(response.status == .ok)
                let answer = try Mpiplug_V1_EchoResponse(serializedBytes: Array(buffer: response.body))
                #expect(answer.message == "0", "unknown-field bytes that reached the round")
            }
        }
    }
}
