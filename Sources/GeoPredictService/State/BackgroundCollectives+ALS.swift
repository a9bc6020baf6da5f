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

    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        try perform { communicator throws(MPIError) in try sum.allReduce(on: communicator) }
    }
}
