/// The visits of the users one rank owns, in compressed-sparse-row form.
///
/// Users are ordered by (partition, id), so per-partition work walks them in the same order at any
/// rank count; each user's visits are ordered by (time, store). One allocation per column keeps ten
/// million users cheap.
public struct VisitLog: Sendable, Equatable {
    /// User ids, ordered by (partition, id).
    public private(set) var userIDs: [String]
    /// Per user, its virtual partition (``ShardMap/partition(of:)``).
    public private(set) var userPartitions: [Int32]
    /// Per user, where its visits start in the visit columns; `count == userIDs.count + 1`.
    public private(set) var offsets: [Int]
    /// Per visit, the store index in the ``StoreCatalogue``.
    public private(set) var stores: [Int32]
    /// Per visit, seconds since 1970-01-01 UTC (arrival time).
    public private(set) var timestamps: [Int64]

    /// An empty log.
    public init() {
        userIDs = []
        userPartitions = []
        offsets = [0]
        stores = []
        timestamps = []
    }

    /// Builds the log from unordered visits.
    ///
    /// Works on runs of consecutive visits of one user (generators and loaders emit users together)
    /// instead of sorting every visit: the extra memory is a few words per run, not a sorted copy of
    /// the input, which matters at a hundred million visits per rank. Any order gives the same log.
    ///
    /// - Parameters:
    ///   - visits: `(user id, store index, timestamp)` in any order; repeats are kept.
    ///   - shards: the shard map that gives each user's partition.
    public init(visits: [(userID: String, store: Int32, timestamp: Int64)], shards: ShardMap) {
        self.init()
        var runStarts: [Int] = []
        var runPartitions: [Int32] = []
        for index in visits.indices where index == 0 || visits[index].userID != visits[index - 1].userID {
            runStarts.append(index)
            runPartitions.append(Int32(shards.partition(of: visits[index].userID)))
        }
        runStarts.append(visits.count)
        // Runs by (partition, id); runs of one user keep their input order (the visits are sorted below).
        let order = (0..<(runStarts.count - 1)).sorted { lhs, rhs in
            if runPartitions[lhs] != runPartitions[rhs] { return runPartitions[lhs] < runPartitions[rhs] }
            let left = visits[runStarts[lhs]].userID
            let right = visits[runStarts[rhs]].userID
            if left != right { return left.utf8.lexicographicallyPrecedes(right.utf8) }
            return lhs < rhs
        }
        stores.reserveCapacity(visits.count)
        timestamps.reserveCapacity(visits.count)
        var next = 0
        while next < order.count {
            let id = visits[runStarts[order[next]]].userID
            let first = stores.count
            while next < order.count, visits[runStarts[order[next]]].userID == id {
                for visit in visits[runStarts[order[next]]..<runStarts[order[next] + 1]] {
                    stores.append(visit.store)
                    timestamps.append(visit.timestamp)
                }
                next += 1
            }
            sortVisits(first..<stores.count)
            userIDs.append(id)
            userPartitions.append(runPartitions[order[next - 1]])
            offsets.append(stores.count)
        }
    }

    /// Orders the visits in `range` (one user's) by (time, store), unless they already are.
    private mutating func sortVisits(_ range: Range<Int>) {
        let ordered = range.dropFirst().allSatisfy { visit in
            timestamps[visit - 1] < timestamps[visit]
                || (timestamps[visit - 1] == timestamps[visit] && stores[visit - 1] <= stores[visit])
        }
        guard !ordered else { return }
        let sorted = range.map { (timestamp: timestamps[$0], store: stores[$0]) }.sorted { $0 < $1 }
        for (visit, entry) in zip(range, sorted) {
            timestamps[visit] = entry.timestamp
            stores[visit] = entry.store
        }
    }

    /// Builds the log from columns already in its order (what a loader that sorted the visits
    /// itself produces, without a second sort).
    ///
    /// - Precondition: users are ordered by (partition, id) without repeats, `offsets` starts at 0,
    ///   never decreases and ends at `stores.count == timestamps.count`, and each user's visits are
    ///   ordered by (time, store). Checked in one pass.
    public init(userIDs: [String], userPartitions: [Int32], offsets: [Int], stores: [Int32], timestamps: [Int64]) {
        precondition(userPartitions.count == userIDs.count && offsets.count == userIDs.count + 1,
                     "VisitLog: one partition per user and one offset more than users")
        precondition(offsets.first == 0 && offsets.last == stores.count && stores.count == timestamps.count,
                     "VisitLog: offsets must span the visit columns")
        for user in userIDs.indices {
            precondition(offsets[user] <= offsets[user + 1], "VisitLog: offsets must not decrease")
            if user > 0 {
                let ordered = userPartitions[user - 1] < userPartitions[user]
                    || (userPartitions[user - 1] == userPartitions[user]
                        && userIDs[user - 1].utf8.lexicographicallyPrecedes(userIDs[user].utf8))
                precondition(ordered, "VisitLog: users must be ordered by (partition, id) without repeats")
            }
            for visit in (offsets[user] + 1)..<max(offsets[user] + 1, offsets[user + 1]) {
                precondition(
                    timestamps[visit - 1] < timestamps[visit]
                        || (timestamps[visit - 1] == timestamps[visit] && stores[visit - 1] <= stores[visit]),
                    "VisitLog: a user's visits must be ordered by (time, store)")
            }
        }
        self.userIDs = userIDs
        self.userPartitions = userPartitions
        self.offsets = offsets
        self.stores = stores
        self.timestamps = timestamps
    }

    /// The number of users.
    public var userCount: Int { userIDs.count }

    /// The number of visits.
    public var visitCount: Int { stores.count }

    /// The visit positions of the user at `user`.
    public func visitRange(ofUser user: Int) -> Range<Int> { offsets[user]..<offsets[user + 1] }

    /// The local index of the user with `id`, by binary search on (partition, id).
    public func userIndex(of id: String, partition: Int) -> Int? {
        var low = 0
        var high = userIDs.count
        let partition = Int32(partition)
        while low < high {
            let middle = (low + high) / 2
            let key = (userPartitions[middle], userIDs[middle])
            if key.0 < partition || (key.0 == partition && key.1.utf8.lexicographicallyPrecedes(id.utf8)) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < userIDs.count && userIDs[low] == id && userPartitions[low] == partition ? low : nil
    }
}
