import Foundation
import GeoPredict
import GeoPredictProtos
import Logging
import MPI
import MPIPlug
#if canImport(Glibc)
import Glibc
#endif

/// Sealed log segments folded into one file per rank, so that a restart reads each rank's own users'
/// events from one file instead of every segment every rank ever wrote, and so that the log folder
/// does not grow with history.
///
/// A *generation* is a set of files `fold-<generation>-<rank>-of-<ranks>.gpfold`, one per rank of the
/// job that wrote it, each holding that rank's users' events of every folded segment (the previous
/// generation's and those newly folded). It is the checkpoint of the log beside the model's: it holds
/// the events themselves, not what replay makes of them, so that a restart with other data (another
/// catalogue) or at another rank count rebuilds histories, counts and the memory of event ids exactly
/// as replaying the segments did. Each event keeps its place (segment name, index among the segment's
/// kept records), so that any model checkpoint's manifest still splits trained from recent events and
/// replay sees the events in the order it saw them in the segments.
///
/// Crash safety. A generation counts only once every rank's file is there (``newestComplete(in:)``);
/// each file is written atomically (temporary file, fsync, rename, fsync of the folder). Segments and
/// older generations are removed only after every rank has written its file *and* sees every other
/// rank's (two agreements), so a `kill -9` at any point leaves either the old generation with every
/// segment it did not fold, or the new one, whose folded segments start-up skips if they are still
/// there: nothing is lost and nothing is read twice.
enum LogFold {
    /// Problems reading or writing a fold file.
    enum Failure: Error, CustomStringConvertible {
        /// Writing this rank's fold file failed (nothing of the new generation counts).
        case cannotWrite(DurableFile.Failure)
        case unreadable(path: String, reason: String)
        /// A folded segment holds fewer records than the checkpoint said it had: it is not folded.
        case segmentShorterThanCovered(name: String, holding: Int, covered: Int)

        var description: String {
            switch self {
            case let .cannotWrite(failure): return failure.description
            case let .unreadable(path, reason): return "fold file \(path) is unreadable (\(reason)); it holds acknowledged events: "
                + "restore it, or move it away to start without them"
            case let .segmentShorterThanCovered(name, holding, covered):
                return "segment \(name) holds \(holding) records, fewer than the \(covered) acknowledged; not folded"
            }
        }
    }

    static let filePrefix = "fold-"
    static let fileSuffix = ".gpfold"
    /// Temporary files start with a dot, so that a crash mid-write never leaves a name ``list(directory:)`` takes.
    static let temporaryPrefix = ".fold-"

    /// The name of rank `rank`'s file of `generation`, written by a job of `rankCount` ranks.
    static func fileName(generation: Int, rank: Int, rankCount: Int) -> String {
        "\(filePrefix)\(generation)-\(rank)-of-\(rankCount)\(fileSuffix)"
    }

    /// One fold file's place in its generation, read from its name.
    struct FileName: Equatable {
        var generation: Int
        var rank: Int
        var rankCount: Int
        var name: String { LogFold.fileName(generation: generation, rank: rank, rankCount: rankCount) }

        init(generation: Int, rank: Int, rankCount: Int) {
            self.generation = generation
            self.rank = rank
            self.rankCount = rankCount
        }

        init?(_ name: String) {
            guard name.hasPrefix(LogFold.filePrefix), name.hasSuffix(LogFold.fileSuffix) else { return nil }
            let parts = name.dropFirst(LogFold.filePrefix.count).dropLast(LogFold.fileSuffix.count).split(separator: "-")
            guard parts.count == 4, parts[2] == "of", let generation = Int(parts[0]), let rank = Int(parts[1]),
                  let rankCount = Int(parts[3]), generation > 0, rankCount > 0, (0..<rankCount).contains(rank)
            else { return nil }
            self.init(generation: generation, rank: rank, rankCount: rankCount)
        }
    }

