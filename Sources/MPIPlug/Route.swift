import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf

/// The result of one request in a batch: a response, or the Connect error to answer with.
public typealias RouteResult<Response> = Result<Response, ConnectError>

/// Names one method of one service: `POST /<service>/<method>`.
public struct RouteDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service, `geopredict.v1.GeoPredictService`.
    public let service: String
    /// The method, `PredictNextVisits`.
    public let method: String
    /// Whether the method is marked `option idempotency_level = NO_SIDE_EFFECTS`: it may then be
    /// called with `GET` (Connect's GET form, query-encoded) as well as `POST`.
    public let hasNoSideEffects: Bool

    public init(service: String, method: String, hasNoSideEffects: Bool = false) {
        self.service = service
        self.method = method
        self.hasNoSideEffects = hasNoSideEffects
    }

    /// `/geopredict.v1.GeoPredictService/PredictNextVisits`.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}

/// A request message that checks itself on rank 0, before it is broadcast to the other ranks.
///
/// Conform generated messages to it in the service module. A thrown error is answered at once and
/// the request never reaches the other ranks.
public protocol ValidatableRequest {
    func validate() throws(ConnectError)
}

/// One method bound to its handler: how the front door reads and writes its bodies, and what ranks
/// run. Generated from the `.proto` by `protoc-gen-mpiplug` (`<Service>.routes(_:)`).
///
/// A route is one of two kinds. A *collective* route runs on every rank in a round, with the same
/// requests in the same order, and may use collectives. A *keyed* route (`(mpiplug.v1.owner_key)` on
/// the method) runs only on the rank that owns each request, reached by point-to-point messages, and
/// must not use collectives.
public struct Route {
    /// The method this route serves.
    public let descriptor: RouteDescriptor
    /// Decoding, validation, splitting by owner and encoding; used on the front door's HTTP threads.
    let codec: RouteCodec
    /// What ranks run.
    let kind: Kind
    /// Reads another rank's answer into the response type (a front door other than rank 0 reads rank
    /// 0's answers to the calls it forwarded with it).
    let decodeAnswer: AnswerDecoder

    enum Kind {
        /// Runs the handler on every rank with a round's batch of binary requests; rank 0 gets one
        /// result per request, other ranks none.
        case collective(([[UInt8]], RoundContext) throws -> [RouteResult<any Message>])
        case keyed(KeyedHandling)
    }

    /// Binds `handler` to `descriptor` as a collective route.
    ///
    /// - Parameter handler: runs on every rank with the round's requests, in order. On rank 0 it must
    ///   return one result per request; on other ranks its return value is ignored.
    public init<Request: Message, Response: Message>(
        _ descriptor: RouteDescriptor,
        request: Request.Type,
        response: Response.Type,
        handler: @escaping ([Request], RoundContext) throws -> [RouteResult<Response>]
    ) {
        self.descriptor = descriptor
        self.codec = RouteCodec(request: Request.self, hasNoSideEffects: descriptor.hasNoSideEffects)
        self.decodeAnswer = Self.answerDecoder(Response.self)
        self.kind = .collective { encodedRequests, context in
            let requests = decodeValidated(encodedRequests, as: Request.self)
            let results = try handler(requests, context)
            guard context.rank == 0 else { return [] }
            return checkedCount(results, requestCount: requests.count, route: descriptor, logger: context.logger)
        }
    }

    /// Binds `handler` to `descriptor` as a keyed route: each request runs only on the rank that owns
    /// it by `ownerKey`.
    ///
    /// - Parameters:
    ///   - merge: for a split key (`"events[].user_id"`), puts the owners' answers to one request's
    ///     parts back together, on the front door; ignored otherwise.
    ///   - handler: runs on the owner with requests it owns, and returns one result per request. It must
    ///     not use collectives.
    public init<Request: Message, Response: Message>(
        keyed descriptor: RouteDescriptor,
        request: Request.Type,
        response: Response.Type,
        ownerKey: OwnerKey<Request>,
        merge: (([KeyedPart<Response>]) -> RouteResult<Response>)? = nil,
        handler: @escaping ([Request], KeyedContext) throws -> [RouteResult<Response>]
    ) {
        self.descriptor = descriptor
        self.codec = RouteCodec(request: Request.self, hasNoSideEffects: descriptor.hasNoSideEffects, ownerKey: ownerKey)
        self.decodeAnswer = Self.answerDecoder(Response.self)
        self.kind = .keyed(KeyedHandling(descriptor: descriptor, merge: ownerKey.isSplit ? merge : nil, handler: handler))
    }

    static func answerDecoder<Response: Message>(_ type: Response.Type) -> AnswerDecoder {
        { answer in answer.result(as: Response.self).map { $0 as any Message } }
    }

    /// Whether the route is keyed.
    var isKeyed: Bool {
        if case .keyed = kind { return true }
        return false
    }
}

/// A keyed route's handler, type-erased for the MPI thread: run it on the owner, read an owner's
/// answer on the door, and merge a split request's answers.
struct KeyedHandling {
    typealias Merge = ([(positions: [Int], result: RouteResult<any Message>)]) -> RouteResult<any Message>

