import MPI
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

/// One method bound to its SPMD handler: how rank 0 reads and writes its bodies, and what every rank
/// runs in a round. Generated from the `.proto` by `protoc-gen-mpiplug` (`<Service>.routes(_:)`).
public struct Route {
    /// The method this route serves.
    public let descriptor: RouteDescriptor
    /// Decoding, validation and encoding; used on rank 0's HTTP threads.
    let codec: RouteCodec
    /// Runs the handler on a batch of binary requests; used on the MPI thread of every rank.
    let execute: ([[UInt8]], RoundContext) throws -> [RouteResult<any Message>]

    /// Binds `handler` to `descriptor`.
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
        self.codec = RouteCodec(request: Request.self, allowsGet: descriptor.hasNoSideEffects)
        self.execute = { encodedRequests, context in
            // Rank 0 decoded and validated these bytes before broadcasting them, so they decode the
            // same way on every rank; a failure here would be a bug, reported per request.
            var requests = [Request]()
            requests.reserveCapacity(encodedRequests.count)
            for bytes in encodedRequests {
                requests.append((try? Request(serializedBytes: bytes)) ?? Request())
            }
            let results = try handler(requests, context)
            guard context.rank == 0 else { return [] }
            guard results.count == requests.count else {
                context.logger.error(
                    "route returned the wrong number of results",
                    metadata: ["route": "\(descriptor)", "requests": "\(requests.count)", "results": "\(results.count)"]
                )
                return Array(repeating: .failure(.internalError), count: requests.count)
            }
            return results.map { result in result.map { $0 as any Message } }
        }
    }
}

/// How a route's bodies are read and written: Sendable, so the HTTP threads can use it while the
/// handler itself stays on the MPI thread.
struct RouteCodec: Sendable {
    /// Checks the counts of a body in `format` (``CountLimitedRequest``), decodes it, validates it,
    /// and returns its binary encoding for the broadcast, without unknown fields.
    let decode: @Sendable ([UInt8], BodyFormat) throws(ConnectError) -> [UInt8]
    /// Whether `GET` is allowed besides `POST` (``RouteDescriptor/hasNoSideEffects``).
    let allowsGet: Bool

    init<Request: Message>(request: Request.Type, allowsGet: Bool = false) {
        self.allowsGet = allowsGet
        let limits = (Request.self as? any CountLimitedRequest.Type)?.repeatedFieldLimits ?? []
        decode = { body, format throws(ConnectError) in
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
            do {
                return try request.serializedBytes()
            } catch {
                throw .invalidArgument("the request cannot be encoded: \(describe(error))")
            }
        }
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
