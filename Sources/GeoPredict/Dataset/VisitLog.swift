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
    /// - Parameters:
    ///   - visits: `(user id, store index, timestamp)` in any order; repeats are kept.
    ///   - shards: the shard map that gives each user's partition.
    public init(visits: [(userID: String, store: Int32, timestamp: Int64)], shards: ShardMap) {
        let sorted = visits
            .map { (partition: Int32(shards.partition(of: $0.userID)), visit: $0) }
            .sorted { lhs, rhs in
                if lhs.partition != rhs.partition { return lhs.partition < rhs.partition }
                if lhs.visit.userID != rhs.visit.userID {
                    return lhs.visit.userID.utf8.lexicographicallyPrecedes(rhs.visit.userID.utf8)
                }
                if lhs.visit.timestamp != rhs.visit.timestamp { return lhs.visit.timestamp < rhs.visit.timestamp }
                return lhs.visit.store < rhs.visit.store
            }
        self.init()
        stores.reserveCapacity(sorted.count)
        timestamps.reserveCapacity(sorted.count)
        for entry in sorted {
            if userIDs.last != entry.visit.userID {
                if !userIDs.isEmpty { offsets.append(stores.count) }
                userIDs.append(entry.visit.userID)
                userPartitions.append(entry.partition)
            }
            stores.append(entry.visit.store)
            timestamps.append(entry.visit.timestamp)
        }
        if !userIDs.isEmpty { offsets.append(stores.count) }
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
