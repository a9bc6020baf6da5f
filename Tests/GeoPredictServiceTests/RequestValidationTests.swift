import GeoPredictProtos
import MPIPlug
@testable import GeoPredictService
import Testing

/// The identifier rule the v1 API documents: non-empty, at most the byte limit, no control characters.
struct RequestValidationTests {
    private func problem(_ id: String) -> String? {
        FieldCheck.identifier(id, field: "user_id", maximumBytes: RequestLimits.maximumUserIDBytes)?.message
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
        #expect(request.problem(nowUnixSeconds: 1_700_000_000)?.field == "user_id")
        request.userID = "u1"
        #expect(request.problem(nowUnixSeconds: 1_700_000_000) == nil)
        request.limit = 101
        #expect(request.problem(nowUnixSeconds: 1_700_000_000)?.field == "limit")
    }
}

/// Train's hyper-parameters are checked before it answers: a value that would fail the run later
/// (a Float overflow in training) is refused at once.
struct TrainRequestValidationTests {
    private func refusal(_ change: (inout Geopredict_V1_TrainRequest) -> Void) -> String? {
        var request = Geopredict_V1_TrainRequest()
        change(&request)
        do {
            try request.validate()
            return nil
        } catch {
            #expect(error.code == .invalidArgument)
            return error.message
        }
    }

    @Test func defaultsAndTheLimitsThemselvesAreAccepted() {
        #expect(refusal { _ in } == nil)
        #expect(refusal { $0.factors = 256; $0.iterations = 100 } == nil)
        #expect(refusal { $0.regularization = 1e6; $0.alpha = 1e6 } == nil)
        #expect(refusal { $0.regularization = 1e-300; $0.alpha = 0.5 } == nil)
    }

    @Test func valuesOutsideTheDocumentedRangesNameTheirField() {
        #expect(refusal { $0.factors = 257 }?.hasPrefix("factors:") == true)
        #expect(refusal { $0.iterations = 101 }?.hasPrefix("iterations:") == true)
        for bad in [1e300, 1_000_001, -0.1, .nan, .infinity] {
            #expect(refusal { $0.regularization = bad }?.hasPrefix("regularization:") == true, "\(bad)")
            #expect(refusal { $0.alpha = bad }?.hasPrefix("alpha:") == true, "\(bad)")
        }
    }
}
