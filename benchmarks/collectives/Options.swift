/// What one run measures, read from the command line.
///
/// The runner script (`benchmarks/collectives/run`) passes the same schedule to this program and to
/// its mpi4py counterpart, so that both time the same sizes with the same iteration counts.
struct Options {
    /// Message sizes in bytes per rank, each with its own iteration and warm-up counts.
    var schedule: [ScheduleEntry]
    /// How many times each (case, size) is timed; the report takes the median.
    var repetitions = 7
    /// Where rank 0 writes the JSON results; `nil` writes them to standard output.
    var outputPath: String?

    static let usage = """
        usage: bench-collectives --schedule BYTES:ITERATIONS:WARMUP[,...] [--repetitions N] [--output FILE]
        """

    init<Arguments: Sequence<String>>(arguments: Arguments) throws(BenchmarkError) {
        var schedule: [ScheduleEntry]?
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw .usage("\(flag) needs a value") }
            switch flag {
            case "--schedule": schedule = try Self.parseSchedule(value)
            case "--repetitions": repetitions = try Self.parsePositive(value, flag)
            case "--output": outputPath = value
            default: throw .usage("unknown option \(flag)")
            }
        }
        guard let schedule, !schedule.isEmpty else { throw .usage("--schedule is required") }
        self.schedule = schedule
    }

    private static func parseSchedule(_ text: String) throws(BenchmarkError) -> [ScheduleEntry] {
        var entries: [ScheduleEntry] = []
        for item in text.split(separator: ",") {
            let fields = item.split(separator: ":").map(String.init)
            guard fields.count == 3 else { throw .usage("schedule entry '\(item)' is not BYTES:ITERATIONS:WARMUP") }
            entries.append(ScheduleEntry(
                bytes: try parsePositive(fields[0], "bytes"),
                iterations: try parsePositive(fields[1], "iterations"),
                warmup: try parsePositive(fields[2], "warm-up")
            ))
        }
        return entries
    }

    private static func parsePositive(_ text: String, _ what: String) throws(BenchmarkError) -> Int {
        guard let value = Int(text), value > 0 else {
            throw .usage("\(what) must be a positive integer, not '\(text)'")
        }
        return value
    }
}

/// One message size and how many calls to make at it.
struct ScheduleEntry: Encodable {
    /// Bytes per rank: the reduced vector for allreduce, the whole send buffer for alltoallv.
    let bytes: Int
    /// Calls timed in one repetition.
    let iterations: Int
    /// Untimed calls made once before the repetitions.
    let warmup: Int
}

/// Why the benchmark stopped.
enum BenchmarkError: Error, CustomStringConvertible {
    /// The command line is wrong.
    case usage(String)
    /// A collective returned values other than the expected ones: the timings would be meaningless.
    case wrongResult(String)
    /// The results could not be written.
    case output(String)

    var description: String {
        switch self {
        case .usage(let message): return "\(message)\n\(Options.usage)"
        case .wrongResult(let message): return "wrong result: \(message)"
        case .output(let message): return "cannot write results: \(message)"
        }
    }
}
