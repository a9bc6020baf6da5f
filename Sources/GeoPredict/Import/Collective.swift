import MPI

/// The collective steps of a load, with every failure turned into a ``LoadError`` that all ranks
/// throw together (a rank that threw alone would leave the others waiting in a collective).
struct Collective {
    let communicator: Communicator

    var rank: Int { communicator.rank }
    var size: Int { communicator.size }

    /// Runs an MPI call, mapping its error.
    func mpi<T>(_ body: () throws(MPIError) -> T) throws(LoadError) -> T {
        do {
            return try body()
        } catch {
            throw .communication("\(error)")
        }
    }

    /// Throws on every rank when any rank has a failure: its own error on the failing ranks, and
    /// ``LoadError/failedOnAnotherRank(rank:message:)`` naming the lowest failing rank elsewhere.
    func agree(_ failure: LoadError?) throws(LoadError) {
        let anyFailed = try mpi { () throws(MPIError) in try communicator.allReduce(Int64(failure == nil ? 0 : 1), .maximum) }
        if anyFailed != 0 { try fail(failure) }
    }

    /// The second half of ``agree(_:)``, for callers that already know some rank failed.
    func fail(_ failure: LoadError?) throws(LoadError) -> Never {
        let message = failure.map { Array("\($0)".utf8) } ?? []
        let messages = try mpi { () throws(MPIError) in try communicator.allGatherVarying(message) }
        if let failure { throw failure }
        let first = (0..<size).first { messages.counts[$0] > 0 } ?? 0
        throw .failedOnAnotherRank(rank: first, message: String(decoding: messages[first], as: UTF8.self))
    }

    /// One re-shard round: agrees on failures and on whether any rank has more to send, then sends
    /// `outgoing.counts[r]` bytes to rank `r` (alltoallv) and returns what arrived.
    func exchangeRound(_ outgoing: (bytes: [UInt8], counts: [Int]), hasMore: Bool, failure: LoadError?)
        throws(LoadError) -> (blocks: RankBlocks<UInt8>, anyMore: Bool)
    {
        let flags = try mpi { () throws(MPIError) in
            try communicator.allReduce([hasMore ? 1 : 0, failure == nil ? 0 : 1] as [Int64], .maximum)
        }
        if flags[1] != 0 { try fail(failure) }
        let blocks = try mpi { () throws(MPIError) in
            try communicator.allToAllVarying(outgoing.bytes, sendCounts: outgoing.counts)
        }
        return (blocks, flags[0] != 0)
    }
}
