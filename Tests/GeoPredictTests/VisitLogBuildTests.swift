@testable import GeoPredict
import MPI
import Testing

/// `VisitLog(visits:shards:)` works on runs of one user instead of sorting every visit; these tests
/// hold it to the plain definition: every visit sorted by (partition, id, time, store).
struct VisitLogBuildTests {
    /// The reference: sort everything, then cut at user boundaries.
    private static func reference(_ visits: [(userID: String, store: Int32, timestamp: Int64)], shards: ShardMap)
        -> (ids: [String], partitions: [Int32], offsets: [Int], stores: [Int32], timestamps: [Int64])
    {
        let sorted = visits.map { (partition: Int32(shards.partition(of: $0.userID)), visit: $0) }.sorted { lhs, rhs in
            if lhs.partition != rhs.partition { return lhs.partition < rhs.partition }
            if lhs.visit.userID != rhs.visit.userID { return lhs.visit.userID.utf8.lexicographicallyPrecedes(rhs.visit.userID.utf8) }
            if lhs.visit.timestamp != rhs.visit.timestamp { return lhs.visit.timestamp < rhs.visit.timestamp }
            return lhs.visit.store < rhs.visit.store
        }
        var result: (ids: [String], partitions: [Int32], offsets: [Int], stores: [Int32], timestamps: [Int64]) = ([], [], [0], [], [])
        for (index, entry) in sorted.enumerated() {
            if index > 0, sorted[index - 1].visit.userID != entry.visit.userID { result.offsets.append(index) }
            if index == 0 || sorted[index - 1].visit.userID != entry.visit.userID {
                result.ids.append(entry.visit.userID)
                result.partitions.append(entry.partition)
            }
            result.stores.append(entry.visit.store)
            result.timestamps.append(entry.visit.timestamp)
        }
        if !sorted.isEmpty { result.offsets.append(sorted.count) }
        return result
    }

    private static func expectMatchesReference(_ visits: [(userID: String, store: Int32, timestamp: Int64)], ranks: Int = 1) {
        let shards = ShardMap(rankCount: ranks)
        let log = VisitLog(visits: visits, shards: shards)
        let expected = reference(visits, shards: shards)
        #expect(log.userIDs == expected.ids)
        #expect(log.userPartitions == expected.partitions)
        #expect(log.offsets == expected.offsets)
        #expect(log.stores == expected.stores)
        #expect(log.timestamps == expected.timestamps)
    }

    @Test func emptyInputGivesTheEmptyLog() {
        #expect(VisitLog(visits: [], shards: ShardMap(rankCount: 2)) == VisitLog())
    }

    @Test func usersInRunsWithVisitsInTimeOrder() {
        let city = SyntheticCity(configuration: .init(userCount: 200, storeCount: 50, meanVisitsPerUser: 8, days: 30))
        for ranks in [1, 3] {
            let shards = ShardMap(rankCount: ranks)
            for rank in 0..<ranks { Self.expectMatchesReference(city.visits(ownedBy: rank, shards: shards), ranks: ranks) }
        }
    }

    @Test func theCityBuildsTheSameLogWithoutTheVisitArray() {
        // Few days and a narrow hour range: visits at the same second occur, and must order by store.
        let city = SyntheticCity(configuration: .init(userCount: 400, storeCount: 80, meanVisitsPerUser: 30, days: 3))
        for ranks in 1...3 {
            let shards = ShardMap(rankCount: ranks)
            for rank in 0..<ranks {
                #expect(city.visitLog(ownedBy: rank, shards: shards)
                    == VisitLog(visits: city.visits(ownedBy: rank, shards: shards), shards: shards))
            }
        }
    }

    @Test func interleavedUsersShuffledVisitsAndRepeats() {
        var random = SplitMix64(seed: 11)
        var visits: [(userID: String, store: Int32, timestamp: Int64)] = []
        for _ in 0..<3_000 {
            let user = "u\(random.next() % 40)"
            // Few distinct times and stores, so that ties on time and exact repeats occur.
            visits.append((user, Int32(random.next() % 5), Int64(random.next() % 20)))
        }
        Self.expectMatchesReference(visits)
        Self.expectMatchesReference(visits, ranks: 4)
        // A user split over two runs, each in time order, whose merge is not.
        Self.expectMatchesReference([("b", 1, 5), ("b", 2, 9), ("a", 0, 1), ("b", 0, 7), ("b", 3, 5)])
    }

    @Test func statisticsFromTheGatherEqualTheTupleInitializer() throws {
        let city = SyntheticCity(configuration: .init(userCount: 300, storeCount: 60, meanVisitsPerUser: 12, days: 40))
        let shards = ShardMap(rankCount: 1)
        let log = VisitLog(visits: city.visits(ownedBy: 0, shards: shards), shards: shards)
        let gap: Int64 = 4 * Seconds.perHour
        let built = try VisitStatistics.build(from: log, catalogue: city.catalogue, sessionGapSeconds: gap, on: SingleProcessCollectives())
        // The same counts, through the public initializer's sort.
        var transitions: [(from: Int32, to: Int32, count: Int64)] = []
        for user in 0..<log.userCount {
            let range = log.visitRange(ofUser: user)
            for visit in range.dropFirst() where log.timestamps[visit] - log.timestamps[visit - 1] <= gap {
                transitions.append((log.stores[visit - 1], log.stores[visit], 1))
            }
        }
        #expect(!transitions.isEmpty)
        let direct = VisitStatistics(
            catalogue: city.catalogue, popularity: built.popularity, hourCounts: built.hourCounts,
            transitions: transitions.reversed())
        #expect(built == direct)
    }
}
