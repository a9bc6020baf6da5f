import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#endif

/// Runs rounds on one rank: the same code on rank 0 and on every other rank, so all ranks make the
/// same collective calls in the same order.
final class RoundExecutor {
    let communicator: Communicator
    let logger: Logger
    let statistics: RoundStatistics
    /// This rank's background job, whose steps rounds run after their requests.
    let background: BackgroundHost
    private var routes: [String: Route] = [:]
    private(set) var routeOrder: [String] = []

    /// - Parameter readiness: a communicator of its own for the background jobs' readiness barriers
    ///   (a duplicate of `communicator`; nil runs each step as soon as rank 0's job asks for it).
    init(communicator: Communicator, logger: Logger, statistics: RoundStatistics, readiness: Communicator? = nil) {
        self.communicator = communicator
        background = BackgroundHost(readiness: readiness)
        self.logger = logger
        self.statistics = statistics
    }

    /// Adds routes; every rank must register the same routes in the same order.
    func register(_ newRoutes: [Route]) throws(MPIPlugError) {
        for route in newRoutes {
            let path = route.descriptor.path
            guard routes[path] == nil else { throw .duplicateRoute(path) }
            routes[path] = route
            routeOrder.append(path)
        }
    }

    var codecs: [String: RouteCodec] { routes.mapValues(\.codec) }

    /// How to read another rank's answers to each route's calls, by path.
    var answerDecoders: [String: AnswerDecoder] { routes.mapValues(\.decodeAnswer) }

    /// The keyed routes' handlers, by path.
    var keyedRoutes: [String: KeyedHandling] {
        routes.compactMapValues { route in
            guard case .keyed(let handling) = route.kind else { return nil }
            return handling
        }
    }

    /// Runs every batch of a work round. On rank 0 returns, per batch, one outcome per request.
    func run(_ round: Mpiplug_V1_Round) throws(MPIError) -> [[Outcome]] {
        let context = RoundContext(
            communicator: communicator, roundID: round.id, issuedUnixMilliseconds: round.issuedUnixMilliseconds, logger: logger,
            statistics: statistics, background: background
        )
        let started = ContinuousClock.now
        var outcomes = [[Outcome]]()
        outcomes.reserveCapacity(round.batches.count)
        var requestCount = 0
        for batch in round.batches {
            requestCount += batch.requests.count
            outcomes.append(try run(batch, context: context))
        }
        let elapsed = ContinuousClock.now - started
        statistics.record(requests: requestCount, seconds: elapsed.seconds)
        if round.backgroundStep { try background.runStep(on: communicator) }
        return outcomes
    }

    private func run(_ batch: Mpiplug_V1_Batch, context: RoundContext) throws(MPIError) -> [Outcome] {
        guard let route = routes[batch.path] else {
            // Rank 0 only queues known routes; every rank has the same table, so no rank gets here.
            return Array(repeating: .failure(ConnectError(.unimplemented, "no route \(batch.path)")), count: batch.requests.count)
        }
        guard case .collective(let execute) = route.kind else {
            // The front door sends a keyed route's requests to their owners, never in a round.
            return Array(repeating: .failure(ConnectError(.internal, "\(batch.path) is keyed")), count: batch.requests.count)
        }
        do {
            return try execute(batch.requests.map { Array($0) }, context)
        } catch let error as MPIError {
            throw error
        } catch {
            // The handler contract: throw only for errors every rank meets alike, so the ranks are
            // still in step; answer the batch with `internal` and keep serving.
            logger.error("route handler threw", metadata: ["route": "\(batch.path)", "error": "\(error)"])
            return Array(repeating: .failure(.internalError), count: batch.requests.count)
        }
    }
}

/// Errors of the framework itself (not of a request).
public enum MPIPlugError: Error, Equatable, CustomStringConvertible {
    case duplicateRoute(String)
    case invalidConfiguration(String)
    case serverFailed(String)

    public var description: String {
        switch self {
        case .duplicateRoute(let path): return "route \(path) is registered twice"
        case .invalidConfiguration(let message): return "invalid configuration: \(message)"
        case .serverFailed(let message): return "the HTTP server failed: \(message)"
        }
    }
}
