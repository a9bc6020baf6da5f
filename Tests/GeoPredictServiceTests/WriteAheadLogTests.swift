import Foundation
import GeoPredict
import MPI
import GeoPredictProtos
@testable import GeoPredictService
import Testing

struct WriteAheadLogTests {
    private func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "wal-test-\(UUID().uuidString)"
    }

    private static func records(_ payloads: [[UInt8]], firstSequence: UInt64 = 1) -> [UInt8] {
        var bytes = [UInt8]()
        for (offset, payload) in payloads.enumerated() {
            WriteAheadLog.appendRecord(payload, sequence: firstSequence + UInt64(offset), to: &bytes)
        }
        return bytes
    }

    /// A format-1 file as the previous version wrote it: `[length][crc32][payload]` per record.
    private static func format1(_ payloads: [[UInt8]]) -> [UInt8] {
        var bytes = [UInt8]()
        for payload in payloads {
            LittleEndian.append(UInt32(payload.count), to: &bytes)
            LittleEndian.append(CRC32.checksum(payload), to: &bytes)
            bytes += payload
        }
        return bytes
    }

    private static func fileBytes(_ path: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func recordsSurviveAReopenAcrossFiles() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try WriteAheadLog(directory: directory, prefix: "events")
        try first.append([[1, 2, 3], [], [4]])
        try first.append([[5]])
        let second = try WriteAheadLog(directory: directory, prefix: "events")
        try second.append([[6, 7]])
        let other = try WriteAheadLog(directory: directory, prefix: "other")
        try other.append([[9]])
        let read = try WriteAheadLog.readAll(directory: directory, prefix: "events")
        #expect(Set(read.records) == Set([[1, 2, 3], [], [4], [5], [6, 7]]))
        #expect(read.records.count == 5)
        #expect(read.tornFiles.isEmpty)
        #expect(Array(Self.fileBytes(first.path).prefix(4)) == WriteAheadLog.magic, "format 2 starts with the magic")
    }

    /// A segment that reaches its size is closed (not sealed: nothing failed) and the next append
    /// opens the next one, so no file grows with the whole history; replay finds every record in order.
    @Test func segmentsCloseAtTheirSizeAndReplayInOrder() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try WriteAheadLog(directory: directory, prefix: "events", files: POSIXLogFiles(), segmentBytes: 200)
        let events = (1...50).map { [UInt8]("event \($0)".utf8) }
        for event in events { try log.append([event]) }
        try log.append(Array(events.prefix(10)))
        let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
        #expect(read.count >= 8, "about 6 records of 32 bytes per 200-byte segment")
        #expect(read.flatMap(\.records) == events + events.prefix(10))
        #expect(read.allSatisfy { $0.complete })
        #expect(log.statistics == .init())
        #expect(log.coverage.values.reduce(0, +) == 60)
        #expect(Set(log.coverage.keys) == Set(read.map(\.name)))
    }

    @Test func aTornTailEndsItsFileWithoutLosingEarlierRecords() {
        let intact = Self.records([[10, 11], [12, 13, 14]])
        let next = Self.records([[15, 16, 17]], firstSequence: 3)
        for cut in 1..<next.count {
            let parsed = WriteAheadLog.parse(intact + next.prefix(cut))
            #expect(parsed.records == [[10, 11], [12, 13, 14]])
            #expect(parsed.skipped == [.init(offset: intact.count, length: cut, reason: .tornTail)], "cut \(cut)")
        }
        var corrupt = intact
        corrupt[corrupt.count - 1] ^= 0xFF
        let parsed = WriteAheadLog.parse(corrupt)
        #expect(parsed.records == [[10, 11]])
        #expect(parsed.skipped.map(\.reason) == [.tornTail])
    }

    /// What a failed append left behind in the old log (the full disk: 3 of 8 events kept):
    /// replay goes on past it and says so.
    @Test func aPartialRecordFollowedByGoodRecordsIsSkippedAndReported() {
        let before = Self.records([[1], [2]])
        let partial = Array(Self.records([[3, 3, 3, 3, 3, 3]], firstSequence: 3).prefix(20))
        let after = Self.records((4...11).map { [UInt8($0)] }, firstSequence: 4)
        let parsed = WriteAheadLog.parse(before + partial + after)
        #expect(parsed.records == [[1], [2]] + (4...11).map { [UInt8($0)] })
        #expect(parsed.skipped == [.init(offset: before.count, length: partial.count, reason: .corrupt)])
    }

    @Test func zeroedRegionsNeverParseAsEventsAndAreReported() {
        let before = Self.records([[1, 2]])
        let after = Self.records([[3, 4]], firstSequence: 2)
        let zeros = [UInt8](repeating: 0, count: 4_096)
        let parsed = WriteAheadLog.parse(before + zeros + after + zeros)
        #expect(parsed.records == [[1, 2], [3, 4]])
        #expect(parsed.skipped == [
            .init(offset: before.count, length: zeros.count, reason: .zeroed),
            .init(offset: before.count + zeros.count + after.count, length: zeros.count, reason: .zeroed),
        ])
        // A file that is all zeros (allocated, never written): nothing, and said so.
        #expect(WriteAheadLog.parse(zeros).records.isEmpty)
        #expect(WriteAheadLog.parse(zeros).skipped.map(\.reason) == [.zeroed])
    }

    /// Stale data past a truncation that did not last: a whole old record whose sequence is not after
    /// the last good one is not taken for a later event.
    @Test func staleRecordsAfterATruncationAreSkipped() {
        let acknowledged = Self.records([[1], [2], [3]])
        // A failed append of sequences 4 and 5 was truncated, then 6 was acknowledged; the truncation
        // was lost, so 6 overwrote only the start of the stale bytes.
        let stale = Self.records([[40, 40, 40, 40, 40, 40, 40], [5]], firstSequence: 4)
        let good = Self.records([[6]], firstSequence: 6)
        let file = acknowledged + good + Array(stale[good.count...])
        let parsed = WriteAheadLog.parse(file)
        #expect(parsed.records == [[1], [2], [3], [6]])
        #expect(parsed.skipped.map(\.reason) == [.corrupt, .stale(sequence: 5, after: 6)])
        #expect(parsed.skipped.reduce(0) { $0 + $1.length } == stale.count - good.count)
    }

    @Test func format1LogsStillReplay() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let old = Self.format1([[1, 2, 3], [7], [4]])
        try Data(old + [3, 0, 0, 0, 9]).write(to: URL(fileURLWithPath: "\(directory)/events-1-old.wal"))
        let log = try WriteAheadLog(directory: directory, prefix: "events")
        try log.append([[5]])
        let files = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
        #expect(files.first?.records == [[1, 2, 3], [7], [4]])
        // Zeroed space in a format-1 file no longer passes for empty events.
        #expect(WriteAheadLog.parse(old + [UInt8](repeating: 0, count: 64)).records == [[1, 2, 3], [7], [4]])
        #expect(WriteAheadLog.parse(old + [UInt8](repeating: 0, count: 64)).skipped.map(\.reason) == [.zeroed])
        #expect(files.first?.skipped == [.init(offset: old.count, length: 5, reason: .tornTail)])
        #expect(files.last?.records == [[5]])
        #expect(WriteAheadLog.skippedReport(files).first?.hasPrefix("write-ahead log replay skipped 1 region(s), 5 bytes, in 1 file(s)") == true)
    }

    @Test func aMissingDirectoryHasNoRecords() throws {
        let read = try WriteAheadLog.readAll(directory: temporaryDirectory(), prefix: "events")
        #expect(read.records.isEmpty)
    }

    // MARK: Failing appends

    /// The real files with failures on demand: a disk with `spaceLeft` bytes, truncations and syncs
    /// that fail; it records which file every write went to.
    private final class FaultyFiles: WriteAheadLogFiles {
        let real = POSIXLogFiles()
        var spaceLeft: Int?
        var truncationFails = false
        var syncFails = false
        /// Syncs that fail before they work again (a transient fault).
        var failingSyncs = 0
        private var paths: [Int32: String] = [:]
        private(set) var writtenPaths: [String] = []

        func create(path: String) throws(FileError) -> Int32 {
            let descriptor = try real.create(path: path)
            paths[descriptor] = path
            return descriptor
        }

        func write(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>) throws(FileError) -> Int {
            writtenPaths.append(paths[descriptor] ?? "?")
            guard let space = spaceLeft else { return try real.write(descriptor, bytes) }
            guard space > 0 else { throw FileError(code: ENOSPC) }
            let written = try real.write(descriptor, bytes.prefix(space))
            spaceLeft = space - written
            return written
        }

        func truncate(_ descriptor: Int32, toLength length: Int) throws(FileError) {
            if truncationFails { throw FileError(code: EIO) }
            try real.truncate(descriptor, toLength: length)
        }

        func synchronize(_ descriptor: Int32) throws(FileError) {
            if syncFails { throw FileError(code: EIO) }
            if failingSyncs > 0 {
                failingSyncs -= 1
                throw FileError(code: EIO)
            }
            try real.synchronize(descriptor)
        }

        func close(_ descriptor: Int32) {
            paths[descriptor] = nil
            real.close(descriptor)
        }

        func synchronizeDirectory(_ path: String) throws(FileError) { try real.synchronizeDirectory(path) }
    }

    /// A log on ``FaultyFiles`` in a fresh directory (removed afterwards), with one acknowledged
    /// record, `[0]`, in its first segment.
    private func withFaultyLog(_ body: (_ directory: String, _ files: FaultyFiles, _ log: WriteAheadLog) throws -> Void) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = FaultyFiles()
        let log = try WriteAheadLog(directory: directory, prefix: "events", files: files)
        try log.append([[0]])
        try body(directory, files, log)
    }

    private static let bigBatch = (0..<1_000).map { [UInt8](repeating: UInt8($0 % 251), count: 100 + $0 % 7) }
    private static let singles = (1...8).map { [UInt8]("event \($0)".utf8) }

    /// The full disk: a big batch fails part-way, space comes back, 8 single events are
    /// acknowledged, and replay finds all 8 (the old log kept 3: the partial record hid the rest).
    @Test func aDiskThatFillsMidAppendLosesNothingAcknowledged() throws {
        try withFaultyLog { directory, files, log in
            let lengthBefore = Self.fileBytes(log.path).count
            files.spaceLeft = 50_000
            #expect(throws: WriteAheadLog.Failure.self) { try log.append(Self.bigBatch) }
            #expect((try? log.append(Self.bigBatch)) == nil)
            #expect(Self.fileBytes(log.path).count == lengthBefore, "truncated back to the last acknowledged record")
            #expect(log.statistics == .init(failedAppends: 2, diskFullAppends: 2, sealedSegments: 0))
            files.spaceLeft = nil
            for single in Self.singles { try log.append([single]) }
            let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
            #expect(read.flatMap(\.records) == [[0]] + Self.singles)
            #expect(read.allSatisfy { $0.complete })
            #expect(log.coverage == [log.fileName: 9])
        }
    }

    @Test func aDiskFullFailureSaysSo() {
        #expect(WriteAheadLog.Failure.writeFailed(path: "x", errno: ENOSPC).isDiskFull)
        #expect(!WriteAheadLog.Failure.writeFailed(path: "x", errno: EIO).isDiskFull)
    }

    /// When the failed write cannot be taken back, the file is sealed: never written again, the next
    /// append opens a new segment, and replay reports the partial record instead of stopping at it.
    /// The failed batch's whole records in the sealed file are voided by the later segment (the
    /// immediate try at the void fails too here, on the full disk, and seals a second, empty segment).
    @Test func aFailedTruncationSealsTheFile() throws {
        try withFaultyLog { directory, files, log in
            let sealed = log.path
            files.spaceLeft = 1_000
            files.truncationFails = true
            #expect((try? log.append(Self.bigBatch)) == nil)
            let sealedLength = Self.fileBytes(sealed).count
            files.spaceLeft = nil
            files.truncationFails = false
            for single in Self.singles { try log.append([single]) }
            #expect(log.path != sealed)
            #expect(Self.fileBytes(sealed).count == sealedLength)
            #expect(files.writtenPaths.filter { $0 == sealed }.count == 3, "the first append and the failed one's two writes only")
            #expect(log.statistics.sealedSegments == 2)
            let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
            #expect(read.flatMap(\.records) == [[0]] + Self.singles, "none of the failed batch's records replay")
            #expect(read.first { "\(directory)/\($0.name)" == sealed }?.skipped.map(\.reason) == [.voided, .tornTail])
            #expect(log.coverage.filter { $0.value > 0 } == [(sealed as NSString).lastPathComponent: 1, log.fileName: 8])
        }
    }

    /// After a failed fdatasync the file is never written again (its pages may be gone): sealed,
    /// and the batch is not acknowledged; its records, written before the failed sync, never replay.
    /// The sync keeps failing here, so the immediate try at the void seals a second segment.
    @Test func aFailedSyncSealsTheFile() throws {
        try withFaultyLog { directory, files, log in
            let sealed = log.path
            files.syncFails = true
            #expect((try? log.append([[1]])) == nil)
            files.syncFails = false
            let writesToSealed = files.writtenPaths.filter { $0 == sealed }.count
            for single in Self.singles { try log.append([single]) }
            #expect(files.writtenPaths.filter { $0 == sealed }.count == writesToSealed)
            #expect(log.path != sealed)
            #expect(log.statistics == .init(failedAppends: 1, diskFullAppends: 0, sealedSegments: 2))
            #expect(log.recordCount == 9)
            let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
            #expect(read.flatMap(\.records) == [[0]] + Self.singles)
            #expect(read.first { "\(directory)/\($0.name)" == sealed }?.skipped.map(\.reason) == [.voided])
        }
    }

    /// Segments sealed and opened within one millisecond replay in the order they were written: the
    /// events come back in the order they were acknowledged (names with only a random part after the
    /// time ordered such segments by chance).
    @Test func segmentsOpenedInOneMillisecondReplayInCreationOrder() throws {
        try withFaultyLog { directory, files, log in
            let events = (1...40).map { [UInt8]("event \($0)".utf8) }
            for event in events {
                files.syncFails = true
                #expect((try? log.append([[1]])) == nil)
                files.syncFails = false
                try log.append([event])
            }
            #expect(log.statistics.sealedSegments == 80)
            let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
            #expect(read.flatMap(\.records) == [[0]] + events)
        }
    }

    /// Two logs of one process opened in the same millisecond (a restart inside tests, a second log
    /// of the same prefix): the second one's segments sort after the first one's.
    @Test func aSecondLogsSegmentsSortAfterTheFirstOnes() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for round in 0..<20 {
            let first = try WriteAheadLog(directory: directory, prefix: "events")
            try first.append([[UInt8(2 * round)]])
            let second = try WriteAheadLog(directory: directory, prefix: "events")
            try second.append([[UInt8(2 * round + 1)]])
        }
        let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
        #expect(read.flatMap(\.records) == (0..<40).map { [UInt8($0)] })
    }

    /// A restart after the clock stepped back (here: the earlier run's segment is named an hour ahead
    /// of now): the new segments still sort, and replay, after the earlier ones.
    @Test func segmentsAfterTheClockSteppedBackStillReplayAfterEarlierOnes() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let earlier = try WriteAheadLog(directory: directory, prefix: "events")
        try earlier.append([[1], [2]])
        let ahead = Int(Date().timeIntervalSince1970 * 1000) + 3_600_000
        let renamed = WriteAheadLog.segmentName(prefix: "events", milliseconds: ahead, process: 1, ordinal: 1, random: 0)
        try FileManager.default.moveItem(atPath: earlier.path, toPath: "\(directory)/\(renamed)")
        // Ignored: not a 13-digit time, so it does not sort as one among the others.
        FileManager.default.createFile(atPath: "\(directory)/events-99999999999999-1-1-0.wal", contents: nil)
        #expect(WriteAheadLog.newestSegmentMilliseconds(directory: directory, prefix: "events") == ahead)
        let later = try WriteAheadLog(directory: directory, prefix: "events")
        try later.append([[3]])
        #expect(later.fileName > renamed)
        let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
        #expect(read.flatMap(\.records) == [[1], [2], [3]])
    }

    @Test func segmentNamesSortByTimeThenOrdinal() {
        func name(_ milliseconds: Int, _ ordinal: Int, _ random: UInt64) -> String {
            WriteAheadLog.segmentName(prefix: "events", milliseconds: milliseconds, process: 7, ordinal: ordinal, random: random)
        }
        let created = [name(1_700_000_000_000, 9, .max), name(1_700_000_000_000, 10, 0), name(1_700_000_000_000, 11, 5), name(1_700_000_000_001, 0, 1)]
        #expect(created.sorted() == created)
        #expect(created.allSatisfy { $0.hasPrefix("events-") && $0.hasSuffix(".wal") })
    }

    /// A crash right after a failed sync, before any later append: the void was written at once, so
    /// the batch that was never acknowledged does not come back at the restart.
    @Test func aBatchWhoseSyncFailedDoesNotReplayAfterACrash() throws {
        try withFaultyLog { directory, files, log in
            let sealed = (log.path as NSString).lastPathComponent
            files.failingSyncs = 1
            #expect((try? log.append([[1], [2], [3]])) == nil)
            #expect(log.statistics.sealedSegments == 1, "the void's own sync worked")
            let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
            #expect(read.flatMap(\.records) == [[0]])
            #expect(read.first { $0.name == sealed }?.skipped.map(\.reason) == [.voided])
            #expect(WriteAheadLog.skippedReport(read).first?.hasSuffix("1 voided") == true)
            try log.append([[4]])
            #expect(try WriteAheadLog.readFiles(directory: directory, prefix: "events").flatMap(\.records) == [[0], [4]])
        }
    }

    /// Start-up replay reads each file once and applies voids after all are read: a batch whose sync
    /// failed is dropped from the events, the counts and the checkpoint's split, which counts only the
    /// records the voids keep.
    @Test func startUpReplayDropsAVoidedBatchAndSplitsAroundIt() throws {
        try withFaultyLog { directory, files, log in
            let events = (0..<6).map { index in
                Geopredict_V1_LocationEvent.with {
                    $0.userID = "user-\(index)"
                    $0.timestampUnixSeconds = 1_700_000_000 + Int64(index)
                }
            }
            let first = log.fileName
            try log.append(events[0..<3].map { try $0.serializedBytes() })
            files.failingSyncs = 1
            #expect((try? log.append(events[3..<5].map { try $0.serializedBytes() })) == nil)
            try log.append([events[5].serializedBytes()])
            let checkpoint = WALManifest(recordCounts: [first: 3])
            let logged = try LoggedEvents.read(
                directory: directory, prefix: "events", checkpoint: checkpoint, shards: ShardMap(rankCount: 1), rank: 0)
            #expect(logged.trained == Array(events[0..<2]), "the checkpoint covers the first 3 records: [0], event 0, event 1")
            #expect(logged.recent == [events[2], events[5]])
            #expect(logged.manifest.recordCounts == [first: 4, log.fileName: 1])
            #expect(logged.undecodable == 1, "the set-up's [0] is not an event")
            #expect(logged.skipped.first { $0.name == first }?.skipped.map(\.reason) == [.voided])
        }
    }

    /// A void names its segment and range exactly; a void for another segment drops nothing here.
    @Test func aVoidDropsOnlyTheRecordsItNames() throws {
        var bytes = [UInt8]()
        for (sequence, payload) in [(UInt64(1), [UInt8]([1])), (2, [2]), (3, [3])] {
            WriteAheadLog.appendRecord(payload, sequence: sequence, to: &bytes)
        }
        let file = WriteAheadLog.parseFile(bytes)
        let void = WriteAheadLog.VoidedRange(segment: "events-a.wal", sequences: 2...2)
        #expect(WriteAheadLog.VoidedRange(payload: void.payload) == void)
        #expect(file.applying([void], name: "events-a.wal").records == [[1], [3]])
        #expect(file.applying([], name: "events-a.wal").records == [[1], [2], [3]])
        var voidBytes = [UInt8]()
        WriteAheadLog.appendRecord(void.payload, kind: WriteAheadLog.voidKind, sequence: 1, to: &voidBytes)
        let other = WriteAheadLog.parseFile(voidBytes)
        #expect(other.events.isEmpty && other.voids == [void] && other.skipped.isEmpty)
    }
}
