import Foundation
import Logging

/// swift-log's `StreamLogHandler` line format on standard error, with the metadata formatted only
/// when a message is logged.
///
/// `StreamLogHandler` re-formats all of a logger's metadata every time one key is set. Hummingbird
/// sets a request id on a copy of the server's logger for every request, so on a busy front door
/// that formatting ran once per request for messages that were almost never logged (about 3 % of
/// rank 0's CPU under load). A server's executable calls ``bootstrap()`` first.
public struct StandardErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// Makes this the process's log handler; call it once, before the first `Logger` is made.
    public static func bootstrap() {
        LoggingSystem.bootstrap(StandardErrorLogHandler.init)
    }

    public init(label: String) {
        self.label = label
    }

    public init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = Self.line(
            timestamp: Self.timestamp(), level: event.level, label: label,
            metadata: effectiveMetadata(event.metadata), source: event.source, message: event.message
        )
        // One write per line, so that lines from different threads do not interleave.
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// One log line, as `StreamLogHandler` writes it: `<time> <level> <label>: <k=v ...> [<source>] <message>`.
    static func line(
        timestamp: String, level: Logger.Level, label: String, metadata: Logger.Metadata, source: String,
        message: Logger.Message
    ) -> String {
        let pretty = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(timestamp) \(level)\(label.isEmpty ? "" : " ")\(label):\(pretty.isEmpty ? "" : " \(pretty)") [\(source)] \(message)\n"
    }

    private func effectiveMetadata(_ explicit: Logger.Metadata?) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        return merged
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
