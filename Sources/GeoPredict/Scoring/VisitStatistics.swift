import MPI

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
        let sorted = transitions.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        var transitionCSR = TransitionCSR(storeCount: catalogue.count)
        for entry in sorted { transitionCSR.add(from: entry.from, to: entry.to, count: entry.count) }
        self.init(catalogue: catalogue, popularity: popularity, hourCounts: hourCounts, transitions: transitionCSR.finished())
    }

    /// Builds the statistics with the transitions already in CSR form.
    private init(catalogue: StoreCatalogue, popularity: [Int64], hourCounts: [Int64], transitions: TransitionCSR) {
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
        transitionOffsets = transitions.offsets
        transitionTargets = transitions.targets
        transitionCounts = transitions.counts
        transitionTotals = transitions.totals
        storesByPopularity = (0..<storeCount).map(Int32.init).sorted {
            popularity[Int($0)] != popularity[Int($1)] ? popularity[Int($0)] > popularity[Int($1)] : $0 < $1
        }
    }

    /// Counts the visits of this rank's users and sums them over all ranks. Collective.
    public static func build(
        from visits: VisitLog, catalogue: StoreCatalogue, sessionGapSeconds: Int64, on collectives: some Collectives
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
        // At millions of users the transitions are the largest part: hold one form of them at a time.
        transitions = [:]
        do {
            popularity = try collectives.allReduce(popularity, .sum)
            hours = try collectives.allReduce(hours, .sum)
            let gathered = try collectives.allGatherVarying(packed)
            packed = []
            return VisitStatistics(
                catalogue: catalogue, popularity: popularity, hourCounts: hours,
                transitions: mergeSortedBlocks(gathered, storeCount: storeCount))
        } catch {
            throw .communication("\(error)")
        }
    }

    /// Merges the ranks' transition blocks — each `(key, count)` pairs by ascending key, a key being
    /// `from << 32 | to` — into one CSR, adding up the counts of a key that several ranks saw.
    private static func mergeSortedBlocks(_ blocks: RankBlocks<Int64>, storeCount: Int) -> TransitionCSR {
        var result = TransitionCSR(storeCount: storeCount, capacity: blocks.values.count / 2)
        var cursors = blocks.offsets.indices.map { blocks.offsets[$0] }
        let ends = blocks.offsets.indices.map { blocks.offsets[$0] + blocks.counts[$0] }
        while true {
            var smallest: UInt64?
            for rank in cursors.indices where cursors[rank] < ends[rank] {
                let key = UInt64(bitPattern: blocks.values[cursors[rank]])
                if smallest.map({ key < $0 }) ?? true { smallest = key }
            }
            guard let key = smallest else { break }
            let from = Int32(bitPattern: UInt32(key >> 32))
            let to = Int32(bitPattern: UInt32(key & 0xffff_ffff))
            for rank in cursors.indices where cursors[rank] < ends[rank] && UInt64(bitPattern: blocks.values[cursors[rank]]) == key {
                result.add(from: from, to: to, count: blocks.values[cursors[rank] + 1])
                cursors[rank] += 2
            }
        }
        return result.finished()
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

/// Transitions being gathered into CSR form, fed in ascending (from, to) order; a repeated pair adds
/// to the last entry.
private struct TransitionCSR {
    var offsets: [Int]
    var targets: [Int32] = []
    var counts: [Int64] = []
    var totals: [Int64]
    private var lastOrigin: Int32?

    /// - Parameter capacity: at least the number of distinct pairs to come, if known (reserving it
    ///   saves growing by doubling; pages reserved but never written cost no memory).
    init(storeCount: Int, capacity: Int = 0) {
        offsets = [Int](repeating: 0, count: storeCount + 1)
        totals = [Int64](repeating: 0, count: storeCount)
        targets.reserveCapacity(capacity)
        counts.reserveCapacity(capacity)
    }

    mutating func add(from: Int32, to: Int32, count: Int64) {
        if lastOrigin == from, targets.last == to {
            counts[counts.count - 1] += count
        } else {
            lastOrigin = from
            targets.append(to)
            counts.append(count)
            offsets[Int(from) + 1] += 1
        }
        totals[Int(from)] += count
    }

    /// The offsets as running sums.
    func finished() -> TransitionCSR {
        var result = self
        for store in 0..<(offsets.count - 1) { result.offsets[store + 1] += result.offsets[store] }
        return result
    }
}
