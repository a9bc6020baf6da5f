import GeoPredict
#if canImport(Glibc)
import Glibc
#endif

/// The benchmark's data set: (user, store, count) triplets written by `benchmarks/als/generate.py`.
///
/// Layout (little-endian): the 8 bytes `GPALSDAT`, then Int64 user count, Int64 store count, Int64
/// triplet count n, then n Int32 users, n Int32 stores, n Int32 counts, sorted by (user, store).
/// User `i` is called `u<i>`, store `j` is `s<j>` zero-padded to six digits, so that catalogue index
/// and file index agree.
struct TripletFile {
    let userCount: Int
    let storeCount: Int
    let tripletCount: Int
    private let descriptor: Int32
    private static let headerBytes = 32

    init(path: String) throws(BenchmarkError) {
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .data("cannot open \(path)") }
        var header = [UInt8](repeating: 0, count: Self.headerBytes)
        guard pread(descriptor, &header, Self.headerBytes, 0) == Self.headerBytes,
              Array(header[0..<8]) == Array("GPALSDAT".utf8)
        else { throw .data("\(path) is not a GPALSDAT file") }
        func field(_ index: Int) -> Int {
            var value: Int64 = 0
            for byte in (0..<8).reversed() { value = value << 8 | Int64(header[8 + 8 * index + byte]) }
            return Int(value)
        }
        userCount = field(0)
        storeCount = field(1)
        tripletCount = field(2)
    }

    static func userID(_ index: Int) -> String { "u\(index)" }

    static func storeID(_ index: Int) -> String {
        let digits = String(index)
        return "s" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The catalogue of every store in the file (coordinates are placeholders).
    func catalogue() -> StoreCatalogue {
        StoreCatalogue(stores: (0..<storeCount).map { Store(id: Self.storeID($0), latitude: 0, longitude: 0) })
    }

    /// The users `rank` owns and their visit counts, streamed in chunks so that no rank holds the
    /// whole file.
    func counts(shards: ShardMap, rank: Int) throws(BenchmarkError) -> (UserStoreCounts, globalUsers: [Int]) {
        // Per-user triplet ranges, from the (sorted) user column.
        var perUser = [Int32](repeating: 0, count: userCount)
        try stream(column: 0, ranges: [0..<tripletCount]) { values in
            for user in values { perUser[Int(user)] += 1 }
        }
        var owned = [Int]()
        var ranges = [Range<Int>]()
        var start = 0
        for user in 0..<userCount {
            let end = start + Int(perUser[user])
            if shards.owner(of: Self.userID(user)) == rank {
                owned.append(user)
                ranges.append(start..<end)
            }
            start = end
        }
        perUser = []
        var stores = [Int32]()
        var counts = [Int32]()
        let ownedTriplets = ranges.reduce(0) { $0 + $1.count }
        stores.reserveCapacity(ownedTriplets)
        counts.reserveCapacity(ownedTriplets)
        try stream(column: 1, ranges: ranges) { stores.append(contentsOf: $0) }
        try stream(column: 2, ranges: ranges) { counts.append(contentsOf: $0) }

        // The engine's order: by (partition, id).
        let ids = owned.map(Self.userID)
        let partitions = ids.map { Int32(shards.partition(of: $0)) }
        let order = owned.indices.sorted { a, b in
            partitions[a] != partitions[b]
                ? partitions[a] < partitions[b] : ids[a].utf8.lexicographicallyPrecedes(ids[b].utf8)
        }
        var localStart = [Int](repeating: 0, count: owned.count + 1)
        for (position, range) in ranges.enumerated() { localStart[position + 1] = localStart[position] + range.count }
        var offsets = [0]
        var columns = [Int32]()
        var values = [Float]()
        offsets.reserveCapacity(owned.count + 1)
        columns.reserveCapacity(ownedTriplets)
        values.reserveCapacity(ownedTriplets)
        for position in order {
            for entry in localStart[position]..<localStart[position + 1] {
                columns.append(stores[entry])
                values.append(Float(counts[entry]))
            }
            offsets.append(columns.count)
        }
        stores = []
        counts = []
        do {
            let matrix = try SparseMatrix<UserAxis, StoreAxis>(offsets: offsets, columns: columns, values: values)
            let result = try UserStoreCounts(
                userIDs: order.map { ids[$0] }, userPartitions: order.map { partitions[$0] }, counts: matrix
            )
            return (result, order.map { owned[$0] })
        } catch {
            throw .data("\(error)")
        }
    }

    /// Calls `body` with consecutive pieces of `column` (0 users, 1 stores, 2 counts) covering
    /// `ranges` (ascending, disjoint), reading the file in chunks of 4 Mi values.
    private func stream(
        column: Int, ranges: [Range<Int>], _ body: (UnsafeBufferPointer<Int32>) -> Void
    ) throws(BenchmarkError) {
        let chunk = 1 << 22
        var buffer = [Int32](repeating: 0, count: chunk)
        let base = Self.headerBytes + column * tripletCount * 4
        var rangeIndex = 0
        var chunkStart = 0
        while chunkStart < tripletCount, rangeIndex < ranges.count {
            // Skip straight to the next range when the chunk would hold nothing of it.
            chunkStart = max(chunkStart, ranges[rangeIndex].lowerBound)
            let chunkEnd = min(chunkStart + chunk, tripletCount)
            let bytes = (chunkEnd - chunkStart) * 4
            let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, bytes, off_t(base + chunkStart * 4)) }
            guard read == bytes else { throw .data("short read at triplet \(chunkStart)") }
            buffer.withUnsafeBufferPointer { values in
                while rangeIndex < ranges.count, ranges[rangeIndex].lowerBound < chunkEnd {
                    let range = ranges[rangeIndex]
                    let lower = max(range.lowerBound, chunkStart) - chunkStart
                    let upper = min(range.upperBound, chunkEnd) - chunkStart
                    body(UnsafeBufferPointer(rebasing: values[lower..<upper]))
                    if range.upperBound <= chunkEnd { rangeIndex += 1 } else { break }
                }
            }
            chunkStart = chunkEnd
        }
    }
}