    /// Every fold file in `directory` (complete generations or not).
    static func list(directory: String) -> [FileName] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap(FileName.init)
    }

    /// The newest generation of which every rank's file is there: the one start-up reads.
    static func newestComplete(in files: [FileName]) -> (generation: Int, rankCount: Int)? {
        let byGeneration = Dictionary(grouping: files, by: \.generation)
        for generation in byGeneration.keys.sorted(by: >) {
            for (rankCount, group) in Dictionary(grouping: byGeneration[generation] ?? [], by: \.rankCount)
            where Set(group.map(\.rank)).count == rankCount {
                return (generation, rankCount)
            }
        }
        return nil
    }

    // MARK: The generation start-up reads

    /// What start-up knows of the folded log: which generation it read and what that covers. Every
    /// rank holds the same.
    struct State: Equatable, Sendable {
        /// 0: nothing folded yet.
        var generation = 0
        /// The ranks of the job that wrote it.
        var rankCount = 0
        /// The folded segments and, per segment, how many of its records it holds.
        var segments = WALManifest()
        /// Voids that folded segments carried for segments not folded (start-up applies them).
        var voids: [WriteAheadLog.VoidedRange] = []
    }

    /// An event of a fold file, with its place in the segment it was logged in.
    struct Event {
        var segment: String
        /// Its index among the segment's kept records (voided ones left out), as the checkpoint
        /// manifests count them.
        var position: Int
        var payload: ArraySlice<UInt8>
    }

    /// Reads the newest complete generation in `directory` and returns it with the events of users
    /// `shards` gives to `rank` (in segment-name, then position order). Reads only this rank's file
    /// when the generation was written at this rank count, every file (keeping this rank's users)
    /// otherwise. Throws when a file of that generation cannot be read: its events exist nowhere else.
    /// Intact records that do not decode as events are counted, as replay counts them.
    static func readNewest(
        directory: String, shards: ShardMap, rank: Int
    ) throws(Failure) -> (state: State, events: [PlacedEvent], undecodable: Int) {
        guard let newest = newestComplete(in: list(directory: directory)) else { return (State(), [], 0) }
        var undecodable = 0
        var sameShards = newest.rankCount == shards.rankCount
        var ranks = sameShards ? [rank] : Array(0..<newest.rankCount)
        var state = State(generation: newest.generation, rankCount: newest.rankCount)
        var sources = [[PlacedEvent]]()
        while let fileRank = ranks.first {
            ranks.removeFirst()
            let path = "\(directory)/\(fileName(generation: newest.generation, rank: fileRank, rankCount: newest.rankCount))"
            let file = try FoldFile.read(path: path)
            if sameShards, file.partitionCount != shards.partitionCount {
                // Users were given to ranks another way: read every file and keep this rank's.
                sameShards = false
                ranks = Array(0..<newest.rankCount)
                continue
            }
            state.segments = file.segments
            state.voids = file.voids
            var kept = [PlacedEvent]()
            kept.reserveCapacity(file.events.count)
            for record in file.events {
                guard let event = try? Geopredict_V1_LocationEvent(serializedBytes: record.payload) else {
                    undecodable += 1
                    continue
                }
                if sameShards || shards.owner(of: event.userID) == rank {
                    kept.append(PlacedEvent(segment: record.segment, position: record.position, event: event))
                }
            }
            sources.append(kept)
        }
        // Several files (another rank count): merge into segment-then-position order.
        let merged = sources.count == 1 ? sources[0] : sources.flatMap { $0 }.sorted { lhs, rhs in
            (lhs.segment, lhs.position) < (rhs.segment, rhs.position)
        }
        return (state, merged, undecodable)
    }

    /// A decoded event with its place in the segment it was logged in.
    struct PlacedEvent {
        var segment: String
        var position: Int
        var event: Geopredict_V1_LocationEvent
    }

    // MARK: Folding

    /// What one fold does, the same on every rank: decided on the MPI thread once a checkpoint is
    /// written (``plan(previous:checkpoint:replayed:segmentsByRank:highestGeneration:)``).
    struct Plan: Equatable, Sendable {
        /// The generation it writes.
        var generation: Int
        /// The generation it builds on (its events are carried over).
        var previous: State
        /// The segments it folds newly, with the number of records of each it takes (all of them:
        /// only segments no process writes any more, whose every record the checkpoint covers).
        var segments: WALManifest

        /// The folded log once this plan is done.
        func folded(rankCount: Int, voids: [WriteAheadLog.VoidedRange]) -> State {
            var all = previous.segments
            all.recordCounts.merge(segments.recordCounts) { _, new in new }
            let open = voids.filter { all.recordCounts[$0.segment] == nil }
            return State(generation: generation, rankCount: rankCount, segments: all, voids: open)
        }

        var encoded: [UInt8] {
            var writer = ByteWriter()
            writer.writeVarint(UInt64(generation))
            writer.writeVarint(UInt64(previous.generation))
            writer.writeVarint(UInt64(previous.rankCount))
            previous.segments.write(to: &writer)
            writer.writeVarint(UInt64(previous.voids.count))
            for void in previous.voids {
                let payload = void.payload
                writer.writeVarint(UInt64(payload.count))
                writer.write(bytes: payload)
            }
            segments.write(to: &writer)
            return writer.bytes
        }

        init(generation: Int, previous: State, segments: WALManifest) {
            self.generation = generation
            self.previous = previous
            self.segments = segments
        }

        init?(decoding bytes: [UInt8]) {
            var reader = ByteReader(bytes)
            guard let generation = try? reader.readVarint(), let previousGeneration = try? reader.readVarint(),
                  let previousRanks = try? reader.readVarint(), let previousSegments = try? WALManifest(from: &reader),
                  let voidCount = try? reader.readVarint(), voidCount <= UInt64(reader.remainingCount)
            else { return nil }
            var voids = [WriteAheadLog.VoidedRange]()
            for _ in 0..<voidCount {
                guard let length = try? reader.readVarint(), length <= UInt64(reader.remainingCount),
                      let bytes = try? reader.readBytes(Int(length)), let void = WriteAheadLog.VoidedRange(payload: Array(bytes))
                else { return nil }
                voids.append(void)
            }
            guard let segments = try? WALManifest(from: &reader), reader.isAtEnd else { return nil }
            self.init(
                generation: Int(generation),
                previous: State(generation: Int(previousGeneration), rankCount: Int(previousRanks), segments: previousSegments, voids: voids),
                segments: segments)
        }
    }

    /// What a rank's log says of one segment it wrote: its acknowledged records and whether appends
    /// may still go to it.
    struct SegmentState: Equatable, Sendable {
        var name: String
        var records: Int
        var isOpen: Bool
    }

    /// The fold a checkpoint allows, or nil when there is nothing to fold. Rank 0, on the MPI thread.
    ///
    /// A segment is folded when no process will write it again (a segment of an earlier run, or one
    /// of this run that is closed or sealed) and the checkpoint covers every one of its acknowledged
    /// records (it was complete when the training run started).
    ///
    /// - Parameters:
    ///   - checkpoint: the manifest of the checkpoint just written.
    ///   - replayed: the segments read at start (earlier runs: none is written again) and their counts.
    ///   - segmentsByRank: every rank's own segments of this run.
    ///   - highestGeneration: the highest generation number in the folder, complete or not.
    static func plan(
        previous: State, checkpoint: WALManifest, replayed: WALManifest, segmentsByRank: [[SegmentState]], highestGeneration: Int
    ) -> Plan? {
        var segments = WALManifest()
        for (name, count) in replayed.recordCounts where previous.segments.recordCounts[name] == nil {
            if (checkpoint.recordCounts[name] ?? 0) >= count { segments.recordCounts[name] = count }
        }
        for segment in segmentsByRank.joined() where !segment.isOpen && previous.segments.recordCounts[segment.name] == nil {
            if (checkpoint.recordCounts[segment.name] ?? 0) >= segment.records { segments.recordCounts[segment.name] = segment.records }
        }
        guard !segments.recordCounts.isEmpty else { return nil }
        return Plan(generation: max(highestGeneration, previous.generation) + 1, previous: previous, segments: segments)
    }

    /// The steps of one rank's part of a fold (writing its file), so that a test can stop after any of
    /// them (a crash).
    typealias Step = DurableFile.Step

    /// One rank's part of `plan`: reads its users' events of the previous generation and of the newly
    /// folded segments, and writes its file of the new generation. Runs on a background thread (no MPI).
    ///
    /// - Parameters:
    ///   - ownSegments: the segments this rank wrote in this run: they hold only its users' events
    ///     (an owner logs only the events it owns), so they are taken without decoding.
    ///   - earlierSegments: the segments of earlier runs (read at start), read whole and filtered by
    ///     owner. The other segments, other ranks' of this run, hold none of this rank's users and are not read.
    ///   - stoppingAfter: tests: stop after this step, as a crash would.
    /// - Returns: the folded log this rank's file describes.
    static func write(
        _ plan: Plan, directory: String, shards: ShardMap, rank: Int, ownSegments: Set<String>, earlierSegments: Set<String>,
        stoppingAfter: Step? = nil
    ) throws -> State {
        var events = [Event]()
        var voids = plan.previous.voids
        if plan.previous.generation > 0 {
            events = try previousEvents(plan.previous, directory: directory, shards: shards, rank: rank)
        }
        var added = [Event]()
        for (name, covered) in plan.segments.recordCounts.sorted(by: { $0.key < $1.key }) {
            let isOwn = ownSegments.contains(name)
            guard isOwn || earlierSegments.contains(name) else { continue }
            let parsed = WriteAheadLog.parseFile([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))))
            voids += parsed.voids
            // The acknowledged records of a segment no one writes any more are its first ones: records
            // of a failed append (voided) can only be at the end of a sealed segment.
            guard parsed.events.count >= covered else {
                throw Failure.segmentShorterThanCovered(name: name, holding: parsed.events.count, covered: covered)
            }
            // At one rank every user is this rank's: nothing to decode.
            let filters = !isOwn && shards.rankCount > 1
            for position in 0..<covered {
                let payload = parsed.events[position].payload
                if filters {
                    guard let event = try? Geopredict_V1_LocationEvent(serializedBytes: payload),
                          shards.owner(of: event.userID) == rank
                    else { continue }
                }
                added.append(Event(segment: name, position: position, payload: payload[...]))
            }
        }
        // Segment-then-position order, as replay reads segments: both parts are in that order already.
        events = mergedInOrder(events, added) { ($0.segment, $0.position) }
        let state = plan.folded(rankCount: shards.rankCount, voids: voids)
        let file = FoldFile(
            generation: plan.generation, rank: rank, rankCount: shards.rankCount, partitionCount: shards.partitionCount,
            segments: state.segments, voids: state.voids, events: events)
        do {
            try DurableFile.write(
                file.encoded, directory: directory, name: fileName(generation: plan.generation, rank: rank, rankCount: shards.rankCount),
                stoppingAfter: stoppingAfter)
        } catch {
            throw Failure.cannotWrite(error)
        }
        return state
    }

    /// Two lists, each in `key` order, merged into one in that order (those of `first` before those
    /// of `second` among equal keys).
    static func mergedInOrder<Element>(
        _ first: [Element], _ second: [Element], key: (Element) -> (String, Int)
    ) -> [Element] {
        guard let last = first.last, let next = second.first else { return first + second }
        // The usual case: everything folded before is older than what is folded now.
        if key(last) < key(next) { return first + second }
        var result = [Element]()
        result.reserveCapacity(first.count + second.count)
        var (i, j) = (0, 0)
        while i < first.count, j < second.count {
            if key(second[j]) < key(first[i]) {
                result.append(second[j])
                j += 1
            } else {
                result.append(first[i])
                i += 1
            }
        }
        result += first[i...]
        result += second[j...]
        return result
    }

    /// This rank's users' events of a generation (all ranks' files when it was written at another rank count).
    private static func previousEvents(_ previous: State, directory: String, shards: ShardMap, rank: Int) throws -> [Event] {
        let sameShards = previous.rankCount == shards.rankCount
        var events = [Event]()
        for fileRank in sameShards ? [rank] : Array(0..<previous.rankCount) {
            let path = "\(directory)/\(fileName(generation: previous.generation, rank: fileRank, rankCount: previous.rankCount))"
            let file = try FoldFile.read(path: path)
            for event in file.events {
                if !sameShards, shards.rankCount > 1 {
                    guard let decoded = try? Geopredict_V1_LocationEvent(serializedBytes: event.payload),
                          shards.owner(of: decoded.userID) == rank
                    else { continue }
                }
                events.append(event)
            }
        }
        return events
    }

    /// Whether every rank's file of `generation` (written at `rankCount` ranks) is in `directory` as
    /// this rank sees it: the state folder is shared, so removing what the generation folds is safe.
    static func isVisible(generation: Int, rankCount: Int, directory: String) -> Bool {
        let present = Set(list(directory: directory).filter { $0.generation == generation && $0.rankCount == rankCount }.map(\.rank))
        return present.count == rankCount
    }

    /// Once every rank's file of `folded` is written and seen: removes the segments it folded and the
    /// older generations' files, then syncs the folder. Rank 0 removes every such file; the others
    /// only those they wrote (with a shared folder, rank 0's pass is enough; theirs make it quicker to
    /// free their own space). A failed removal is harmless (start-up skips folded segments).
    ///
    /// - Parameter limit: tests: remove at most this many files, as a crash would.
    /// - Returns: the names removed.
    @discardableResult
    static func removeFolded(
        _ folded: State, newlyFolded: WALManifest, directory: String, rank: Int, ownSegments: Set<String>, limit: Int? = nil
    ) -> [String] {
        var names = newlyFolded.recordCounts.keys.sorted().filter { rank == 0 || ownSegments.contains($0) }
        let older = list(directory: directory).filter { $0.generation < folded.generation }
        names += older.filter { rank == 0 || ($0.rank == rank && $0.rankCount == folded.rankCount) }.map(\.name)
        if rank == 0 {
            // Temporary files of folds a crash cut short (every rank is past writing this one's).
            names += ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasPrefix(temporaryPrefix) && $0.hasSuffix(".tmp") }
        }
        var removed = [String]()
        for name in names.prefix(limit ?? names.count) where unlink("\(directory)/\(name)") == 0 {
            removed.append(name)
        }
        try? DurableFile.syncDirectory(directory)
        return removed
    }

    /// Removes this rank's file of a generation that did not come about (another rank failed).
    static func abandon(generation: Int, rank: Int, rankCount: Int, directory: String) {
        unlink("\(directory)/\(fileName(generation: generation, rank: rank, rankCount: rankCount))")
        try? DurableFile.syncDirectory(directory)
    }
}

