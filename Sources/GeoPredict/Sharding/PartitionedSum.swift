import MPI

/// Adds up vectors across ranks so that the result does not depend on the number of ranks.
///
/// Floating-point addition is not associative, so a plain allreduce gives slightly different sums at
/// 2 ranks than at 3. Here each contribution belongs to a virtual partition (``ShardMap``), whose
/// partial sum is computed on one rank in a fixed order and is therefore the same at any rank count.
/// The partials are then combined *exactly*: each is scaled to a 64-bit fixed-point integer with an
/// exponent chosen from the global largest magnitude (a max-allreduce, which is exact), and the
/// integers are summed with an Int64 allreduce, which is associative. The result is bit-identical at
/// 1, 2, 3 or 4 ranks, with a relative rounding error near 2⁻⁵² of the largest partial.
public struct PartitionedSum {
    /// The length of every contributed vector.
    public let length: Int
    /// The number of virtual partitions (``ShardMap/partitionCount``); partitions are `0..<partitionCount`.
    public let partitionCount: Int
    private var partials: [Int: [Double]] = [:]

    public init(length: Int, partitionCount: Int) {
        precondition(length >= 0 && partitionCount > 0)
        self.length = length
        self.partitionCount = partitionCount
    }

    /// Adds `values` to the partial sum of `partition`. Contributions to one partition must arrive in
    /// the same order at every rank count (for example, sorted by id).
    public mutating func add(_ values: some Collection<Double>, partition: Int) {
        precondition(values.count == length, "PartitionedSum: expected \(length) values, got \(values.count)")
        precondition((0..<partitionCount).contains(partition), "PartitionedSum: no partition \(partition)")
        var partial = partials[partition] ?? [Double](repeating: 0, count: length)
        for (index, value) in zip(partial.indices, values) { partial[index] += value }
        partials[partition] = partial
    }

    /// Replaces the partial sum of `partition` with `values` (for kernels that compute a partition's
    /// whole partial at once, such as a Gram matrix from BLAS).
    public mutating func set(_ values: [Double], partition: Int) {
        precondition(values.count == length, "PartitionedSum: expected \(length) values, got \(values.count)")
        precondition((0..<partitionCount).contains(partition), "PartitionedSum: no partition \(partition)")
        partials[partition] = values
    }

    /// The partial sums added on this rank so far, by partition.
    public var localPartials: [Int: [Double]] { partials }

    /// The exact, rank-count-independent total over all ranks. Collective: every rank calls it.
    ///
    /// Non-finite partials make the result NaN in every element that received them.
    public func allReduce(on communicator: Communicator) throws(MPIError) -> [Double] {
        let extremes = try localExtremes().combined(on: communicator)
        var fixed = fixedPointContribution(for: extremes)
        try communicator.allReduce(inPlace: &fixed, .sum)
        return total(fixedPointSum: fixed, extremes: extremes)
    }

    // The three local phases of ``allReduce(on:)``, for callers that run its collectives elsewhere
    // (a trainer whose collectives run on another thread keeps the per-element work on its own).

    /// Per element: the largest finite magnitude of any partial, and 1 if any partial is not finite.
    /// ``allReduce(on:)`` combines every rank's with a maximum.
    public struct Extremes: Sendable {
        public var largestMagnitudes: [Double]
        public var nonFinite: [Int64]

        public init(largestMagnitudes: [Double], nonFinite: [Int64]) {
            self.largestMagnitudes = largestMagnitudes
            self.nonFinite = nonFinite
        }

        /// Every rank's extremes combined with a maximum (two all-reduces). Collective.
        public func combined(on communicator: Communicator) throws(MPIError) -> Extremes {
            Extremes(
                largestMagnitudes: try communicator.allReduce(largestMagnitudes, .maximum),
                nonFinite: try communicator.allReduce(nonFinite, .maximum))
        }
    }

    /// This rank's extremes (phase 1, before the maximum over ranks).
    public func localExtremes() -> Extremes {
        var extremes = Extremes(
            largestMagnitudes: [Double](repeating: 0, count: length), nonFinite: [Int64](repeating: 0, count: length))
        for partial in partials.values {
            for index in 0..<length {
                let magnitude = abs(partial[index])
                if magnitude.isFinite {
                    extremes.largestMagnitudes[index] = max(extremes.largestMagnitudes[index], magnitude)
                } else {
                    extremes.nonFinite[index] = 1
                }
            }
        }
        return extremes
    }

    /// This rank's partials in fixed point, scaled by every rank's `extremes` (phase 2, before the
    /// sum over ranks).
    public func fixedPointContribution(for extremes: Extremes) -> [Int64] {
        let scales = Self.scales(extremes, terms: partitionCount)
        var fixed = [Int64](repeating: 0, count: length)
        for partial in partials.values {
            for index in 0..<length where partial[index].isFinite {
                fixed[index] &+= scales[index].toFixed(partial[index])
            }
        }
        return fixed
    }

    /// The total, from every rank's fixed-point contribution summed (phase 3).
    public func total(fixedPointSum: [Int64], extremes: Extremes) -> [Double] {
        let scales = Self.scales(extremes, terms: partitionCount)
        return (0..<length).map { index in
            extremes.nonFinite[index] != 0 ? .nan : scales[index].toDouble(fixedPointSum[index])
        }
    }

    private static func scales(_ extremes: Extremes, terms: Int) -> [FixedPointScale] {
        extremes.largestMagnitudes.map { FixedPointScale(largestMagnitude: $0, terms: terms) }
    }
}

/// A power-of-two scale that maps doubles up to `largestMagnitude` into Int64 so that the sum of
/// `terms` of them cannot overflow.
struct FixedPointScale {
    /// The binary exponent: a value `v` is stored as `round(v × 2^exponent)`.
    let exponent: Int

    init(largestMagnitude: Double, terms: Int) {
        guard largestMagnitude > 0, largestMagnitude.isFinite else {
            exponent = 0
            return
        }
        // Headroom: 62 bits minus the bits needed to count the terms.
        let headroom = 62 - (Int.bitWidth - max(terms, 1).leadingZeroBitCount)
        exponent = headroom - (Int(largestMagnitude.exponent) + 1)
    }

    @inline(__always)
    func toFixed(_ value: Double) -> Int64 {
        Int64((value * Double(sign: .plus, exponent: exponent, significand: 1)).rounded(.toNearestOrEven))
    }

    @inline(__always)
    func toDouble(_ value: Int64) -> Double {
        Double(value) * Double(sign: .plus, exponent: -exponent, significand: 1)
    }
}
