internal import CMPI

extension Communicator {
    /// Combines `values` element by element across ranks and returns the result on every rank.
    public func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T] {
        var result = values
        try allReduce(inPlace: &result, operation)
        return result
    }

    /// Combines `values` across ranks into `result`, which must have the same length (`MPI_Allreduce`
    /// into a separate receive buffer).
    public func allReduce<T: MPIArithmetic>(
        _ values: [T], into result: inout [T], _ operation: ReductionOperation
    ) throws(MPIError) {
        try require(
            result.count == values.count, "MPI_Allreduce",
            "result buffer holds \(result.count) values but \(values.count) are reduced"
        )
        let count = try mpiCount(values.count, "MPI_Allreduce")
        let datatype = T.mpiDatatype.handle
        let op = operation.handle
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Allreduce",
                    blocking: { MPI_Allreduce(send.baseAddress, receive.baseAddress, count, datatype, op, handle) },
                    nonblocking: { MPI_Iallreduce(send.baseAddress, receive.baseAddress, count, datatype, op, handle, $0) }
                )
            }
        }
        try outcome.check()
    }

    /// Replaces `values` on every rank with their element-wise combination across ranks
    /// (`MPI_Allreduce` with `MPI_IN_PLACE`).
    public func allReduce<T: MPIArithmetic>(inPlace values: inout [T], _ operation: ReductionOperation) throws(MPIError) {
        let count = try mpiCount(values.count, "MPI_Allreduce")
        let datatype = T.mpiDatatype.handle
        let op = operation.handle
        let outcome = values.withUnsafeMutableBytes { buffer in
            collective(
                "MPI_Allreduce",
                blocking: { MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count, datatype, op, handle) },
                nonblocking: { MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, count, datatype, op, handle, $0) }
            )
        }
        try outcome.check()
    }

    /// Combines `values` across ranks on `root` only (`MPI_Reduce`); other ranks get `nil`.
    public func reduce<T: MPIArithmetic>(
        _ values: [T], _ operation: ReductionOperation, root: Int
    ) throws(MPIError) -> [T]? {
        try requireRoot(root, "MPI_Reduce")
        let count = try mpiCount(values.count, "MPI_Reduce")
        let datatype = T.mpiDatatype.handle
        let op = operation.handle
        var result = values
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Reduce",
                    blocking: { MPI_Reduce(send.baseAddress, receive.baseAddress, count, datatype, op, Int32(root), handle) },
                    nonblocking: {
                        MPI_Ireduce(send.baseAddress, receive.baseAddress, count, datatype, op, Int32(root), handle, $0)
                    }
                )
            }
        }
        try outcome.check()
        return rank == root ? result : nil
    }

    /// The combination of `value` over ranks `0..<rank` (`MPI_Exscan`); `identity` on rank 0, where
    /// MPI leaves the result undefined.
    ///
    /// With `.sum` this gives each rank its starting offset in a global numbering.
    public func exclusiveScan<T: MPIArithmetic>(
        _ value: T, _ operation: ReductionOperation, identity: T
    ) throws(MPIError) -> T {
        let send = [value]
        var result = [identity]
        let datatype = T.mpiDatatype.handle
        let op = operation.handle
        let outcome = send.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Exscan",
                    blocking: { MPI_Exscan(send.baseAddress, receive.baseAddress, 1, datatype, op, handle) },
                    nonblocking: { MPI_Iexscan(send.baseAddress, receive.baseAddress, 1, datatype, op, handle, $0) }
                )
            }
        }
        try outcome.check()
        return rank == 0 ? identity : result[0]
    }
}
