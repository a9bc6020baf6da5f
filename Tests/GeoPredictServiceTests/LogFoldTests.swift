import Foundation
import GeoPredict
import GeoPredictProtos
@testable import GeoPredictService
import Testing

/// Folding sealed log segments into a checkpoint of the log (``LogFold``): start-up reads the fold
/// instead of the segments, a crash at any step of a fold loses and duplicates nothing, and start-up
/// after a fold gives what start-up gave before it.
struct LogFoldTests {
    private static func event(_ user: String, _ second: Int64, id: String? = nil) -> Geopredict_V1_LocationEvent {
        .with {
            $0.userID = user
            $0.timestampUnixSeconds = second
            $0.latitude = 40.7
            $0.longitude = -74
            if let id { $0.eventID = id }
        }
    }

    private static func record(_ event: Geopredict_V1_LocationEvent) throws -> [UInt8] { try event.serializedBytes() }

    private static func temporaryDirectory() -> String { NSTemporaryDirectory() + "log-fold-\(UUID().uuidString)" }

    private static func names(in directory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }

    private static func copy(_ directory: String) throws -> String {
        let target = temporaryDirectory()
        try FileManager.default.copyItem(atPath: directory, toPath: target)
        return target
    }

    /// What start-up keeps of a directory at `ranks` ranks, per rank, under `checkpoint`.
    private static func startUp(_ directory: String, ranks: Int, checkpoint: WALManifest) throws -> [LoggedEvents] {
        try (0..<ranks).map { rank in
            try LoggedEvents.read(
                directory: directory, prefix: "events", checkpoint: checkpoint, shards: ShardMap(rankCount: ranks), rank: rank)
        }
    }

    /// Every rank's events, and the manifest of what was replayed, equal between two start-ups.
    private static func expectSameStartUp(_ lhs: [LoggedEvents], _ rhs: [LoggedEvents], _ comment: Comment) {
        #expect(lhs.count == rhs.count, comment)
        for (left, right) in zip(lhs, rhs) {
            #expect(left.trained == right.trained, comment)
            #expect(left.recent == right.recent, comment)
            #expect(left.manifest == right.manifest, comment)
        }
    }

    /// A log folder as a 2-rank job leaves it: an earlier run at 1 rank wrote every user's events
    /// (several closed segments, then its open one), then each rank of this run wrote its own users'
    /// events in segments of its own (several closed, one open). Events carry ids, some share a
    /// second, some arrive out of order.
    private struct Scenario {
        let directory: String
        let shards = ShardMap(rankCount: 2)
        /// The start-up manifest of this run: the earlier run's files, read whole.
        let replayed: WALManifest
        /// This run's logs, by rank.
        let logs: [WriteAheadLog]
        let events: [Geopredict_V1_LocationEvent]

        init() throws {
            directory = LogFoldTests.temporaryDirectory()
            var events = [Geopredict_V1_LocationEvent]()
            for index in 0..<60 {
                let second = Int64(1_700_000_000 + (index % 7 == 0 ? 100 - index : index / 2))
                events.append(LogFoldTests.event("user-\(index % 9)", second, id: index % 5 == 0 ? nil : "e\(index)"))
            }
            let earlier = try WriteAheadLog(directory: directory, prefix: "events", files: POSIXLogFiles(), segmentBytes: 400)
            for batch in stride(from: 0, to: 30, by: 3) { try earlier.append(events[batch..<(batch + 3)].map(LogFoldTests.record)) }
            replayed = try LoggedEvents.read(directory: directory, prefix: "events", checkpoint: nil, shards: shards, rank: 0).manifest
            var logs = [WriteAheadLog]()
            for rank in 0..<2 {
                let log = try WriteAheadLog(directory: directory, prefix: "events", files: POSIXLogFiles(), segmentBytes: 300)
                let own = events[30...].filter { ShardMap(rankCount: 2).owner(of: $0.userID) == rank }
                for event in own { try log.append([LogFoldTests.record(event)]) }
                // End with an open segment that holds records (an append can close the segment it fills).
                var extra = 0
                while !log.segmentStates.contains(where: { $0.isOpen && $0.records > 0 }) {
                    let event = LogFoldTests.event(own[0].userID, 1_700_000_200 + Int64(extra), id: "tail-\(rank)-\(extra)")
                    try log.append([LogFoldTests.record(event)])
                    events.append(event)
                    extra += 1
                }
                logs.append(log)
            }
            self.logs = logs
            self.events = events
        }

