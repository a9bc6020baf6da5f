/// How often each of one rank's users visited each store: the input of ALS training.
///
/// A user×store matrix (``SparseMatrix```<UserAxis, StoreAxis>`) whose rows are the rank's users in
/// the order of its ``VisitLog`` (by partition, then id), whose columns are ``StoreCatalogue``
/// indices (ascending within a row, no repeats) and whose values are visit counts. Counts may be
/// fractional (for example decayed by age); entries with a count of zero or less are dropped.
public struct UserStoreCounts: Sendable, Equatable {
    /// User ids, ordered by (partition, id) like ``VisitLog/userIDs``.
    public let userIDs: [String]
    /// Per user, its virtual partition.
    public let userPartitions: [Int32]
    /// Rows: users (parallel to ``userIDs``); columns: store indices; values: visit counts.
    public let counts: SparseMatrix<UserAxis, StoreAxis>

    /// Counts the visits of every user of `log` per store.
    public init(visitLog log: VisitLog) {
        self.init(userIDs: log.userIDs, userPartitions: log.userPartitions, rows: 0..<log.userCount) { user in
            VisitSequence(user: user, in: log).stores
        }
    }

    /// Counts the visits of `log` strictly before `time`, as if the log held only those: users with
    /// none are left out. Reads the log in place, so no cut copy of it is held beside the counts.
    public init(visitLog log: VisitLog, before time: Int64) {
        let earlier = { (user: Int) in VisitSequence(user: user, in: log).before(time).stores }
        let kept = (0..<log.userCount).filter { !earlier($0).isEmpty }
        self.init(
            userIDs: kept.map { log.userIDs[$0] }, userPartitions: kept.map { log.userPartitions[$0] }, rows: kept,
            stores: earlier)
    }

    /// One row per element of `rows` (parallel to `userIDs`): the stores `stores(row)` lists, counted.
    private init(
        userIDs: [String], userPartitions: [Int32], rows: some Collection<Int>, stores: (Int) -> ArraySlice<Int32>
    ) {
        var offsets = [Int]()
        offsets.reserveCapacity(rows.count + 1)
        offsets.append(0)
        // At most one entry per visit: reserving that bound keeps the columns from growing by doubling
        // (which briefly holds two copies); pages never written cost no memory.
        let visitCount = rows.reduce(0) { $0 + stores($1).count }
        var columns = [Int32]()
        columns.reserveCapacity(visitCount)
        var values = [Float]()
        values.reserveCapacity(visitCount)
        var scratch = [Int32]()
        for row in rows {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: stores(row))
            scratch.sort()
            var index = 0
            while index < scratch.count {
                var end = index + 1
                while end < scratch.count, scratch[end] == scratch[index] { end += 1 }
                columns.append(scratch[index])
                values.append(Float(end - index))
                index = end
            }
            offsets.append(columns.count)
        }
        self.userIDs = userIDs
        self.userPartitions = userPartitions
        counts = SparseMatrix(uncheckedOffsets: offsets, columns: columns, values: values)
    }

    /// Counts given per user.
    ///
    /// - Parameters:
    ///   - userIDs: the users, ordered by (partition, id) as ``VisitLog`` orders them.
    ///   - shards: gives each user's partition.
    ///   - visits: per user, `(store index, count)` pairs in any order; repeated stores are added up
    ///     and counts `<= 0` dropped.
    /// - Throws: ``ALSError/malformedMatrix(_:)`` when the lengths differ or users are out of order.
    public init(
        userIDs: [String], shards: ShardMap, visits: [[(store: Int32, count: Float)]]
    ) throws(ALSError) {
        guard userIDs.count == visits.count else {
            throw .malformedMatrix("\(userIDs.count) users but \(visits.count) visit lists")
        }
        let partitions = userIDs.map { Int32(shards.partition(of: $0)) }
        for index in userIDs.indices.dropFirst() {
            let previous = (partitions[index - 1], userIDs[index - 1])
            let current = (partitions[index], userIDs[index])
            let ordered = previous.0 < current.0
                || (previous.0 == current.0 && previous.1.utf8.lexicographicallyPrecedes(current.1.utf8))
            guard ordered else { throw .malformedMatrix("users are not ordered by (partition, id) at \(index)") }
        }
        var offsets = [0]
        var columns = [Int32]()
        var values = [Float]()
        for list in visits {
            let merged = Self.merge(list)
            columns.append(contentsOf: merged.map(\.store))
            values.append(contentsOf: merged.map(\.count))
            offsets.append(columns.count)
        }
        self.userIDs = userIDs
        self.userPartitions = partitions
        self.counts = SparseMatrix(uncheckedOffsets: offsets, columns: columns, values: values)
    }

    /// Counts from arrays already in CSR form (the fast path for large inputs).
    ///
    /// - Throws: ``ALSError/malformedMatrix(_:)`` when the arrays disagree, a row's stores are not
    ///   strictly ascending, or a count is not positive.
    public init(
        userIDs: [String], userPartitions: [Int32], counts: SparseMatrix<UserAxis, StoreAxis>
    ) throws(ALSError) {
        guard userIDs.count == userPartitions.count, counts.rowCount == userIDs.count else {
            throw .malformedMatrix("\(userIDs.count) ids, \(userPartitions.count) partitions, \(counts.rowCount) rows")
        }
        for row in 0..<counts.rowCount {
            let range = counts.entryRange(ofRow: row)
            for entry in range {
                guard counts.values[entry] > 0, counts.values[entry].isFinite else {
                    throw .malformedMatrix("count \(counts.values[entry]) of user \(row) is not positive")
                }
                if entry > range.lowerBound, counts.columns[entry] <= counts.columns[entry - 1] {
                    throw .malformedMatrix("stores of user \(row) are not strictly ascending")
                }
            }
        }
        self.userIDs = userIDs
        self.userPartitions = userPartitions
        self.counts = counts
    }

    /// The number of users.
    public var userCount: Int { userIDs.count }

    /// The number of (user, store) pairs with a visit.
    public var entryCount: Int { counts.entryCount }

    /// `(store, count)` pairs sorted by store, repeats added up, non-positive counts dropped.
    static func merge(_ list: [(store: Int32, count: Float)]) -> [(store: Int32, count: Float)] {
        let sorted = list.sorted { $0.store < $1.store }
        var merged = [(store: Int32, count: Float)]()
        for item in sorted {
            if let last = merged.last, last.store == item.store {
                merged[merged.count - 1].count += item.count
            } else {
                merged.append(item)
            }
        }
        return merged.filter { $0.count > 0 && $0.count.isFinite }
    }
}
