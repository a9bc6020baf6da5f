import Foundation
import GeoPredict
import GeoPredictProtos
import MPIPlug
@testable import GeoPredictService
import Testing

/// Every field the v1 API refuses as a whole call is named in a `mpiplug.v1.BadRequest` detail, with
/// the message clients have always read ("field: description") unchanged.
struct RequestDetailTests {
    private static func refusal(_ validate: () throws(ConnectError) -> Void) -> ConnectError? {
        do {
            try validate()
            return nil
        } catch {
            return error
        }
    }

    private static func predict(_ change: (inout Geopredict_V1_PredictNextVisitsRequest) -> Void) -> ConnectError? {
        var request = Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = "u1" }
        change(&request)
        return refusal { () throws(ConnectError) in try request.validate() }
    }

    private static func train(_ change: (inout Geopredict_V1_TrainRequest) -> Void) -> ConnectError? {
        var request = Geopredict_V1_TrainRequest()
        change(&request)
        return refusal { () throws(ConnectError) in try request.validate() }
    }

    private static func expectField(_ error: ConnectError?, _ field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error else {
            Issue.record("accepted; expected a refusal of \(field)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
        #expect(error.fieldViolations.map(\.field) == [field], sourceLocation: sourceLocation)
        let description = error.fieldViolations.first?.description_p ?? ""
        #expect(!description.isEmpty && error.message == "\(field): \(description)", sourceLocation: sourceLocation)
    }

    @Test func predictionRequestsNameTheirField() {
        let now = Int64(Date().timeIntervalSince1970)
        Self.expectField(Self.predict { $0.userID = "" }, "user_id")
        Self.expectField(Self.predict { $0.limit = 101 }, "limit")
        Self.expectField(Self.predict { $0.atUnixSeconds = now + 10 * Seconds.perDay }, "at_unix_seconds")
        Self.expectField(Self.predict { $0.latitude = 40 }, "longitude")
        Self.expectField(Self.predict { $0.longitude = 40 }, "latitude")
        Self.expectField(Self.predict { $0.latitude = 91; $0.longitude = 0 }, "latitude")
        Self.expectField(Self.predict { $0.latitude = 0; $0.longitude = .nan }, "longitude")
        Self.expectField(Self.predict { $0.categories = Array(repeating: "food", count: 101) }, "categories")
        Self.expectField(Self.predict { $0.categories = [String(repeating: "c", count: 129)] }, "categories")
        #expect(Self.predict { _ in } == nil)
    }

    @Test func otherRequestsNameTheirField() {
        Self.expectField(Self.refusal { () throws(ConnectError) in try Geopredict_V1_GetUserRequest().validate() }, "user_id")
        Self.expectField(Self.refusal { () throws(ConnectError) in try Geopredict_V1_IngestEventsRequest().validate() }, "events")
        let tooMany = Geopredict_V1_IngestEventsRequest.with {
            $0.events = Array(repeating: Geopredict_V1_LocationEvent(), count: RequestLimits.maximumEventsPerRequest + 1)
        }
        Self.expectField(Self.refusal { () throws(ConnectError) in try tooMany.validate() }, "events")
        Self.expectField(Self.train { $0.factors = 257 }, "factors")
        Self.expectField(Self.train { $0.iterations = 101 }, "iterations")
        Self.expectField(Self.train { $0.regularization = .infinity }, "regularization")
        Self.expectField(Self.train { $0.alpha = -1 }, "alpha")
    }

    /// A bad event inside a good request is reported in the response, by its field, as before.
    @Test func aBadEventKeepsItsFieldAndMessage() {
        let event = Geopredict_V1_LocationEvent.with {
            $0.userID = "u1"
            $0.timestampUnixSeconds = 1_700_000_000
            $0.latitude = 100
        }
        let error = EventCheck.problem(event, nowUnixSeconds: 1_700_000_000)
        #expect(error?.field == "latitude")
        #expect(error?.message == "latitude: must be a number from -90 to 90, not 100.0")
    }
}
