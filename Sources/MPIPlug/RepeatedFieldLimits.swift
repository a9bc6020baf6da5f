import MPI

/// The most elements one top-level repeated field of a request may carry.
///
/// Counted on the undecoded body (``CountLimitedRequest``): a small body can hold millions of empty
/// elements (two bytes each in binary, three in JSON), and decoding them costs far more than
/// counting them.
public struct RepeatedFieldLimit: Sendable, Equatable {
    /// The field's name in the `.proto` (`events`); its JSON name is derived from it.
    public let name: String
    /// The field's number in the `.proto`.
    public let number: Int
    /// The most elements accepted.
    public let maximumCount: Int

    /// Limits the message, string or bytes field `name` (number `number`) to `maximumCount` elements.
    /// (A packed numeric field would count one element per packed run: do not limit those here.)
    public init(_ name: String, number: Int, maximumCount: Int) {
        self.name = name
        self.number = number
        self.maximumCount = maximumCount
        jsonName = Self.lowerCamelCase(name)
    }

    /// The proto3 JSON name (`store_ids` -> `storeIds`).
    let jsonName: String

    static func lowerCamelCase(_ name: String) -> String {
        var result = ""
        var upperNext = false
        for character in name {
            if character == "_" {
                upperNext = true
            } else {
                result += upperNext ? character.uppercased() : String(character)
                upperNext = false
            }
        }
        return result
    }

    func exceeded(count: Int) -> ConnectError {
        .invalidArgument(field: name, "at most \(maximumCount) per request, not \(count)")
    }
}

/// A request whose top-level repeated fields are counted before it is decoded.
///
/// Conform generated messages to it in the service module, beside ``ValidatableRequest``; the front
/// door then refuses a body over a limit at the cost of a scan of its bytes (binary: the wire
/// format's tags and lengths; JSON: the structure), never a decode.
///
/// ```swift
/// extension Geopredict_V1_IngestEventsRequest: CountLimitedRequest {
///     public static let repeatedFieldLimits = [RepeatedFieldLimit("events", number: 1, maximumCount: 10_000)]
/// }
/// ```
public protocol CountLimitedRequest {
    static var repeatedFieldLimits: [RepeatedFieldLimit] { get }
}

extension CountLimitedRequest {
    /// Throws `invalid_argument` when `body` holds more elements of a limited field than its limit.
    ///
    /// A body that is not well-formed is left to the decoder, which reports it.
    public static func checkRepeatedFieldCounts(_ body: [UInt8], format: BodyFormat) throws(ConnectError) {
        try RepeatedFieldCounter.check(body, format: format, limits: repeatedFieldLimits)
    }
}

/// Counts the elements of top-level repeated fields without decoding them.
enum RepeatedFieldCounter {
    static func check(_ body: [UInt8], format: BodyFormat, limits: [RepeatedFieldLimit]) throws(ConnectError) {
        guard !limits.isEmpty else { return }
        let counts = body.withUnsafeBufferPointer { bytes in
            switch format {
            case .binary: return binaryCounts(bytes, limits: limits)
            case .json: return jsonCounts(bytes, limits: limits)
            }
        }
        for (limit, count) in zip(limits, counts) where count > limit.maximumCount {
            throw limit.exceeded(count: count)
        }
    }

    // MARK: Binary

    /// Occurrences of each limited field among the top-level fields of a protobuf binary body.
    static func binaryCounts(_ bytes: UnsafeBufferPointer<UInt8>, limits: [RepeatedFieldLimit]) -> [Int] {
        var counts = [Int](repeating: 0, count: limits.count)
        let numbers = limits.map { UInt64($0.number) }
        var reader = WireReader(bytes: bytes)
        while !reader.isAtEnd {
            // Most tags are one byte; the loop is written for the debug builds the tests run too.
            guard let tag = reader.varint() else { break }
            let fieldNumber = tag >> 3
            var index = 0
            while index < numbers.count {
                if numbers[index] == fieldNumber { counts[index] += 1 }
                index += 1
            }
            guard reader.skipField(wireType: tag & 7) else { break }
        }
        return counts
    }

    /// Reads the protobuf wire format: varints, and fields skipped by their wire type.
    struct WireReader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func varint() -> UInt64? { LEB128.decode(UnsafeRawBufferPointer(bytes), at: &offset) }

        mutating func skip(_ count: UInt64) -> Bool {
            guard count <= UInt64(bytes.count - offset) else { return false }
            offset += Int(count)
            return true
        }

