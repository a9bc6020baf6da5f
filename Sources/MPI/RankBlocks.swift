/// Values received from every rank, stored back to back: the block from rank `r` is `self[r]`.
///
/// Returned by the varying-count collectives (`gatherv`, `allgatherv`, `alltoallv`), so that a
/// receive needs one allocation however many ranks there are.
public struct RankBlocks<Element>: Sendable where Element: Sendable {
    /// Every received value, rank 0's first.
    public let values: [Element]
    /// How many values came from each rank.
    public let counts: [Int]
    /// Where each rank's block starts in ``values``.
    public let offsets: [Int]

    public init(values: [Element], counts: [Int]) {
        precondition(counts.reduce(0, +) == values.count, "RankBlocks: counts do not add up to the number of values")
        self.values = values
        self.counts = counts
        self.offsets = exclusivePrefixSums(counts)
    }

    /// The block received from `rank`.
    public subscript(rank: Int) -> ArraySlice<Element> {
        values[offsets[rank]..<(offsets[rank] + counts[rank])]
    }

    /// Each rank's block as its own array.
    public var arrays: [[Element]] { counts.indices.map { Array(self[$0]) } }
}

/// `[0, c0, c0+c1, ...]`: the start of each block when blocks of `counts` are laid back to back.
/// (`package`: the ALS plans lay out their sends with it too.)
package func exclusivePrefixSums(_ counts: [Int]) -> [Int] {
    var offsets = [Int]()
    offsets.reserveCapacity(counts.count)
    var running = 0
    for count in counts {
        offsets.append(running)
        running += count
    }
    return offsets
}
