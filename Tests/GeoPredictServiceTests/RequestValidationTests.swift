import GeoPredictProtos
@testable import GeoPredictService
import Testing

/// The identifier rule the v1 API documents: non-empty, at most the byte limit, no control characters.
struct RequestValidationTests {
    private func problem(_ id: String) -> String? {
        FieldCheck.identifier(id, field: "user_id", maximumBytes: RequestLimits.maximumUserIDBytes)
    }

    @Test func printableIdentifiersPass() {
        #expect(problem("u0000001") == nil)
        #expect(problem("shopper 42 / café ☕") == nil)
        #expect(problem(String(repeating: "x", count: RequestLimits.maximumUserIDBytes)) == nil)
    }

    @Test func controlCharactersAreRefusedInAndOutsideASCII() {
        for id in ["a\u{7}b", "tab\there", "del\u{7F}", "next-line\u{85}", "\u{0}"] {
            #expect(problem(id) == "user_id: must not contain control characters", "\(Array(id.unicodeScalars))")
        }
    }

    @Test func emptyAndLongIdentifiersAreRefused() {
        #expect(problem("") == "user_id: required")
        #expect(problem(String(repeating: "é", count: 65)) == "user_id: at most 128 bytes")
    }

    @Test func aPredictionRequestNamesItsFirstBadField() {
        var request = Geopredict_V1_PredictNextVisitsRequest()
        request.userID = "u\u{1B}[31m"
        #expect(request.problem(nowUnixSeconds: 1_700_000_000)?.hasPrefix("user_id:") == true)
        request.userID = "u1"
        #expect(request.problem(nowUnixSeconds: 1_700_000_000) == nil)
        request.limit = 101
        #expect(request.problem(nowUnixSeconds: 1_700_000_000)?.hasPrefix("limit:") == true)
    }
}
