import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import SwiftProtobuf

/// Rank 0's HTTP responder: Connect unary calls, `GET /healthz`, `GET /metrics` and static files.
///
/// Everything a request can get wrong is checked here, on the HTTP threads, before the request is
/// queued: route, method, token, content type, size, compression, timeout and the body itself. Only
/// valid requests reach the MPI thread and the other ranks.
struct FrontDoor: HTTPResponder {
    typealias Context = FrontDoorContext

    let codecs: [String: RouteCodec]
    let queue: RoundQueue
    let health: ServiceHealth
    let metrics: PlugMetrics
    let maximumBodyBytes: Int
    /// How long a call may wait and run when its client sends no `Connect-Timeout-Ms`.
    let defaultTimeout: Duration
    let token: BearerToken?
    /// Success bodies larger than this are gzip-compressed for clients that accept it.
    let compressionThresholdBytes: Int
    /// Which browser origins may call (nil: no CORS headers, as without `--cors-origin`).
    let crossOrigin: CrossOriginPolicy?
    /// Files served without a token or a round, by path (a console).
    let files: [String: StaticFile]
    let rankCount: Int
    /// Which rank owns a keyed request's key.
    let ownership: KeyOwnership
    /// Every front door of the job (listed by `/healthz`).
    var frontDoors: [FrontDoorAddress] = []
    /// The client connections, watched so that a call whose client hung up is never run.
    let connections = ClientConnections()
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        var response: Response
        switch request.uri.path {
        case "/healthz": response = await healthCheck(request)
        case "/metrics": response = metricsPage(request)
        default:
            if let file = files[request.uri.path] {
                // Same origin as the API it calls: no CORS headers needed or given.
                return file.response(to: request)
            }
            if let crossOrigin, request.method == .options {
                // Before the token check: browsers send no credentials on a preflight.
                // The same methods for every path, known or not (all a call may take): a preflight
                // does not tell routes apart.
                return Response(
                    status: .noContent,
                    headers: crossOrigin.preflight(origin: request.headers[.origin], methods: AllowedMethods.callWithoutSideEffects.header))
            }
            response = await call(request, channel: context.channel)
        }
        crossOrigin?.decorate(&response.headers, origin: request.headers[.origin])
        return response
    }

    // MARK: Connect unary calls

    private func call(_ request: Request, channel: any Channel) async -> Response {
        var response = await answer(request, channel: channel)
        if request.method == .get, codecs[request.uri.path]?.hasNoSideEffects == true {
            // GET answers are reads of live state (a prediction changes with every event): no cache,
            // shared or private, may keep one.
            response.headers[.cacheControl] = "private, no-store"
        }
        return response
    }

    private func answer(_ request: Request, channel: any Channel) async -> Response {
        let path = request.uri.path
        let allow = codecs[path]?.methods ?? .call
        let started = ContinuousClock.now
        let response: Response
        let error: ConnectError?
        do {
            let (format, outcome) = try await execute(request, path: path, channel: channel)
            switch outcome {
            case .success(let message):
                response = try success(message, format: format, for: request)
                error = nil
            case .failure(let failure):
                response = Self.failure(failure, allow: allow)
                error = failure
            }
        } catch let failure as ConnectError {
            response = Self.failure(failure, allow: allow)
            error = failure
        } catch {
            logger.error("request failed", metadata: ["route": "\(path)", "error": "\(error)"])
            response = Self.failure(.internalError)
            metrics.recordError(route: path, code: .internal)
            return response
        }
        if codecs[path] != nil {
            metrics.recordRequest(route: path, seconds: (ContinuousClock.now - started).seconds, error: error)
        } else if let error {
            metrics.recordError(route: "unknown", code: error.code)
        }
        return response
    }

    /// Checks, decodes and queues a call; returns the body format and what the round answered.
    private func execute(_ request: Request, path: String, channel: any Channel) async throws -> (BodyFormat, Outcome) {
        // The token first: without it, unknown routes cannot be told from known ones (no 404 or 405).
        try authorize(request)
        guard let codec = codecs[path] else {
            throw ConnectError(.unimplemented, "no method \(path)", httpStatus: 404)
        }
        guard codec.methods.allows(request.method) else {
            throw ConnectError(.unimplemented, "\(request.method) is not allowed; this method takes \(codec.methods.phrase)", httpStatus: 405)
        }
        let isGet = request.method == .get
        if let refusal = health.refusal { throw refusal }
        let headers = request.headers
        let deadline = try Self.deadline(headers[.connectTimeoutMilliseconds]) ?? .now + defaultTimeout
        let (format, body) = isGet ? try Self.getMessage(request.uri, limit: maximumBodyBytes) : try await postBody(request)
        let kind: Job.Kind
        switch try codec.decode(body, format, ownership) {
        case .whole(let encoded): kind = .request(path: path, body: encoded)
        case .keyed(let parts): kind = .keyed(path: path, parts: parts)
        }
        let connection = await connections.connection(of: channel)
        return (format, await submit(kind, deadline: deadline, connection: connection))
    }

    /// Queues a job and waits for its round (or its deadline, or a broken job).
    private func submit(_ kind: Job.Kind, deadline: ContinuousClock.Instant?, connection: ClientConnection? = nil) async -> Outcome {
        defer { connection?.unwatch() }
        return await withCheckedContinuation { continuation in
            let reply = Reply(continuation)
            if let deadline { reply.expire(at: deadline) }
            if let connection, !connection.watch(reply) {
                metrics.recordShed(reason: .clientGone)
                reply.abandon()
                return
            }
            let job = Job(kind: kind, reply: reply, deadline: deadline, enqueued: .now)
            if let refusal = queue.submit(job) {
                if refusal.code == .resourceExhausted { metrics.recordShed(reason: .queueFull) }
                reply.resume(.failure(refusal))
            }
        }
    }

    /// A POST's format and decoded body, after its protocol version and content type are checked.
    private func postBody(_ request: Request) async throws -> (BodyFormat, [UInt8]) {
        let headers = request.headers
        if let version = headers[.connectProtocolVersion], version != "1" {
            throw ConnectError.invalidArgument("Connect-Protocol-Version \(version) is not supported; use 1")
        }
        guard let format = BodyFormat(contentType: headers[.contentType] ?? "") else {
            throw ConnectError(
                .unimplemented,
                "Content-Type \(headers[.contentType] ?? "(none)") is not supported; use application/proto or application/json",
                httpStatus: 415
            )
        }
        return (format, try await readBody(request))
    }

    /// Connect's GET form: `?message=…&encoding=json|proto[&base64=1][&compression=gzip][&connect=v1]`.
    /// Unknown parameters are ignored; an unknown `encoding` is 415, as an unknown `Content-Type` is.
    static func getMessage(_ uri: URI, limit: Int) throws(ConnectError) -> (BodyFormat, [UInt8]) {
        let query = uri.queryParameters
        if let version = query["connect"], version != "v1" {
            throw ConnectError.invalidArgument("connect=\(version) is not supported; use v1")
        }
        let format: BodyFormat
        switch query["encoding"].map(String.init) {
        case "json": format = .json
        case "proto": format = .binary
        case let other:
            throw ConnectError(
                .unimplemented, "encoding=\(other ?? "(none)") is not supported; use json or proto", httpStatus: 415)
        }
        guard let message = query["message"] else {
            throw ConnectError.invalidArgument("a GET call needs the request in the message query parameter")
        }
        var bytes = Array(message.utf8)
        if query["base64"] == "1" {
            guard let decoded = base64URLDecode(message) else {
                throw ConnectError.invalidArgument("message is not base64 (URL-safe or standard, padding optional)")
            }
            bytes = decoded
        }
        let compression = query["compression"].map(String.init)
        let body = try ContentEncoding.decode(ByteBuffer(bytes: bytes), contentEncoding: compression, limit: limit)
        return (format, body)
    }

    /// Decodes base64 in either alphabet (Connect sends the URL-safe one), with or without padding.
    static func base64URLDecode(_ text: Substring) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standard.count % 4 != 0 { standard += String(repeating: "=", count: 4 - standard.count % 4) }
        return Data(base64Encoded: standard).map(Array.init)
    }

    private func readBody(_ request: Request) async throws -> [UInt8] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Self.tooLarge(maximumBodyBytes)
        } catch let error as HTTPParserError {
            // A client that hangs up mid-body is not a server failure: nobody is left to answer, but
            // the log and the error counts should say what happened.
            switch error {
            case .invalidEOFState, .closedConnection:
                throw ConnectError(.canceled, "the connection closed before the body ended")
            default:
                throw ConnectError.invalidArgument("the body could not be read (\(error))")
            }
        }
        return try ContentEncoding.decode(buffer, contentEncoding: request.headers[.contentEncoding], limit: maximumBodyBytes)
    }

    private func authorize(_ request: Request) throws(ConnectError) {
        guard let token else { return }
        guard let header = request.headers[.authorization], token.matches(authorizationHeader: header) else {
            throw ConnectError(.unauthenticated, "a valid bearer token is required")
        }
    }

    // MARK: Health and metrics

    /// Answers from the service's state alone: no round per probe, so probes cannot load the job. A
    /// ping round (a barrier over every rank) runs at most every ``ServiceHealth/heartbeatInterval``
    /// when nothing else does, and is not waited for (but the first): a rank that hangs in it shows as a
    /// stalled round.
    /// `?probe=live` answers 200 while the job is live (not broken); otherwise 200 means ready.
    private func healthCheck(_ request: Request) async -> Response {
        guard AllowedMethods.read.allows(request.method) else {
            return Self.failure(ConnectError(.unimplemented, "use GET", httpStatus: 405), allow: .read)
        }
        if health.claimHeartbeat() {
            Task { [self] in
                _ = await submit(.ping, deadline: .now + ServiceHealth.firstRoundWait)
                health.heartbeatEnded()
            }
        }
        // Only until the job's first round: "ready" then means every rank answered.
        await health.waitForFirstRound()
        let report = health.report(rankCount: rankCount, frontDoors: frontDoors)
        let ok = request.uri.queryParameters["probe"] == "live" ? report.live : report.ready
        return Response(
            status: ok ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: report.json))
        )
    }

    private func metricsPage(_ request: Request) -> Response {
        guard AllowedMethods.getOnly.allows(request.method) else {
            return Self.failure(ConnectError(.unimplemented, "use GET", httpStatus: 405), allow: .getOnly)
        }
        do {
            try authorize(request)
        } catch {
            return Self.failure(error)
        }
        metrics.queueDepth.record(queue.depth)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
        )
    }

    // MARK: Responses

    /// A success in the request's own media type (`application/x-protobuf` in, `application/x-protobuf`
    /// out), as Connect clients expect, gzip-compressed when the body is over the threshold and the
    /// client's `Accept-Encoding` allows it. Errors are never compressed (Connect clients read them
    /// as plain JSON).
    private func success(_ message: any Message, format: BodyFormat, for request: Request) throws -> Response {
        var bytes = try format.encode(message)
        var headers: HTTPFields = [.contentType: Self.mediaType(request.headers[.contentType]) ?? format.contentType]
        if bytes.count > compressionThresholdBytes {
            // The answer depends on Accept-Encoding from here on: caches must key on it.
            headers[.vary] = "Accept-Encoding"
            if ContentEncoding.acceptsGzip(request.headers[.acceptEncoding]), let compressed = Gzip.compress(bytes) {
                bytes = compressed
                headers[.contentEncoding] = "gzip"
            }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The media types a call's body may have, named by `Accept-Post` on 415.
    static let acceptedContentTypes = "application/proto, application/json"

    /// A Connect error as JSON, with the headers its status calls for: `Allow` (`allow`: the methods of
    /// the path) on 405, `WWW-Authenticate` on 401 (RFC 9110 requires it), `Accept-Post` on 415.
    static func failure(_ error: ConnectError, allow: AllowedMethods = .call) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        switch error.httpStatus {
        case 401: headers[.wwwAuthenticate] = "Bearer"
        case 405: headers[.allow] = allow.header
        case 415: headers[.acceptPost] = acceptedContentTypes
        default: break
        }
        if let seconds = error.retryAfterSeconds { headers[.retryAfter] = "\(seconds)" }
        return Response(
            status: .init(code: error.httpStatus),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: error.jsonBody))
        )
    }

    private static func tooLarge(_ limit: Int) -> ConnectError {
        ConnectError(.resourceExhausted, "the body is larger than the limit of \(limit) bytes", httpStatus: 413)
    }

    /// The media type of a `Content-Type` value, lowercased and without parameters (`charset`).
    static func mediaType(_ contentType: String?) -> String? {
        guard let contentType else { return nil }
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return type?.isEmpty == false ? type : nil
    }

    /// Reads `Connect-Timeout-Ms`: at most 10 digits, per the Connect protocol.
    static func deadline(_ header: String?) throws(ConnectError) -> ContinuousClock.Instant? {
        guard let header else { return nil }
        guard !header.isEmpty, header.count <= 10, header.utf8.allSatisfy({ (48...57).contains($0) }),
              let milliseconds = Int64(header)
        else {
            throw ConnectError.invalidArgument("Connect-Timeout-Ms must be 1 to 10 digits, not \(header)")
        }
        return .now + .milliseconds(milliseconds)
    }
}

extension HTTPField.Name {
    static let connectProtocolVersion = Self("Connect-Protocol-Version")!
    static let connectTimeoutMilliseconds = Self("Connect-Timeout-Ms")!
    static let acceptPost = Self("Accept-Post")!
}

/// A bearer token, compared in constant time so that response times do not reveal how much of a
/// guess was right.
struct BearerToken: Sendable {
    private let expected: [UInt8]

    init(_ token: String) { expected = Array(token.utf8) }

    func matches(authorizationHeader header: String) -> Bool {
        let prefix = "bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix else { return false }
        let given = Array(header.utf8.dropFirst(prefix.utf8.count))
        // Compare every byte of the expected token whatever the given length; fold the length in.
        var difference = UInt8(truncatingIfNeeded: given.count ^ expected.count)
        for index in expected.indices {
            let byte = index < given.count ? given[index] : 0
            difference |= byte ^ expected[index]
        }
        return difference == 0
    }
}
