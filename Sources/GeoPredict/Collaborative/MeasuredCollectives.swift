import MPI

/// What one kind of collective cost this rank.
public struct CollectiveTally: Sendable, Equatable, Hashable {
    /// How many times it was called.
    public var calls = 0
    /// Wall-clock seconds inside it, waiting for other ranks included.
    public var seconds = 0.0
    /// Payload bytes this rank sent to other ranks (what it sends to itself is not counted). For an
    /// all-reduce: the vector it contributes, once per call, whatever algorithm MPI picks.
    public var bytesSent = 0
    /// Payload bytes this rank received from other ranks (for an all-reduce: the result vector).
    public var bytesReceived = 0

    public init() {}
}

/// ``Collectives`` that forward to `base` and count calls, time and bytes per kind of collective: what the benchmarks' rank sweep reports as "bytes moved by each collective per rank".
///
/// Counting costs two clock readings per call; the data is not touched.
///
/// ```swift
/// let measured = MeasuredCollectives(world)
/// let model = try ImplicitALS.train(counts, catalogue: catalogue, shards: shards, on: measured)
/// for (name, tally) in measured.tallies { print(name, tally.bytesSent, tally.seconds) }
/// ```
public final class MeasuredCollectives<Base: Collectives>: Collectives {
    /// The kinds of collective, as keys of ``tallies``.
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        /// `MPI_Alltoallv` (with or without a count exchange first; the counts are not counted).
        case allToAllV = "alltoallv"
        /// `MPI_Allreduce` of an array.
        case allReduce = "allreduce"
        /// `MPI_Allgatherv`.
        case allGatherV = "allgatherv"
        /// `MPI_Bcast`.
        case broadcast = "bcast"
        /// `MPI_Exscan`.
        case exclusiveScan = "exscan"
        /// The exact rank-count-independent sum (``PartitionedSum``): all-reduces of three times its
        /// length (the extremes, two per element, and the fixed-point sum).
        case exactSum = "exact_sum"

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let base: Base
    /// The running totals per kind since creation or the last ``reset()``.
    public private(set) var tallies: [Kind: CollectiveTally] = [:]

    public init(_ base: Base) {
        self.base = base
    }

    /// Clears ``tallies``.
    public func reset() {
        tallies = [:]
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    public func allToAll<T: MPIScalar>(_ values: [T], sendCounts: [Int], receiveCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        let started = Stopwatch.now()
        let result = try base.allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts)
        record(.allToAllV, since: started, sent: remote(sendCounts), received: remote(receiveCounts), of: T.self)
        return result
    }

    public func allToAllVarying<T: MPIScalar>(_ values: [T], sendCounts: [Int]) throws(MPIError) -> RankBlocks<T> {
        let started = Stopwatch.now()
        let result = try base.allToAllVarying(values, sendCounts: sendCounts)
        record(.allToAllV, since: started, sent: remote(sendCounts), received: remote(result.counts), of: T.self)
        return result
    }

    public func allReduce<T: MPIArithmetic>(_ values: [T], _ operation: ReductionOperation) throws(MPIError) -> [T] {
        let started = Stopwatch.now()
        let result = try base.allReduce(values, operation)
        let elements = size > 1 ? values.count : 0
        record(.allReduce, since: started, sent: elements, received: elements, of: T.self)
        return result
    }

    public func allGatherVarying<T: MPIScalar>(_ values: [T]) throws(MPIError) -> RankBlocks<T> {
        let started = Stopwatch.now()
        let result = try base.allGatherVarying(values)
        let others = result.values.count - values.count
        record(.allGatherV, since: started, sent: values.count * (size - 1), received: others, of: T.self)
        return result
    }

    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        let started = Stopwatch.now()
        try base.broadcast(&values, root: root)
        let elements = size > 1 ? values.count : 0
        record(.broadcast, since: started, sent: rank == root ? elements : 0, received: rank == root ? 0 : elements, of: T.self)
    }

    public func exclusiveScan<T: MPIArithmetic>(_ value: T, _ operation: ReductionOperation, identity: T) throws(MPIError) -> T {
        let started = Stopwatch.now()
        let result = try base.exclusiveScan(value, operation, identity: identity)
        let elements = size > 1 ? 1 : 0
        record(.exclusiveScan, since: started, sent: elements, received: elements, of: T.self)
        return result
    }

    public func exactTotal(of sum: PartitionedSum) throws(MPIError) -> [Double] {
        let started = Stopwatch.now()
        let result = try base.exactTotal(of: sum)
        // A maximum (Double) and a non-finite flag (as a Double) per element, then the fixed-point
        // sum (Int64): 3 × 8 bytes per element.
        let elements = size > 1 ? 3 * sum.length : 0
        record(.exactSum, since: started, sent: elements, received: elements, of: Double.self)
        return result
    }

    /// Elements sent to or received from ranks other than this one.
    private func remote(_ counts: [Int]) -> Int {
        var total = 0
        for (peer, count) in counts.enumerated() where peer != rank { total += count }
        return total
    }

    private func record<T>(_ kind: Kind, since started: Double, sent: Int, received: Int, of _: T.Type) {
        var tally = tallies[kind] ?? CollectiveTally()
        tally.calls += 1
        tally.seconds += Stopwatch.now() - started
        tally.bytesSent += sent * MemoryLayout<T>.stride
        tally.bytesReceived += received * MemoryLayout<T>.stride
        tallies[kind] = tally
    }
}
