import Foundation
import MPIPlugProtos
import SwiftProtobuf

/// One entry of a Connect error's `details`: a protobuf message that tells programs more than the
/// code and the message (which field was bad, say), so that they need not parse the message.
///
/// On the wire (connectrpc.com/docs/protocol) each is
/// `{"type": "mpiplug.v1.BadRequest", "value": "<binary encoding, base64 without padding>", "debug": {...}}`;
/// `debug` is the message as protobuf JSON, for people reading the error, and clients ignore it.
public struct ConnectErrorDetail: Sendable, Equatable {
    /// The message's fully qualified name, `mpiplug.v1.BadRequest`.
    public var typeName: String
    /// The message's binary protobuf encoding.
    public var value: [UInt8]
    /// The message as protobuf JSON (an object), or nil to leave `debug` out.
    public var debugJSON: String?

    public init(typeName: String, value: [UInt8], debugJSON: String? = nil) {
        self.typeName = typeName
        self.value = value
        self.debugJSON = debugJSON
    }

    /// The detail carrying `message`, with its JSON as `debug`.
    public init(_ message: some Message) {
        // A proto3 message always encodes; `partial` keeps a proto2 one that lacks a required field.
        self.init(
            typeName: type(of: message).protoMessageName,
            value: (try? message.serializedBytes(partial: true)) ?? [],
            debugJSON: try? message.jsonString()
        )
    }

    /// The detail as `message_type`, or nil when it holds another type (or does not decode).
    public func message<Detail: Message>(_ type: Detail.Type) -> Detail? {
        guard typeName == Detail.protoMessageName else { return nil }
        return try? Detail(serializedBytes: value)
    }

    /// Details are the same when they carry the same message: `debug` is only a rendering of `value`
    /// (and a client that parsed it back cannot reproduce the server's spacing).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.typeName == rhs.typeName && lhs.value == rhs.value
    }

    /// The detail as an element of the error body's `details`.
    var json: String {
        var text = "{\"type\":\(JSONString.quote(typeName)),\"value\":\"\(Self.unpaddedBase64(value))\""
        if let debugJSON { text += ",\"debug\":\(debugJSON)" }
        return text + "}"
    }

    /// Standard base64 without `=` padding: what the protocol says to emit (clients accept both).
    static func unpaddedBase64(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// A detail's `value` as bytes: standard or URL-safe base64, padded or not (what a client must
    /// accept); nil when it is not base64.
    public static func decodeBase64(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map { Array($0) }
    }
}

extension ConnectError {
    /// One refused field of a request, as `mpiplug.v1.BadRequest` carries it.
    public typealias FieldViolation = Mpiplug_V1_BadRequest.FieldViolation

    /// An `invalid_argument` naming the field at fault: the message is `"field: description"`
    /// (`"limit: must be 0 (the default, 10) to 100, not 101"`) and a `mpiplug.v1.BadRequest` detail
    /// carries the field and the description apart, for programs.
    ///
    /// - Parameters:
    ///   - field: the field as the `.proto` names it (`user_id`, not `userId`).
    ///   - description: why it was refused.
    public static func invalidArgument(field: String, _ description: String) -> ConnectError {
        ConnectError(
            .invalidArgument, "\(field): \(description)",
            details: [ConnectErrorDetail(Mpiplug_V1_BadRequest.with {
                $0.fieldViolations = [.with { $0.field = field; $0.description_p = description }]
            })]
        )
    }

    /// The field violations of the error's `mpiplug.v1.BadRequest` details, in order (empty without one).
    public var fieldViolations: [FieldViolation] {
        details.compactMap { $0.message(Mpiplug_V1_BadRequest.self) }.flatMap(\.fieldViolations)
    }
}