/// One rank's file of a fold generation:
/// `["GPFOLD01"][generation][rank][ranks][partitions][folded segments: WALManifest][voids][events][crc32]`,
/// counts and indices as varints; each event is `[segment: index in the manifest's name order][position][length][protobuf]`;
/// the CRC32 (little-endian) covers everything before it.
struct FoldFile {
    var generation: Int
    var rank: Int
    var rankCount: Int
    var partitionCount: Int
    var segments: WALManifest
    var voids: [WriteAheadLog.VoidedRange]
    var events: [LogFold.Event]

    private static let magic = Array("GPFOLD01".utf8)

    var encoded: [UInt8] {
        let names = segments.recordCounts.keys.sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var writer = ByteWriter(reservingCapacity: events.reduce(64) { $0 + $1.payload.count + 8 })
        writer.write(bytes: Self.magic)
        for value in [generation, rank, rankCount, partitionCount] { writer.writeVarint(UInt64(value)) }
        segments.write(to: &writer)
        writer.writeVarint(UInt64(voids.count))
        for void in voids {
            let payload = void.payload
            writer.writeVarint(UInt64(payload.count))
            writer.write(bytes: payload)
        }
        writer.writeVarint(UInt64(events.count))
        for event in events {
            writer.writeVarint(UInt64(index[event.segment] ?? 0))
            writer.writeVarint(UInt64(event.position))
            writer.writeVarint(UInt64(event.payload.count))
            writer.write(bytes: event.payload)
        }
        var bytes = writer.bytes
        LittleEndian.append(CRC32.checksum(bytes), to: &bytes)
        return bytes
    }

