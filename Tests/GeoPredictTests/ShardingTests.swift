@testable import GeoPredict
import Testing

struct ShardingTests {
    @Test func stableHashIsFixedAcrossRuns() {
        // Pinned values: a change here would move every user to another rank and break recovery.
        #expect(StableHash.hash("") == StableHash.mix(0xcbf2_9ce4_8422_2325))
        #expect(StableHash.hash("user-1") == StableHash.hash("user-1"))
        #expect(StableHash.hash("user-1") != StableHash.hash("user-2"))
    }

    @Test func partitionsAreDealtRoundRobin() {
        let map = ShardMap(rankCount: 3, partitionCount: 10)
        #expect(Array(map.partitions(ownedBy: 0)) == [0, 3, 6, 9])
        #expect(Array(map.partitions(ownedBy: 2)) == [2, 5, 8])
        #expect((0..<3).map { map.partitionCount(ownedBy: $0) } == [4, 3, 3])
        #expect(map.owner(ofPartition: 7) == 1)
        #expect(map.localIndex(ofPartition: 7) == 2)
    }

    @Test func usersSpreadEvenlyOverPartitions() {
        let map = ShardMap(rankCount: 4)
        var perRank = [Int](repeating: 0, count: 4)
        for user in 0..<40_000 { perRank[map.owner(of: "u\(user)")] += 1 }
        #expect(perRank.allSatisfy { abs($0 - 10_000) < 500 }, "\(perRank)")
    }

    @Test func checkInsRoundTripThroughTheByteCodec() throws {
        let original = CheckIn(
            userID: "470", venueID: "49bbd6c0f964a520f4531fe3", latitude: 40.719810375488535,
            longitude: -74.00258103213994, timestampUnixSeconds: 1_333_476_009,
            category: "Arts & Crafts Store", trajectoryID: "470_1"
        )
        var writer = ByteWriter()
        original.write(to: &writer)
        original.write(to: &writer)
        var reader = ByteReader(writer.bytes)
        #expect(try CheckIn(from: &reader) == original)
        #expect(try CheckIn(from: &reader) == original)
        #expect(reader.isAtEnd)
        var truncated = ByteReader(Array(writer.bytes.prefix(10)))
        #expect(throws: ByteReader.Error.self) { _ = try CheckIn(from: &truncated) }
    }
}
