/// A line the importers could not use, with its 1-based line number and why.
///
/// Issues never stop a load: the line is skipped (or, for ``Reason/unknownVenue(_:)`` under
/// ``UnknownVenuePolicy/keepAsRawFix``, kept in another form), counted, and the first few are
/// reported in line order at the end (``LoadReport``).
public struct ImportIssue: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The 1-based line number in ``file``.
    public var lineNumber: Int64
    /// The file the line is in, or `""` for the one input file of a load (folder sources and store
    /// files name theirs).
    public var file: String
    /// Why the line was not used.
    public var reason: Reason

    public init(lineNumber: Int64, file: String = "", reason: Reason) {
        self.lineNumber = lineNumber
        self.file = file
        self.reason = reason
    }

    public var description: String {
        file.isEmpty ? "line \(lineNumber): \(reason)" : "\(file):\(lineNumber): \(reason)"
    }

    /// Why a line was not used. Texts quoted from the input are cut to ``ImportIssue/excerptLength``
    /// bytes.
    public enum Reason: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
        /// The line has `found` fields where the layout has `expected`.
        case wrongFieldCount(expected: Int, found: Int)
        /// A required field (named) is empty.
        case emptyField(String)
        /// A numeric field (named) does not hold a number.
        case invalidNumber(field: String, text: String)
        /// A coordinate (named) is not finite or outside `-90...90` / `-180...180`.
        case coordinateOutOfRange(field: String, value: Double)
        /// Latitude and longitude are both exactly 0, which sources such as Brightkite write for
        /// "unknown position".
        case nullIsland
        /// The timestamp field does not parse in the format's layout.
        case invalidTimestamp(String)
        /// The timestamp parses but lies outside the plausible range (1990 to one day from now).
        case implausibleTimestamp(Int64)
        /// The UTC offset field is not a whole number of minutes in `-720...840`.
        case invalidUTCOffset(String)
        /// A field (named) is not valid UTF-8.
        case invalidUTF8(field: String)
        /// A CSV field opens a quote that the line does not close (quoted newlines are unsupported).
        case unterminatedQuote
        /// The line is longer than the importers accept (``LineReader/maximumLineBytes``).
        case lineTooLong(bytes: Int)
        /// The venue is not in the store file or catalogue the load was given.
        case unknownVenue(String)
        /// A store file names the same store id again; the first entry is kept.
        case duplicateStore(String)

        /// The reason without its details, for counting.
        public var kind: Kind {
            switch self {
            case .wrongFieldCount: return .wrongFieldCount
            case .emptyField: return .emptyField
            case .invalidNumber: return .invalidNumber
            case .coordinateOutOfRange: return .coordinateOutOfRange
            case .nullIsland: return .nullIsland
            case .invalidTimestamp: return .invalidTimestamp
            case .implausibleTimestamp: return .implausibleTimestamp
            case .invalidUTCOffset: return .invalidUTCOffset
            case .invalidUTF8: return .invalidUTF8
            case .unterminatedQuote: return .unterminatedQuote
            case .lineTooLong: return .lineTooLong
            case .unknownVenue: return .unknownVenue
            case .duplicateStore: return .duplicateStore
            }
        }

        public var description: String {
            switch self {
            case let .wrongFieldCount(expected, found): return "expected \(expected) fields, found \(found)"
            case let .emptyField(field): return "empty \(field)"
            case let .invalidNumber(field, text): return "\(field) is not a number: \"\(text)\""
            case let .coordinateOutOfRange(field, value): return "\(field) \(value) is out of range"
            case .nullIsland: return "latitude and longitude are both 0 (unknown position)"
            case let .invalidTimestamp(text): return "unreadable timestamp \"\(text)\""
            case let .implausibleTimestamp(seconds): return "implausible timestamp \(seconds) (unix seconds)"
            case let .invalidUTCOffset(text): return "invalid UTC offset \"\(text)\""
            case let .invalidUTF8(field): return "\(field) is not valid UTF-8"
            case .unterminatedQuote: return "unterminated quote"
            case let .lineTooLong(bytes): return "line of \(bytes) bytes is too long"
            case let .unknownVenue(id): return "unknown venue \"\(id)\""
            case let .duplicateStore(id): return "store \"\(id)\" appears again"
            }
        }
    }

    /// The reasons without their details, in a fixed order (for per-reason counts).
    public enum Kind: Int, CaseIterable, Sendable, Comparable, CustomStringConvertible {
        case wrongFieldCount, emptyField, invalidNumber, coordinateOutOfRange, nullIsland, invalidTimestamp
        case implausibleTimestamp, invalidUTCOffset, invalidUTF8, unterminatedQuote, lineTooLong, unknownVenue
        case duplicateStore

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .wrongFieldCount: return "wrong field count"
            case .emptyField: return "empty field"
            case .invalidNumber: return "invalid number"
            case .coordinateOutOfRange: return "coordinate out of range"
            case .nullIsland: return "null island (0, 0)"
            case .invalidTimestamp: return "invalid timestamp"
            case .implausibleTimestamp: return "implausible timestamp"
            case .invalidUTCOffset: return "invalid UTC offset"
            case .invalidUTF8: return "invalid UTF-8"
            case .unterminatedQuote: return "unterminated quote"
            case .lineTooLong: return "line too long"
            case .unknownVenue: return "unknown venue"
            case .duplicateStore: return "duplicate store"
            }
        }
    }

    /// The most bytes of input text an issue quotes.
    public static let excerptLength = 64

    /// `bytes` as text for an issue: invalid UTF-8 repaired, cut to ``excerptLength`` bytes.
    static func excerpt(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: bytes.prefix(excerptLength), as: UTF8.self)
    }
}