    static func read(path: String) throws(LogFold.Failure) -> FoldFile {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard let file = FoldFile(decoding: bytes) else { throw .unreadable(path: path, reason: "bad checksum or layout") }
        return file
    }

    init(
        generation: Int, rank: Int, rankCount: Int, partitionCount: Int, segments: WALManifest,
        voids: [WriteAheadLog.VoidedRange], events: [LogFold.Event]
    ) {
        self.generation = generation
        self.rank = rank
        self.rankCount = rankCount
        self.partitionCount = partitionCount
        self.segments = segments
        self.voids = voids
        self.events = events
    }

    /// Reads ``encoded``; nil for anything else (a wrong checksum, a cut, trailing bytes).
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= Self.magic.count + 4, bytes.prefix(Self.magic.count).elementsEqual(Self.magic) else { return nil }
        let body = bytes[..<(bytes.count - 4)]
        let stored = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[bytes.count - 4 + $1]) << UInt32(8 * $1) }
        guard CRC32.checksum(body) == stored else { return nil }
        var reader = ByteReader(body)
        do {
            _ = try reader.readBytes(Self.magic.count)
            let header = try (0..<4).map { _ throws(ByteReader.Error) in Int(truncatingIfNeeded: try reader.readVarint()) }
            let segments = try WALManifest(from: &reader)
            let names = segments.recordCounts.keys.sorted()
            let voidCount = try reader.readVarint()
            guard voidCount <= UInt64(reader.remainingCount) else { return nil }
            var voids = [WriteAheadLog.VoidedRange]()
            for _ in 0..<voidCount {
                let length = try reader.readVarint()
                guard length <= UInt64(reader.remainingCount), let void = WriteAheadLog.VoidedRange(payload: Array(try reader.readBytes(Int(length))))
                else { return nil }
                voids.append(void)
            }
            let eventCount = try reader.readVarint()
            guard eventCount <= UInt64(reader.remainingCount / 3) else { return nil }
            var events = [LogFold.Event]()
            events.reserveCapacity(Int(eventCount))
            for _ in 0..<eventCount {
                let segment = try reader.readVarint()
                let position = try reader.readVarint()
                let length = try reader.readVarint()
                guard segment < UInt64(names.count), position <= UInt64(Int.max), length <= UInt64(reader.remainingCount) else { return nil }
                events.append(LogFold.Event(segment: names[Int(segment)], position: Int(position), payload: try reader.readBytes(Int(length))))
            }
            guard reader.isAtEnd, header.allSatisfy({ $0 >= 0 }) else { return nil }
            self.init(
                generation: header[0], rank: header[1], rankCount: header[2], partitionCount: header[3], segments: segments,
                voids: voids, events: events)
        } catch {
            return nil
        }
    }
}

