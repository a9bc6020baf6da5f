/// A trained ``NextVisitModel`` as one file, so that a restart can serve it without retraining.
///
/// The model is replicated (the same on every rank), so one rank writes the file and any rank can read
/// it. Layout, little-endian:
///
/// ```
/// magic "GPMODEL\0" (8 bytes) | format version: UInt32 | body length: UInt64 | CRC32 of body: UInt32 | body
/// body: metadata (varint length + bytes) | catalogue store count + fingerprint | the model
/// ```
///
/// The checksum covers the metadata and the model, so a torn or damaged file is refused as a whole.
/// The catalogue is not stored: the reader passes the one it loaded, and a checkpoint made with
/// another catalogue is refused (``ModelCheckpointError/catalogueMismatch(expected:found:)``).
///
/// ```swift
/// let bytes = try ModelCheckpoint(model: model, metadata: manifest).encoded()
/// let restored = try ModelCheckpoint(decoding: bytes, catalogue: catalogue)
/// ```
public struct ModelCheckpoint: Sendable {
    /// The format this build writes; it reads only this one. Bump it whenever the body changes,
    /// including when a stored property is added to a serialised type.
    /// (2: the model parameters gained the recency gap cap; 3: the model may carry boosted trees.)
    public static let formatVersion: UInt32 = 3
    static let magic: [UInt8] = Array("GPMODEL".utf8) + [0]
    static let headerCount = 8 + 4 + 8 + 4

    /// The model.
    public var model: NextVisitModel
    /// Bytes the caller keeps with the model, covered by the checksum (the service stores which
    /// logged events the model was trained on, and its version).
    public var metadata: [UInt8]

    public init(model: NextVisitModel, metadata: [UInt8] = []) {
        self.model = model
        self.metadata = metadata
    }

    /// The checkpoint's bytes.
    ///
    /// - Throws: ``ModelCheckpointError/unsupportedScorer(_:)`` when the model's collaborative
    ///   scorer has no stored form.
    public func encoded() throws(ModelCheckpointError) -> [UInt8] {
        var body = ByteWriter()
        body.writeVarint(UInt64(metadata.count))
        body.write(bytes: metadata)
        body.write(Int64(model.catalogue.count))
        body.write(model.catalogue.fingerprint)
        try model.write(to: &body)

        var file = ByteWriter(reservingCapacity: Self.headerCount + body.bytes.count)
        file.write(bytes: Self.magic)
        file.write(Self.formatVersion)
        file.write(UInt64(body.bytes.count))
        file.write(CRC32.checksum(body.bytes))
        file.write(bytes: body.bytes)
        return file.bytes
    }

    /// Reads a checkpoint made by ``encoded()`` for a model trained with `catalogue`.
    ///
    /// Never traps on bad input: a file that is not a checkpoint, from another format version, cut
    /// off, damaged, or made with another catalogue throws the matching ``ModelCheckpointError``.
    public init(decoding bytes: [UInt8], catalogue: StoreCatalogue) throws(ModelCheckpointError) {
        let body = try Self.verifiedBody(of: bytes)
        var reader = CheckpointReader(body)
        let metadataCount = try reader.count(elementBytes: 1, varint: true)
        metadata = try reader.bytes(metadataCount)
        let storeCount = try reader.int64()
        let fingerprint = try reader.uint64()
        guard storeCount == catalogue.count, fingerprint == catalogue.fingerprint else {
            throw .catalogueMismatch(expected: catalogue.fingerprint, found: fingerprint)
        }
        model = try NextVisitModel(from: &reader, catalogue: catalogue)
        guard reader.isAtEnd else { throw .malformed("\(reader.remainingCount) bytes after the model") }
    }

    /// The body of `bytes` once magic, version, length and checksum are right.
    static func verifiedBody(of bytes: [UInt8]) throws(ModelCheckpointError) -> ArraySlice<UInt8> {
        guard bytes.count >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) else { throw .notACheckpoint }
        guard bytes.count >= headerCount else { throw .truncated(expectedBytes: headerCount, actualBytes: bytes.count) }
        var header = CheckpointReader(bytes[magic.count..<headerCount])
        let version = try header.uint32()
        guard version == formatVersion else { throw .unsupportedFormatVersion(version) }
        let length = try header.uint64()
        let stored = try header.uint32()
        let available = UInt64(bytes.count - headerCount)
        guard length <= available else {
            let expected = length > UInt64(Int.max - headerCount) ? Int.max : headerCount + Int(length)
            throw .truncated(expectedBytes: expected, actualBytes: bytes.count)
        }
        guard length == available else { throw .malformed("\(available - length) bytes after the body") }
        let body = bytes[headerCount...]
        let computed = CRC32.checksum(body)
        guard computed == stored else { throw .checksumMismatch(stored: stored, computed: computed) }
        return body
    }
}

/// Why a model checkpoint could not be written or read.
public enum ModelCheckpointError: Error, Equatable, CustomStringConvertible {
    /// The bytes do not start with the checkpoint magic.
    case notACheckpoint
    /// Written in a format version this build does not read.
    case unsupportedFormatVersion(UInt32)
    /// Fewer bytes than the header announces: the file was cut off.
    case truncated(expectedBytes: Int, actualBytes: Int)
    /// The body's CRC32 does not match the header's: the file was damaged.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// The model was trained with another store catalogue (fingerprints differ).
    case catalogueMismatch(expected: UInt64, found: UInt64)
    /// The body passed its checksum but does not describe a usable model.
    case malformed(String)
    /// The model's collaborative scorer has no stored form (only ``ALSFoldInScoring`` has).
    case unsupportedScorer(String)

