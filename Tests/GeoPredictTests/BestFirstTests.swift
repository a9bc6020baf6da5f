@testable import GeoPredict
import Testing

/// The bounded insertion of ``bestFirst(_:limit:by:)`` against the slow, obvious reference: a stable
/// sort of everything, then the first `limit`.
struct BestFirstTests {
    /// A stable sort by `precedes` (equals by their position in `elements`), then `prefix(limit)`.
    static func reference<Element>(
        _ elements: [Element], limit: Int, by precedes: (Element, Element) -> Bool
    ) -> [Element] {
        let sorted = elements.indices.sorted { a, b in
            if precedes(elements[a], elements[b]) { return true }
            if precedes(elements[b], elements[a]) { return false }
            return a < b
        }
        return sorted.prefix(max(limit, 0)).map { elements[$0] }
    }

    struct Entry: Equatable {
        var score: Int
        var id: Int
    }

    @Test(arguments: [0, 1, 2, 5, 17, 64, 200])
    func agreesWithSortAndTakeWithTiesAndAnyLimit(limit: Int) {
        var random = SplitMix64(seed: UInt64(limit) &+ 7)
        for count in [0, 1, 3, 10, 100, 500] {
            // Few distinct scores, so that many entries tie and the arrival order must decide.
            let entries = (0..<count).map { Entry(score: Int(random.next() % 12), id: $0) }
            let byScore: (Entry, Entry) -> Bool = { $0.score > $1.score }
            #expect(bestFirst(entries, limit: limit, by: byScore) == Self.reference(entries, limit: limit, by: byScore))
            // A total order (score, then the lower id) as the callers use it.
            let total: (Entry, Entry) -> Bool = { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
            let shuffled = entries.shuffled(using: &random)
            let fast = bestFirst(shuffled, limit: limit, by: total)
            #expect(fast == Self.reference(shuffled, limit: limit, by: total))
            #expect(fast.count == min(max(limit, 0), count))
        }
    }

    @Test func incrementalInsertionKeepsTheBestSortedAndBounded() {
        var random = SplitMix64(seed: 42)
        var best = [Double]()
        var seen = [Double]()
        for _ in 0..<300 {
            let value = random.nextUnit()
            seen.append(value)
            best.insertBestFirst(value, limit: 8, by: <)
            #expect(best == Self.reference(seen, limit: 8, by: <))
        }
        best.insertBestFirst(-1, limit: 0, by: <)
        #expect(best.count == 8)
    }

    @Test func rankingCallersBreakTiesByTheLowerStore() {
        let scores: [Double] = [0.5, 0.9, 0.5, 0.9, 0.1]
        #expect(bestPositions(scores, stores: [9, 8, 7, 6, 5], limit: 3) == [3, 1, 2])
        #expect(bestPositions(scores, stores: [0, 1, 2, 3, 4], limit: 0).isEmpty)
    }
}
