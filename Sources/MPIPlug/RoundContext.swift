import Foundation
import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf

/// What a route handler gets besides its requests: the service communicator and helpers for the
/// usual SPMD patterns. Lives on the MPI thread; handlers must not keep it beyond the round.
public final class RoundContext {
    /// The service's communicator (a duplicate of the world that idles politely between messages).
    public let communicator: Communicator
    /// The round's number, the same on every rank.
    public let roundID: UInt64
    /// Logs with the rank and round attached.
    public let logger: Logger
    /// Rank 0's clock when the round started, in milliseconds since 1970: the same on every rank, so
    /// use it (not the local clock) for anything that must agree across ranks, such as "now".
    public let issuedUnixMilliseconds: Int64

    /// ``issuedUnixMilliseconds`` in whole seconds.
    public var nowUnixSeconds: Int64 { issuedUnixMilliseconds / 1000 }

    /// Where the answer gathers are counted (bytes and seconds per rank, for `GetClusterStatus`).
    private let statistics: RoundStatistics?
    /// The rank's background job slot (nil in contexts made outside a service).
    let background: BackgroundHost?

    init(
        communicator: Communicator, roundID: UInt64, issuedUnixMilliseconds: Int64, logger: Logger,
        statistics: RoundStatistics? = nil, background: BackgroundHost? = nil
    ) {
        self.statistics = statistics
        self.background = background
        self.communicator = communicator
        self.roundID = roundID
        self.issuedUnixMilliseconds = issuedUnixMilliseconds
        var logger = logger
        logger[metadataKey: "round"] = "\(roundID)"
        self.logger = logger
    }

    /// This rank.
    public var rank: Int { communicator.rank }
    /// The number of ranks.
    public var size: Int { communicator.size }

    /// Moves the results each rank computed for the requests it owns to rank 0, in request order.
    ///
    /// The usual pattern: every rank looks at every request, answers those whose user it owns, and
    /// calls this. Collective. On rank 0 it returns one result per request — an `internal` error for a
    /// request no rank answered — and elsewhere an empty array.
    ///
    /// - Parameters:
    ///   - local: `(index in the batch, result)` for the requests this rank answers.
    ///   - requestCount: the batch size.
    public func collectResults<Response: Message>(
        _ local: [(index: Int, result: RouteResult<Response>)],
        requestCount: Int
    ) throws -> [RouteResult<Response>] {
        // Rank 0 keeps its own results as they are (they would only be encoded to be decoded again)
        // and contributes nothing to the gather.
        let encoded = rank == 0 ? [] : try encodeAnswers(local)
        let started = ContinuousClock.now
        let gathered = try communicator.gatherVarying(encoded, root: 0)
        statistics?.recordGather(bytes: encoded.count, seconds: (ContinuousClock.now - started).seconds)
        guard let gathered else { return [] }
        var results = [RouteResult<Response>?](repeating: nil, count: requestCount)
        for (index, result) in local where (0..<requestCount).contains(index) { results[index] = result }
        for source in 1..<size {
            let answers = try Mpiplug_V1_Answers(serializedBytes: Array(gathered[source]))
            for answer in answers.answers where Int(answer.index) < requestCount {
                results[Int(answer.index)] = answer.result(as: Response.self)
            }
        }
        return results.enumerated().map { index, result in
            result ?? {
                logger.error("no rank answered a request", metadata: ["index": "\(index)"])
                return .failure(.internalError)
            }()
        }
    }

    private func encodeAnswers<Response: Message>(
        _ local: [(index: Int, result: RouteResult<Response>)]
    ) throws -> [UInt8] {
        var answers = Mpiplug_V1_Answers()
        answers.answers = try local.map { try Mpiplug_V1_Answer(index: $0.index, result: $0.result.map { $0 as any Message }) }
        return try answers.serializedBytes()
    }
}

extension Mpiplug_V1_Answer {
    /// The answer to the request at `index` of a batch, as a rank sends it to the front door.
    init(index: Int, result: RouteResult<any Message>) throws {
        self.init()
        self.index = UInt32(index)
        switch result {
        case .success(let response): self.response = try response.serializedBytes()
        case .failure(let error): self.error = Mpiplug_V1_AnswerError(error)
        }
    }

    /// The answer as the front door gives it: `internal` when it is empty or does not decode.
    func result<Response: Message>(as type: Response.Type) -> RouteResult<Response> {
        switch result {
        case .response(let bytes):
            guard let response = try? Response(serializedBytes: bytes) else { return .failure(.internalError) }
            return .success(response)
        case .error(let error):
            return .failure(error.connectError)
        case .none:
            return .failure(.internalError)
        }
    }
}

extension Mpiplug_V1_AnswerError {
    /// `error` as another rank sends it to a front door: code, message, details, and the HTTP status
    /// override and Retry-After (which rank 0 sets on a call another door forwarded to it).
    init(_ error: ConnectError) {
        self.init()
        code = error.code.rawValue
        message = error.message
        httpStatus = UInt32(clamping: error.httpStatusOverride ?? 0)
        retryAfterSeconds = UInt32(clamping: error.retryAfterSeconds ?? 0)
        details = error.details.map { detail in
            .with {
                $0.type = detail.typeName
                $0.value = Data(detail.value)
                $0.debugJson = detail.debugJSON ?? ""
            }
        }
    }

    /// The Connect error rank 0 answers with.
    var connectError: ConnectError {
        ConnectError(
            ConnectCode(rawValue: code) ?? .unknown, message,
            httpStatus: httpStatus == 0 ? nil : Int(httpStatus), retryAfterSeconds: retryAfterSeconds == 0 ? nil : Int(retryAfterSeconds),
            details: details.map { ConnectErrorDetail(typeName: $0.type, value: Array($0.value), debugJSON: $0.debugJson.isEmpty ? nil : $0.debugJson) }
        )
    }
}
