internal import CMPI

extension Communicator {
    /// Collects `values` (the same length on every rank) on `root`, rank 0's first (`MPI_Gather`).
    /// Other ranks get `nil`.
    public func gather<T: MPIScalar>(_ values: [T], root: Int) throws(MPIError) -> [T]? {
        try requireRoot(root, "MPI_Gather")
        let count = try mpiCount(values.count, "MPI_Gather")
        _ = try mpiCount(values.count * size, "MPI_Gather", "total received count")
        let datatype = T.mpiDatatype.handle
        let isRoot = rank == root
        var result = uninitializedArray(of: T.self, count: isRoot ? values.count * size : 0)
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Gather",
                    blocking: {
                        MPI_Gather(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, Int32(root), handle)
                    },
                    nonblocking: {
                        MPI_Igather(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, Int32(root), handle, $0)
                    }
                )
            }
        }
        try outcome.check()
        return isRoot ? result : nil
    }

    /// Collects `values` of any length from every rank on `root` (`MPI_Gatherv`); the lengths are
    /// gathered first. Other ranks get `nil`.
    public func gatherVarying<T: MPIScalar>(_ values: [T], root: Int) throws(MPIError) -> RankBlocks<T>? {
        let counts = try gather([Int64(values.count)], root: root)
        return try gather(values, counts: counts.map { $0.map(Int.init) }, root: root)
    }

    /// Collects `values` on `root` when `root` already knows every rank's length (`MPI_Gatherv`).
    ///
    /// - Parameter counts: on `root`, the number of values each rank sends (one per rank); ignored
    ///   elsewhere.
    public func gather<T: MPIScalar>(_ values: [T], counts: [Int]?, root: Int) throws(MPIError) -> RankBlocks<T>? {
        try requireRoot(root, "MPI_Gatherv")
        let sendCount = try mpiCount(values.count, "MPI_Gatherv")
        let datatype = T.mpiDatatype.handle
        let isRoot = rank == root
        var layout = CountLayout.empty
        if isRoot {
            guard let counts else {
                throw .invalidArgument(function: "MPI_Gatherv", message: "the root must pass the counts of every rank")
            }
            layout = try CountLayout(counts, size: size, "MPI_Gatherv")
            try require(
                counts[rank] == values.count, "MPI_Gatherv",
                "the root's own count is \(counts[rank]) but it sends \(values.count) values"
            )
        }
        var result = uninitializedArray(of: T.self, count: layout.total)
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                layout.counts.withUnsafeBufferPointer { rc in
                    layout.displacements.withUnsafeBufferPointer { rd in
                        collective(
                            "MPI_Gatherv",
                            blocking: {
                                MPI_Gatherv(
                                    send.baseAddress, sendCount, datatype,
                                    receive.baseAddress, rc.baseAddress, rd.baseAddress, datatype, Int32(root), handle)
                            },
                            nonblocking: {
                                MPI_Igatherv(
                                    send.baseAddress, sendCount, datatype,
                                    receive.baseAddress, rc.baseAddress, rd.baseAddress, datatype, Int32(root), handle, $0)
                            }
                        )
                    }
                }
            }
        }
        try outcome.check()
        return isRoot ? RankBlocks(values: result, counts: layout.counts.map(Int.init)) : nil
    }

    /// Collects `values` (the same length on every rank) on every rank, rank 0's first
    /// (`MPI_Allgather`).
    public func allGather<T: MPIScalar>(_ values: [T]) throws(MPIError) -> [T] {
        let count = try mpiCount(values.count, "MPI_Allgather")
        _ = try mpiCount(values.count * size, "MPI_Allgather", "total received count")
        let datatype = T.mpiDatatype.handle
        var result = uninitializedArray(of: T.self, count: values.count * size)
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                collective(
                    "MPI_Allgather",
                    blocking: { MPI_Allgather(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, handle) },
                    nonblocking: {
                        MPI_Iallgather(send.baseAddress, count, datatype, receive.baseAddress, count, datatype, handle, $0)
                    }
                )
            }
        }
        try outcome.check()
        return result
    }

    /// Collects `values` of any length from every rank on every rank (`MPI_Allgatherv`); the lengths
    /// are exchanged first.
    public func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T> {
        let counts = try allGather([Int64(values.count)]).map(Int.init)
        return try allGather(values, counts: counts)
    }

    /// Collects `values` on every rank when every rank knows all lengths (`MPI_Allgatherv`).
    public func allGather<T: MPIScalar>(_ values: [T], counts: [Int]) throws(MPIError) -> RankBlocks<T> {
        let layout = try CountLayout(counts, size: size, "MPI_Allgatherv")
        try require(
            counts[rank] == values.count, "MPI_Allgatherv",
            "this rank's count is \(counts[rank]) but it sends \(values.count) values"
        )
        let sendCount = Int32(values.count)
        let datatype = T.mpiDatatype.handle
        var result = uninitializedArray(of: T.self, count: layout.total)
        let outcome = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                layout.counts.withUnsafeBufferPointer { rc in
                    layout.displacements.withUnsafeBufferPointer { rd in
                        collective(
                            "MPI_Allgatherv",
                            blocking: {
                                MPI_Allgatherv(
                                    send.baseAddress, sendCount, datatype,
                                    receive.baseAddress, rc.baseAddress, rd.baseAddress, datatype, handle)
                            },
                            nonblocking: {
                                MPI_Iallgatherv(
                                    send.baseAddress, sendCount, datatype,
                                    receive.baseAddress, rc.baseAddress, rd.baseAddress, datatype, handle, $0)
                            }
                        )
                    }
                }
            }
        }
        try outcome.check()
        return RankBlocks(values: result, counts: counts)
    }
}

/// Per-rank counts and displacements in MPI's `int`, checked once: one count per rank, none
/// negative, and every displacement within `Int32`.
struct CountLayout {
    let counts: [Int32]
    let displacements: [Int32]
    let total: Int

    static let empty = CountLayout(counts: [], displacements: [], total: 0)

    private init(counts: [Int32], displacements: [Int32], total: Int) {
        self.counts = counts
        self.displacements = displacements
        self.total = total
    }

    init(_ counts: [Int], size: Int, _ function: StaticString) throws(MPIError) {
        try require(
            counts.count == size, function,
            "expected one count per rank (\(size)) but got \(counts.count)"
        )
        var rawCounts = [Int32]()
        var rawDisplacements = [Int32]()
        rawCounts.reserveCapacity(size)
        rawDisplacements.reserveCapacity(size)
        var running = 0
        for (rank, count) in counts.enumerated() {
            try require(count >= 0, function, "count \(count) for rank \(rank) is negative")
            rawCounts.append(try mpiCount(count, function, "count for rank \(rank)"))
            rawDisplacements.append(try mpiCount(running, function, "displacement for rank \(rank)"))
            running += count
        }
        self.counts = rawCounts
        self.displacements = rawDisplacements
        self.total = running
    }
}

/// An array of `count` values whose memory MPI is about to fill.
@inline(__always)
func uninitializedArray<T: MPIScalar>(of type: T.Type, count: Int) -> [T] {
    // MPIScalar values are plain bits, so memory that MPI overwrites needs no initial value;
    // zeroing it would only cost a pass over large receive buffers.
    [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
