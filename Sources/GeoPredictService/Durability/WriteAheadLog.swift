import Foundation
import GeoPredict
#if canImport(Glibc)
import Glibc
#endif

/// An append-only, checksummed log of records on local disk, made durable by `fdatasync` before an
/// append returns.
///
/// Each rank writes its own file (`<prefix>-<unique>.wal`) in the log directory; recovery reads every
/// file, so the data survives a restart at a different rank count. A record is
/// `[length: UInt32 LE][crc32 of payload: UInt32 LE][payload]`. A crash can leave a torn record at the
/// end of a file; it fails its checksum or length and recovery stops reading that file there — such
/// a record was never acknowledged, because acknowledgement waits for the sync.
public final class WriteAheadLog {
    /// Problems opening, writing or reading a log.
    public enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case writeFailed(path: String, errno: Int32)
        case syncFailed(path: String, errno: Int32)

        public var description: String {
            switch self {
            case let .cannotOpen(path, code): return "cannot open \(path): \(String(cString: strerror(code)))"
            case let .writeFailed(path, code): return "cannot write \(path): \(String(cString: strerror(code)))"
            case let .syncFailed(path, code): return "cannot sync \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// The largest payload a record may carry (larger ones are refused before writing).
    public static let maximumRecordBytes = 16 * 1024 * 1024

    /// The file this log appends to.
    public let path: String
    /// The file's name in the log directory (what a model checkpoint's manifest lists).
    public let fileName: String
    private let descriptor: Int32
    /// Bytes appended (and synced) by this process.
    public private(set) var bytesWritten = 0
    /// Records appended (and synced) by this process: the file's records, in order.
    public private(set) var recordCount = 0

    /// Creates a new log file in `directory` (created if missing) and syncs the directory so that
    /// the file itself survives a crash.
    public init(directory: String, prefix: String) throws(Failure) {
        try Self.makeDirectory(directory)
        // Time, process and a random part: unique across reopenings within a millisecond and across
        // hosts sharing one state folder; the name's time keeps `ls` in creation order.
        let unique = "\(Int(Date().timeIntervalSince1970 * 1000))-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        fileName = "\(prefix)-\(unique).wal"
        path = "\(directory)/\(fileName)"
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        try Self.syncDirectory(directory)
    }

    deinit { close(descriptor) }

    /// Appends `records` and returns once they are on disk (one `fdatasync` for the whole batch).
    public func append(_ records: [[UInt8]]) throws(Failure) {
        guard !records.isEmpty else { return }
        var buffer = [UInt8]()
        buffer.reserveCapacity(records.reduce(0) { $0 + $1.count + 8 })
        for record in records {
            precondition(record.count <= Self.maximumRecordBytes, "WAL record of \(record.count) bytes")
            Self.appendLittleEndian(UInt32(record.count), to: &buffer)
            Self.appendLittleEndian(CRC32.checksum(record), to: &buffer)
            buffer.append(contentsOf: record)
        }
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path: path, errno: errno)
            }
            offset += written
        }
        guard fdatasync(descriptor) == 0 else { throw .syncFailed(path: path, errno: errno) }
        bytesWritten += buffer.count
        recordCount += records.count
    }

    /// The intact records of one log file.
    public struct FileRecords: Sendable {
        /// The file's name in the log directory.
        public var name: String
        /// Its intact records, in order.
        public var records: [[UInt8]]
        /// Whether every byte belonged to an intact record (false: a torn tail was skipped).
        public var complete: Bool
    }

    /// Every `*.wal` file in `directory` whose name starts with `prefix`, in name order, with its
    /// intact records; a torn tail ends its file's records. Missing directory: no files.
    public static func readFiles(directory: String, prefix: String) throws -> [FileRecords] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(prefix + "-") && $0.hasSuffix(".wal") }
            .sorted()
        return try names.map { name in
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
            let (records, complete) = parse(bytes)
            return FileRecords(name: name, records: records, complete: complete)
        }
    }

    /// Every intact record of every `*.wal` file in `directory` whose name starts with `prefix`, file
    /// by file in name order; a torn tail ends its file's records. Missing directory: no records.
    public static func readAll(directory: String, prefix: String) throws -> (records: [[UInt8]], tornFiles: [String]) {
        let files = try readFiles(directory: directory, prefix: prefix)
        return (files.flatMap(\.records), files.filter { !$0.complete }.map(\.name))
    }

    /// The intact records at the start of `bytes`, and whether every byte belonged to one.
    static func parse(_ bytes: [UInt8]) -> (records: [[UInt8]], complete: Bool) {
        var records = [[UInt8]]()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else { return (records, false) }
            let length = Int(readLittleEndian(bytes, at: offset))
            let checksum = readLittleEndian(bytes, at: offset + 4)
            guard length <= maximumRecordBytes, bytes.count - offset - 8 >= length else { return (records, false) }
            let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            guard CRC32.checksum(payload) == checksum else { return (records, false) }
            records.append(payload)
            offset += 8 + length
        }
        return (records, true)
    }

    private static func appendLittleEndian(_ value: UInt32, to buffer: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { buffer.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    private static func readLittleEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    static func makeDirectory(_ directory: String) throws(Failure) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: directory, errno: errno)
        }
    }

    /// Syncs a directory so that files created in it survive a crash.
    static func syncDirectory(_ directory: String) throws(Failure) {
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw .cannotOpen(path: directory, errno: errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw .syncFailed(path: directory, errno: errno) }
    }
}
