/// The collectives of a job of one rank, without MPI: every operation returns its input (a scan,
/// its identity), and ``Collectives/exactTotal(of:)`` does the same fixed-point arithmetic as at any
/// rank count, so a model trained here has the same bits as one trained under `mpirun`.
///
/// For unit tests and single-machine tools; MPI need not be initialised.
public struct SingleProcessCollectives: Collectives {
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

    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        guard root == 0 else { throw .invalidArgument(function: "broadcast", message: "root \(root) is not the one rank 0") }
    }

    public func exclusiveScan<T: MPIArithmetic>(_ value: T, _ operation: ReductionOperation, identity: T) throws(MPIError) -> T {
        identity
    }

    private func requireOneRank(_ counts: [Int], _ function: String) throws(MPIError) {
        guard counts.count == 1 else {
            throw .invalidArgument(function: function, message: "expected one count for one rank, got \(counts.count)")
        }
    }
}
