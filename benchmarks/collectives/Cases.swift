import MPI

/// One binding call to time, with the buffers it needs for one message size.
///
/// `init` prepares the buffers and makes one checked call, so a wrong result stops the benchmark
/// before anything is timed; `call()` is what the timing loop repeats.
protocol CollectiveCase {
    /// The MPI operation, shared with the mpi4py counterpart (`allreduce`, `alltoallv`).
    static var operation: String { get }
    /// Which form of it (`separate-buffers`, `in-place`, `known-counts`), shared with mpi4py.
    static var variant: String { get }
    /// The binding API that `call()` uses, for the report.
    static var api: String { get }

    init(world: Communicator, bytes: Int) throws

    mutating func call() throws(MPIError)
}

/// `allReduce(_:into:_:)`: a sum of `Double`s into a separate, reused result array.
struct AllReduceIntoCase: CollectiveCase {
    static let operation = "allreduce"
    static let variant = "separate-buffers"
    static let api = "allReduce(_:into:_:) on [Double], .sum"

    private let world: Communicator
    private let values: [Double]
    private var result: [Double]

    init(world: Communicator, bytes: Int) throws {
        self.world = world
        let count = bytes / MemoryLayout<Double>.stride
        values = benchmarkBuffer(repeating: Double(world.rank + 1), count: count)
        result = benchmarkBuffer(repeating: 0, count: count)
        try call()
        try expectAll(result, equal: Double(world.size * (world.size + 1) / 2), Self.api)
    }

    mutating func call() throws(MPIError) {
        try world.allReduce(values, into: &result, .sum)
    }
}

/// `allReduce(inPlace:_:)`: a sum of `Double`s that overwrites its input.
struct AllReduceInPlaceCase: CollectiveCase {
    static let operation = "allreduce"
    static let variant = "in-place"
    static let api = "allReduce(inPlace:_:) on [Double], .sum"

    private let world: Communicator
    private var values: [Double]

    init(world: Communicator, bytes: Int) throws {
        self.world = world
        let count = bytes / MemoryLayout<Double>.stride
        values = benchmarkBuffer(repeating: Double(world.rank + 1), count: count)
        try call()
        try expectAll(values, equal: Double(world.size * (world.size + 1) / 2), Self.api)
        // Zeros stay zeros, so repeated in-place sums never grow towards infinity.
        values = benchmarkBuffer(repeating: 0, count: count)
    }

    mutating func call() throws(MPIError) {
        try world.allReduce(inPlace: &values, .sum)
    }
}

/// `allToAll(_:sendCounts:receiveCounts:)`: alltoallv of bytes when both sides know the counts;
/// the send buffer is split evenly over the ranks.
///
/// The binding returns a new `RankBlocks` on every call; as in a user's loop, each result is looked at
/// and dropped before the next call, and that allocation is part of what is timed. (The binding has no
/// variant that receives into a caller's buffer, so unlike the send buffer and mpi4py's preallocated
/// receive array, the received block never gets numpy's huge-page advice.)
struct AllToAllKnownCountsCase: CollectiveCase {
    static let operation = "alltoallv"
    static let variant = "known-counts"
    static let api = "allToAll(_:sendCounts:receiveCounts:) on [UInt8]"

    private let world: Communicator
    private let values: [UInt8]
    private let sendCounts: [Int]
    private let receiveCounts: [Int]
    /// The size of the last rank's block in the latest result, so that every result is used.
    private(set) var lastBlockCount = 0

    init(world: Communicator, bytes: Int) throws {
        self.world = world
        let size = world.size
        let counts = (0..<size).map { evenShare(of: bytes, for: $0, among: size) }
        sendCounts = counts
        // Every rank sends the same total, so rank r sends here what this rank sends to itself.
        receiveCounts = Array(repeating: counts[world.rank], count: size)
        var values = benchmarkBuffer(repeating: UInt8(0), count: bytes)
        var start = 0
        for destination in 0..<size {
            let block = start..<(start + counts[destination])
            values[block] = ArraySlice(repeating: marker(from: world.rank, to: destination), count: block.count)
            start = block.upperBound
        }
        self.values = values
        let received = try exchange()
        for source in 0..<size {
            try expectAll(Array(received[source]), equal: marker(from: source, to: world.rank), Self.api)
        }
    }

    mutating func call() throws(MPIError) {
        lastBlockCount = try exchange()[world.size - 1].count
    }

    private func exchange() throws(MPIError) -> RankBlocks<UInt8> {
        try world.allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts)
    }
}

/// Rank `rank`'s part when `total` items are split as evenly as possible, the first ranks taking one
/// more (the same rule as the mpi4py counterpart).
func evenShare(of total: Int, for rank: Int, among size: Int) -> Int {
    total / size + (rank < total % size ? 1 : 0)
}

/// The byte that `source` sends to `destination`, so a misplaced block is noticed.
func marker(from source: Int, to destination: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: 16 * source + destination + 1)
}

private func expectAll<T: Equatable>(_ values: [T], equal expected: T, _ api: String) throws(BenchmarkError) {
    if let wrong = values.first(where: { $0 != expected }) {
        throw .wrongResult("\(api) gave \(wrong) where \(expected) was expected")
    }
}
