import MPI

/// The compact record in which a parsed event travels to the rank that owns its user.
///
/// Only what the owner keeps travels: a check-in's coordinates and category stay behind (they go
/// into the reading rank's ``VenueTallies``), a raw fix carries its coordinates instead of a venue.
///
/// Layout: flags (`UInt8`: 1 raw fix, 2 trajectory, 4 UTC offset), user id, then venue id or
/// latitude and longitude, timestamp, then the trajectory id and `Int16` offset when flagged.
enum EventWire {
    static let rawFixFlag: UInt8 = 1
    static let trajectoryFlag: UInt8 = 2
    static let offsetFlag: UInt8 = 4

    /// One decoded record.
    struct Record {
        var userID: String
        /// `""` for a raw fix.
        var venueID: String
        var latitude: Double
        var longitude: Double
        var timestamp: Int64
        /// `""` when the event had none.
        var trajectoryID: String
        /// ``VisitAttributes/unknownOffset`` when the event had none.
        var utcOffsetMinutes: Int16
        var hasOffset: Bool

        var isRawFix: Bool { venueID.isEmpty }
    }

    static func write(_ checkIn: CheckIn, utcOffsetMinutes: Int16?, to writer: inout ByteWriter) {
        var flags: UInt8 = checkIn.isRawFix ? rawFixFlag : 0
        if !checkIn.trajectoryID.isEmpty { flags |= trajectoryFlag }
        if utcOffsetMinutes != nil { flags |= offsetFlag }
        writer.write(flags)
        writer.write(checkIn.userID)
        if checkIn.isRawFix {
            writer.write(checkIn.latitude)
            writer.write(checkIn.longitude)
        } else {
            writer.write(checkIn.venueID)
        }
        writer.write(checkIn.timestampUnixSeconds)
        if !checkIn.trajectoryID.isEmpty { writer.write(checkIn.trajectoryID) }
        if let utcOffsetMinutes { writer.write(utcOffsetMinutes) }
    }

    /// Reads the record at `cursor` (written by ``write(_:utcOffsetMinutes:to:)``); `nil` when the
    /// bytes end early. Strings are not validated again: this module's writer produced them from
    /// validated text.
    static func read(from cursor: inout WireCursor) -> Record? {
        guard let flags = cursor.byte(), let userID = cursor.string() else { return nil }
        var record = Record(
            userID: userID, venueID: "", latitude: 0, longitude: 0, timestamp: 0, trajectoryID: "",
            utcOffsetMinutes: VisitAttributes.unknownOffset, hasOffset: false)
        if flags & rawFixFlag != 0 {
            guard let latitude = cursor.fixed(UInt64.self), let longitude = cursor.fixed(UInt64.self) else { return nil }
            record.latitude = Double(bitPattern: latitude)
            record.longitude = Double(bitPattern: longitude)
        } else {
            guard let venueID = cursor.string() else { return nil }
            record.venueID = venueID
        }
        guard let timestamp = cursor.fixed(Int64.self) else { return nil }
        record.timestamp = timestamp
        if flags & trajectoryFlag != 0 {
            guard let trajectoryID = cursor.string() else { return nil }
            record.trajectoryID = trajectoryID
        }
        if flags & offsetFlag != 0 {
            guard let offset = cursor.fixed(Int16.self) else { return nil }
            record.utcOffsetMinutes = offset
            record.hasOffset = true
        }
        return record
    }
}

/// Reads ``ByteWriter``'s layout straight from memory (the receive side's hot loop).
struct WireCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    @inline(__always)
    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    @inline(__always)
    mutating func fixed<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        guard bytes.count - offset >= MemoryLayout<T>.size else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return LittleEndian.load(T.self, from: bytes, at: offset)
    }

    @inline(__always)
    mutating func varint() -> UInt64? { LEB128.decode(bytes, at: &offset) }

    @inline(__always)
    mutating func string() -> String? {
        guard let length = varint(), length <= UInt64(bytes.count - offset) else { return nil }
        let count = Int(length)
        defer { offset += count }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), as: UTF8.self)
    }
}
