import HTTPTypes
import Hummingbird
import NIOCore

/// A file the front door serves itself at a fixed path (a console's page, script and style): `GET`
/// or `HEAD`, without a token and without a round.
///
/// A static file holds nothing a token protects; what a page shows comes from the API calls it
/// makes, and those need the token like any other call. Register files with
/// ``MPIPlugService/serveFiles(_:)``; each is answered with ``contentSecurityPolicy`` and
/// `X-Content-Type-Options: nosniff`.
public struct StaticFile: Sendable {
    /// Where it is served: `/`, `/console.js`.
    public let path: String
    /// Its media type, `text/html; charset=utf-8`.
    public let contentType: String
    public let body: [UInt8]
    /// The `Content-Security-Policy` it is sent with.
    public var contentSecurityPolicy: String

    /// The policy for a page that runs its own origin's script and style and calls its own origin's
    /// API, and nothing else: no inline script or style, no other hosts, no framing by other sites,
    /// no form posts; `data:` images only (an empty favicon).
    public static let sameOriginPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    public init(path: String, contentType: String, body: [UInt8], contentSecurityPolicy: String = StaticFile.sameOriginPolicy) {
        self.path = path
        self.contentType = contentType
        self.body = body
        self.contentSecurityPolicy = contentSecurityPolicy
    }

    /// The answer to `request` (GET or HEAD; 405 naming them otherwise).
    func response(to request: Request) -> Response {
        guard AllowedMethods.read.allows(request.method) else {
            return FrontDoor.failure(ConnectError(.unimplemented, "use GET", httpStatus: 405), allow: .read)
        }
        let headers: HTTPFields = [
            .contentType: contentType,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer",
            // Served from the binary: a restarted job may bring a new version, so browsers revalidate.
            .cacheControl: "no-cache",
        ]
        let bytes = request.method == .head ? [] : body
        var response = Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        if request.method == .head { response.headers[.contentLength] = "\(body.count)" }
        return response
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
}
