/// What a load read, kept and rejected: the same value on every rank (the counters and the first
/// issues of every rank are all-gathered, so the CLI prints it from rank 0 and the service can
/// answer from any rank).
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    /// One rank's share of the work.
    public struct RankCounts: Sendable, Equatable {
        /// Bytes of input the rank was responsible for.
        public var bytes: Int64
        /// Lines the rank read (for compressed input, the lines it kept: every `size`-th).
        public var linesRead: Int64
        /// Events the rank parsed and sent to their owners.
        public var eventsSent: Int64
        /// Events the rank received as owner.
        public var eventsReceived: Int64
        /// Users the rank owns after the load.
        public var users: Int64
        /// Seconds the rank spent from start to finish.
        public var seconds: Double
        /// Seconds reading, parsing and re-sharding the events.
        public var readSeconds: Double
        /// Seconds building the store catalogue (tally exchange and all-gather, or the store file).
        public var catalogueSeconds: Double
        /// Seconds building the visit logs.
        public var buildSeconds: Double
        /// Of ``readSeconds``: seconds in the re-sharding exchanges (waiting for slower ranks included).
        public var shuffleSeconds: Double = 0
        /// Event bytes the rank sent to other ranks while re-sharding.
        public var shuffleBytesSent: Int64 = 0
    }

    /// The input.
    public var path: String
    public var format: ImportFormat
    /// How the input was divided: `"byte ranges"`, `"decompressor on every rank"` or `"folder"`.
    public var mode: String
    /// Data lines read (header excluded), including blank and bad ones.
    public var linesRead: Int64 = 0
    /// Empty lines, skipped without an issue.
    public var blankLines: Int64 = 0
    /// Lines with an issue (including store-file lines, and unknown venues kept as raw fixes).
    public var issueCount: Int64 = 0
    /// ``issueCount`` by reason.
    public var issueCounts: [ImportIssue.Kind: Int64] = [:]
    /// The first ``LoadOptions/maximumReportedIssues`` issues, in (file, line) order.
    public var issues: [ImportIssue] = []
    /// Check-ins in the visit logs.
    public var checkInsKept: Int64 = 0
    /// Raw GPS fixes kept for visit detection.
    public var rawFixesKept: Int64 = 0
    /// Events outside ``LoadOptions/keepFrom`` / ``LoadOptions/keepBefore``.
    public var droppedByTime: Int64 = 0
    /// Check-ins at venues whose category the filter rejects.
    public var droppedByCategory: Int64 = 0
    /// Stores in the catalogue.
    public var storeCount = 0
    /// Users with at least one kept event.
    public var userCount: Int64 = 0
    /// Bytes of input (compressed size for `.xz`/`.gz`).
    public var bytes: Int64 = 0
    /// Wall-clock seconds of the load (the slowest rank).
    public var seconds: Double = 0
    /// Re-shard rounds (alltoallv exchanges of events).
    public var exchangeRounds = 0
    /// Per rank, in rank order.
    public var perRank: [RankCounts] = []

    /// Events kept: check-ins and raw fixes.
    public var eventsKept: Int64 { checkInsKept + rawFixesKept }

    /// Kept events per second of load.
    public var eventsPerSecond: Double { seconds > 0 ? Double(eventsKept) / seconds : 0 }

    public var description: String {
        var lines: [String] = []
        lines.append("loaded \(path) (\(format), \(mode), \(perRank.count) rank(s)) in \(rounded(seconds)) s")
        lines.append("  lines read \(linesRead), blank \(blankLines), with issues \(issueCount)")
        lines.append("  kept \(eventsKept) events (\(checkInsKept) check-ins, \(rawFixesKept) raw fixes) of \(userCount) users at \(storeCount) stores")
        if droppedByTime > 0 || droppedByCategory > 0 {
            lines.append("  dropped \(droppedByTime) outside the time window, \(droppedByCategory) by category")
        }
        lines.append("  \(Int(eventsPerSecond.rounded())) events/s, \(exchangeRounds) exchange round(s)")
        if let slowest = perRank.max(by: { $0.seconds < $1.seconds }) {
            lines.append("  slowest rank: read \(rounded(slowest.readSeconds)) s, catalogue \(rounded(slowest.catalogueSeconds)) s, build \(rounded(slowest.buildSeconds)) s")
        }
        for (kind, count) in issueCounts.sorted(by: { $0.key < $1.key }) {
            lines.append("  issues: \(kind): \(count)")
        }
        for issue in issues { lines.append("  \(issue)") }
        if issueCount > Int64(issues.count) {
            lines.append("  ... and \(issueCount - Int64(issues.count)) more issue(s)")
        }
        return lines.joined(separator: "\n")
    }

    /// The bad lines for a person to read: how many, why, and the first `limit` with their places;
    /// empty when every line was read.
    public func issueSummary(listing limit: Int = 5) -> [String] {
        guard issueCount > 0 else { return [] }
        let reasons = issueCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let listed = issues.prefix(max(limit, 0))
        var lines = ["\(path): \(issueCount) bad line(s) skipped (\(reasons))"] + listed.map { "  \($0)" }
        if issueCount > Int64(listed.count) { lines.append("  ... and \(issueCount - Int64(listed.count)) more") }
        return lines
    }

    private func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// What one rank's load produced.
public struct LoadedDataset: Sendable {
    /// This rank's users (those ``ShardMap/owner(of:)`` gives it) and their check-ins, with venues
    /// as store indices.
    public var visits: VisitLog
    /// Trajectory ids and UTC offsets per visit, aligned with ``visits``.
    public var visitAttributes: VisitAttributes
    /// This rank's users' raw GPS fixes (events without a venue), for visit detection.
    public var rawFixes: RawFixLog
    /// Every store, identical on every rank.
    public var stores: StoreCatalogue
    /// What was read, kept and rejected; identical on every rank.
    public var report: LoadReport
}
