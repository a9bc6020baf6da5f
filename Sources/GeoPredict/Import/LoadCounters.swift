/// Per-rank counters of a load, in a fixed order for one allgather.
struct LoadCounters {
    var bytes: Int64 = 0
    var linesRead: Int64 = 0
    var blankLines: Int64 = 0
    var eventsSent: Int64 = 0
    var eventsReceived: Int64 = 0
    var checkInsKept: Int64 = 0
    var rawFixesKept: Int64 = 0
    var droppedByTime: Int64 = 0
    var droppedByCategory: Int64 = 0
    var users: Int64 = 0
    var microseconds: Int64 = 0
    /// Phases: reading, parsing and re-sharding; the store catalogue; building the logs.
    var readMicroseconds: Int64 = 0
    var catalogueMicroseconds: Int64 = 0
    var buildMicroseconds: Int64 = 0
    /// Of the reading phase: time inside the re-sharding exchanges (waiting for slower ranks
    /// included), and the event bytes this rank sent to other ranks there.
    var shuffleMicroseconds: Int64 = 0
    var shuffleBytesSent: Int64 = 0

    static let fieldCount = 16

    var values: [Int64] {
        [bytes, linesRead, blankLines, eventsSent, eventsReceived, checkInsKept, rawFixesKept, droppedByTime,
         droppedByCategory, users, microseconds, readMicroseconds, catalogueMicroseconds, buildMicroseconds,
         shuffleMicroseconds, shuffleBytesSent]
    }

    init() {}

    init(_ values: ArraySlice<Int64>) {
        let v = Array(values)
        (bytes, linesRead, blankLines, eventsSent, eventsReceived) = (v[0], v[1], v[2], v[3], v[4])
        (checkInsKept, rawFixesKept, droppedByTime, droppedByCategory, users, microseconds) = (v[5], v[6], v[7], v[8], v[9], v[10])
        (readMicroseconds, catalogueMicroseconds, buildMicroseconds) = (v[11], v[12], v[13])
        (shuffleMicroseconds, shuffleBytesSent) = (v[14], v[15])
    }
}
