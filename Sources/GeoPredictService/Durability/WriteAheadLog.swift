import Foundation
import GeoPredict
import MPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An append-only, checksummed log of records on local disk, made durable by `fdatasync` before an
/// append returns.
///
/// Each rank writes its own files (one segment at a time, named as
/// ``segmentName(prefix:milliseconds:process:ordinal:random:)`` says) in the log directory; recovery reads every file, so the data survives a restart at a different rank count.
///
/// A record (format 2) is a 24-byte header and its payload:
/// `[magic "GPWL"][version 2][kind 0][0, 0][sequence: UInt64 LE][length: UInt32 LE][crc32: UInt32 LE][payload]`,
/// the checksum covering the header from the version byte on and the payload. Sequence numbers grow
/// by one per record and are never reused within a file (those of a failed append are skipped), so
/// zeroed bytes, torn records and stale records left past a truncation never parse as events.
///
/// What an append that fails leaves behind: a failed write truncates the file back to its last
/// acknowledged record (`ftruncate` + `fdatasync`); if that fails too, or if `fdatasync` itself
/// failed, the file is sealed — never written again (after a failed sync the kernel may have dropped
/// the pages, so nothing written there can be trusted: PostgreSQL's "fsyncgate") — and the next append
/// opens a new segment. Acknowledged records are therefore never behind a partial one. A sealed file may
/// still hold whole records of the batch that failed (written, but never acknowledged), so the next
/// segment begins with a *void* record (kind 1: the sealed file's name and the batch's sequence range),
/// synced with the first batch acknowledged after the failure, and replay drops the records it names.
/// The void is tried at once, and again with every append until it is on disk.
///
/// Replay (``readFiles(directory:prefix:)``) resynchronises past a bad region: it scans for the next
/// magic whose header, checksum and sequence are valid, and reports every skipped region with its
/// reason. Files of format 1 (`[length][crc32][payload]`, no magic) are still read, up to their first
/// bad record as before (without a magic there is nothing to resynchronise on), except that eight
/// zero bytes now end them instead of passing for an empty event.
public final class WriteAheadLog {
    /// Problems opening, writing or reading a log.
    public enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case writeFailed(path: String, errno: Int32)
        case syncFailed(path: String, errno: Int32)
        /// A record larger than ``maximumRecordBytes`` (nothing was written).
        case recordTooLarge(bytes: Int)

        public var description: String {
            switch self {
            case let .cannotOpen(path, code): return "cannot open \(path): \(String(cString: strerror(code)))"
            case let .writeFailed(path, code): return "cannot write \(path): \(String(cString: strerror(code)))"
            case let .syncFailed(path, code): return "cannot sync \(path): \(String(cString: strerror(code)))"
            case let .recordTooLarge(bytes): return "a record of \(bytes) bytes is larger than the log takes (\(maximumRecordBytes))"
            }
        }

