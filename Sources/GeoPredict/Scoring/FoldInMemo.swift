/// Recently folded-in user factors, by the exact visit counts they were solved from: a user who asks
/// again with the same history gets the same factors without a new solve (the `k × k` Cholesky
/// factorisation is the largest single cost of a prediction).
///
/// Keyed by content, so it never serves stale factors: a new visit changes the key, and a new model
/// comes with new scratch buffers (``NextVisitModel/makeScratch(foldInMemoCapacity:)``). When full it
/// is emptied and refilled, which keeps its memory bounded at a few hundred bytes per entry without
/// the bookkeeping of a least-recently-used list. One per thread, like the rest of ``NextVisitScratch``.
public struct FoldInMemo: Sendable {
    /// A history's visit counts, `(store << 32) | count bits`, in store order.
    struct Key: Hashable, Sendable {
        let packed: [UInt64]

        init(_ counts: [(store: Int32, count: Float)]) {
            packed = counts.map { UInt64(UInt32(bitPattern: $0.store)) << 32 | UInt64($0.count.bitPattern) }
        }
    }

    /// The most entries kept; 0 keeps nothing.
    public let capacity: Int
    private var entries: [Key: [Float]] = [:]
    /// Lookups answered from the memo, and lookups in all (for the service's statistics).
    public private(set) var hits = 0
    public private(set) var lookups = 0

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The number of entries held.
    public var count: Int { entries.count }

    mutating func factors(for key: Key) -> [Float]? {
        guard capacity > 0 else { return nil }
        lookups += 1
        guard let known = entries[key] else { return nil }
        hits += 1
        return known
    }

    mutating func remember(_ factors: [Float], for key: Key) {
        guard capacity > 0 else { return }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = factors
    }
}
