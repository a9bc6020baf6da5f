import Foundation
import GeoPredict
import GeoPredictProtos
import MPIPlug

/// The limits the v1 API documents in `geopredict.proto`, in one place.
public enum RequestLimits {
    public static let maximumUserIDBytes = 128
    public static let maximumStoreIDBytes = 128
    public static let maximumEventIDBytes = 128
    public static let maximumEventsPerRequest = 10_000
    public static let defaultPredictionLimit = 10
    public static let maximumPredictionLimit = 100
    public static let maximumCategories = 100
    /// The largest `regularization` and `alpha` a `Train` takes.
    public static let maximumTrainingParameter = 1_000_000.0
    /// 1990-01-01T00:00:00Z: nothing older is a plausible location event.
    public static let earliestUnixSeconds: Int64 = 631_152_000
    /// How far past the server's clock a timestamp may be (clock skew between devices).
    public static let futureToleranceSeconds: Int64 = Seconds.perDay
}

/// A refused field of a request: the field as the `.proto` names it, and why.
struct FieldProblem: Equatable {
    let field: String
    let description: String

    init(_ field: String, _ description: String) {
        self.field = field
        self.description = description
    }

    /// `"field: description"`, the message clients read (and always have).
    var message: String { "\(field): \(description)" }

    /// The `invalid_argument` answer: the message, and the field in a `BadRequest` detail.
    var error: ConnectError { .invalidArgument(field: field, description) }
}

/// Checks shared by the requests: each returns the refused field for an `invalid_argument`, or nil.
enum FieldCheck {
    static func identifier(_ value: String, field: String, maximumBytes: Int) -> FieldProblem? {
        if value.isEmpty { return FieldProblem(field, "required") }
        if value.utf8.count > maximumBytes { return FieldProblem(field, "at most \(maximumBytes) bytes") }
        // Printable ASCII (nearly every id) has no control characters; only other ids need the scalars' categories.
        let isPrintableASCII = value.utf8.allSatisfy { (0x20..<0x7F).contains($0) }
        if !isPrintableASCII, value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return FieldProblem(field, "must not contain control characters")
        }
        return nil
    }

    static func latitude(_ value: Double, field: String = "latitude") -> FieldProblem? {
        value.isFinite && (-90...90).contains(value) ? nil : FieldProblem(field, "must be a number from -90 to 90, not \(value)")
    }

    static func longitude(_ value: Double, field: String = "longitude") -> FieldProblem? {
        value.isFinite && (-180...180).contains(value) ? nil : FieldProblem(field, "must be a number from -180 to 180, not \(value)")
    }

    static func timestamp(_ value: Int64, field: String, nowUnixSeconds: Int64) -> FieldProblem? {
        let latest = nowUnixSeconds + RequestLimits.futureToleranceSeconds
        guard value >= RequestLimits.earliestUnixSeconds else { return FieldProblem(field, "before 1990-01-01 (\(value))") }
        guard value <= latest else { return FieldProblem(field, "more than a day in the future (\(value) > \(latest))") }
        return nil
    }

    static var localNowUnixSeconds: Int64 { Int64(Date().timeIntervalSince1970) }
}

extension Geopredict_V1_PredictNextVisitsRequest: ValidatableRequest {
    public func validate() throws(ConnectError) {
        if let problem = problem(nowUnixSeconds: FieldCheck.localNowUnixSeconds) { throw problem.error }
    }

    /// The first problem with the request, or nil.
    func problem(nowUnixSeconds: Int64) -> FieldProblem? {
        if let problem = FieldCheck.identifier(userID, field: "user_id", maximumBytes: RequestLimits.maximumUserIDBytes) {
            return problem
        }
        if limit > RequestLimits.maximumPredictionLimit {
            return FieldProblem("limit", "must be 0 (the default, \(RequestLimits.defaultPredictionLimit)) to \(RequestLimits.maximumPredictionLimit), not \(limit)")
        }
        if atUnixSeconds != 0,
           let problem = FieldCheck.timestamp(atUnixSeconds, field: "at_unix_seconds", nowUnixSeconds: nowUnixSeconds) {
            return problem
        }
        if hasLatitude != hasLongitude { return FieldProblem(hasLatitude ? "longitude" : "latitude", "set both latitude and longitude, or neither") }
        if hasLatitude, let problem = FieldCheck.latitude(latitude) { return problem }
        if hasLongitude, let problem = FieldCheck.longitude(longitude) { return problem }
        if categories.count > RequestLimits.maximumCategories { return FieldProblem("categories", "at most \(RequestLimits.maximumCategories) names") }
        if let long = categories.first(where: { $0.utf8.count > 128 }) { return FieldProblem("categories", "name too long (\(long.prefix(20))...)") }
        return nil
    }