extension ImportIssue {
    /// Orders issues by file, then line.
    static func precedes(_ lhs: ImportIssue, _ rhs: ImportIssue) -> Bool {
        if lhs.file != rhs.file { return lhs.file.utf8.lexicographicallyPrecedes(rhs.file.utf8) }
        return lhs.lineNumber < rhs.lineNumber
    }

    /// Appends this issue to `writer` (the layout ``init(from:)`` reads), to gather issues on a rank.
    func write(to writer: inout ByteWriter) {
        writer.write(lineNumber)
        writer.write(file)
        writer.write(UInt8(reason.kind.rawValue))
        switch reason {
        case let .wrongFieldCount(expected, found):
            writer.writeVarint(UInt64(max(expected, 0)))
            writer.writeVarint(UInt64(max(found, 0)))
        case let .emptyField(text), let .invalidTimestamp(text), let .invalidUTCOffset(text),
            let .invalidUTF8(text), let .unknownVenue(text), let .duplicateStore(text):
            writer.write(text)
        case let .invalidNumber(field, text):
            writer.write(field)
            writer.write(text)
        case let .coordinateOutOfRange(field, value):
            writer.write(field)
            writer.write(value)
        case let .implausibleTimestamp(seconds):
            writer.write(seconds)
        case let .lineTooLong(bytes):
            writer.writeVarint(UInt64(max(bytes, 0)))
        case .nullIsland, .unterminatedQuote:
            break
        }
    }

    /// Reads an issue written by ``write(to:)``.
    init(from reader: inout ByteReader) throws(ByteReader.Error) {
        lineNumber = try reader.read(Int64.self)
        file = try reader.readString()
        let start = reader.offset
        guard let kind = Kind(rawValue: Int(try reader.read(UInt8.self))) else { throw .truncated(offset: start) }
        switch kind {
        case .wrongFieldCount:
            reason = .wrongFieldCount(expected: Int(try reader.readVarint()), found: Int(try reader.readVarint()))
        case .emptyField: reason = .emptyField(try reader.readString())
        case .invalidTimestamp: reason = .invalidTimestamp(try reader.readString())
        case .invalidUTCOffset: reason = .invalidUTCOffset(try reader.readString())
        case .invalidUTF8: reason = .invalidUTF8(field: try reader.readString())
        case .unknownVenue: reason = .unknownVenue(try reader.readString())
        case .duplicateStore: reason = .duplicateStore(try reader.readString())
        case .invalidNumber: reason = .invalidNumber(field: try reader.readString(), text: try reader.readString())
        case .coordinateOutOfRange:
            reason = .coordinateOutOfRange(field: try reader.readString(), value: try reader.readDouble())
        case .implausibleTimestamp: reason = .implausibleTimestamp(try reader.read(Int64.self))
        case .lineTooLong: reason = .lineTooLong(bytes: Int(try reader.readVarint()))
        case .nullIsland: reason = .nullIsland
        case .unterminatedQuote: reason = .unterminatedQuote
        }
    }
}