        /// Skips one field's value; false when the body is malformed. Groups (wire types 3 and 4,
        /// which proto3 never writes) are skipped to their end tag, nesting included.
        mutating func skipField(wireType: UInt64) -> Bool {
            switch wireType {
            case 0: return varint() != nil
            case 1: return skip(8)
            case 2:
                guard let length = varint() else { return false }
                return skip(length)
            case 3:
                var openGroups = 1
                while openGroups > 0 {
                    guard let tag = varint() else { return false }
                    switch tag & 7 {
                    case 3: openGroups += 1
                    case 4: openGroups -= 1
                    default: guard skipField(wireType: tag & 7) else { return false }
                    }
                }
                return true
            case 5: return skip(4)
            default: return false
            }
        }
    }

    // MARK: JSON

    /// Elements of each limited field's array among the top-level members of a JSON object body
    /// (its proto name and its JSON name both count, as the decoder accepts both).
    static func jsonCounts(_ bytes: UnsafeBufferPointer<UInt8>, limits: [RepeatedFieldLimit]) -> [Int] {
        var counts = [Int](repeating: 0, count: limits.count)
        var scanner = JSONScanner(bytes: bytes)
        guard scanner.consume(UInt8(ascii: "{")) else { return counts }
        if scanner.consume(UInt8(ascii: "}")) { return counts }
        repeat {
            guard let key = scanner.key(), scanner.consume(UInt8(ascii: ":")) else { return counts }
            let index = limits.firstIndex { $0.name == key || $0.jsonName == key }
            if let index, scanner.peek == UInt8(ascii: "[") {
                guard let elements = scanner.arrayElementCount() else { return counts }
                counts[index] += elements
            } else {
                guard scanner.skipValue() else { return counts }
            }
        } while scanner.consume(UInt8(ascii: ","))
        return counts
    }

    /// A forward-only walk over JSON text that skips values without building them.
    struct JSONScanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

        private static func isWhiteSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
        }

        private static func endsLiteral(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || isWhiteSpace(byte)
        }

        /// The next byte that is not white space, or nil at the end.
        var peek: UInt8? {
            mutating get {
                while offset < bytes.count, Self.isWhiteSpace(bytes[offset]) { offset += 1 }
                return offset < bytes.count ? bytes[offset] : nil
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            offset += 1
            return true
        }

        /// An object key, unescaped (`"\u0065vents"` is `events` to the decoder too); nil if malformed.
        mutating func key() -> String? {
            guard peek == Self.quote else { return nil }
            let start = offset + 1
            guard skipString() else { return nil }
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<(offset - 1)])
            guard raw.contains(Self.backslash) else { return String(decoding: raw, as: UTF8.self) }
            return unescape(raw)
        }

        private func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
            var result = [UInt8]()
            var index = 0
            while index < raw.count {
                let byte = raw[index]
                index += 1
                guard byte == Self.backslash else {
                    result.append(byte)
                    continue
                }
                guard index < raw.count else { return nil }
                let escaped = raw[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "u"):
                    guard index + 4 <= raw.count,
                          let scalarValue = UInt32(String(decoding: raw[index..<(index + 4)], as: UTF8.self), radix: 16)
                    else { return nil }
                    index += 4
                    // A surrogate cannot be one of the ASCII field names; keep it as a replacement.
                    let scalar = Unicode.Scalar(scalarValue) ?? "\u{FFFD}"
                    result.append(contentsOf: Array(String(scalar).utf8))
                case UInt8(ascii: "n"): result.append(0x0A)
                case UInt8(ascii: "t"): result.append(0x09)
                case UInt8(ascii: "r"): result.append(0x0D)
                case UInt8(ascii: "b"): result.append(0x08)
                case UInt8(ascii: "f"): result.append(0x0C)
                default: result.append(escaped)
                }
            }
            return String(decoding: result, as: UTF8.self)
        }

        /// Skips a string starting at its opening quote.
        mutating func skipString() -> Bool {
            offset += 1
            while offset < bytes.count {
                switch bytes[offset] {
                case Self.quote:
                    offset += 1
                    return true
                case Self.backslash: offset += 2
                default: offset += 1
                }
            }
            return false
        }

        /// Skips one value of any kind; false if malformed.
        mutating func skipValue() -> Bool {
            guard let first = peek else { return false }
            switch first {
            case Self.quote: return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["): return skipContainer()
            default:
                // A number, true, false or null: up to the next delimiter.
                let start = offset
                while offset < bytes.count, !Self.endsLiteral(bytes[offset]) { offset += 1 }
                return offset > start
            }
        }

        /// Skips an object or array, nested ones included, by counting brackets outside strings.
        private mutating func skipContainer() -> Bool {
            var depth = 0
            while offset < bytes.count {
                switch bytes[offset] {
                case Self.quote:
                    guard skipString() else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        offset += 1
                        return true
                    }
                default: break
                }
                offset += 1
            }
            return false
        }

        /// The number of elements of the array starting here; nil if malformed.
        mutating func arrayElementCount() -> Int? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            if consume(UInt8(ascii: "]")) { return 0 }
            var count = 0
            repeat {
                guard skipValue() else { return nil }
                count += 1
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]")) ? count : nil
        }
    }
}