    /// The limit with the default applied.
    var effectiveLimit: Int { limit == 0 ? RequestLimits.defaultPredictionLimit : Int(limit) }
}

extension Geopredict_V1_GetUserRequest: ValidatableRequest {
    public func validate() throws(ConnectError) {
        if let problem = FieldCheck.identifier(userID, field: "user_id", maximumBytes: RequestLimits.maximumUserIDBytes) {
            throw problem.error
        }
    }
}

extension Geopredict_V1_IngestEventsRequest: ValidatableRequest {
    /// Whole-request checks only; each event is checked by ``EventCheck`` so that good events are kept.
    public func validate() throws(ConnectError) {
        if events.isEmpty { throw .invalidArgument(field: "events", "at least one event is required") }
        if events.count > RequestLimits.maximumEventsPerRequest {
            throw .invalidArgument(field: "events", "at most \(RequestLimits.maximumEventsPerRequest) per request, not \(events.count)")
        }
    }
}

// The repeated fields' limits, counted on the undecoded body so that a small body holding millions of
// empty elements costs a scan, not a decode; `validate()` checks the same limits after the decode.
extension Geopredict_V1_IngestEventsRequest: CountLimitedRequest {
    public static let repeatedFieldLimits = [
        RepeatedFieldLimit("events", number: 1, maximumCount: RequestLimits.maximumEventsPerRequest),
    ]
}

extension Geopredict_V1_PredictNextVisitsRequest: CountLimitedRequest {
    public static let repeatedFieldLimits = [
        RepeatedFieldLimit("categories", number: 6, maximumCount: RequestLimits.maximumCategories),
    ]
}

extension Geopredict_V1_TrainRequest: ValidatableRequest {
    public func validate() throws(ConnectError) {
        if factors > 256 { throw .invalidArgument(field: "factors", "must be 0 (default) to 256, not \(factors)") }
        if iterations > 100 { throw .invalidArgument(field: "iterations", "must be 0 (default) to 100, not \(iterations)") }
        // Training works in Float: a larger value would overflow to infinity and fail the run after
        // Train had already answered, so it is refused here.
        let most = RequestLimits.maximumTrainingParameter
        if !(0...most).contains(regularization) {
            throw .invalidArgument(field: "regularization", "must be 0 (the default, \(ALSConfiguration.defaultRegularization)) to \(Int(most)), not \(regularization)")
        }
        if !(0...most).contains(alpha) {
            throw .invalidArgument(field: "alpha", "must be 0 (the default, \(Int(ALSConfiguration.defaultAlpha))) to \(Int(most)), not \(alpha)")
        }
    }
}

/// The check of one ingested event, run on every rank with the round's shared clock so all ranks
/// accept and reject the same events.
enum EventCheck {
    static func problem(_ event: Geopredict_V1_LocationEvent, nowUnixSeconds: Int64) -> Geopredict_V1_EventError? {
        func error(_ problem: FieldProblem) -> Geopredict_V1_EventError {
            .with {
                $0.field = problem.field
                $0.message = problem.message
                $0.code = ConnectCode.invalidArgument.rawValue
            }
        }
        if let problem = FieldCheck.identifier(event.userID, field: "user_id", maximumBytes: RequestLimits.maximumUserIDBytes) {
            return error(problem)
        }
        if let problem = FieldCheck.timestamp(event.timestampUnixSeconds, field: "timestamp_unix_seconds", nowUnixSeconds: nowUnixSeconds) {
            return error(problem)
        }
        if let problem = FieldCheck.latitude(event.latitude) { return error(problem) }
        if let problem = FieldCheck.longitude(event.longitude) { return error(problem) }
        if event.hasStoreID,
           let problem = FieldCheck.identifier(event.storeID, field: "store_id", maximumBytes: RequestLimits.maximumStoreIDBytes) {
            return error(problem)
        }
        if event.hasEventID,
           let problem = FieldCheck.identifier(event.eventID, field: "event_id", maximumBytes: RequestLimits.maximumEventIDBytes) {
            return error(problem)
        }
        return nil
    }
}
