import MPI

/// A background job's collectives, each performed by the MPI thread in a step of its own (see
/// ``BackgroundCollectives/perform(_:)``). What the protocol builds from these — the exact sum, for
/// one — keeps its per-element work on the job's thread and sends only the collectives across.
extension BackgroundCollectives: Collectives {
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

    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        let sent = values
        values = try perform { communicator throws(MPIError) in
            var buffer = sent
            try communicator.broadcast(&buffer, root: root)
            return buffer
        }
    }

    public func exclusiveScan<T: MPIArithmetic>(_ value: T, _ operation: ReductionOperation, identity: T) throws(MPIError) -> T {
        try perform { communicator throws(MPIError) in try communicator.exclusiveScan(value, operation, identity: identity) }
    }
}
