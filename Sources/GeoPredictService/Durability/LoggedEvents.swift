import GeoPredict
import GeoPredictProtos

/// The logged events one rank owns, read at start-up from the newest fold of the log (``LogFold``:
/// this rank's file, or every rank's at another rank count) and from every rank's write-ahead log
/// segments not folded yet (a restart may be at another rank count), one file at a time and each
/// file once, so that memory holds one segment's bytes, this rank's events and a few bytes per record
/// of the others rather than every rank's whole log. Folded or not, the events come out in the same
/// order (segment name, then place in the segment) with the same split.
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
    /// The folded log generation read (``LogFold``): its events come first in segment order, and its
    /// folded segments are not read again if they are still there.
    var fold = LogFold.State()

    /// An event this rank owns, with its place in its file (before voids are applied).
    private struct Owned {
        var file: Int
        var position: Int
        var event: Geopredict_V1_LocationEvent
    }

    /// Reads the newest complete fold and every `prefix` log in `directory` it does not fold, keeping
    /// the events of users `shards` gives to `rank`, split by `checkpoint` (the restored model's
    /// manifest; nil: everything is recent). Throws when a file of the newest fold is unreadable.
    ///
    /// Voids (records of failed appends, named from a later file) are applied once every file is
    /// read: each file's payloads are let go once its own events are decoded, and only the records'
    /// places stay, to count and report what the voids drop.
    static func read(
        directory: String, prefix: String, checkpoint: WALManifest?, shards: ShardMap, rank: Int
    ) throws -> LoggedEvents {
        var logged = LoggedEvents()
        let (fold, folded, undecodable) = try LogFold.readNewest(directory: directory, shards: shards, rank: rank)
        logged.fold = fold
        logged.undecodable = undecodable
        logged.manifest = fold.segments
        var files = [(name: String, parsed: WriteAheadLog.ParsedFile)]()
        var owned = [Owned]()
        // A folded segment still there (a crash during the fold) is not read: its events are in the fold file.
        let unfolded = { (name: String) in fold.segments.recordCounts[name] == nil }
        try WriteAheadLog.forEachParsedFile(directory: directory, prefix: prefix, where: unfolded) { name, parsed in
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
        let voids = Dictionary(grouping: files.flatMap(\.parsed.voids) + fold.voids, by: \.segment)
        // Per file, each record's index among those the voids keep (nil: voided).
        var keptIndex = [[Int?]]()
        for (name, parsed) in files {
            let kept = parsed.keeping(voids[name] ?? [])
            logged.manifest.recordCounts[name] = kept.count
            logged.skipped.append(WriteAheadLog.FileRecords(name: name, records: [], skipped: kept.skipped))
            keptIndex.append(kept.indices)
        }
        var fromFiles = [LogFold.PlacedEvent]()
        fromFiles.reserveCapacity(owned.count)
        for item in owned {
            guard let index = keptIndex[item.file][item.position] else { continue }
            fromFiles.append(LogFold.PlacedEvent(segment: files[item.file].name, position: index, event: item.event))
        }
        let checkpoint = checkpoint ?? WALManifest()
        for item in LogFold.mergedInOrder(folded, fromFiles, key: { ($0.segment, $0.position) }) {
            let covered = checkpoint.coveredCount(of: item.segment, holding: logged.manifest.recordCounts[item.segment] ?? 0)
            if item.position < covered { logged.trained.append(item.event) } else { logged.recent.append(item.event) }
        }
        return logged
    }

}
