#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a ``ByteSource`` into lines, reading it in chunks into one reusable buffer: memory stays
/// at about `chunkBytes + maximumLineBytes` whatever the file size.
///
/// Lines end at `\n`; a `\r` at the end of a line is dropped; a last line without a newline still
/// counts. A
/// line longer than ``maximumLineBytes`` is skipped and returned as ``Line/tooLongBytes`` (its
/// bytes are not kept), so a file without newlines cannot exhaust memory.
final class LineReader {
    /// The longest line returned with its bytes.
    static let maximumLineBytes = 1 << 20

    /// One line. `bytes` points into the reader's buffer and is valid until the next ``next()``.
    struct Line {
        var bytes: UnsafeBufferPointer<UInt8>
        /// The offset of the line's first byte in the source.
        var startOffset: Int64
        /// Set instead of `bytes` when the line exceeded ``LineReader/maximumLineBytes``.
        var tooLongBytes: Int?
    }

    private let source: ByteSource
    private let storage: UnsafeMutableRawBufferPointer
    private var head = 0
    private var tail = 0
    /// The source offset of `storage[0]`.
    private var storageOffset: Int64
    private var atEnd = false
    private let limit: Int64
    private let chunkBytes: Int

    /// - Parameters:
    ///   - source: the bytes, positioned at `startOffset`.
    ///   - startOffset: the source offset of the first byte `source` returns.
    ///   - limit: lines that start at or after this offset are not returned (the next rank's).
    ///   - skipFirstLine: whether the first line read belongs to someone else (see
    ///     ``forRange(of:range:chunkBytes:)``).
    init(source: ByteSource, startOffset: Int64, limit: Int64 = .max, chunkBytes: Int = 4 << 20, skipFirstLine: Bool = false)
        throws(LoadError)
    {
        self.source = source
        self.chunkBytes = max(chunkBytes, 1)
        storage = .allocate(byteCount: self.chunkBytes + Self.maximumLineBytes + 1, alignment: 16)
        storageOffset = startOffset
        self.limit = limit
        if skipFirstLine { _ = try next() }
    }

    deinit { storage.deallocate() }

    /// A reader for the lines of the file at `path` whose first byte lies in `range`: the line that
    /// holds `range.lowerBound` belongs to the previous range unless the byte before it is `\n`.
    /// Ranges that tile a file therefore give every line exactly once.
    static func forRange(of path: String, range: Range<Int64>, chunkBytes: Int = 4 << 20) throws(LoadError) -> LineReader {
        // Starting one byte early: the first "line" read is then the tail of the previous range's
        // last line (or just its newline), which is dropped.
        let start = max(range.lowerBound - 1, 0)
        let source = try FileByteSource(path: path, startingAt: start)
        return try LineReader(
            source: source, startOffset: start, limit: range.upperBound, chunkBytes: chunkBytes,
            skipFirstLine: range.lowerBound > 0)
    }

    /// The source's progress.
    var position: (done: Int64, total: Int64) { source.position }

    /// Closes the source, reporting a failure that shows only at its end.
    func finish() throws(LoadError) { try source.finish() }

    /// The next line, or `nil` after the last one (or at the limit).
    func next() throws(LoadError) -> Line? {
        var skippedBytes = 0
        while true {
            let base = storage.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if head < tail, let newline = memchr(base + head, 0x0a, tail - head) {
                let end = base.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                let line = makeLine(base: base, end: end, skippedBytes: skippedBytes)
                head = end + 1
                return line
            }
            if atEnd {
                guard head < tail || skippedBytes > 0 else { return nil }
                let line = makeLine(base: base, end: tail, skippedBytes: skippedBytes)
                head = tail
                return line
            }
            if tail - head > Self.maximumLineBytes {
                // Too long to keep: count it and drop what is buffered.
                if skippedBytes == 0, storageOffset + Int64(head) >= limit { return nil }
                skippedBytes += tail - head
                storageOffset += Int64(tail)
                head = 0
                tail = 0
            }
            try refill(base: base)
        }
    }

    private func makeLine(base: UnsafeMutablePointer<UInt8>, end: Int, skippedBytes: Int) -> Line? {
        let startOffset = storageOffset + Int64(head) - Int64(skippedBytes)
        guard startOffset < limit else {
            atEnd = true
            head = tail
            return nil
        }
        var length = end - head
        if skippedBytes > 0 || length > Self.maximumLineBytes {
            return Line(bytes: UnsafeBufferPointer(start: base, count: 0), startOffset: startOffset,
                        tooLongBytes: skippedBytes + length)
        }
        if length > 0, base[end - 1] == 0x0d { length -= 1 }
        return Line(bytes: UnsafeBufferPointer(start: base + head, count: length), startOffset: startOffset, tooLongBytes: nil)
    }

    private func refill(base: UnsafeMutablePointer<UInt8>) throws(LoadError) {
        if head > 0 {
            let remaining = tail - head
            if remaining > 0 { memmove(base, base + head, remaining) }
            storageOffset += Int64(head)
            head = 0
            tail = remaining
        }
        let space = storage.count - 1 - tail
        let count = try source.read(into: UnsafeMutableRawBufferPointer(start: base + tail, count: min(space, chunkBytes)))
        if count == 0 { atEnd = true }
        tail += count
    }
}
