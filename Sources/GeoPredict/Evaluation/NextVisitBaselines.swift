/// The three reference predictors of the evaluation table. Every list is best first, ties broken by the
/// lower store index, and has no repeats.
public enum NextVisitBaselines {
    /// The most visited stores over all users.
    public static func mostPopular(_ statistics: VisitStatistics, limit: Int) -> [Int] {
        statistics.storesByPopularity.prefix(max(limit, 0)).map(Int.init)
    }

    /// The user's most visited stores in `visits` (the user's training visits).
    public static func userMostFrequent(_ visits: VisitSequence, limit: Int) -> [Int] {
        var counts: [Int32: Int] = [:]
        for store in visits.stores { counts[store, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(max(limit, 0)).map { Int($0.key) }
    }

    /// The most frequent successors of the last visited store in everyone's transitions, then (backing
    /// off when they are fewer than `limit`) the user's most frequent stores, then the most popular.
    public static func lastStoreTransitions(
        last: Int?, userVisits: VisitSequence, statistics: VisitStatistics, limit: Int
    ) -> [Int] {
        var result: [Int] = []
        var seen = Set<Int>()
        func take(_ stores: [Int]) {
            for store in stores where result.count < limit && !seen.contains(store) {
                result.append(store)
                seen.insert(store)
            }
        }
        if let last { take(statistics.topSuccessors(of: last, count: limit).map(Int.init)) }
        if result.count < limit { take(userMostFrequent(userVisits, limit: limit)) }
        if result.count < limit { take(mostPopular(statistics, limit: 2 * limit)) }
        return result
    }
}
