internal import CMPI

/// A message that has arrived and can be received at once: where it came from and its size.
public struct ProbedMessage: Sendable, Equatable {
    /// The sending rank.
    public let source: Int
    /// Its length in bytes.
    public let byteCount: Int
}

extension Communicator {
    /// Starts sending `bytes` to `destination` with `tag` (`MPI_Isend`); the operation owns a copy of
    /// the bytes until it completes. Keep it and ``PendingOperation/test()`` it: dropping it waits.
    public func startSend(_ bytes: [UInt8], to destination: Int, tag: Int) throws(MPIError) -> PendingOperation<UInt8> {
        try requireRank(destination, "MPI_Isend")
        let count = try mpiCount(bytes.count, "MPI_Isend")
        let rawTag = try mpiTag(tag, "MPI_Isend")
        return try PendingOperation(copying: bytes, function: "MPI_Isend") { buffer, request in
            MPI_Isend(buffer, count, cmpi_byte(), Int32(destination), rawTag, handle, request)
        }
    }

    /// The first message with `tag` from any rank that has arrived, without receiving it; nil when
    /// none has (`MPI_Iprobe`). Never blocks.
    public func probe(tag: Int) throws(MPIError) -> ProbedMessage? {
        let rawTag = try mpiTag(tag, "MPI_Iprobe")
        var flag: Int32 = 0
        var status = MPI_Status()
        try checkCall(MPI_Iprobe(cmpi_any_source(), rawTag, handle, &flag, &status), "MPI_Iprobe")
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        try checkCall(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
        return ProbedMessage(source: Int(status.MPI_SOURCE), byteCount: Int(count))
    }

    /// Receives the message ``probe(tag:)`` found (`MPI_Recv`): it has arrived, so this does not wait.
    /// Call it before probing again, from the thread that probed.
    public func receive(_ message: ProbedMessage, tag: Int) throws(MPIError) -> [UInt8] {
        try requireRank(message.source, "MPI_Recv")
        let count = try mpiCount(message.byteCount, "MPI_Recv")
        let rawTag = try mpiTag(tag, "MPI_Recv")
        var bytes = [UInt8](repeating: 0, count: message.byteCount)
        let code = bytes.withUnsafeMutableBytes { buffer in
            MPI_Recv(buffer.baseAddress, count, cmpi_byte(), Int32(message.source), rawTag, handle, cmpi_status_ignore())
        }
        try checkCall(code, "MPI_Recv")
        return bytes
    }

    private func requireRank(_ rank: Int, _ function: StaticString) throws(MPIError) {
        try require((0..<size).contains(rank), function, "rank \(rank) is not a rank of a communicator of size \(size)")
    }

    /// Tags are non-negative and at most 32767, the least `MPI_TAG_UB` the standard allows.
    private func mpiTag(_ tag: Int, _ function: StaticString) throws(MPIError) -> Int32 {
        try require((0...32_767).contains(tag), function, "tag \(tag) is outside 0...32767")
        return Int32(tag)
    }
}
