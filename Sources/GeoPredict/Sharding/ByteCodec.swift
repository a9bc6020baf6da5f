import MPI

/// Appends values to a byte array in a fixed little-endian layout, for records that travel between
/// ranks (alltoallv, broadcast) or go to disk.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends the raw little-endian bytes of `value`.
    public mutating func write<T: FixedWidthInteger>(_ value: T) { LittleEndian.append(value, to: &bytes) }

    public mutating func write(_ value: Double) { write(value.bitPattern) }

    public mutating func write(_ value: Float) { write(value.bitPattern) }

    /// Appends `value` as a varint length then its UTF-8 bytes.
    public mutating func write(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends `value` as a LEB128 varint.
    public mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Appends bytes as they are.
    public mutating func write(bytes other: some Sequence<UInt8>) {
        bytes.append(contentsOf: other)
    }

    /// Empties the writer, keeping its capacity.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
}

/// Reads what ``ByteWriter`` wrote; every read checks the remaining length and throws
/// ``ByteReader/Error/truncated`` instead of reading past the end.
public struct ByteReader {
    /// A record ended early or a length was impossible.
    public enum Error: Swift.Error, Equatable {
        case truncated(offset: Int)
        case malformedString(offset: Int)
    }

    private let bytes: ArraySlice<UInt8>
    /// The index of the next unread byte.
    public private(set) var offset: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= bytes.endIndex }

    /// The number of bytes not read yet: lets a reader check a count against what is left before
    /// allocating for it.
    public var remainingCount: Int { bytes.endIndex - offset }

    public mutating func read<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(Error) -> T {
        let size = MemoryLayout<T>.size
        guard bytes.endIndex - offset >= size else { throw .truncated(offset: offset) }
        defer { offset += size }
        return LittleEndian.load(from: bytes, at: offset)
    }

    public mutating func readDouble() throws(Error) -> Double { Double(bitPattern: try read(UInt64.self)) }

    public mutating func readFloat() throws(Error) -> Float { Float(bitPattern: try read(UInt32.self)) }

    public mutating func readVarint() throws(Error) -> UInt64 {
        var position = offset - bytes.startIndex
        let value = bytes.withUnsafeBytes { LEB128.decode($0, at: &position) }
        offset = bytes.startIndex + position
        guard let value else { throw .truncated(offset: offset) }
        return value
    }

    /// The next `count` bytes as they are (a view of the reader's bytes, not a copy).
    public mutating func readBytes(_ count: Int) throws(Error) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.endIndex - offset else { throw .truncated(offset: offset) }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func readString() throws(Error) -> String {
        let start = offset
        let length = try readVarint()
        guard length <= UInt64(bytes.endIndex - offset) else { throw .truncated(offset: start) }
        let end = offset + Int(length)
        let slice = bytes[offset..<end]
        offset = end
        guard let string = String(validating: slice, as: UTF8.self) else { throw .malformedString(offset: start) }
        return string
    }
}

extension CheckIn {
    /// Appends this check-in to `writer` (the layout ``init(from:)`` reads).
    public func write(to writer: inout ByteWriter) {
        writer.write(userID)
        writer.write(venueID)
        writer.write(latitude)
        writer.write(longitude)
        writer.write(timestampUnixSeconds)
        writer.write(category)
        writer.write(trajectoryID)
    }

    /// Reads a check-in written by ``write(to:)``.
    public init(from reader: inout ByteReader) throws(ByteReader.Error) {
        userID = try reader.readString()
        venueID = try reader.readString()
        latitude = try reader.readDouble()
        longitude = try reader.readDouble()
        timestampUnixSeconds = try reader.read(Int64.self)
        category = try reader.readString()
        trajectoryID = try reader.readString()
    }
}
