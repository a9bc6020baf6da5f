import MPI

/// The collective steps of a load, with every failure turned into a ``LoadError`` that all ranks
/// throw together (a rank that threw alone would leave the others waiting in a collective).
extension Collectives {
    /// Throws on every rank when any rank has a failure: its own error on the failing ranks, and
    /// ``LoadError/failedOnAnotherRank(rank:message:)`` naming the lowest failing rank elsewhere.
    func throwIfAnyRankFailed(_ failure: LoadError?) throws(LoadError) {
        if try LoadError.wrapping({ () throws(MPIError) in try agree(failed: failure != nil) }) {
            try throwOnEveryRank(failure)
        }
    }

    /// The second half of ``throwIfAnyRankFailed(_:)``, for callers that already know some rank
    /// failed.
    func throwOnEveryRank(_ failure: LoadError?) throws(LoadError) -> Never {
        let message = failure.map { Array("\($0)".utf8) } ?? []
        let messages = try LoadError.wrapping { () throws(MPIError) in try allGatherVarying(message) }
        if let failure { throw failure }
        let first = (0..<size).first { messages.counts[$0] > 0 } ?? 0
        throw .failedOnAnotherRank(rank: first, message: String(decoding: messages[first], as: UTF8.self))
    }

    /// One re-shard round: agrees on failures and on whether any rank has more to send (one
    /// maximum of both flags), then sends `outgoing.counts[r]` bytes to rank `r` (alltoallv) and
    /// returns what arrived.
    func exchangeRound(_ outgoing: (bytes: [UInt8], counts: [Int]), hasMore: Bool, failure: LoadError?)
        throws(LoadError) -> (blocks: RankBlocks<UInt8>, anyMore: Bool)
    {
        let flags = try LoadError.wrapping { () throws(MPIError) in
            try allReduce([hasMore ? 1 : 0, failure == nil ? 0 : 1] as [Int64], .maximum)
        }
        if flags[1] != 0 { try throwOnEveryRank(failure) }
        let blocks = try LoadError.wrapping { () throws(MPIError) in
            try allToAllVarying(outgoing.bytes, sendCounts: outgoing.counts)
        }
        return (blocks, flags[0] != 0)
    }
}

extension LoadError {
    /// Runs a collective, turning its error into ``communication(_:)``.
    static func wrapping<T>(_ body: () throws(MPIError) -> T) throws(LoadError) -> T {
        do {
            return try body()
        } catch {
            throw .communication("\(error)")
        }
    }
}
