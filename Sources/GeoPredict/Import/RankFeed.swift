/// One rank's share of the input, fed line by line into an ``EventRouter``.
protocol RankFeed {
    /// Handles lines until the router holds `budget` bytes to send or the share is done; returns
    /// whether lines remain.
    mutating func feed(into router: inout EventRouter, budget: Int, tick: Tick) throws(LoadError) -> Bool
    /// Bytes of the share done and in total, for progress.
    var position: (done: Int64, total: Int64) { get }
    /// Lines this rank owns that it has read, header included (byte-range numbering).
    var linesOwned: Int64 { get }
    /// How the input is shared out, for the report.
    var modeName: String { get }
    /// Whether line numbers in issues are local and must be shifted by the lines of lower ranks.
    var numbersLinesLocally: Bool { get }
}

/// Reports a feed's position and lines read so far (for progress on rank 0).
typealias Tick = ((done: Int64, total: Int64), Int64) -> Void

/// How often a feed calls its progress tick, in lines.
private let tickInterval: Int64 = 16_384

/// A plain file split by byte ranges: rank `r` of `p` owns the lines whose first byte lies in
/// `[r·n/p, (r+1)·n/p)`; lines are numbered locally and shifted once every rank's count is known.
struct ByteRangeFeed: RankFeed {
    let reader: LineReader
    let range: Range<Int64>
    let parser: CheckInParser
    let skipsHeader: Bool
    private(set) var linesOwned: Int64 = 0
    private var lastOffset: Int64
    private var done = false

    init(path: String, rank: Int, size: Int, fileSize: Int64, parser: CheckInParser, chunkBytes: Int) throws(LoadError) {
        let lower = fileSize * Int64(rank) / Int64(size)
        let upper = fileSize * Int64(rank + 1) / Int64(size)
        range = lower..<upper
        reader = try LineReader.forRange(of: path, range: range, chunkBytes: chunkBytes)
        self.parser = parser
        skipsHeader = parser.format.hasHeaderLine
        lastOffset = lower
    }

    var numbersLinesLocally: Bool { true }

    var modeName: String { "byte ranges" }

    var position: (done: Int64, total: Int64) { (lastOffset - range.lowerBound, Int64(range.count)) }

    mutating func feed(into router: inout EventRouter, budget: Int, tick: Tick) throws(LoadError) -> Bool {
        guard !done else { return false }
        while router.pendingBytes < budget {
            guard let line = try reader.next() else {
                done = true
                lastOffset = range.upperBound
                try reader.finish()
                return false
            }
            linesOwned += 1
            lastOffset = line.startOffset
            if skipsHeader, line.startOffset == 0 { continue }
            router.handle(line, lineNumber: linesOwned) { parser.parse($0, lineNumber: $1, utcOffsetMinutes: &$2) }
            if linesOwned % tickInterval == 0 { tick(position, linesOwned) }
        }
        return true
    }
}

/// A compressed file: every rank runs the decompressor over the whole file and keeps line `L`
/// (1-based, header included) when `(L - 1) % size == rank`. Compressed streams cannot be entered
/// at a byte offset, so this costs every rank a full decompression; it needs no shared file system
/// position and gives the same lines at any rank count.
struct DecompressingFeed: RankFeed {
    let reader: LineReader
    let parser: CheckInParser
    let rank: Int64
    let size: Int64
    private var lineNumber: Int64
    private(set) var linesOwned: Int64 = 0
    private var done = false

    /// - Parameter reader: positioned after the header line when the format has one.
    init(reader: LineReader, parser: CheckInParser, rank: Int, size: Int, linesConsumed: Int64) {
        self.reader = reader
        self.parser = parser
        self.rank = Int64(rank)
        self.size = Int64(size)
        lineNumber = linesConsumed
    }

    var numbersLinesLocally: Bool { false }

    var modeName: String { "decompressor on every rank" }

    var position: (done: Int64, total: Int64) { reader.position }

    mutating func feed(into router: inout EventRouter, budget: Int, tick: Tick) throws(LoadError) -> Bool {
        guard !done else { return false }
        while router.pendingBytes < budget {
            guard let line = try reader.next() else {
                done = true
                try reader.finish()
                return false
            }
            lineNumber += 1
            if lineNumber % tickInterval == 0 { tick(position, lineNumber) }
            guard (lineNumber - 1) % size == rank else { continue }
            linesOwned += 1
            router.handle(line, lineNumber: lineNumber) { parser.parse($0, lineNumber: $1, utcOffsetMinutes: &$2) }
        }
        return true
    }
}

/// A folder of per-user files, each user's files read by the rank that owns the user.
struct FolderFeed: RankFeed {
    let format: any TrajectoryFolderFormat
    let files: [TrajectoryFile]
    let chunkBytes: Int
    private let sizes: [Int64]
    private var current = 0
    private var reader: LineReader?
    private var lineInFile: Int64 = 0
    private var bytesBefore: Int64 = 0
    private(set) var linesOwned: Int64 = 0

    init(format: any TrajectoryFolderFormat, files: [TrajectoryFile], chunkBytes: Int) {
        self.format = format
        self.files = files
        self.chunkBytes = chunkBytes
        sizes = files.map { (try? FileByteSource.size(of: $0.path)) ?? 0 }
    }

    var numbersLinesLocally: Bool { false }

    var modeName: String { "folder" }

    var totalBytes: Int64 { sizes.reduce(0, +) }

    var position: (done: Int64, total: Int64) {
        (bytesBefore + (reader?.position.done ?? 0), totalBytes)
    }

    mutating func feed(into router: inout EventRouter, budget: Int, tick: Tick) throws(LoadError) -> Bool {
        while router.pendingBytes < budget {
            if reader == nil {
                guard current < files.count else { return false }
                reader = try LineReader(
                    source: FileByteSource(path: files[current].path, startingAt: 0), startOffset: 0, chunkBytes: chunkBytes)
                lineInFile = 0
            }
            guard let open = reader else { return false }
            guard let line = try open.next() else {
                try open.finish()
                bytesBefore += sizes[current]
                current += 1
                reader = nil
                tick(position, linesOwned)
                continue
            }
            lineInFile += 1
            linesOwned += 1
            if lineInFile <= Int64(format.headerLineCount) { continue }
            let file = files[current]
            router.handle(line, lineNumber: lineInFile, file: file.name) { bytes, number, offset in
                offset = nil
                return format.parse(bytes, lineNumber: number, userID: file.userID)
            }
            if linesOwned % tickInterval == 0 { tick(position, linesOwned) }
        }
        return current < files.count
    }
}
