import GeoPredict
import GeoPredictProtos

/// The logged events one rank owns, read at start-up from every rank's write-ahead logs (a restart
/// may be at another rank count) one file at a time and each file once, so that memory holds one
/// segment's bytes, this rank's events and a few bytes per record of the others rather than every
/// rank's whole log.
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

    /// An event this rank owns, with its place in its file (before voids are applied).
    private struct Owned {
        var file: Int
        var position: Int
        var event: Geopredict_V1_LocationEvent
    }

    /// Reads every `prefix` log in `directory`, keeping the events of users `shards` gives to `rank`,
    /// split by `checkpoint` (the restored model's manifest; nil: everything is recent).
    ///
    /// Voids (records of failed appends, named from a later file) are applied once every file is
    /// read: each file's payloads are let go once its own events are decoded, and only the records'
    /// places stay, to count and report what the voids drop.
    static func read(
        directory: String, prefix: String, checkpoint: WALManifest?, shards: ShardMap, rank: Int
    ) throws -> LoggedEvents {
        var logged = LoggedEvents()
        var files = [(name: String, parsed: WriteAheadLog.ParsedFile)]()
        var owned = [Owned]()
        try WriteAheadLog.forEachParsedFile(directory: directory, prefix: prefix) { name, parsed in
            var places = parsed
            for (position, record) in parsed.events.enumerated() {
                places.events[position].payload = []
                guard let event = try? Geopredict_V1_LocationEvent(serializedBytes: record.payload) else {
                    logged.undecodable += 1
                    continue
                }
                if shards.owner(of: event.userID) == rank { owned.append(Owned(file: files.count, position: position, event: event)) }
            }
            files.append((name, places))
        }
        let voids = Dictionary(grouping: files.flatMap(\.parsed.voids), by: \.segment)
        // Per file, each record's index among those the voids keep (nil: voided).
        var keptIndex = [[Int?]]()
        for (name, parsed) in files {
            let fileVoids = voids[name] ?? []
            let applied = parsed.applying(fileVoids, name: name)
            logged.manifest.recordCounts[name] = applied.records.count
            logged.skipped.append(WriteAheadLog.FileRecords(name: name, records: [], skipped: applied.skipped))
            var kept = 0
            keptIndex.append(parsed.events.map { event in
                guard !WriteAheadLog.ParsedFile.isVoided(event, by: fileVoids) else { return nil }
                defer { kept += 1 }
                return kept
            })
        }
        for item in owned {
            guard let index = keptIndex[item.file][item.position] else { continue }
            let name = files[item.file].name
            let covered = (checkpoint ?? WALManifest()).coveredCount(of: name, holding: logged.manifest.recordCounts[name] ?? 0)
            if index < covered { logged.trained.append(item.event) } else { logged.recent.append(item.event) }
        }
        return logged
    }
}
