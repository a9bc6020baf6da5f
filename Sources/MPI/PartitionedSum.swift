/// A sum of vectors across ranks that does not depend on the number of ranks.
///
/// Floating-point addition is not associative, so a plain all-reduce gives slightly different sums
/// at 2 ranks than at 3. Here each contribution belongs to a virtual partition (in GeoPredict, a
/// partition of its shard map), whose partial sum is computed on one rank in a fixed order and is
/// therefore the same at any rank count. ``Collectives/exactTotal(of:)`` then combines the partials
/// *exactly*: each is scaled to a 64-bit fixed-point integer with an exponent chosen from the
/// global largest magnitude (a maximum over ranks, which is exact), and the integers are summed
/// with an Int64 all-reduce, which is associative. The result is bit-identical at 1, 2, 3 or 4
/// ranks, with a relative rounding error near 2⁻⁵² of the largest partial.
public struct PartitionedSum {
    /// The length of every contributed vector.
    public let length: Int
    /// The number of virtual partitions; partitions are `0..<partitionCount`.
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

    // The three local phases of the exact total (``Collectives/exactTotal(of:)`` runs the
    // collectives between them). Non-finite partials make the total NaN in every element that
    // received them.

    /// Per element: the largest finite magnitude of any partial, and whether any partial is not
    /// finite.
    struct Extremes {
        var largestMagnitudes: [Double]
        var nonFinite: [Bool]

        /// Every rank's extremes combined with one maximum: the flags travel beside the
        /// magnitudes as 0 and 1, which a maximum keeps exact. Collective.
        func combined(on collectives: some Collectives) throws(MPIError) -> Extremes {
            let length = largestMagnitudes.count
            let combined = try collectives.allReduce(largestMagnitudes + nonFinite.map { $0 ? 1.0 : 0.0 }, .maximum)
            return Extremes(largestMagnitudes: Array(combined[..<length]), nonFinite: combined[length...].map { $0 != 0 })
        }
    }

    /// This rank's extremes (phase 1, before the maximum over ranks).
    func localExtremes() -> Extremes {
        var extremes = Extremes(
            largestMagnitudes: [Double](repeating: 0, count: length), nonFinite: [Bool](repeating: false, count: length))
        for partial in partials.values {
            for index in 0..<length {
                let magnitude = abs(partial[index])
                if magnitude.isFinite {
                    extremes.largestMagnitudes[index] = max(extremes.largestMagnitudes[index], magnitude)
                } else {
                    extremes.nonFinite[index] = true
                }
            }
        }
        return extremes
    }

    /// This rank's partials in fixed point, scaled by every rank's `extremes` (phase 2, before the
    /// sum over ranks).
    func fixedPointContribution(for extremes: Extremes) -> [Int64] {
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
    func total(fixedPointSum: [Int64], extremes: Extremes) -> [Double] {
        let scales = Self.scales(extremes, terms: partitionCount)
        return (0..<length).map { index in
            extremes.nonFinite[index] ? .nan : scales[index].toDouble(fixedPointSum[index])
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
