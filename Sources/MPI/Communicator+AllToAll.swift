internal import CMPI

extension Communicator {
    /// Sends block `r` of `values` to rank `r` and returns the blocks received, rank 0's first
    /// (`MPI_Alltoall`). `values.count` must be a multiple of `size`.
    public func allToAll<T: MPIScalar>(_ values: [T]) throws(MPIError) -> [T] {
        try require(
            values.count % size == 0, "MPI_Alltoall",
            "\(values.count) values cannot be split evenly over \(size) ranks"
        )
        let count = try mpiCount(values.count / size, "MPI_Alltoall")
        _ = try mpiCount(values.count, "MPI_Alltoall", "total count")
        let datatype = T.mpiDatatype.handle
        var result = uninitializedArray(of: T.self, count: values.count)
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Alltoall",
                    blocking: { MPI_Alltoall(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, handle) },
                    nonblocking: {
                        MPI_Ialltoall(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, handle, $0)
                    }
                )
            }
        }
        try outcome.check()
        return result
    }

    /// Sends `sendCounts[r]` consecutive values to rank `r` (in rank order, zero allowed) and returns
    /// what every rank sent here (`MPI_Alltoallv`). The counts are exchanged first with `MPI_Alltoall`.
    public func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        try require(
            sendCounts.count == size, "MPI_Alltoallv",
            "expected one send count per rank (\(size)) but got \(sendCounts.count)"
        )
        let receiveCounts = try allToAll(sendCounts.map { Int64($0) }).map(Int.init)
        return try allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts)
    }

    /// `MPI_Alltoallv` when both sides' counts are already known: `sendCounts[r]` values go to rank
    /// `r`, and `receiveCounts[r]` values are expected from it.
    public func allToAll<T: MPIScalar>(
        _ values: [T], sendCounts: [Int], receiveCounts: [Int]
    ) throws(MPIError) -> RankBlocks<T> {
        var result = [T]()
        try allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts, into: &result)
        return RankBlocks(values: result, counts: receiveCounts)
    }

    /// `MPI_Alltoallv` into a buffer the caller keeps: afterwards `result` holds the blocks received,
    /// rank 0's first. When `result` already has `receiveCounts`' total length its storage is reused, so
    /// a loop that exchanges the same shape every iteration allocates nothing (as mpi4py's
    /// `Alltoallv(send, recv)`).
    public func allToAll<T: MPIScalar>(
        _ values: [T], sendCounts: [Int], receiveCounts: [Int], into result: inout [T]
    ) throws(MPIError) {
        let send = try CountLayout(sendCounts, size: size, "MPI_Alltoallv")
        try require(
            send.total == values.count, "MPI_Alltoallv",
            "send counts add up to \(send.total) but \(values.count) values were given"
        )
        let receive = try CountLayout(receiveCounts, size: size, "MPI_Alltoallv")
        let datatype = T.mpiDatatype.handle
        if result.count != receive.total { result = uninitializedArray(of: T.self, count: receive.total) }
        let outcome = values.withUnsafeBytes { sendBuffer in
            result.withUnsafeMutableBytes { receiveBuffer in
                send.counts.withUnsafeBufferPointer { sc in
                    send.displacements.withUnsafeBufferPointer { sd in
                        receive.counts.withUnsafeBufferPointer { rc in
                            receive.displacements.withUnsafeBufferPointer { rd in
                                collective(
                                    "MPI_Alltoallv",
                                    blocking: {
                                        MPI_Alltoallv(
                                            sendBuffer.baseAddress, sc.baseAddress, sd.baseAddress, datatype,
                                            receiveBuffer.baseAddress, rc.baseAddress, rd.baseAddress, datatype, handle)
                                    },
                                    nonblocking: {
                                        MPI_Ialltoallv(
                                            sendBuffer.baseAddress, sc.baseAddress, sd.baseAddress, datatype,
                                            receiveBuffer.baseAddress, rc.baseAddress, rd.baseAddress, datatype, handle, $0)
                                    }
                                )
                            }
                        }
                    }
                }
            }
        }
        try outcome.check()
    }
}
