/// The command line of bench-als.
struct Options {
    var dataPath = ""
    var factors = 32
    var iterations = 10
    var regularization: Float = 0.1
    var alpha: Float = 40
    var solver = "cg"
    var conjugateGradientSteps = 3
    /// Fits per process; each is timed separately (the first includes page-faulting fresh memory).
    var repeats = 1
    /// Whether to compute the training loss after each iteration (adds a pass; off for timing).
    var computesLoss = false
    /// Where rank 0 writes every user's and store's factors for the quality comparison.
    var dumpPath: String?
    /// How collectives wait: MPI's blocking calls (busy-poll) or nonblocking calls tested with a
    /// sleeping back-off, which gives the core away while a rank waits (better on a shared machine).
    var polling = false

    static let usage = """
        usage: bench-als --data FILE [--factors K] [--iterations N] [--regularization L] [--alpha A]
                         [--solver cg|cholesky] [--cg-steps N] [--repeats N] [--loss] [--dump FILE]
                         [--wait blocking|polling]
        """

    init(arguments: [String]) throws(BenchmarkError) {
        var index = 0
        func value() throws(BenchmarkError) -> String {
            index += 1
            guard index < arguments.count else { throw .usage("\(arguments[index - 1]) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--data": dataPath = try value()
            case "--factors": factors = try Self.positive(try value(), "--factors")
            case "--iterations": iterations = try Self.positive(try value(), "--iterations")
            case "--regularization": regularization = try Self.number(try value(), "--regularization")
            case "--alpha": alpha = try Self.number(try value(), "--alpha")
            case "--solver": solver = try value()
            case "--cg-steps": conjugateGradientSteps = try Self.positive(try value(), "--cg-steps")
            case "--repeats": repeats = try Self.positive(try value(), "--repeats")
            case "--loss": computesLoss = true
            case "--dump": dumpPath = try value()
            case "--wait":
                switch try value() {
                case "blocking": polling = false
                case "polling": polling = true
                default: throw .usage("--wait must be blocking or polling")
                }
            default: throw .usage("unknown option \(arguments[index])")
            }
            index += 1
        }
        guard !dataPath.isEmpty else { throw .usage("--data is required") }
        guard ["cg", "cholesky"].contains(solver) else { throw .usage("--solver must be cg or cholesky") }
    }

    private static func positive(_ text: String, _ flag: String) throws(BenchmarkError) -> Int {
        guard let value = Int(text), value > 0 else { throw .usage("\(flag) must be a positive integer, not '\(text)'") }
        return value
    }

    private static func number(_ text: String, _ flag: String) throws(BenchmarkError) -> Float {
        guard let value = Float(text), value.isFinite, value >= 0 else { throw .usage("\(flag) must be a number >= 0, not '\(text)'") }
        return value
    }
}

enum BenchmarkError: Error, CustomStringConvertible {
    case usage(String)
    case data(String)

    var description: String {
        switch self {
        case .usage(let message): return "\(message)\n\(Options.usage)"
        case .data(let message): return "data file: \(message)"
        }
    }
}
