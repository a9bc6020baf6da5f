import GeoPredict
import GeoPredictProtos

/// The logged events one rank owns, read at start-up from every rank's write-ahead logs (a restart
/// may be at another rank count) one file at a time, so that memory holds one segment and this
/// rank's events rather than every rank's whole log.
struct LoggedEvents {
    /// Events the checkpoint's model was trained on (none without a checkpoint), in log order.
    var trained: [Geopredict_V1_LocationEvent] = []
    /// Events after it, in log order.
    var recent: [Geopredict_V1_LocationEvent] = []
    /// Every file read, with all of its intact records: what this run's models cover once replayed.
    var manifest = WALManifest()
    /// Per file, what replay passed over (the files' records are not kept).
    var skipped: [WriteAheadLog.FileRecords] = []
    /// Intact records (checksums good) that did not decode as an event: counted, never silently dropped.
    var undecodable = 0

    /// Reads every `prefix` log in `directory`, keeping the events of users `shards` gives to `rank`,
    /// split by `checkpoint` (the restored model's manifest; nil: everything is recent).
    static func read(
        directory: String, prefix: String, checkpoint: WALManifest?, shards: ShardMap, rank: Int
    ) throws -> LoggedEvents {
        var events = LoggedEvents()
        try WriteAheadLog.forEachFile(directory: directory, prefix: prefix) { file in
            events.manifest.recordCounts[file.name] = file.records.count
            events.skipped.append(WriteAheadLog.FileRecords(name: file.name, records: [], skipped: file.skipped))
            let parts = (checkpoint ?? WALManifest()).split(file)
            events.trained += events.owned(parts.trained, shards: shards, rank: rank)
            events.recent += events.owned(parts.recent, shards: shards, rank: rank)
        }
        return events
    }

    private mutating func owned(_ records: ArraySlice<[UInt8]>, shards: ShardMap, rank: Int) -> [Geopredict_V1_LocationEvent] {
        var owned = [Geopredict_V1_LocationEvent]()
        for record in records {
            guard let event = try? Geopredict_V1_LocationEvent(serializedBytes: record) else {
                undecodable += 1
                continue
            }
            if shards.owner(of: event.userID) == rank { owned.append(event) }
        }
        return owned
    }
}
