import Foundation
import SwiftProtobuf

/// The two Connect unary body encodings.
public enum BodyFormat: Sendable, Equatable {
    /// `application/proto`: protobuf binary.
    case binary
    /// `application/json`: the proto3 JSON mapping (camelCase names, 64-bit integers as strings).
    case json

    /// Reads a `Content-Type` value (parameters such as `charset=utf-8` are ignored).
    public init?(contentType: String) {
        // Byte-wise: this runs for every call, and Foundation's trimming cost more than the rest of the
        // check (about 4 % of rank 0's CPU under load).
        var mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        while let first = mediaType.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            mediaType = mediaType.dropFirst()
        }
        while let last = mediaType.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            mediaType = mediaType.dropLast()
        }
        switch String(Substring(mediaType)).lowercased() {
        case "application/proto", "application/protobuf", "application/x-protobuf": self = .binary
        case "application/json": self = .json
        default: return nil
        }
    }

    /// The `Content-Type` of responses in this format.
    public var contentType: String {
        switch self {
        case .binary: return "application/proto"
        case .json: return "application/json"
        }
    }

    var name: String { self == .binary ? "binary" : "JSON" }

    /// Connect servers ignore unknown JSON fields, so old servers accept new clients.
    static let jsonDecodingOptions: JSONDecodingOptions = {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }()

    /// Unknown fields of binary bodies (nested ones too) are dropped while decoding: a request is
    /// re-encoded from what the service understood before it reaches another rank or a log.
    static let binaryDecodingOptions: BinaryDecodingOptions = {
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        return options
    }()

    /// Encodes `message` in this format.
    func encode(_ message: any Message) throws -> [UInt8] {
        switch self {
        case .binary: return try message.serializedBytes()
        case .json: return try message.jsonUTF8Bytes()
        }
    }
}