        /// The manifest of a checkpoint trained now: the files read at start and every record since.
        var checkpoint: WALManifest {
            var manifest = replayed
            for log in logs { manifest.recordCounts.merge(log.coverage.filter { $0.value > 0 }) { _, new in new } }
            return manifest
        }

        func plan(previous: LogFold.State = LogFold.State()) -> LogFold.Plan? {
            LogFold.plan(
                previous: previous, checkpoint: checkpoint, replayed: replayed, segmentsByRank: logs.map(\.segmentStates),
                highestGeneration: LogFold.list(directory: directory).map(\.generation).max() ?? 0)
        }

        func write(_ plan: LogFold.Plan, rank: Int, in directory: String, stoppingAfter: LogFold.Step? = nil) throws -> LogFold.State {
            try LogFold.write(
                plan, directory: directory, shards: shards, rank: rank, ownSegments: Set(logs[rank].segmentStates.map(\.name)),
                earlierSegments: Set(replayed.recordCounts.keys), stoppingAfter: stoppingAfter)
        }

        func remove(_ plan: LogFold.Plan, _ folded: LogFold.State, rank: Int, in directory: String, limit: Int? = nil) -> [String] {
            LogFold.removeFolded(
                folded, newlyFolded: plan.segments, directory: directory, rank: rank,
                ownSegments: Set(logs[rank].segmentStates.map(\.name)), limit: limit)
        }
    }

    /// (a) The fold takes every segment no one writes any more and the checkpoint covers, never an
    /// open one; once done those segments are gone, start-up reads the fold file instead, and it
    /// keeps what start-up kept before, at the job's rank count and at others.
    @Test func segmentsACheckpointCoversAreFoldedRemovedAndNotReplayed() throws {
        let scenario = try Scenario()
        defer { try? FileManager.default.removeItem(atPath: scenario.directory) }
        let checkpoint = scenario.checkpoint
        let before = try (1...3).map { try Self.startUp(scenario.directory, ranks: $0, checkpoint: checkpoint) }
        let open = Set(scenario.logs.flatMap(\.segmentStates).filter(\.isOpen).map(\.name))
        let plan = try #require(scenario.plan())
        #expect(plan.generation == 1)
        #expect(Set(plan.segments.recordCounts.keys) == Set(checkpoint.recordCounts.keys).union(scenario.replayed.recordCounts.keys).subtracting(open))
        #expect(open.count == 2, "each log ends in an open segment")
        #expect(open.isDisjoint(with: plan.segments.recordCounts.keys), "an open segment is never folded")
        #expect(plan.segments.recordCounts.count >= 6, "several closed segments per log")
        #expect(LogFold.Plan(decoding: plan.encoded) == plan)

        let folded = try (0..<2).map { try scenario.write(plan, rank: $0, in: scenario.directory) }
        #expect(folded[0] == folded[1])
        #expect(LogFold.isVisible(generation: 1, rankCount: 2, directory: scenario.directory))
        for rank in 0..<2 { _ = scenario.remove(plan, folded[rank], rank: rank, in: scenario.directory) }

        let left = Self.names(in: scenario.directory)
        #expect(left.isDisjoint(with: plan.segments.recordCounts.keys), "every folded segment is removed")
        #expect(open.isSubset(of: left), "open segments stay")
        #expect(left.subtracting(open) == ["fold-1-0-of-2.gpfold", "fold-1-1-of-2.gpfold"])
        for ranks in 1...3 {
            let after = try Self.startUp(scenario.directory, ranks: ranks, checkpoint: checkpoint)
            Self.expectSameStartUp(after, before[ranks - 1], "at \(ranks) ranks after the fold")
            #expect(after.allSatisfy { $0.fold.generation == 1 })
        }
        // Every event logged is there, once.
        let all = try Self.startUp(scenario.directory, ranks: 2, checkpoint: checkpoint).flatMap { $0.trained + $0.recent }
        #expect(all.count == scenario.events.count)
        let bytes = { (events: [Geopredict_V1_LocationEvent]) in Set(events.compactMap { try? $0.serializedBytes() as [UInt8] }) }
        #expect(bytes(all) == bytes(scenario.events))
        // Nothing new: no second fold.
        #expect(scenario.plan(previous: folded[0]) == nil)
    }

