/// The collective operations that code above the bindings runs on: a ``Communicator`` in an MPI
/// job, ``SingleProcessCollectives`` in one process without MPI (unit tests, single-machine tools),
/// or a wrapper that performs them elsewhere or measures them.
///
/// Every requirement is collective: all ranks call it, in the same order. What is built from the
/// requirements — the scalar forms, ``broadcast(_:from:)``, ``agree(failed:)`` and the exact sum
/// ``exactTotal(of:)`` — is written once, in this protocol's extension, for every conformer.
public protocol Collectives {
    /// This rank, `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }

    /// Sends `sendCounts[r]` consecutive values to rank `r` and returns the `receiveCounts[r]` values
    /// each rank `r` sent here, rank 0's first (`MPI_Alltoallv` with both sides' counts known).
    func allToAll<T: MPIScalar>(_ values: [T], sendCounts: [Int], receiveCounts: [Int]) throws(MPIError) -> RankBlocks<T>

    /// ``allToAll(_:sendCounts:receiveCounts:)`` when the receiving side's counts are not known: they
    /// are exchanged first.
    func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T>

    /// `values` combined element by element across ranks, on every rank (`MPI_Allreduce`).
    func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T]

    /// Every rank's `values`, of any length, on every rank (`MPI_Allgatherv`, the lengths exchanged
    /// first).
    func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T>

    /// Overwrites `values` on every rank with `root`'s (`MPI_Bcast`); every rank passes the same
    /// length.
    func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError)

    /// The combination of `value` over ranks `0..<rank` (`MPI_Exscan`); `identity` on rank 0.
    func exclusiveScan<T: MPIArithmetic>(_ value: T, _ operation: ReductionOperation, identity: T) throws(MPIError) -> T

    /// The exact, rank-count-independent total of `sum` over all ranks (see ``PartitionedSum``).
    ///
    /// A requirement so that a wrapper can count it as one operation; the one implementation is
    /// the default in this protocol's extension.
    func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double]
}

extension Collectives {
    /// `value` combined across ranks with `operation`, on every rank.
    public func allReduce<T: MPIArithmetic>(_ value: T, _ operation: ReductionOperation) throws(MPIError) -> T {
        try allReduce([value], operation)[0]
    }

    /// `root`'s `values` on every rank; the length travels first, so other ranks may pass anything
    /// (usually `[]`).
    public func broadcast<T: MPIScalar>(_ values: [T], from root: Int) throws(MPIError) -> [T] {
        var length = [Int64(rank == root ? values.count : 0)]
        try broadcast(&length, root: root)
        let count = Int(length[0])
        var result = rank == root ? values : uninitializedArray(of: T.self, count: count)
        try broadcast(&result, root: root)
        return result
    }

    /// `root`'s `value` on every rank.
    public func broadcast<T: MPIScalar>(_ value: T, from root: Int) throws(MPIError) -> T {
        var buffer = [value]
        try broadcast(&buffer, root: root)
        return buffer[0]
    }

    /// Whether any rank passed `failed: true`: the same answer on every rank, so that all of them
    /// take the same branch afterwards (one maximum of a flag).
    public func agree(failed: Bool) throws(MPIError) -> Bool {
        try allReduce(Int64(failed ? 1 : 0), .maximum) != 0
    }

    /// The exact total: every rank's per-element extremes combined with a maximum, then its partials
    /// in fixed point summed as integers (see ``PartitionedSum``). Two all-reduces; the per-element
    /// work runs on the calling thread, whoever performs the all-reduces.
    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        let extremes = try sum.localExtremes().combined(on: self)
        let fixedPointSum = try allReduce(sum.fixedPointContribution(for: extremes), .sum)
        return sum.total(fixedPointSum: fixedPointSum, extremes: extremes)
    }
}

extension Communicator: Collectives {}
