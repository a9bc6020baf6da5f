import Foundation
import MPI
import MPIPlugProtos

/// `mpiplug.v1.ClusterService`: every rank reports on itself; rank 0 adds the front door's view.
final class ClusterStatusHandler: Mpiplug_V1_ClusterServiceHandler {
    private let statistics: RoundStatistics
    private let host: String
    private let started = ContinuousClock.now
    private let threadLevel: String
    /// Rank 0 only: the queue and the routes.
    private let frontDoorView: @Sendable () -> (queueDepth: Int, routes: [String])
    /// Every rank: its own front door, if it runs one.
    private let ownDoor: @Sendable () -> FrontDoorStatusReport?

    init(
        statistics: RoundStatistics, host: String, threadLevel: String,
        frontDoorView: @escaping @Sendable () -> (queueDepth: Int, routes: [String]),
        ownDoor: @escaping @Sendable () -> FrontDoorStatusReport? = { nil }
    ) {
        self.statistics = statistics
        self.host = host
        self.threadLevel = threadLevel
        self.frontDoorView = frontDoorView
        self.ownDoor = ownDoor
    }

    func getClusterStatus(
        _ requests: [Mpiplug_V1_GetClusterStatusRequest], context: RoundContext
    ) throws -> [RouteResult<Mpiplug_V1_GetClusterStatusResponse>] {
        let mine = try ownStatus(rank: context.rank).serializedBytes() as [UInt8]
        guard let gathered = try context.communicator.gatherVarying(mine, root: 0) else { return [] }
        var response = Mpiplug_V1_GetClusterStatusResponse()
        response.rankCount = Int32(context.size)
        for rank in 0..<context.size {
            response.ranks.append((try? Mpiplug_V1_RankStatus(serializedBytes: Array(gathered[rank]))) ?? .init())
        }
        let snapshot = statistics.snapshot
        let view = frontDoorView()
        response.roundsServed = snapshot.rounds
        response.queueDepth = UInt32(clamping: view.queueDepth)
        response.batchSizes = .with {
            $0.rounds = snapshot.rounds
            $0.requests = snapshot.requests
            $0.mean = snapshot.rounds == 0 ? 0 : Double(snapshot.requests) / Double(snapshot.rounds)
            $0.max = snapshot.largestRound
            $0.histogram = snapshot.histogram
        }
        response.uptimeSeconds = (ContinuousClock.now - started).seconds
        response.threadLevel = threadLevel
        response.routes = view.routes
        response.frontDoors = response.ranks.filter(\.hasFrontDoor).map(\.frontDoor)
        // Every rank takes part in every round: rank 0's count is the job's. Calls are each door's own.
        response.recent = RecentActivity.merged(rounds: response.ranks.first?.recent ?? .init(), calls: response.ranks.map(\.recent))
        return Array(repeating: .success(response), count: requests.count)
    }

    private func ownStatus(rank: Int) -> Mpiplug_V1_RankStatus {
        let memory = ProcessStatistics.residentMemory()
        let snapshot = statistics.snapshot
        return .with {
            $0.rank = Int32(rank)
            $0.host = host
            $0.processID = Int64(ProcessInfo.processInfo.processIdentifier)
            $0.residentMemoryBytes = memory.current
            $0.peakResidentMemoryBytes = memory.peak
            // This round counts too: it is being served right now.
            $0.roundsServed = snapshot.rounds + 1
            $0.requestsHandled = snapshot.requests
            $0.busySeconds = snapshot.busySeconds
            $0.roundBytes = snapshot.roundBytes
            $0.answerBytes = snapshot.answerBytes
            $0.gatherSeconds = snapshot.gatherSeconds
            $0.keyedRequests = snapshot.keyedRequests
            $0.keyedBytes = snapshot.keyedBytes
            $0.keyedSeconds = snapshot.keyedSeconds
            $0.recent = statistics.recent.summary()
            if let door = ownDoor() {
                $0.frontDoor = .with { status in
                    status.rank = Int32(door.address.rank)
                    status.host = door.address.host
                    status.port = Int32(door.address.port)
                    status.requestsAccepted = door.accepted
                    status.queueDepth = UInt32(clamping: door.depth)
                }
            }
        }
    }
}

/// A front door's figures for `GetClusterStatus`.
struct FrontDoorStatusReport: Sendable {
    let address: FrontDoorAddress
    /// Calls its queue has admitted since start.
    let accepted: UInt64
    /// Calls waiting in its queue now.
    let depth: Int
}

/// `mpiplug.v1.DiagnosticsService`: a trivial route that still involves every rank.
final class DiagnosticsHandler: Mpiplug_V1_DiagnosticsServiceHandler {
    func echo(_ requests: [Mpiplug_V1_EchoRequest], context: RoundContext) throws -> [RouteResult<Mpiplug_V1_EchoResponse>] {
        // One allreduce for the whole batch: each rank adds value + rank for every request.
        let contributions = requests.map { $0.value &+ Int64(context.rank) }
        let sums = try context.communicator.allReduce(contributions, .sum)
        return zip(requests, sums).map { request, sum in
            .success(.with {
                $0.message = request.message
                $0.rankCount = Int32(context.size)
                $0.checksum = sum
            })
        }
    }
}

extension Mpiplug_V1_EchoRequest: ValidatableRequest {
    public func validate() throws(ConnectError) {
        guard message.utf8.count <= 1 << 20 else { throw .invalidArgument(field: "message", "at most 1 MiB") }
    }
}