    /// A state folder that is not shared (each node sees only its own ranks' files): no rank sees every
    /// fold file, so the fold is abandoned on every rank — its file removed, no segment touched — and
    /// start-up on each node keeps what it kept before.
    @Test func aFolderThatIsNotSharedFoldsAndRemovesNothing() throws {
        let scenario = try Scenario()
        defer { try? FileManager.default.removeItem(atPath: scenario.directory) }
        let checkpoint = scenario.checkpoint
        let plan = try #require(scenario.plan())
        // Two nodes, each with its own copy of the folder; rank r writes on node r only.
        let nodes = try (0..<2).map { _ in try Self.copy(scenario.directory) }
        defer { for node in nodes { try? FileManager.default.removeItem(atPath: node) } }
        let before = try nodes.map { try Self.startUp($0, ranks: 2, checkpoint: checkpoint) }
        let namesBefore = nodes.map(Self.names(in:))
        for rank in 0..<2 { _ = try scenario.write(plan, rank: rank, in: nodes[rank]) }
        #expect(nodes.allSatisfy { !LogFold.isVisible(generation: plan.generation, rankCount: 2, directory: $0) })
        #expect(Self.names(in: nodes[0]).contains("fold-1-0-of-2.gpfold"), "the file was written")
        for rank in 0..<2 { LogFold.abandon(generation: plan.generation, rank: rank, rankCount: 2, directory: nodes[rank]) }
        for (node, names) in zip(nodes, namesBefore) {
            #expect(Self.names(in: node) == names, "no fold file left, no segment removed")
        }
        for (node, kept) in zip(nodes, before) {
            Self.expectSameStartUp(try Self.startUp(node, ranks: 2, checkpoint: checkpoint), kept, "after the abandoned fold")
        }
    }

