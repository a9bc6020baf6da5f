import Foundation
import HTTPTypes

/// Which browser origins may call the API (CORS), and the headers that tell a browser so.
///
/// Opt-in: without origins the front door sends no CORS headers and `OPTIONS` is answered as any
/// other method (405, or 401 with auth on). A preflight carries no token (browsers never send one on
/// `OPTIONS`), so preflights are answered without one, and the same way for every API path, known or
/// not, so that they cannot be used to enumerate routes.
struct CrossOriginPolicy: Sendable {
    /// The allowed origins, exactly as browsers send them (`https://app.example`), or `*`.
    let origins: Set<String>
    /// Whether `Authorization` is among the allowed request headers (auth is on).
    let allowsAuthorization: Bool

    /// Long enough that a page makes one preflight per route for its working session; 7,200 s is
    /// Chromium's cap, so a longer value would not be honoured anyway.
    static let maximumAgeSeconds = 7_200

    /// The Connect unary headers a browser client sends (connect-web and plain `fetch`).
    static let requestHeaders = [
        "Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Content-Encoding", "Accept-Encoding",
        "Connect-Accept-Encoding", "X-User-Agent",
    ]

    /// The response headers a page may read beside the CORS-safelisted ones.
    static let exposedHeaders = ["Content-Encoding", "Connect-Content-Encoding", "Retry-After", "Content-Type", "WWW-Authenticate"]

    init?(origins: [String], allowsAuthorization: Bool) {
        guard !origins.isEmpty else { return nil }
        self.origins = Set(origins)
        self.allowsAuthorization = allowsAuthorization
    }

    /// The value of `Access-Control-Allow-Origin` for a request from `origin`, or nil when it is not allowed.
    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin else { return nil }
        if origins.contains(origin) { return origin }
        return origins.contains("*") ? "*" : nil
    }

    /// The answer to an `OPTIONS` preflight: 204, with CORS headers only for an allowed origin.
    func preflight(origin: String?, methods: String) -> HTTPFields {
        var headers: HTTPFields = [.vary: "Origin"]
        guard let allowed = allowedOrigin(origin) else { return headers }
        headers[.accessControlAllowOrigin] = allowed
        headers[.accessControlAllowMethods] = methods
        let allowedHeaders = Self.requestHeaders + (allowsAuthorization ? ["Authorization"] : [])
        headers[.accessControlAllowHeaders] = allowedHeaders.joined(separator: ", ")
        headers[.accessControlMaxAge] = "\(Self.maximumAgeSeconds)"
        return headers
    }

    /// Adds the CORS headers of an actual response (errors included) to `headers`.
    func decorate(_ headers: inout HTTPFields, origin: String?) {
        // Caches must not give one origin's answer (with its Allow-Origin) to another.
        if !origins.contains("*") || origins.count > 1 { Self.addVary("Origin", to: &headers) }
        guard let allowed = allowedOrigin(origin) else { return }
        headers[.accessControlAllowOrigin] = allowed
        headers[.accessControlExposeHeaders] = Self.exposedHeaders.joined(separator: ", ")
    }

    static func addVary(_ name: String, to headers: inout HTTPFields) {
        let present = headers[values: .vary].flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }
        guard !present.contains(name.lowercased()) else { return }
        // One Vary line: some clients read only the first of repeated fields.
        let existing = headers[values: .vary].joined(separator: ", ")
        headers[.vary] = existing.isEmpty ? name : "\(existing), \(name)"
    }
}
