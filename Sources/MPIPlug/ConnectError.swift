/// The Connect protocol's error codes, with their fixed HTTP statuses.
///
/// See <https://connectrpc.com/docs/protocol#error-codes>; the raw values are the wire names.
public enum ConnectCode: String, Sendable, CaseIterable {
    case canceled
    case unknown
    case invalidArgument = "invalid_argument"
    case deadlineExceeded = "deadline_exceeded"
    case notFound = "not_found"
    case alreadyExists = "already_exists"
    case permissionDenied = "permission_denied"
    case resourceExhausted = "resource_exhausted"
    case failedPrecondition = "failed_precondition"
    case aborted
    case outOfRange = "out_of_range"
    case unimplemented
    case `internal`
    case unavailable
    case dataLoss = "data_loss"
    case unauthenticated

    /// The HTTP status Connect assigns to the code.
    public var httpStatus: Int {
        switch self {
        case .canceled: return 499
        case .unknown, .internal, .dataLoss: return 500
        case .invalidArgument, .failedPrecondition, .outOfRange: return 400
        case .deadlineExceeded: return 504
        case .notFound: return 404
        case .alreadyExists, .aborted: return 409
        case .permissionDenied: return 403
        case .resourceExhausted: return 429
        case .unimplemented: return 501
        case .unavailable: return 503
        case .unauthenticated: return 401
        }
    }
}

/// An error as Connect clients receive it: a code, a message for humans, details for programs, and an
/// HTTP status.
///
/// The body is always `application/json` `{"code": "...", "message": "...", "details": [...]}`
/// (`details` only when there are some), even for binary requests. Messages must never carry
/// internals (stack traces, paths, raw errors); the front door logs those and answers
/// ``ConnectCode/internal``.
public struct ConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ConnectCode
    public var message: String
    /// The HTTP status when it differs from the code's usual one (404 for an unknown route, 405, 413,
    /// 415 — the statuses HTTP itself defines for those cases).
    public var httpStatusOverride: Int?
    /// When set, the answer carries `Retry-After` with this many seconds: the refusal is temporary
    /// (overload) and the client may send the same request again after that long.
    public var retryAfterSeconds: Int?
    /// Messages that say more, for programs (``invalidArgument(field:_:)`` adds a
    /// `mpiplug.v1.BadRequest`); sent as the body's `details`.
    public var details: [ConnectErrorDetail]

    public init(
        _ code: ConnectCode, _ message: String, httpStatus: Int? = nil, retryAfterSeconds: Int? = nil,
        details: [ConnectErrorDetail] = []
    ) {
        self.code = code
        self.message = message
        self.httpStatusOverride = httpStatus
        self.retryAfterSeconds = retryAfterSeconds
        self.details = details
    }

    /// The HTTP status to answer with.
    public var httpStatus: Int { httpStatusOverride ?? code.httpStatus }

    public var description: String { "\(code.rawValue): \(message)" }

    /// A bad request that no single field explains (a body that does not decode). For a field, use
    /// ``invalidArgument(field:_:)``, which names it in a detail too.
    public static func invalidArgument(_ message: String) -> ConnectError { ConnectError(.invalidArgument, message) }

    /// A failure that must not reveal its cause to the client.
    public static let internalError = ConnectError(.internal, "internal error")

    /// The body as Connect's error JSON.
    public var jsonBody: String {
        let head = "{\"code\":\"\(code.rawValue)\",\"message\":\(JSONString.quote(message))"
        guard !details.isEmpty else { return head + "}" }
        return head + ",\"details\":[" + details.map(\.json).joined(separator: ",") + "]}"
    }
}

/// JSON string quoting without Foundation's encoders (they allocate far more for one small string).
enum JSONString {
    static func quote(_ text: String) -> String {
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