    /// (b) A `kill -9` after any step of the fold on any rank — a temporary file written, renamed,
    /// the folder synced, some ranks done and others not, any number of removals — leaves a folder
    /// whose start-up keeps exactly what it kept before the fold: nothing lost, nothing twice. Read
    /// at 2 ranks (the job's) and at 3, under the new checkpoint and under an older one that covers
    /// less (a fallback when the newest cannot be read).
    @Test func aCrashAtAnyStepOfTheFoldLosesAndDuplicatesNothing() throws {
        let scenario = try Scenario()
        defer { try? FileManager.default.removeItem(atPath: scenario.directory) }
        let plan = try #require(scenario.plan())
        let older = WALManifest(recordCounts: scenario.replayed.recordCounts.mapValues { $0 / 2 })
        let checkpoints = [scenario.checkpoint, older]
        let reference = try checkpoints.map { checkpoint in try [2, 3].map { try Self.startUp(scenario.directory, ranks: $0, checkpoint: checkpoint) } }

        /// Runs the fold up to a crash point on a copy of the folder and checks its start-up.
        func check(_ name: String, _ crash: (String) throws -> Void) throws {
            let copy = try Self.copy(scenario.directory)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try crash(copy)
            for (index, checkpoint) in checkpoints.enumerated() {
                for (column, ranks) in [2, 3].enumerated() {
                    let after = try Self.startUp(copy, ranks: ranks, checkpoint: checkpoint)
                    Self.expectSameStartUp(after, reference[index][column], "crash \(name), \(ranks) ranks, checkpoint \(index)")
                }
            }
        }

        for step in LogFold.Step.allCases {
            try check("rank 0 after \(step)") { copy in _ = try scenario.write(plan, rank: 0, in: copy, stoppingAfter: step) }
            try check("rank 0 done, rank 1 after \(step)") { copy in
                _ = try scenario.write(plan, rank: 0, in: copy)
                _ = try scenario.write(plan, rank: 1, in: copy, stoppingAfter: step)
            }
        }
        // Every file written: then each number of removals by rank 0, and by rank 1 after all of rank 0's.
        let removals = plan.segments.recordCounts.count + 2
        for limit in 0...removals {
            try check("both written, rank 0 removed \(limit)") { copy in
                let folded = try scenario.write(plan, rank: 0, in: copy)
                _ = try scenario.write(plan, rank: 1, in: copy)
                _ = scenario.remove(plan, folded, rank: 0, in: copy, limit: limit)
            }
        }
        try check("rank 1 removed first, then rank 0 part") { copy in
            let folded = try scenario.write(plan, rank: 0, in: copy)
            _ = try scenario.write(plan, rank: 1, in: copy)
            _ = scenario.remove(plan, folded, rank: 1, in: copy)
            _ = scenario.remove(plan, folded, rank: 0, in: copy, limit: 2)
        }
        // A file of an incomplete generation that is damaged is never read; one of a complete
        // generation that is damaged stops start-up (its events exist nowhere else) instead of
        // starting without them.
        try check("rank 0's file of an incomplete generation damaged") { copy in
            _ = try scenario.write(plan, rank: 0, in: copy)
            #expect(FileManager.default.createFile(atPath: "\(copy)/fold-1-0-of-2.gpfold", contents: Data([1, 2, 3])))
        }
        let damaged = try Self.copy(scenario.directory)
        defer { try? FileManager.default.removeItem(atPath: damaged) }
        let folded = try (0..<2).map { try scenario.write(plan, rank: $0, in: damaged) }
        _ = scenario.remove(plan, folded[0], rank: 0, in: damaged)
        let path = "\(damaged)/fold-1-1-of-2.gpfold"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: LogFold.Failure.self) { _ = try Self.startUp(damaged, ranks: 2, checkpoint: scenario.checkpoint) }
    }

    /// (b, c) A second fold builds on the first: more events are logged, the open segments close,
    /// and a fold of generation 2 written at 2 ranks, then read back at 1 and 3, keeps every event
    /// once, in the order replay met them, with the same split — also when the crash comes
    /// between the two generations' files.
    @Test func aSecondFoldBuildsOnTheFirst() throws {
        let scenario = try Scenario()
        defer { try? FileManager.default.removeItem(atPath: scenario.directory) }
        let first = try #require(scenario.plan())
        let folded = try (0..<2).map { try scenario.write(first, rank: $0, in: scenario.directory) }
        for rank in 0..<2 { _ = scenario.remove(first, folded[rank], rank: rank, in: scenario.directory) }
        // More events: the open segments fill and close, new ones open.
        for rank in 0..<2 {
            let user = try #require(scenario.events.first { scenario.shards.owner(of: $0.userID) == rank }).userID
            // Out of time order, and ids again: the order replay meets them in must survive the fold.
            for index in 0..<10 {
                try scenario.logs[rank].append([Self.record(Self.event(user, 1_700_000_050 - Int64(index), id: "late-\(index)"))])
            }
        }
        let checkpoint = scenario.checkpoint
        let before = try (1...3).map { try Self.startUp(scenario.directory, ranks: $0, checkpoint: checkpoint) }
        let second = try #require(scenario.plan(previous: folded[0]))
        #expect(second.generation == 2 && second.previous == folded[0])
        #expect(second.segments.recordCounts.keys.allSatisfy { first.segments.recordCounts[$0] == nil })

        let halfway = try Self.copy(scenario.directory)
        defer { try? FileManager.default.removeItem(atPath: halfway) }
        _ = try scenario.write(second, rank: 1, in: halfway)
        let twice = try (0..<2).map { try scenario.write(second, rank: $0, in: scenario.directory) }
        for rank in 0..<2 { _ = scenario.remove(second, twice[rank], rank: rank, in: scenario.directory) }
        #expect(Self.names(in: scenario.directory).filter { $0.hasPrefix("fold-") }.sorted() == ["fold-2-0-of-2.gpfold", "fold-2-1-of-2.gpfold"])
        for ranks in 1...3 {
            Self.expectSameStartUp(
                try Self.startUp(scenario.directory, ranks: ranks, checkpoint: checkpoint), before[ranks - 1], "generation 2 at \(ranks) ranks")
            Self.expectSameStartUp(
                try Self.startUp(halfway, ranks: ranks, checkpoint: checkpoint), before[ranks - 1], "generation 2 half written, \(ranks) ranks")
        }
        let total = try Self.startUp(scenario.directory, ranks: 2, checkpoint: checkpoint).reduce(0) { $0 + $1.trained.count + $1.recent.count }
        #expect(total == scenario.events.count + 20)
    }

    /// A void that a folded segment carries still drops the records it names in a segment that is
    /// not folded, and segments that hold nothing acknowledged are folded away.
    @Test func voidsCarriedByFoldedSegmentsStillApply() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A void record (as a later segment writes it after a failed sync) naming records 2...3 of a
        // segment that stays.
        let kept = try WriteAheadLog(directory: directory, prefix: "events")
        try kept.append((0..<4).map { try Self.record(Self.event("user-1", 1_700_000_000 + Int64($0))) })
        let carrier = try WriteAheadLog(directory: directory, prefix: "events")
        try carrier.append([try Self.record(Self.event("user-2", 1_700_000_100))])
        var voidRecord = [UInt8]()
        WriteAheadLog.appendRecord(
            WriteAheadLog.VoidedRange(segment: kept.fileName, sequences: 3...4).payload, kind: WriteAheadLog.voidKind, sequence: 9,
            to: &voidRecord)
        let handle = try #require(FileHandle(forWritingAtPath: carrier.path))
        handle.seekToEndOfFile()
        handle.write(Data(voidRecord))
        try handle.close()
        let shards = ShardMap(rankCount: 1)
        let before = try LoggedEvents.read(directory: directory, prefix: "events", checkpoint: nil, shards: shards, rank: 0)
        #expect(before.recent.count == 3)
        let plan = LogFold.Plan(generation: 1, previous: LogFold.State(), segments: WALManifest(recordCounts: [carrier.fileName: 1]))
        let folded = try LogFold.write(
            plan, directory: directory, shards: shards, rank: 0, ownSegments: [], earlierSegments: [carrier.fileName, kept.fileName])
        #expect(folded.voids == [WriteAheadLog.VoidedRange(segment: kept.fileName, sequences: 3...4)])
        _ = LogFold.removeFolded(folded, newlyFolded: plan.segments, directory: directory, rank: 0, ownSegments: [])
        #expect(!FileManager.default.fileExists(atPath: carrier.path))
        let after = try LoggedEvents.read(directory: directory, prefix: "events", checkpoint: nil, shards: shards, rank: 0)
        #expect(after.recent == before.recent)
        #expect(after.manifest == before.manifest)

        // An empty segment (each start opens one) is folded away with nothing in it.
        let empty = try WriteAheadLog(directory: directory, prefix: "events")
        let states = [LogFold.SegmentState(name: empty.fileName, records: 0, isOpen: false)]
        let clean = try #require(LogFold.plan(
            previous: folded, checkpoint: WALManifest(), replayed: WALManifest(), segmentsByRank: [states], highestGeneration: 1))
        #expect(clean.segments.recordCounts == [empty.fileName: 0])
    }

    @Test func foldFilesRefuseDamageAndNamesParse() throws {
        let file = FoldFile(
            generation: 3, rank: 1, rankCount: 2, partitionCount: 1_024,
            segments: WALManifest(recordCounts: ["events-a.wal": 2, "events-b.wal": 5]),
            voids: [WriteAheadLog.VoidedRange(segment: "events-c.wal", sequences: 1...2)],
            events: [LogFold.Event(segment: "events-a.wal", position: 1, payload: [1, 2, 3]), LogFold.Event(segment: "events-b.wal", position: 4, payload: [])])
        let bytes = file.encoded
        let read = try #require(FoldFile(decoding: bytes))
        #expect(read.generation == 3 && read.rank == 1 && read.rankCount == 2 && read.partitionCount == 1_024)
        #expect(read.segments == file.segments && read.voids == file.voids)
        #expect(read.events.map(\.segment) == ["events-a.wal", "events-b.wal"] && read.events.map(\.position) == [1, 4])
        #expect(read.events.map { Array($0.payload) } == [[1, 2, 3], []])
        for length in 0..<bytes.count { #expect(FoldFile(decoding: Array(bytes.prefix(length))) == nil, "cut at \(length)") }
        for index in stride(from: 0, to: bytes.count, by: 3) {
            var flipped = bytes
            flipped[index] ^= 0x01
            #expect(FoldFile(decoding: flipped) == nil, "bit flipped at \(index)")
        }
        #expect(LogFold.FileName("fold-12-3-of-4.gpfold") == LogFold.FileName(generation: 12, rank: 3, rankCount: 4))
        #expect(LogFold.FileName("fold-12-4-of-4.gpfold") == nil)
        #expect(LogFold.FileName(".fold-12-3-of-4-77.tmp") == nil)
        let names = ["fold-2-0-of-2.gpfold", "fold-2-1-of-2.gpfold", "fold-3-0-of-3.gpfold", "fold-3-2-of-3.gpfold"].compactMap(LogFold.FileName.init)
        #expect(LogFold.newestComplete(in: names).map { [$0.generation, $0.rankCount] } == [2, 2])
    }
}
