import MPI

/// A routing plan computed once and replayed every half-iteration: which local factor rows go to
/// which rank, and how many rows arrive from each.
///
/// The received rows come back to back, rank 0's block first, each block in the order its sender
/// listed them; the plan's builder records where each row it needs lands. The rows travel in
/// ``roundCount`` all-to-all rounds of at most ``rowsPerRound`` rows per block, so that a rank holds
/// one round's outgoing rows at a time rather than a copy of all of them beside everything it
/// receives (at 10 M users on 2 ranks, each rank ships about 600 MB of user factors per iteration).
struct RowExchange: Sendable {
    /// Local rows to send, grouped by destination rank (rank 0's first).
    let sendRows: [Int32]
    /// Rows sent to each rank.
    let sendCounts: [Int]
    /// Rows received from each rank.
    let receiveCounts: [Int]
    /// The most rows one block (one sender to one receiver) carries in a round.
    let rowsPerRound: Int
    /// Rounds per exchange: the same on every rank, since every rank takes part in every round.
    let roundCount: Int

    /// The rows of `factorCount`-wide factors that fit `bytesPerRound` spread over `rankCount` blocks.
    static func rowsPerRound(bytesPerRound: Int, factorCount: Int, rankCount: Int) -> Int {
        let rowBytes = MemoryLayout<Float>.stride * FactorMatrix<UserAxis>.paddedStride(factorCount)
        return max(1, bytesPerRound / (rowBytes * max(1, rankCount)))
    }

    /// Plans an exchange. Collective: the ranks agree on the number of rounds, which the largest block
    /// of any rank decides.
    static func planned(
        sendRows: [Int32], sendCounts: [Int], receiveCounts: [Int], rowsPerRound: Int, on collectives: some Collectives
    ) throws(MPIError) -> RowExchange {
        let localLargest = max(sendCounts.max() ?? 0, receiveCounts.max() ?? 0)
        let largest = Int(try collectives.allReduce([Int64(localLargest)], .maximum)[0])
        return RowExchange(
            sendRows: sendRows, sendCounts: sendCounts, receiveCounts: receiveCounts, rowsPerRound: rowsPerRound,
            roundCount: (largest + rowsPerRound - 1) / rowsPerRound)
    }

    private init(sendRows: [Int32], sendCounts: [Int], receiveCounts: [Int], rowsPerRound: Int, roundCount: Int) {
        self.sendRows = sendRows
        self.sendCounts = sendCounts
        self.receiveCounts = receiveCounts
        self.rowsPerRound = rowsPerRound
        self.roundCount = roundCount
    }

    /// The number of rows ``exchange(_:on:)`` returns.
    var receivedRowCount: Int { receiveCounts.reduce(0, +) }

    /// Sends the planned rows of `factors` and returns the rows received. Collective.
    func exchange<Entity>(
        _ factors: FactorMatrix<Entity>, on collectives: some Collectives
    ) throws(MPIError) -> FactorMatrix<Entity> {
        let stride = factors.stride
        guard roundCount > 1 else {
            // One round (or nothing to move anywhere): the round's buffer is the result.
            let received = try round(of: factors, from: 0, on: collectives)
            return FactorMatrix(rowCount: receivedRowCount, factorCount: factors.factorCount, paddedStorage: received.values)
        }
        let receiveStarts = exclusivePrefixSums(receiveCounts)
        var storage = [Float](repeating: 0, count: receivedRowCount * stride)
        for round in 0..<roundCount {
            let first = round * rowsPerRound
            let received = try self.round(of: factors, from: first, on: collectives)
            storage.withUnsafeMutableBufferPointer { storage in
                received.values.withUnsafeBufferPointer { values in
                    guard let target = storage.baseAddress, let source = values.baseAddress else { return }
                    for rank in receiveCounts.indices where received.counts[rank] > 0 {
                        (target + (receiveStarts[rank] + first) * stride)
                            .update(from: source + received.offsets[rank], count: received.counts[rank])
                    }
                }
            }
        }
        return FactorMatrix(rowCount: receivedRowCount, factorCount: factors.factorCount, paddedStorage: storage)
    }

    /// One round: from every block, the rows at `first..<first + rowsPerRound` that exist.
    private func round<Entity>(
        of factors: FactorMatrix<Entity>, from first: Int, on collectives: some Collectives
    ) throws(MPIError) -> RankBlocks<Float> {
        let stride = factors.stride
        let sending = sendCounts.map { min(rowsPerRound, max(0, $0 - first)) }
        let receiving = receiveCounts.map { min(rowsPerRound, max(0, $0 - first)) }
        let sendStarts = exclusivePrefixSums(sendCounts)
        let rowCount = sending.reduce(0, +)
        let send = [Float](unsafeUninitializedCapacity: rowCount * stride) { buffer, initialized in
            factors.storage.withUnsafeBufferPointer { source in
                guard let target = buffer.baseAddress, let origin = source.baseAddress else { return }
                var position = 0
                for rank in sending.indices where sending[rank] > 0 {
                    let start = sendStarts[rank] + first
                    for row in sendRows[start..<(start + sending[rank])] {
                        (target + position * stride).initialize(from: origin + Int(row) * stride, count: stride)
                        position += 1
                    }
                }
            }
            initialized = rowCount * stride
        }
        return try collectives.allToAll(
            send, sendCounts: sending.map { $0 * stride }, receiveCounts: receiving.map { $0 * stride })
    }
}
