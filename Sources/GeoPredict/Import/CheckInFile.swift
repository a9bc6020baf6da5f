#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole check-in file in one process, in file order, without MPI: for small inputs such
/// as an evaluation's test file, tools and tests. (Large inputs go through ``DatasetLoader``.)
public enum CheckInFile {
    /// A file's events in line order, and its issues.
    public struct Contents: Sendable {
        /// The parsed events, in line order.
        public var checkIns: [CheckIn]
        /// Per event, its 1-based line number.
        public var lineNumbers: [Int64]
        /// Per event, its UTC offset in minutes when the format has one.
        public var utcOffsetMinutes: [Int16?]
        /// The first `maximumIssues` issues, in line order.
        public var issues: [ImportIssue]
        /// All issues, counted.
        public var issueCount: Int64
        /// Data lines read (header excluded), blank and bad ones included.
        public var linesRead: Int64
    }

    /// Reads `path` (`.xz` and `.gz` are decompressed) in a line `format`.
    public static func read(
        path: String, format: ImportFormat,
        plausibleTimestamps: ClosedRange<Int64> = CheckInParser.defaultPlausibleTimestamps(),
        maximumIssues: Int = 100
    ) throws(LoadError) -> Contents {
        let reader = try DatasetLoader.openWholeFile(path)
        var lineNumber: Int64 = 0
        var header: String?
        if format.hasHeaderLine, let line = try reader.next() {
            header = String(decoding: line.bytes, as: UTF8.self)
            lineNumber = 1
        }
        let parser: CheckInParser
        do {
            parser = try CheckInParser(format: format, header: header, plausibleTimestamps: plausibleTimestamps)
        } catch {
            throw .setup(error)
        }
        var contents = Contents(checkIns: [], lineNumbers: [], utcOffsetMinutes: [], issues: [], issueCount: 0, linesRead: 0)
        while let line = try reader.next() {
            lineNumber += 1
            contents.linesRead += 1
            var issue: ImportIssue?
            if let length = line.tooLongBytes {
                issue = ImportIssue(lineNumber: lineNumber, reason: .lineTooLong(bytes: length))
            } else {
                var bytes = line.bytes
                if line.startOffset == 0, bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                    bytes = UnsafeBufferPointer(rebasing: bytes.dropFirst(3))
                }
                if TextScanning.isBlank(bytes) { continue }
                var offset: Int16?
                switch parser.parse(bytes, lineNumber: lineNumber, utcOffsetMinutes: &offset) {
                case .success(let checkIn):
                    contents.checkIns.append(checkIn)
                    contents.lineNumbers.append(lineNumber)
                    contents.utcOffsetMinutes.append(offset)
                case .failure(let failure):
                    issue = failure
                }
            }
            if let issue {
                contents.issueCount += 1
                if contents.issues.count < maximumIssues { contents.issues.append(issue) }
            }
        }
        try reader.finish()
        return contents
    }
}
