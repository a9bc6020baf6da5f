/// One rank's issues: every one counted by reason, the first `limit` kept (a rank reads its lines in
/// order, so these are its earliest).
struct IssueLog {
    let limit: Int
    private(set) var kept: [ImportIssue] = []
    private(set) var counts = [Int64](repeating: 0, count: ImportIssue.Kind.allCases.count)

    init(limit: Int) { self.limit = max(0, limit) }

    var total: Int64 { counts.reduce(0, +) }

    mutating func record(_ issue: ImportIssue) {
        counts[issue.reason.kind.rawValue] += 1
        if kept.count < limit { kept.append(issue) }
    }

    /// Adds `offset` to the line numbers of kept issues in the main file (byte-range loads number
    /// lines locally until the ranks' line counts are known).
    mutating func shiftLineNumbers(by offset: Int64) {
        for index in kept.indices where kept[index].file.isEmpty { kept[index].lineNumber += offset }
    }
}