    public var description: String {
        switch self {
        case .notACheckpoint: return "not a GeoPredict model checkpoint"
        case .unsupportedFormatVersion(let version):
            return "checkpoint format version \(version); this build reads version \(ModelCheckpoint.formatVersion)"
        case let .truncated(expected, actual): return "checkpoint cut off: \(actual) of \(expected) bytes"
        case let .checksumMismatch(stored, computed):
            return "checkpoint damaged: CRC32 \(String(computed, radix: 16)), header says \(String(stored, radix: 16))"
        case let .catalogueMismatch(expected, found):
            return "checkpoint made for another store catalogue (fingerprint \(String(found, radix: 16)), "
                + "loaded catalogue \(String(expected, radix: 16)))"
        case .malformed(let message): return "checkpoint malformed: \(message)"
        case .unsupportedScorer(let type): return "cannot checkpoint a model whose collaborative scorer is \(type)"
        }
    }
}

/// A ``ByteReader`` for checkpoint bodies: its errors become ``ModelCheckpointError/malformed(_:)``,
/// and every count is checked against the bytes left, so a bad count throws instead of allocating.
struct CheckpointReader {
    var reader: ByteReader

    init(_ bytes: ArraySlice<UInt8>) { reader = ByteReader(bytes) }

    var isAtEnd: Bool { reader.isAtEnd }
    var remainingCount: Int { reader.remainingCount }

    mutating func run<T>(_ body: (inout ByteReader) throws(ByteReader.Error) -> T) throws(ModelCheckpointError) -> T {
        do {
            return try body(&reader)
        } catch {
            throw .malformed("\(error)")
        }
    }

    mutating func uint8() throws(ModelCheckpointError) -> UInt8 { try run { reader throws(ByteReader.Error) in try reader.read(UInt8.self) } }
    mutating func uint32() throws(ModelCheckpointError) -> UInt32 { try run { reader throws(ByteReader.Error) in try reader.read(UInt32.self) } }
    mutating func uint64() throws(ModelCheckpointError) -> UInt64 { try run { reader throws(ByteReader.Error) in try reader.read(UInt64.self) } }
    mutating func int32() throws(ModelCheckpointError) -> Int32 { try run { reader throws(ByteReader.Error) in try reader.read(Int32.self) } }
    mutating func int64() throws(ModelCheckpointError) -> Int64 { try run { reader throws(ByteReader.Error) in try reader.read(Int64.self) } }
    mutating func double() throws(ModelCheckpointError) -> Double { try run { reader throws(ByteReader.Error) in try reader.readDouble() } }
    mutating func float() throws(ModelCheckpointError) -> Float { try run { reader throws(ByteReader.Error) in try reader.readFloat() } }

    /// An `Int` stored as `Int64`, which must lie in `range`.
    mutating func int(in range: ClosedRange<Int>, _ what: String) throws(ModelCheckpointError) -> Int {
        let value = try int64()
        guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
            throw .malformed("\(what) \(value) is not in \(range)")
        }
        return Int(value)
    }

    mutating func bool() throws(ModelCheckpointError) -> Bool {
        switch try uint8() {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("flag \(other)")
        }
    }

    /// A count (`Int64`, or a varint) of elements of `elementBytes` each that the remaining bytes can hold.
    mutating func count(elementBytes: Int, varint: Bool = false) throws(ModelCheckpointError) -> Int {
        let value: UInt64
        if varint {
            value = try run { reader throws(ByteReader.Error) in try reader.readVarint() }
        } else {
            let signed = try int64()
            guard signed >= 0 else { throw .malformed("negative count \(signed)") }
            value = UInt64(signed)
        }
        guard value <= UInt64(remainingCount / max(elementBytes, 1)) else {
            throw .malformed("count \(value) exceeds the \(remainingCount) bytes left")
        }
        return Int(value)
    }

    mutating func bytes(_ count: Int) throws(ModelCheckpointError) -> [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try uint8()) }
        return result
    }

    /// `count` values read by `element`, after checking that `count × elementBytes` bytes are left.
    mutating func array<T>(
        _ count: Int, elementBytes: Int, _ element: (inout CheckpointReader) throws(ModelCheckpointError) -> T
    ) throws(ModelCheckpointError) -> [T] {
        guard count >= 0, count <= remainingCount / elementBytes else {
            throw .malformed("\(count) values exceed the \(remainingCount) bytes left")
        }
        var values = [T]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try element(&self)) }
        return values
    }
}

extension ByteWriter {
    /// Appends `values` without a count (the reader knows it).
    mutating func write(_ values: [Int64]) { for value in values { write(value) } }

    /// Appends `values` without a count (the reader knows it).
    mutating func write(_ values: [Double]) { for value in values { write(value) } }

    mutating func write(_ flag: Bool) { write(UInt8(flag ? 1 : 0)) }
}
