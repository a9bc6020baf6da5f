import Foundation
import GeoPredict
import GeoPredictProtos
@testable import GeoPredictService
import Testing

/// Start-up replay reads every rank's logs one file at a time and keeps only the reading rank's users.
struct LoggedEventsTests {
    private static func event(_ user: String, _ second: Int64) -> Geopredict_V1_LocationEvent {
        .with {
            $0.userID = user
            $0.timestampUnixSeconds = second
            $0.latitude = 40.7
            $0.longitude = -74
        }
    }

    private static func record(_ event: Geopredict_V1_LocationEvent) throws -> [UInt8] { try event.serializedBytes() }

    /// Two segments (one per earlier rank) of 30 events for 10 users, read at 2 ranks: each rank
    /// keeps exactly its own users' events, in log order, and together they are every event; the
    /// manifest lists every file with all of its records; a record that is not an event is counted.
    @Test func eachRankKeepsItsOwnUsersFromEveryFile() throws {
        let directory = NSTemporaryDirectory() + "logged-events-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let events = (0..<30).map { Self.event("user-\($0 % 10)", Int64(1_700_000_000 + $0)) }
        let first = try WriteAheadLog(directory: directory, prefix: "events", files: POSIXLogFiles(), segmentBytes: 300)
        try first.append(events.prefix(20).map(Self.record) + [[0xFF]])
        let second = try WriteAheadLog(directory: directory, prefix: "events")
        try second.append(events.suffix(10).map(Self.record))
        let shards = ShardMap(rankCount: 2)
        #expect(Set(events.map { shards.owner(of: $0.userID) }).count == 2, "both ranks own some of the users")
        var union = [Geopredict_V1_LocationEvent]()
        for rank in 0..<2 {
            let logged = try LoggedEvents.read(directory: directory, prefix: "events", checkpoint: nil, shards: shards, rank: rank)
            #expect(logged.trained.isEmpty)
            #expect(logged.recent.allSatisfy { shards.owner(of: $0.userID) == rank })
            #expect(logged.recent == events.filter { shards.owner(of: $0.userID) == rank })
            #expect(logged.manifest.totalRecords == 31)
            #expect(logged.manifest.recordCounts.count == logged.skipped.count)
            #expect(logged.undecodable == 1)
            union += logged.recent
        }
        #expect(union.count == events.count)
    }

    /// With a checkpoint's manifest, a file's first records go to `trained` and the rest (and files
    /// it does not list) to `recent`.
    @Test func theCheckpointsManifestSplitsEachFile() throws {
        let directory = NSTemporaryDirectory() + "logged-events-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let events = (0..<12).map { Self.event("user-\($0)", Int64(1_700_000_000 + $0)) }
        let log = try WriteAheadLog(directory: directory, prefix: "events")
        try log.append(events.prefix(8).map(Self.record))
        let later = try WriteAheadLog(directory: directory, prefix: "events")
        try later.append(events.suffix(4).map(Self.record))
        let checkpoint = WALManifest(recordCounts: [log.fileName: 5])
        let logged = try LoggedEvents.read(
            directory: directory, prefix: "events", checkpoint: checkpoint, shards: ShardMap(rankCount: 1), rank: 0)
        #expect(logged.trained == Array(events.prefix(5)))
        #expect(logged.recent == Array(events.suffix(7)))
        #expect(logged.manifest.recordCounts == [log.fileName: 8, later.fileName: 4])
    }
}
