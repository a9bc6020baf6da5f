/// Top-k selection by bounded insertion: the one implementation behind every "the `limit` best, best
/// first" of scoring and ranking (candidate stores, reranked stores, nearest stores, ALS stores).
///
/// Only the best `limit` seen so far are kept, sorted, and a newcomer no better than the worst kept is
/// dropped after one comparison. With `limit` (10 to 100 here) far below the count (thousands of
/// candidates or stores) that is about one comparison per element, where sorting everything would cost
/// n·log n comparisons and a copy of the whole input.
extension Array {
    /// Inserts `element` into this array, which is sorted best first by `precedes` and at most `limit`
    /// long, and keeps it so: an element better than the worst kept replaces it, any other is dropped
    /// (as is every element when `limit` ≤ 0).
    ///
    /// `precedes(a, b)` says that `a` ranks before `b`; an element that it does not order against one
    /// already kept goes after it, so equals keep their arrival order.
    @inline(__always)
    mutating func insertBestFirst(_ element: Element, limit: Int, by precedes: (Element, Element) -> Bool) {
        guard limit > 0 else { return }
        if count == limit {
            guard let worst = last, precedes(element, worst) else { return }
            removeLast()
        }
        var position = count
        while position > 0 && precedes(element, self[position - 1]) { position -= 1 }
        insert(element, at: position)
    }
}

/// The `limit` best of `elements`, best first: what a stable sort by `precedes` followed by
/// `prefix(limit)` gives (equals keep their order in `elements`), by bounded insertion
/// (``Swift/Array/insertBestFirst(_:limit:by:)``). Empty when `limit` ≤ 0.
func bestFirst<Elements: Sequence>(
    _ elements: Elements, limit: Int, by precedes: (Elements.Element, Elements.Element) -> Bool
) -> [Elements.Element] {
    guard limit > 0 else { return [] }
    var best = [Elements.Element]()
    best.reserveCapacity(Swift.min(limit, elements.underestimatedCount) + 1)
    for element in elements { best.insertBestFirst(element, limit: limit, by: precedes) }
    return best
}
