/// An OpenMPI hostfile: one host per line, optionally `slots=N`; `#` starts a comment.
///
/// ```
/// node01 slots=4
/// node02 slots=4   # a comment
/// ```
struct Hostfile: Equatable {
    struct Host: Equatable {
        var name: String
        /// `slots=N`, or nil when the line does not say (OpenMPI then counts the node's cores).
        var slots: Int?
    }

    var hosts: [Host]

    /// Parses a hostfile's text; rejects lines OpenMPI would reject or misread.
    init(parsing text: String) throws(LaunchError) {
        var hosts = [Host]()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let name = words.first else { continue }
            var host = Host(name: String(name), slots: nil)
            for word in words.dropFirst() {
                let pair = word.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { throw .invalidHostfileLine(index + 1, String(rawLine)) }
                switch pair[0] {
                case "slots":
                    guard let slots = Int(pair[1]), slots > 0 else { throw .invalidHostfileLine(index + 1, String(rawLine)) }
                    host.slots = slots
                case "max_slots", "max-slots":
                    guard let maximum = Int(pair[1]), maximum > 0 else { throw .invalidHostfileLine(index + 1, String(rawLine)) }
                default:
                    throw .invalidHostfileLine(index + 1, String(rawLine))
                }
            }
            hosts.append(host)
        }
        guard !hosts.isEmpty else { throw .emptyHostfile }
        self.hosts = hosts
    }

    /// The sum of the slots, when every line gives them.
    var totalSlots: Int? {
        hosts.reduce(Optional(0)) { total, host in
            guard let total, let slots = host.slots else { return nil }
            return total + slots
        }
    }
}
