import MPI

/// A routing plan computed once and replayed every half-iteration: which local factor rows go to
/// which rank, and how many rows arrive from each.
///
/// The received rows come back to back, rank 0's block first, each block in the order its sender
/// listed them; the plan's builder records where each row it needs lands.
struct RowExchange: Sendable {
    /// Local rows to send, grouped by destination rank (rank 0's first).
    let sendRows: [Int32]
    /// Rows sent to each rank.
    let sendCounts: [Int]
    /// Rows received from each rank.
    let receiveCounts: [Int]

    /// The number of rows ``exchange(_:on:)`` returns.
    var receivedRowCount: Int { receiveCounts.reduce(0, +) }

    /// Sends the planned rows of `factors` and returns the rows received. Collective.
    func exchange<Entity>(
        _ factors: FactorMatrix<Entity>, on collectives: some ALSCollectives
    ) throws(MPIError) -> FactorMatrix<Entity> {
        let stride = factors.stride
        let send = [Float](unsafeUninitializedCapacity: sendRows.count * stride) { buffer, initialized in
            factors.storage.withUnsafeBufferPointer { source in
                guard let target = buffer.baseAddress, let origin = source.baseAddress else { return }
                for (position, row) in sendRows.enumerated() {
                    (target + position * stride).initialize(from: origin + Int(row) * stride, count: stride)
                }
            }
            initialized = sendRows.count * stride
        }
        let received = try collectives.allToAll(
            send, sendCounts: sendCounts.map { $0 * stride }, receiveCounts: receiveCounts.map { $0 * stride }
        )
        return FactorMatrix(rowCount: receivedRowCount, factorCount: factors.factorCount, paddedStorage: received.values)
    }
}