/// One fold (``LogFold``) as a training run's background thread does it once the run's checkpoint
/// is written: the file work on that thread, the two agreements (every rank wrote its file; every
/// rank sees every file) on the MPI thread through ``BackgroundCollectives``, which is also where
/// the node learns the new generation. So the fold never holds up a round, whatever its size.
struct LogFoldJob: Sendable {
    let directory: String
    let shards: ShardMap
    let rank: Int
    /// The segments this rank's log wrote (in this run).
    let ownSegments: Set<String>
    /// The segments read at start (earlier runs).
    let earlierSegments: Set<String>
    let logger: Logger

    func run(_ plan: LogFold.Plan, node: GeoPredictNode, collectives: BackgroundCollectives) {
        let started = ContinuousClock.now
        var written: LogFold.State?
        do {
            written = try LogFold.write(
                plan, directory: directory, shards: shards, rank: rank, ownSegments: ownSegments, earlierSegments: earlierSegments)
        } catch {
            logger.error("could not fold the write-ahead log; its segments stay", metadata: ["error": "\(error)"])
        }
        let wrote = written
        guard let anyFailed = try? collectives.perform({ communicator throws(MPIError) in try communicator.agree(failed: wrote == nil) })
        else { return }
        guard !anyFailed, let written else {
            if written != nil { LogFold.abandon(generation: plan.generation, rank: rank, rankCount: shards.rankCount, directory: directory) }
            return
        }
        // Every rank must see every file before anything is removed: a folder that is not shared
        // would show each node only its own ranks' files, and the segments they fold are still needed.
        let visible = LogFold.isVisible(generation: plan.generation, rankCount: shards.rankCount, directory: directory)
        nonisolated(unsafe) let node = node
        guard let notShared = try? collectives.perform({ communicator throws(MPIError) in
            let failed = try communicator.agree(failed: !visible)
            if failed { node.foldsLog = false } else { node.foldedLog = written }
            return failed
        }) else { return }
        guard !notShared else {
            LogFold.abandon(generation: plan.generation, rank: rank, rankCount: shards.rankCount, directory: directory)
            if rank == 0 {
                let line = "the write-ahead log is not folded: not every rank sees the others' fold files in \(directory), "
                    + "so the state folder is not shared; folding is off until the next start"
                logger.warning("\(line)")
            }
            return
        }
        let removed = LogFold.removeFolded(
            written, newlyFolded: plan.segments, directory: directory, rank: rank, ownSegments: ownSegments)
        if rank == 0 {
            let line = "folded \(plan.segments.recordCounts.count) log segment(s) (\(plan.segments.totalRecords) records) into "
                + "fold generation \(plan.generation) in \(ContinuousClock.now - started) (beside serving); removed \(removed.count) file(s)"
            logger.info("\(line)")
        }
    }
}
