import MPI

/// The collectives ALS training uses: an MPI ``Communicator`` in a job, or ``ALSSingleProcess``
/// to train in one process without MPI (unit tests, single-machine tools).
///
/// Every requirement is collective: all ranks call it in the same order.
public protocol ALSCollectives {
    /// This rank, `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// `MPI_Alltoallv` with both sides' counts known.
    func allToAll<T: MPIScalar>(_ values: [T], sendCounts: [Int], receiveCounts: [Int]) throws(MPIError) -> RankBlocks<T>
    /// `MPI_Alltoallv`, exchanging the counts first.
    func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T>
    /// `MPI_Allreduce` of an array.
    func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T]
    /// `MPI_Allgatherv`, exchanging the counts first.
    func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T>
    /// The exact, rank-count-independent total of `sum` (``PartitionedSum/allReduce(on:)``).
    func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double]
}

extension Communicator: ALSCollectives {
    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        try sum.allReduce(on: self)
    }
}

/// A job of one rank that needs no MPI: every collective returns its input, and
/// ``exactTotal(of:)`` does the same fixed-point arithmetic as ``PartitionedSum/allReduce(on:)`` at
/// one rank, so a model trained here has the same bits as one trained under `mpirun` at any size.
public struct ALSSingleProcess: ALSCollectives {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allToAll<T: MPIScalar>(_ values: [T], sendCounts: [Int], receiveCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        try requireOneRank(sendCounts, "allToAll")
        return RankBlocks(values: values, counts: [values.count])
    }

    public func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        try requireOneRank(sendCounts, "allToAllVarying")
        return RankBlocks(values: values, counts: [values.count])
    }

    public func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T] {
        values
    }

    public func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T> {
        RankBlocks(values: values, counts: [values.count])
    }

    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        // PartitionedSum.allReduce(on:) at one rank: the maximum and the Int64 sum are local.
        let extremes = sum.localExtremes()
        return sum.total(fixedPointSum: sum.fixedPointContribution(for: extremes), extremes: extremes)
    }

    private func requireOneRank(_ counts: [Int], _ function: String) throws(MPIError) {
        guard counts.count == 1 else {
            throw .invalidArgument(function: function, message: "expected one count for one rank, got \(counts.count)")
        }
    }
}
