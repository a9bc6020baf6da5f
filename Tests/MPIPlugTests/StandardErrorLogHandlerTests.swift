import Logging
@testable import MPIPlug
import Testing

struct StandardErrorLogHandlerTests {
    @Test func linesKeepStreamLogHandlersFormatWithMetadataSortedByKey() {
        let line = StandardErrorLogHandler.line(
            timestamp: "2026-11-21T13:00:00+0000", level: .info, label: "geopredict",
            metadata: ["round": "7", "rank": "0"], source: "MPIPlug", message: "serving"
        )
        #expect(line == "2026-11-21T13:00:00+0000 info geopredict: rank=0 round=7 [MPIPlug] serving\n")
        let bare = StandardErrorLogHandler.line(
            timestamp: "t", level: .error, label: "", metadata: [:], source: "S", message: "m")
        #expect(bare == "t error: [S] m\n")
    }

    @Test func metadataSetOnTheLoggerIsKeptForLaterMessages() {
        var logger = Logger(label: "test") { StandardErrorLogHandler(label: $0) }
        logger[metadataKey: "hb.request.id"] = "42"
        logger[metadataKey: "rank"] = "1"
        #expect(logger[metadataKey: "hb.request.id"] == "42")
        #expect(logger.handler.metadata == ["hb.request.id": "42", "rank": "1"])
        #expect(logger.logLevel == .info)
    }
}