        /// Whether the disk (or the user's quota) is full: space may come back without a restart.
        public var isDiskFull: Bool {
            switch self {
            case let .writeFailed(_, code), let .syncFailed(_, code), let .cannotOpen(_, code):
                return code == ENOSPC || code == EDQUOT
            case .recordTooLarge:
                return false
            }
        }
    }

    /// What appends have met so far, for logs and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Appends that failed (nothing of them acknowledged).
        public var failedAppends = 0
        /// Of those, the ones that failed because the disk was full.
        public var diskFullAppends = 0
        /// Segments sealed after a failed sync or a failed truncation.
        public var sealedSegments = 0
    }

    /// The largest payload a record may carry (larger ones are refused before writing).
    public static let maximumRecordBytes = 16 * 1024 * 1024

    /// The size past which an append closes its segment, so that the next one opens a new file:
    /// replay at start-up holds one segment at a time, and no file grows with the whole history of a
    /// long run. 64 MiB is about 900,000 events of the service's size, read back in well under a
    /// second, and few enough files for a directory listing.
    public static let defaultSegmentBytes = 64 * 1024 * 1024

    /// The directory the segments are in.
    public let directory: String
    private let prefix: String
    private let files: any WriteAheadLogFiles
    private let segmentBytes: Int
    /// The segment appends go to; nil once sealed, until the next append opens one.
    private var segment: OpenSegment?
    /// Per segment this process wrote, its name and acknowledged records, in creation order.
    private var segmentRecords: [(name: String, records: Int)] = []
    private var nextSequence: UInt64 = 1
    /// The time and ordinal in the newest segment name of this process, over all of its logs (a
    /// second log opened in the same millisecond must still sort after the first one's segments).
    private static let lastSegmentName = Mutex((milliseconds: 0, ordinal: 0))
    /// Batches of sealed segments that failed and whose void is not on disk yet.
    private var pendingVoids: [VoidedRange] = []
    /// Bytes appended (and synced) by this process.
    public private(set) var bytesWritten = 0
    /// Records appended (and synced) by this process, over all its segments.
    public private(set) var recordCount = 0
    public private(set) var statistics = Statistics()

    private struct OpenSegment {
        var descriptor: Int32
        var name: String
        var path: String
        /// Bytes of acknowledged records: where a failed append truncates back to.
        var length: Int
    }

    /// Creates a new log file in `directory` (created if missing) and syncs the directory so that
    /// the file itself survives a crash.
    public convenience init(directory: String, prefix: String) throws(Failure) {
        try self.init(directory: directory, prefix: prefix, files: POSIXLogFiles())
    }

    /// The same on `files`, the seam through which tests inject failing writes, truncations and syncs,
    /// with segments closed once they reach `segmentBytes`.
    init(
        directory: String, prefix: String, files: any WriteAheadLogFiles, segmentBytes: Int = defaultSegmentBytes
    ) throws(Failure) {
        self.directory = directory
        self.prefix = prefix
        self.files = files
        self.segmentBytes = segmentBytes
        try Self.makeDirectory(directory)
        let newest = Self.newestSegmentMilliseconds(directory: directory, prefix: prefix)
        Self.lastSegmentName.withLock { $0.milliseconds = max($0.milliseconds, newest + 1) }
        segment = try openSegment()
    }

    /// The time part of the newest `prefix` segment name in `directory` (0 when there is none).
    ///
    /// A new log's segments are named after it, so that they sort after every segment written before
    /// them, by this process or an earlier one, even when the clock has stepped back across a restart
    /// (an NTP correction, a host whose clock ran ahead): replay order is name order. Only 13-digit
    /// times count (until the year 2286): a longer one would not sort as a number among the others.
    static func newestSegmentMilliseconds(directory: String, prefix: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.lazy
            .filter { $0.hasPrefix(prefix + "-") && $0.hasSuffix(".wal") }
            .map { $0.dropFirst(prefix.count + 1).prefix { $0 != "-" } }
            .filter { $0.count == 13 }
            .compactMap { Int($0) }
            .max() ?? 0
    }

    deinit {
        if let segment { files.close(segment.descriptor) }
    }

    /// The name of the segment appends go to (or went to last), as a model checkpoint's manifest lists it.
    public var fileName: String { segment?.name ?? segmentRecords.last?.name ?? "" }
    /// The path of that segment.
    public var path: String { "\(directory)/\(fileName)" }

    /// Per segment this process wrote, how many records were acknowledged in it: what a model trained
    /// now covers.
    public var coverage: [String: Int] {
        Dictionary(segmentRecords.map { ($0.name, $0.records) }, uniquingKeysWith: +)
    }

    /// Per segment this process wrote, in creation order: its acknowledged records and whether
    /// appends may still go to it (the open one). A closed or sealed segment is never written again,
    /// so its count is final: what a fold of the log (``LogFold``) needs to know.
    var segmentStates: [LogFold.SegmentState] {
        segmentRecords.map { LogFold.SegmentState(name: $0.name, records: $0.records, isOpen: $0.name == segment?.name) }
    }

    /// Appends `records` and returns once they are on disk (one `fdatasync` for the whole batch).
    /// On failure nothing of the batch is acknowledged and nothing of it hides later appends.
    public func append(_ records: [[UInt8]]) throws(Failure) {
        guard !records.isEmpty else { return }
        if let large = records.first(where: { $0.count > Self.maximumRecordBytes }) { throw .recordTooLarge(bytes: large.count) }
        do {
            try appendToSegment(records)
        } catch {
            statistics.failedAppends += 1
            if error.isDiskFull { statistics.diskFullAppends += 1 }
            // Void the sealed batch now rather than with the next append, so that a crash before
            // that append does not replay it (best effort: it stays pending if this fails too).
            if !pendingVoids.isEmpty { try? appendToSegment([]) }
            throw error
        }
    }

    /// Writes the pending voids, then `records`, with one sync; nothing to do when both are empty.
    private func appendToSegment(_ records: [[UInt8]]) throws(Failure) {
        guard !records.isEmpty || !pendingVoids.isEmpty else { return }
        var current: OpenSegment
        if let segment { current = segment } else { current = try openSegment() }
        segment = current
        var buffer = [UInt8]()
        buffer.reserveCapacity(records.reduce(0) { $0 + $1.count + Self.headerBytes })
        // The batch's sequence numbers are used up even if it fails: a stale copy of a failed record
        // left past a lost truncation can never pass for a later one.
        let firstSequence = nextSequence
        for void in pendingVoids {
            Self.appendRecord(void.payload, kind: Self.voidKind, sequence: nextSequence, to: &buffer)
            nextSequence += 1
        }
        for record in records {
            Self.appendRecord(record, sequence: nextSequence, to: &buffer)
            nextSequence += 1
        }
        let written = VoidedRange(segment: current.name, sequences: firstSequence...(nextSequence - 1))
        do {
            try writeAll(buffer, to: current.descriptor)
        } catch {
            if !truncateOrSeal(current) { pendingVoids.append(written) }
            throw .writeFailed(path: current.path, errno: error.code)
        }
        do {
            try files.synchronize(current.descriptor)
        } catch {
            seal(current)
            pendingVoids.append(written)
            throw .syncFailed(path: current.path, errno: error.code)
        }
        pendingVoids.removeAll()
        current.length += buffer.count
        segment = current
        segmentRecords[segmentRecords.count - 1].records += records.count
        bytesWritten += buffer.count
        recordCount += records.count
        if current.length >= segmentBytes {
            // Full: closed, not sealed (nothing failed); the next append opens the next segment.
            files.close(current.descriptor)
            segment = nil
        }
    }

    private func writeAll(_ buffer: [UInt8], to descriptor: Int32) throws(FileError) {
        var offset = 0
        while offset < buffer.count {
            let written = try files.write(descriptor, buffer[offset...])
            guard written > 0 else { throw FileError(code: EIO) }
            offset += written
        }
    }

    /// Takes a failed write's bytes off the end of the file, durably; seals the file if it cannot.
    /// Whether the bytes are gone.
    private func truncateOrSeal(_ current: OpenSegment) -> Bool {
        do {
            try files.truncate(current.descriptor, toLength: current.length)
            try files.synchronize(current.descriptor)
            return true
        } catch {
            seal(current)
            return false
        }
    }

    /// Never writes `current` again: the next append opens a new segment.
    private func seal(_ current: OpenSegment) {
        files.close(current.descriptor)
        segment = nil
        statistics.sealedSegments += 1
    }

    /// The name of a segment: `<prefix>-<ms>-<pid>-<ordinal>-<random>.wal`.
    ///
    /// Replay reads segments in name order, so a process's names must sort in the order it created
    /// them: the time (never going back within a process, even if the clock does, and starting after
    /// the newest segment already in the folder) orders them across restarts, and the zero-padded ordinal (counted over every log of the process) within one
    /// millisecond, where a segment sealed after a
    /// failed sync and its successor are often opened (a random part alone ordered those by chance).
    /// The process and random parts keep names unique across hosts sharing one state folder.
    static func segmentName(prefix: String, milliseconds: Int, process: Int32, ordinal: Int, random: UInt64) -> String {
        let paddedOrdinal = String(repeating: "0", count: max(0, 10 - String(ordinal).count)) + String(ordinal)
        return "\(prefix)-\(milliseconds)-\(process)-\(paddedOrdinal)-\(String(random, radix: 16)).wal"
    }

    /// Creates the next segment file and syncs the directory so that the file survives a crash.
    private func openSegment() throws(Failure) -> OpenSegment {
        let (milliseconds, ordinal) = Self.lastSegmentName.withLock { last in
            last = (max(Int(Date().timeIntervalSince1970 * 1000), last.milliseconds), last.ordinal + 1)
            return last
        }
        let name = Self.segmentName(
            prefix: prefix, milliseconds: milliseconds, process: getpid(), ordinal: ordinal,
            random: UInt64.random(in: 0...UInt64.max))
        let path = "\(directory)/\(name)"
        let descriptor: Int32
        do {
            descriptor = try files.create(path: path)
        } catch {
            throw .cannotOpen(path: path, errno: error.code)
        }
        do {
            try files.synchronizeDirectory(directory)
        } catch {
            files.close(descriptor)
            throw .syncFailed(path: directory, errno: error.code)
        }
        segmentRecords.append((name, 0))
        return OpenSegment(descriptor: descriptor, name: name, path: path, length: 0)
    }

    // MARK: Record format

    /// "GPWL": as a format-1 length (little-endian) it would be 1.28 GB, beyond any record, so a
    /// format-1 file never starts with it.
    static let magic: [UInt8] = [0x47, 0x50, 0x57, 0x4C]
    static let formatVersion: UInt8 = 2
    static let eventKind: UInt8 = 0
    /// A record that names records of a sealed segment replay must drop (``VoidedRange``).
    static let voidKind: UInt8 = 1
    static let headerBytes = 24

    /// The records of one segment, by sequence number, that an append wrote but never acknowledged.
    struct VoidedRange: Equatable {
        var segment: String
        var sequences: ClosedRange<UInt64>

        /// `[first: UInt64 LE][last: UInt64 LE][segment name, UTF-8]`.
        var payload: [UInt8] {
            var writer = ByteWriter(reservingCapacity: 16 + segment.utf8.count)
            writer.write(sequences.lowerBound)
            writer.write(sequences.upperBound)
            writer.write(bytes: segment.utf8)
            return writer.bytes
        }

        init(segment: String, sequences: ClosedRange<UInt64>) {
            self.segment = segment
            self.sequences = sequences
        }

        init?(payload: [UInt8]) {
            guard payload.count > 16 else { return nil }
            let first = LittleEndian.load(UInt64.self, from: payload, at: 0)
            let last = LittleEndian.load(UInt64.self, from: payload, at: 8)
            guard first <= last, let name = String(validating: payload[16...], as: UTF8.self) else { return nil }
            self.init(segment: name, sequences: first...last)
        }
    }

    static func appendRecord(_ payload: [UInt8], kind: UInt8 = eventKind, sequence: UInt64, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: magic)
        let checked = checkedHeader(kind: kind, sequence: sequence, length: UInt32(payload.count))
        buffer.append(contentsOf: checked)
        LittleEndian.append(CRC32.checksum(checked + payload), to: &buffer)
        buffer.append(contentsOf: payload)
    }

    /// The header bytes the checksum covers: version, kind, two reserved zeros, sequence, length.
    private static func checkedHeader(kind: UInt8, sequence: UInt64, length: UInt32) -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 16)
        writer.write(bytes: [formatVersion, kind, 0, 0])
        writer.write(sequence)
        writer.write(length)
        return writer.bytes
    }

    // MARK: Reading

    /// A stretch of a log file that replay passed over, and why.
    public struct SkippedRegion: Sendable, Equatable, CustomStringConvertible {
        public enum Reason: Sendable, Equatable {
            /// Unreadable bytes up to the end of the file: an append cut short by a crash (never
            /// acknowledged, since acknowledgement waits for the sync).
            case tornTail
            /// Only zero bytes (space the file system allocated but never wrote).
            case zeroed
            /// Unreadable bytes followed by good records (damage, or a failed append whose
            /// truncation was lost): records in it, if any, are lost.
            case corrupt
            /// A whole, valid record whose sequence number is not after the previous record's: a
            /// stale copy (e.g. of a failed append) left past a truncation.
            case stale(sequence: UInt64, after: UInt64)
            /// Whole records of an append whose sync or truncation failed (never acknowledged), named
            /// by a void record in a later segment.
            case voided
        }

        public var offset: Int
        public var length: Int
        public var reason: Reason

        public var description: String {
            let what: String
            switch reason {
            case .tornTail: what = "torn tail (an append cut short, never acknowledged)"
            case .zeroed: what = "zeroed region"
            case .corrupt: what = "unreadable region before good records"
            case let .stale(sequence, after): what = "stale record (sequence \(sequence) after \(after))"
            case .voided: what = "records of a failed append, voided by a later segment (never acknowledged)"
            }
            return "\(length) bytes at offset \(offset): \(what)"
        }
    }

    /// The intact records of one log file.
    public struct FileRecords: Sendable {
        /// The file's name in the log directory.
        public var name: String
        /// Its intact records, in order.
        public var records: [[UInt8]]
        /// The regions replay passed over, in file order.
        public var skipped: [SkippedRegion] = []

        /// Whether every byte belonged to an intact record.
        public var complete: Bool { skipped.isEmpty }
    }

    /// Every `*.wal` file in `directory` whose name starts with `prefix`, in name order, with its
    /// intact records and what was skipped. Missing directory: no files. Holds the whole log in
    /// memory: start-up reads it with ``forEachParsedFile(directory:prefix:_:)`` instead.
    public static func readFiles(directory: String, prefix: String) throws -> [FileRecords] {
        var parsed = [(name: String, file: ParsedFile)]()
        try forEachParsedFile(directory: directory, prefix: prefix) { parsed.append(($0, $1)) }
        let voids = Dictionary(grouping: parsed.flatMap(\.file.voids), by: \.segment)
        return parsed.map { name, file in file.applying(voids[name] ?? [], name: name) }
    }

    /// Calls `body` with the name and contents of each `*.wal` file in `directory` whose name starts
    /// with `prefix`, in name order, each read and parsed once; voids are not applied (a void sits in
    /// a later file than the records it names), so the caller applies them once all are read. Only
    /// the file being parsed is in memory, plus what `body` keeps.
    static func forEachParsedFile(
        directory: String, prefix: String, where include: (String) -> Bool = { _ in true }, _ body: (String, ParsedFile) throws -> Void
    ) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(prefix + "-") && $0.hasSuffix(".wal") && include($0) }
            .sorted()
        for name in names {
            try body(name, parseFile([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))))
        }
    }

    /// Every intact record of every `*.wal` file in `directory` whose name starts with `prefix`, file
    /// by file in name order, and the files where something was skipped. Missing directory: no records.
    public static func readAll(directory: String, prefix: String) throws -> (records: [[UInt8]], tornFiles: [String]) {
        let files = try readFiles(directory: directory, prefix: prefix)
        return (files.flatMap(\.records), files.filter { !$0.complete }.map(\.name))
    }

    /// What replay of `files` skipped, for the start-up log: a count by reason, then each region with
    /// its file (the first `maximumLines`). Empty when nothing was skipped.
    public static func skippedReport(_ files: [FileRecords], maximumLines: Int = 100) -> [String] {
        let regions = files.flatMap { file in file.skipped.map { (file: file.name, region: $0) } }
        guard !regions.isEmpty else { return [] }
        var counts = [String: Int]()
        for (_, region) in regions {
            let reason: String
            switch region.reason {
            case .tornTail: reason = "torn tails"
            case .zeroed: reason = "zeroed"
            case .corrupt: reason = "unreadable"
            case .stale: reason = "stale records"
            case .voided: reason = "voided"
            }
            counts[reason, default: 0] += 1
        }
        let bytes = regions.reduce(0) { $0 + $1.region.length }
        let byReason = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var lines = ["write-ahead log replay skipped \(regions.count) region(s), \(bytes) bytes, in "
            + "\(Set(regions.map(\.file)).count) file(s): \(byReason)"]
        lines += regions.prefix(maximumLines).map { "  \($0.file): \($0.region)" }
        if regions.count > maximumLines { lines.append("  ... and \(regions.count - maximumLines) more") }
        return lines
    }

    /// One file as read: its event records with their places, the voids it carries for other
    /// segments, and what was skipped.
    struct ParsedFile {
        struct Event {
            var payload: [UInt8]
            /// nil in format 1, which has no sequence numbers (and so no voids).
            var sequence: UInt64?
            var offset = 0
            var end = 0
        }

        var events: [Event] = []
        var voids: [VoidedRange] = []
        var skipped: [SkippedRegion] = []

        /// Whether one of `voids` (this file's) names `event`.
        static func isVoided(_ event: Event, by voids: [VoidedRange]) -> Bool {
            guard let sequence = event.sequence else { return false }
            return voids.contains { $0.sequences.contains(sequence) }
        }

        /// What `voids` (this file's) leave of the file.
        struct Kept {
            /// Per event, its index among the records kept (nil: voided), as checkpoint manifests count them.
            var indices: [Int?]
            var count: Int
            /// The file's skipped regions, the voided records' among them, in file order.
            var skipped: [SkippedRegion]
        }

        /// The records `voids` keep, and the voided ones as skipped regions.
        func keeping(_ voids: [VoidedRange]) -> Kept {
            var indices = [Int?]()
            indices.reserveCapacity(events.count)
            var count = 0
            var voided = [SkippedRegion]()
            for event in events {
                guard Self.isVoided(event, by: voids) else {
                    indices.append(count)
                    count += 1
                    continue
                }
                indices.append(nil)
                if let last = voided.last, last.offset + last.length == event.offset {
                    voided[voided.count - 1].length += event.end - event.offset
                } else {
                    voided.append(SkippedRegion(offset: event.offset, length: event.end - event.offset, reason: .voided))
                }
            }
            return Kept(indices: indices, count: count, skipped: (skipped + voided).sorted { $0.offset < $1.offset })
        }

        /// The file's records without those `voids` name, which become skipped regions.
        func applying(_ voids: [VoidedRange], name: String) -> FileRecords {
            let kept = keeping(voids)
            let records = zip(events, kept.indices).compactMap { event, index in index.map { _ in event.payload } }
            return FileRecords(name: name, records: records, skipped: kept.skipped)
        }
    }

    /// The intact records of a file's `bytes` and the regions skipped (voids not applied).
    static func parse(_ bytes: [UInt8]) -> (records: [[UInt8]], skipped: [SkippedRegion]) {
        let file = parseFile(bytes)
        return (file.events.map(\.payload), file.skipped)
    }

    /// A file's `bytes`: format 2 if the file starts with the magic, or if it holds a format-2 record
    /// where format 1 finds none.
    static func parseFile(_ bytes: [UInt8]) -> ParsedFile {
        if Array(bytes.prefix(4)) != magic {
            let old = parseFormat1(bytes)
            let events = old.records.map { ParsedFile.Event(payload: $0) }
            if old.end == bytes.count { return ParsedFile(events: events) }
            guard old.records.isEmpty, nextRecord(in: bytes, after: 0) != nil else {
                let zeroed = bytes[old.end...].allSatisfy { $0 == 0 }
                let rest = SkippedRegion(offset: old.end, length: bytes.count - old.end, reason: zeroed ? .zeroed : .tornTail)
                return ParsedFile(events: events, skipped: [rest])
            }
        }
        return parseFormat2(bytes)
    }

    private static func parseFormat2(_ bytes: [UInt8]) -> ParsedFile {
        var file = ParsedFile()
        var offset = 0
        var lastSequence: UInt64?
        while offset < bytes.count {
            if let record = record(in: bytes, at: offset) {
                if let last = lastSequence, record.sequence <= last {
                    file.skipped.append(SkippedRegion(offset: offset, length: record.end - offset, reason: .stale(sequence: record.sequence, after: last)))
                } else if record.kind == voidKind {
                    if let void = VoidedRange(payload: record.payload) {
                        file.voids.append(void)
                    } else {
                        file.skipped.append(SkippedRegion(offset: offset, length: record.end - offset, reason: .corrupt))
                    }
                    lastSequence = record.sequence
                } else {
                    file.events.append(.init(payload: record.payload, sequence: record.sequence, offset: offset, end: record.end))
                    lastSequence = record.sequence
                }
                offset = record.end
                continue
            }
            let next = nextRecord(in: bytes, after: offset) ?? bytes.count
            let zeroed = bytes[offset..<next].allSatisfy { $0 == 0 }
            let reason: SkippedRegion.Reason = zeroed ? .zeroed : (next == bytes.count ? .tornTail : .corrupt)
            file.skipped.append(SkippedRegion(offset: offset, length: next - offset, reason: reason))
            offset = next
        }
        return file
    }

    /// The start of the next whole, valid format-2 record after `offset`.
    private static func nextRecord(in bytes: [UInt8], after offset: Int) -> Int? {
        var candidate = offset + 1
        while candidate + headerBytes <= bytes.count {
            if bytes[candidate] == magic[0], record(in: bytes, at: candidate) != nil { return candidate }
            candidate += 1
        }
        return nil
    }

    /// The whole, valid format-2 record at `offset`, if there is one.
    private static func record(in bytes: [UInt8], at offset: Int) -> (payload: [UInt8], kind: UInt8, sequence: UInt64, end: Int)? {
        guard bytes.count - offset >= headerBytes, bytes[offset..<(offset + 4)].elementsEqual(magic),
              bytes[offset + 4] == formatVersion, bytes[offset + 5] == eventKind || bytes[offset + 5] == voidKind,
              bytes[offset + 6] == 0, bytes[offset + 7] == 0
        else { return nil }
        let sequence = LittleEndian.load(UInt64.self, from: bytes, at: offset + 8)
        let length = Int(LittleEndian.load(UInt32.self, from: bytes, at: offset + 16))
        let checksum = LittleEndian.load(UInt32.self, from: bytes, at: offset + 20)
        guard length <= maximumRecordBytes, bytes.count - offset - headerBytes >= length else { return nil }
        let payload = Array(bytes[(offset + headerBytes)..<(offset + headerBytes + length)])
        guard CRC32.checksum(Array(bytes[(offset + 4)..<(offset + 20)]) + payload) == checksum else { return nil }
        return (payload, bytes[offset + 5], sequence, offset + headerBytes + length)
    }

    /// Format 1 (`[length][crc32][payload]`): the intact records at the start of `bytes` and where
    /// they end.
    static func parseFormat1(_ bytes: [UInt8]) -> (records: [[UInt8]], end: Int) {
        var records = [[UInt8]]()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else { break }
            let length = Int(LittleEndian.load(UInt32.self, from: bytes, at: offset))
            let checksum = LittleEndian.load(UInt32.self, from: bytes, at: offset + 4)
            guard length <= maximumRecordBytes, bytes.count - offset - 8 >= length else { break }
            // Eight zero bytes pass as an empty record (the checksum of nothing is 0), but the service
            // never logs an empty event: they are zeroed space, not a record.
            guard length > 0 || checksum != 0 else { break }
            let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            guard CRC32.checksum(payload) == checksum else { break }
            records.append(payload)
            offset += 8 + length
        }
        return (records, offset)
    }

    static func makeDirectory(_ directory: String) throws(Failure) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: directory, errno: errno)
        }
    }
}

