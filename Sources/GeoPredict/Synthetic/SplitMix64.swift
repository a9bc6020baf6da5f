import Foundation

/// A small, fast, seedable random number generator (SplitMix64): the same seed gives the same
/// numbers on every machine and at every rank count, which is what synthetic data needs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state &- 0x9e37_79b9_7f4a_7c15)
    }

    /// A uniform double in `0..<1`.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal variate (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), .leastNonzeroMagnitude)
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// An exponential variate with mean 1.
    public mutating func nextExponential() -> Double { -log(max(nextUnit(), .leastNonzeroMagnitude)) }
}

/// Draws indices in proportion to fixed weights in O(1) (Walker's alias method).
public struct AliasTable: Sendable {
    private let probability: [Double]
    private let alias: [Int32]

    /// - Precondition: `weights` is non-empty, with non-negative entries and a positive sum.
    public init(weights: [Double]) {
        precondition(!weights.isEmpty, "AliasTable needs weights")
        let total = weights.reduce(0, +)
        precondition(total > 0, "AliasTable needs a positive total weight")
        let count = weights.count
        var scaled = weights.map { $0 * Double(count) / total }
        var probability = [Double](repeating: 1, count: count)
        var alias = [Int32](repeating: 0, count: count)
        var small = [Int]()
        var large = [Int]()
        for (index, value) in scaled.enumerated() { if value < 1 { small.append(index) } else { large.append(index) } }
        while let less = small.popLast(), let more = large.last {
            probability[less] = scaled[less]
            alias[less] = Int32(more)
            scaled[more] -= 1 - scaled[less]
            if scaled[more] < 1 {
                large.removeLast()
                small.append(more)
            }
        }
        self.probability = probability
        self.alias = alias
    }

    public func sample(using generator: inout SplitMix64) -> Int {
        let column = Int(generator.next() % UInt64(probability.count))
        return generator.nextUnit() < probability[column] ? column : Int(alias[column])
    }
}
