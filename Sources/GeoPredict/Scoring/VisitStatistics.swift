/// Everyone's visit counts that the next-visit score needs, replicated on every rank: per-store
/// popularity and hour-of-day profiles, and store-to-store transitions.
///
/// All counts are integers summed across ranks, so they are exact and identical at any rank count.
/// The features use *everyone else's* counts: the querying user's own training visits (which these
/// counts contain) are subtracted at query time, so a visit never counts towards its own prediction.
public struct VisitStatistics: Sendable, Equatable {
    /// The number of stores (the catalogue's).
    public let storeCount: Int
    /// Per store, visits by all users.
    public let popularity: [Int64]
    /// The sum of ``popularity``.
    public let totalVisits: Int64
    /// Per store, 24 counts: visits by local solar hour (row-major, `store * 24 + hour`).
    public let hourCounts: [Int64]
    /// Per category, 24 counts: its stores' visits by local solar hour (row-major, `category * 24 + hour`).
    /// The features smooth each store's hour profile towards its category's, with the querying user's
    /// own visits taken out of both.
    public let categoryHourCounts: [Int64]
    /// Per category, the sum of its 24 ``categoryHourCounts``.
    public let categoryTotals: [Int64]
    /// Transitions: consecutive visits of one user less than a session gap apart, CSR by origin store.
    public let transitionOffsets: [Int]
    /// Destination stores, ascending within each origin.
    public let transitionTargets: [Int32]
    /// Counts, parallel to ``transitionTargets``.
    public let transitionCounts: [Int64]
    /// Per origin store, the sum of its transition counts.
    public let transitionTotals: [Int64]
    /// Every store, most visited first (ties by index).
    public let storesByPopularity: [Int32]

    /// Builds the statistics from counts already summed over all ranks (used by ``build(from:catalogue:sessionGapSeconds:on:)``
    /// and by tests).
    ///
    /// - Parameter transitions: `(from, to, count)` in any order; repeats are added up.
    public init(
        catalogue: StoreCatalogue, popularity: [Int64], hourCounts: [Int64],
        transitions: [(from: Int32, to: Int32, count: Int64)]
    ) {
        let storeCount = catalogue.count
        precondition(popularity.count == storeCount && hourCounts.count == storeCount * 24,
                     "VisitStatistics: one popularity and 24 hour counts per store")
        self.storeCount = storeCount
        self.popularity = popularity
        totalVisits = popularity.reduce(0, +)
        self.hourCounts = hourCounts
        let categoryCount = catalogue.categoryNames.count
        var categoryHours = [Int64](repeating: 0, count: max(categoryCount, 1) * 24)
        for store in 0..<storeCount {
            let category = Int(catalogue.categoryIDs[store])
            for hour in 0..<24 { categoryHours[category * 24 + hour] += hourCounts[store * 24 + hour] }
        }
        categoryHourCounts = categoryHours
        categoryTotals = (0..<(categoryHours.count / 24)).map { category in
            (0..<24).reduce(Int64(0)) { $0 + categoryHours[category * 24 + $1] }
        }

        let sorted = transitions.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        var offsets = [Int](repeating: 0, count: storeCount + 1)
        var targets: [Int32] = []
        var counts: [Int64] = []
        var totals = [Int64](repeating: 0, count: storeCount)
        var origins: [Int32] = []
        for entry in sorted {
            if let last = origins.last, last == entry.from, targets.last == entry.to {
                counts[counts.count - 1] += entry.count
            } else {
                origins.append(entry.from)
                targets.append(entry.to)
                counts.append(entry.count)
            }
            totals[Int(entry.from)] += entry.count
        }
        for origin in origins { offsets[Int(origin) + 1] += 1 }
        for store in 0..<storeCount { offsets[store + 1] += offsets[store] }
        transitionOffsets = offsets
        transitionTargets = targets
        transitionCounts = counts
        transitionTotals = totals
        storesByPopularity = (0..<storeCount).map(Int32.init).sorted {
            popularity[Int($0)] != popularity[Int($1)] ? popularity[Int($0)] > popularity[Int($1)] : $0 < $1
        }
    }

    /// Counts the visits of this rank's users and sums them over all ranks. Collective.
    public static func build(
        from visits: VisitLog, catalogue: StoreCatalogue, sessionGapSeconds: Int64, on collectives: some ALSCollectives
    ) throws(NextVisitModelError) -> VisitStatistics {
        let storeCount = catalogue.count
        var popularity = [Int64](repeating: 0, count: storeCount)
        var hours = [Int64](repeating: 0, count: storeCount * 24)
        var transitions: [UInt64: Int64] = [:]
        for user in 0..<visits.userCount {
            let range = visits.visitRange(ofUser: user)
            for visit in range {
                let store = Int(visits.stores[visit])
                popularity[store] += 1
                hours[store * 24 + SolarTime.hourBin(at: visits.timestamps[visit], longitude: catalogue.longitudes[store])] += 1
                if visit > range.lowerBound, visits.timestamps[visit] - visits.timestamps[visit - 1] <= sessionGapSeconds {
                    let key = UInt64(UInt32(bitPattern: visits.stores[visit - 1])) << 32 | UInt64(UInt32(bitPattern: visits.stores[visit]))
                    transitions[key, default: 0] += 1
                }
            }
        }
        var packed: [Int64] = []
        packed.reserveCapacity(transitions.count * 2)
        for (key, count) in transitions.sorted(by: { $0.key < $1.key }) {
            packed.append(Int64(bitPattern: key))
            packed.append(count)
        }
        do {
            popularity = try collectives.allReduce(popularity, .sum)
            hours = try collectives.allReduce(hours, .sum)
            let gathered = try collectives.allGatherVarying(packed)
            var all: [(from: Int32, to: Int32, count: Int64)] = []
            all.reserveCapacity(gathered.values.count / 2)
            var index = 0
            while index + 1 < gathered.values.count {
                let key = UInt64(bitPattern: gathered.values[index])
                all.append((Int32(bitPattern: UInt32(key >> 32)), Int32(bitPattern: UInt32(key & 0xffff_ffff)), gathered.values[index + 1]))
                index += 2
            }
            return VisitStatistics(catalogue: catalogue, popularity: popularity, hourCounts: hours, transitions: all)
        } catch {
            throw .communication("\(error)")
        }
    }

    /// The transitions out of `store`: destinations (ascending) and counts.
    public func transitions(from store: Int) -> (targets: ArraySlice<Int32>, counts: ArraySlice<Int64>) {
        let range = transitionOffsets[store]..<transitionOffsets[store + 1]
        return (transitionTargets[range], transitionCounts[range])
    }

    /// Everyone's transition count `from → to`.
    public func transitionCount(from: Int, to: Int) -> Int64 {
        let range = transitionOffsets[from]..<transitionOffsets[from + 1]
        var low = range.lowerBound
        var high = range.upperBound
        let target = Int32(to)
        while low < high {
            let middle = (low + high) / 2
            if transitionTargets[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low < range.upperBound && transitionTargets[low] == target ? transitionCounts[low] : 0
    }

    /// The `count` most frequent successors of `store`, most frequent first (ties by index).
    public func topSuccessors(of store: Int, count: Int) -> [Int32] {
        let (targets, counts) = transitions(from: store)
        let order = zip(targets, counts).sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return order.prefix(count).map(\.0)
    }
}