/// A failed system call's `errno`.
struct FileError: Error {
    var code: Int32
}

/// The file operations ``WriteAheadLog`` makes: the seam through which tests inject failures (a
/// disk that fills mid-write, a truncation or a sync that fails).
protocol WriteAheadLogFiles {
    /// Creates `path` (which must not exist) for appending; returns its descriptor.
    func create(path: String) throws(FileError) -> Int32
    /// Writes some of `bytes` at the end of the file; returns how many (at least one).
    func write(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>) throws(FileError) -> Int
    func truncate(_ descriptor: Int32, toLength length: Int) throws(FileError)
    /// `fdatasync`.
    func synchronize(_ descriptor: Int32) throws(FileError)
    func close(_ descriptor: Int32)
    /// `fsync` of a directory, so that files created in it survive a crash.
    func synchronizeDirectory(_ path: String) throws(FileError)
}

/// The real system calls.
struct POSIXLogFiles: WriteAheadLogFiles {
    func create(path: String) throws(FileError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(code: errno) }
        return descriptor
    }

    func write(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>) throws(FileError) -> Int {
        while true {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 { return written }
            if written < 0, errno == EINTR { continue }
            throw FileError(code: written < 0 ? errno : EIO)
        }
    }

    func truncate(_ descriptor: Int32, toLength length: Int) throws(FileError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw FileError(code: errno) }
    }

    func synchronize(_ descriptor: Int32) throws(FileError) {
        guard fdatasync(descriptor) == 0 else { throw FileError(code: errno) }
    }

    func close(_ descriptor: Int32) { _ = Glibc.close(descriptor) }

    func synchronizeDirectory(_ path: String) throws(FileError) {
        let directoryDescriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw FileError(code: errno) }
        defer { _ = Glibc.close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw FileError(code: errno) }
    }
}