    let execute: ([[UInt8]], KeyedContext) throws -> [RouteResult<any Message>]
    let decodeAnswer: AnswerDecoder
    /// nil when requests go whole: the one part's answer is the answer.
    let merge: Merge?

    init<Request: Message, Response: Message>(
        descriptor: RouteDescriptor,
        merge: (([KeyedPart<Response>]) -> RouteResult<Response>)?,
        handler: @escaping ([Request], KeyedContext) throws -> [RouteResult<Response>]
    ) {
        execute = { encodedRequests, context in
            let requests = decodeValidated(encodedRequests, as: Request.self)
            let results = try handler(requests, context)
            return checkedCount(results, requestCount: requests.count, route: descriptor, logger: context.logger)
        }
        decodeAnswer = Route.answerDecoder(Response.self)
        self.merge = merge.map { merge in
            { parts in
                let typed = parts.map { part in
                    KeyedPart(positions: part.positions, result: part.result.flatMap { message in
                        (message as? Response).map { .success($0) } ?? .failure(.internalError)
                    })
                }
                return merge(typed).map { $0 as any Message }
            }
        }
    }
}

/// Requests the front door decoded and validated, decoded again where they run. They decode the same
/// way, so a failure here would be a bug; it gives an empty request, which the handler answers.
private func decodeValidated<Request: Message>(_ encodedRequests: [[UInt8]], as type: Request.Type) -> [Request] {
    var requests = [Request]()
    requests.reserveCapacity(encodedRequests.count)
    for bytes in encodedRequests {
        requests.append((try? Request(serializedBytes: bytes)) ?? Request())
    }
    return requests
}

/// A handler's results type-erased, or `internal` for every request when it returned the wrong number.
private func checkedCount<Response: Message>(
    _ results: [RouteResult<Response>], requestCount: Int, route: RouteDescriptor, logger: Logger
) -> [RouteResult<any Message>] {
    guard results.count == requestCount else {
        logger.error(
            "route returned the wrong number of results",
            metadata: ["route": "\(route)", "requests": "\(requestCount)", "results": "\(results.count)"]
        )
        return Array(repeating: .failure(.internalError), count: requestCount)
    }
    return results.map { result in result.map { $0 as any Message } }
}

/// How a route's bodies are read and written: Sendable, so the HTTP threads can use it while the
/// handler itself stays on the MPI thread.
struct RouteCodec: Sendable {
    /// Checks the counts of a body in `format` (``CountLimitedRequest``), decodes it, validates it,
    /// and returns its binary encoding for the ranks, without unknown fields: whole for a collective
    /// route, split by owner for a keyed one.
    let decode: @Sendable ([UInt8], BodyFormat, KeyOwnership) throws(ConnectError) -> DecodedRequest
    /// ``RouteDescriptor/hasNoSideEffects``: then Connect's GET form is served besides POST.
    let hasNoSideEffects: Bool

    /// The HTTP methods the route takes.
    var methods: AllowedMethods { hasNoSideEffects ? .callWithoutSideEffects : .call }

    init<Request: Message>(request: Request.Type, hasNoSideEffects: Bool = false, ownerKey: OwnerKey<Request>? = nil) {
        self.hasNoSideEffects = hasNoSideEffects
        let limits = (Request.self as? any CountLimitedRequest.Type)?.repeatedFieldLimits ?? []
        decode = { body, format, ownership throws(ConnectError) in
            // Before the decode: its cost grows with the element count, the scan's only with the bytes.
            try RepeatedFieldCounter.check(body, format: format, limits: limits)
            let request: Request
            do {
                switch format {
                case .binary: request = try Request(serializedBytes: body, options: BodyFormat.binaryDecodingOptions)
                case .json: request = try Request(jsonUTF8Bytes: body, options: BodyFormat.jsonDecodingOptions)
                }
            } catch {
                throw .invalidArgument("the body is not a valid \(Request.protoMessageName) (\(format.name)): \(describe(error))")
            }
            if let validatable = request as? any ValidatableRequest { try validatable.validate() }
            // Re-encoded even when it came as binary: the unknown fields it carried were dropped in the
            // decode, and must not travel to the other ranks or into a write-ahead log.
            guard let ownerKey else { return .whole(try encode(request)) }
            var parts = [KeyedJobPart]()
            for (owner, part, positions) in ownerKey.split(request, ownership) {
                parts.append(KeyedJobPart(owner: owner, body: try encode(part), positions: positions))
            }
            return .keyed(parts)
        }
    }
}

private func encode(_ request: some Message) throws(ConnectError) -> [UInt8] {
    do {
        return try request.serializedBytes()
    } catch {
        throw .invalidArgument("the request cannot be encoded: \(describe(error))")
    }
}

/// A short, safe description of a protobuf decoding error for a client.
private func describe(_ error: any Error) -> String {
    switch error {
    case let error as BinaryDecodingError: return "binary decoding failed (\(error))"
    case let error as JSONDecodingError: return "JSON decoding failed (\(error))"
    default: return "decoding failed"
    }
}
