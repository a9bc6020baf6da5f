import GeoPredict
import MPI
import MPIPlug

/// Training beside serving: the trainer's collectives, performed by the MPI thread between requests.
extension BackgroundCollectives: ALSCollectives {
    public func allToAll<T: MPIScalar>(_ values: [T], sendCounts: [Int], receiveCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        try perform { communicator throws(MPIError) in
            try communicator.allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts)
        }
    }

    public func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        try perform { communicator throws(MPIError) in try communicator.allToAllVarying(values, sendCounts: sendCounts) }
    }

    public func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T] {
        try perform { communicator throws(MPIError) in try communicator.allReduce(values, operation) }
    }

    public func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T> {
        try perform { communicator throws(MPIError) in try communicator.allGatherVarying(values) }
    }

    /// The collectives of ``PartitionedSum/allReduce(on:)``, in two steps, with its per-element work
    /// (a pass over every partial, large for many factors) here on the trainer's thread rather than
    /// on the MPI thread, where it would hold up requests. Same collectives, same order, same bits.
    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        let local = sum.localExtremes()
        let extremes = try perform { communicator throws(MPIError) in try local.combined(on: communicator) }
        let fixed = sum.fixedPointContribution(for: extremes)
        let fixedPointSum = try perform { communicator throws(MPIError) in try communicator.allReduce(fixed, .sum) }
        return sum.total(fixedPointSum: fixedPointSum, extremes: extremes)
    }
}
