internal import CMPI

extension Communicator {
    /// Waits until every rank has called it (`MPI_Barrier`).
    public func barrier() throws(MPIError) {
        try collective("MPI_Barrier", blocking: { MPI_Barrier(handle) }, nonblocking: { MPI_Ibarrier(handle, $0) })
            .check()
    }

    /// Overwrites `values` on every rank with `root`'s values (`MPI_Bcast`).
    ///
    /// Every rank must pass an array of the same length; use ``Collectives/broadcast(_:from:)`` when only the
    /// root knows the length.
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        try requireRoot(root, "MPI_Bcast")
        let count = try mpiCount(values.count, "MPI_Bcast")
        let datatype = T.mpiDatatype.handle
        let outcome = values.withUnsafeMutableBytes { buffer in
            collective(
                "MPI_Bcast",
                blocking: { MPI_Bcast(buffer.baseAddress, count, datatype, Int32(root), handle) },
                nonblocking: { MPI_Ibcast(buffer.baseAddress, count, datatype, Int32(root), handle, $0) }
            )
        }
        try outcome.check()
    }
}
