internal import CMPI

extension Communicator {
    /// Waits until every rank has called it (`MPI_Barrier`).
    public func barrier() throws(MPIError) {
        try collective("MPI_Barrier", blocking: { MPI_Barrier(handle) }, nonblocking: { MPI_Ibarrier(handle, $0) })
            .check()
    }

    /// Overwrites `values` on every rank with `root`'s values (`MPI_Bcast`).
    ///
    /// Every rank must pass an array of the same length; use ``broadcast(_:from:)`` when only the
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

    /// Returns `root`'s `values` on every rank; the length travels first, so other ranks may pass
    /// anything (usually `[]`).
    public func broadcast<T: MPIScalar>(_ values: [T], from root: Int) throws(MPIError) -> [T] {
        try requireRoot(root, "MPI_Bcast")
        var length = [Int64(rank == root ? values.count : 0)]
        try broadcast(&length, root: root)
        let count = Int(length[0])
        var result = rank == root ? values : [T](unsafeUninitializedCapacity: count) { _, initialized in
            initialized = count
        }
        try broadcast(&result, root: root)
        return result
    }

    /// Returns `root`'s `value` on every rank.
    public func broadcast<T: MPIScalar>(_ value: T, from root: Int) throws(MPIError) -> T {
        var buffer = [value]
        try broadcast(&buffer, root: root)
        return buffer[0]
    }
}
