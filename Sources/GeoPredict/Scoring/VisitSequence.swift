/// A user's visits in time order: store indices and arrival times, as slices of larger columns (a
/// ``VisitLog`` user's range, or arrays built for one query) so that no visit is copied.
public struct VisitSequence: Sendable, Equatable {
    /// Store indices in the ``StoreCatalogue``.
    public let stores: ArraySlice<Int32>
    /// Unix seconds, parallel to ``stores``, non-decreasing.
    public let timestamps: ArraySlice<Int64>

    /// - Precondition: both slices have the same indices.
    public init(stores: ArraySlice<Int32>, timestamps: ArraySlice<Int64>) {
        precondition(stores.indices == timestamps.indices, "VisitSequence: stores and timestamps must align")
        self.stores = stores
        self.timestamps = timestamps
    }

    public init(stores: [Int32], timestamps: [Int64]) {
        self.init(stores: stores[...], timestamps: timestamps[...])
    }

    /// No visits.
    public static let empty = VisitSequence(stores: [], timestamps: [])

    /// The visits of the user at `user` in `log`.
    public init(user: Int, in log: VisitLog) {
        let range = log.visitRange(ofUser: user)
        self.init(stores: log.stores[range], timestamps: log.timestamps[range])
    }

    /// The number of visits.
    public var count: Int { stores.count }

    public var isEmpty: Bool { stores.isEmpty }

    /// The first `count` visits.
    public func prefix(_ count: Int) -> VisitSequence {
        VisitSequence(stores: stores.prefix(count), timestamps: timestamps.prefix(count))
    }

    /// The visits strictly before `time`.
    public func before(_ time: Int64) -> VisitSequence {
        var low = timestamps.startIndex
        var high = timestamps.endIndex
        while low < high {
            let middle = (low + high) / 2
            if timestamps[middle] < time { low = middle + 1 } else { high = middle }
        }
        return VisitSequence(stores: stores[..<low], timestamps: timestamps[..<low])
    }

    /// The visits at or after `start` and strictly before `end`.
    public func between(_ start: Int64, _ end: Int64) -> VisitSequence {
        let upper = before(end)
        let lower = upper.before(start)
        return VisitSequence(stores: stores[lower.stores.endIndex..<upper.stores.endIndex],
                             timestamps: timestamps[lower.timestamps.endIndex..<upper.timestamps.endIndex])
    }

    /// The positions where sessions start: a visit more than `gapSeconds` after the previous one begins a
    /// new session. Positions are indices of the slices.
    public func sessionStarts(gapSeconds: Int64) -> [Int] {
        var starts: [Int] = []
        for index in timestamps.indices where index == timestamps.startIndex || timestamps[index] - timestamps[index - 1] > gapSeconds {
            starts.append(index)
        }
        return starts
    }

    /// Per store, how often it occurs, ordered by store index.
    public func storeCounts() -> [(store: Int32, count: Float)] {
        var result: [(store: Int32, count: Float)] = []
        for store in stores.sorted() {
            if let last = result.last, last.store == store {
                result[result.count - 1].count += 1
            } else {
                result.append((store, 1))
            }
        }
        return result
    }

    /// This sequence and `other` as one time-ordered sequence (a new array; for query histories =
    /// training + recent visits). On equal times this sequence's visits come first; when `other` starts
    /// no earlier than this one ends (the usual case) it is a plain concatenation.
    public func appending(_ other: VisitSequence) -> VisitSequence {
        guard let last = timestamps.last, let first = other.timestamps.first, first < last else {
            return VisitSequence(stores: Array(stores) + Array(other.stores), timestamps: Array(timestamps) + Array(other.timestamps))
        }
        var mergedStores = [Int32]()
        var mergedTimestamps = [Int64]()
        mergedStores.reserveCapacity(count + other.count)
        mergedTimestamps.reserveCapacity(count + other.count)
        var mine = timestamps.startIndex
        var theirs = other.timestamps.startIndex
        while mine < timestamps.endIndex || theirs < other.timestamps.endIndex {
            let takeMine = theirs == other.timestamps.endIndex
                || (mine < timestamps.endIndex && timestamps[mine] <= other.timestamps[theirs])
            if takeMine {
                mergedStores.append(stores[mine])
                mergedTimestamps.append(timestamps[mine])
                mine += 1
            } else {
                mergedStores.append(other.stores[theirs])
                mergedTimestamps.append(other.timestamps[theirs])
                theirs += 1
            }
        }
        return VisitSequence(stores: mergedStores, timestamps: mergedTimestamps)
    }
}
