import ArgumentParser
import GeoPredict
import MPI
#if canImport(Glibc)
import Glibc
#endif

/// `geopredict evaluate`: train on one file, score next-visit predictions on another.
///
/// ```
/// mpirun -np 2 geopredict evaluate --train checkins_tsmc2014_format.tsv --train-format tsmc \
///     --validation getnext_NYC_val.csv --test getnext_NYC_test.csv --test-format getnext \
///     --top 10 --predictions-out predictions.csv
/// ```
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Train on --train, then predict the last check-in of each --test trajectory and print Acc@k and MRR.",
        discussion: """
            Training uses the check-ins strictly before --train-before (default: the minute of the first \
            check-in of the --validation and --test files), as in the GETNext protocol. A test trajectory is skipped when its \
            user is unseen in training; venues unseen in training are dropped; at least 2 known check-ins must \
            precede the last one. The query time is the last earlier check-in's (--query-time last) or the target \
            check-in's (--query-time target: its time only, never its place). Runs alone or under mpirun.
            """
    )

    @Option(help: "The training check-ins.")
    var train: String

    @Option(help: "tsmc, snap, getnext or csv.")
    var trainFormat: String = "tsmc"

    @Option(help: "The test trajectories (the table reported).")
    var test: String

    @Option(help: "getnext or csv.")
    var testFormat: String = "getnext"

    @Option(help: "Validation trajectories, evaluated too (tune on these, never on --test).")
    var validation: String?

    @Option(help: "getnext or csv.")
    var validationFormat: String = "getnext"

    @Option(help: "Train on check-ins strictly before this time (Unix seconds or ISO 8601, e.g. 2012-11-09T21:54:00Z).")
    var trainBefore: String?

    @Option(help: "Stores listed per trajectory in --predictions-out (the metrics always use the top 10).")
    var top: Int = 10

    @Option(help: "When each trajectory is asked: last (the last earlier check-in's time) or target (the target check-in's time).")
    var queryTime: EvaluationQueryTime = .last

    @Option(help: "When each fitting instance is asked: last or target (default: as --query-time), so that training matches the queries.")
    var fitTime: EvaluationQueryTime?

    @Option(help: "The ranker: linear (the listwise linear score) or xgboost (also: boosted; gradient-boosted trees, LambdaMART, re-ranking the linear score's best --ranker-candidates; trained with libxgboost).")
    var ranker: RankerKind = .linear

    @Option(help: "Boosted ranker: the XGBoost objective (rank:ndcg, rank:pairwise or rank:map).")
    var rankerObjective = BoostedRankerParameters().objective

    @Option(help: "Boosted ranker: trees (boosting rounds).")
    var rankerTrees = BoostedRankerParameters().trees

    @Option(help: "Boosted ranker: the deepest a tree grows.")
    var rankerDepth = BoostedRankerParameters().maximumDepth

    @Option(help: "Boosted ranker: the learning rate eta.")
    var rankerEta = BoostedRankerParameters().learningRate

    @Option(help: "Boosted ranker: XGBoost's min_child_weight.")
    var rankerMinChildWeight = BoostedRankerParameters().minimumChildWeight

    @Option(help: "Boosted ranker: how many of the linear score's best candidates it re-ranks.")
    var rankerCandidates = BoostedRankerParameters().rerankedCandidates

    @Option(help: "Boosted ranker: at most about this many training queries (the first virtual partitions').")
    var rankerMaxQueries = BoostedRankerParameters().maximumQueries

    @Option(help: "Write the model's predictions for --test as CSV: trajectory_id,rank,venue_id,score.")
    var predictionsOut: String?

    @Option(help: "Write the metrics as JSON.")
    var jsonOut: String?

    @Option(parsing: .singleValue, help: "Features or groups to leave out, comma-separated (groups: \(NextVisitFeatureGroup.allCases.map(\.rawValue).joined(separator: ", "))).")
    var disableFeature: [String] = []

    @Flag(help: "Also retrain without each group of features and print what each adds (on --validation if given, else --test); with --ranker xgboost, also what the booster adds.")
    var ablation = false

    @Flag(help: ArgumentHelp(
        "Also print every protocol in one table: trajectory only, earlier trajectories and as served, each at the last and the target time, with the linear and the boosted ranker, beside the published rows.",
        discussion: "Trains one model per query time (fitted at that time unless --fit-time is given; with the booster when libxgboost loads) and scores --validation and --test with each; needs no other flag."))
    var allProtocols = false

    @Option(help: "Also cross-validate the choices (fit time, ranker) inside the training data: this many folds, each training before a cut-off earlier than --train-before and scoring the sessions of the --fold-days after it (0: none).")
    var timeFolds = 0

    @Option(help: "Days each time-ordered fold holds out (--time-folds).")
    var foldDays = 28

    @Flag(help: ArgumentHelp(
        "Also score each file as the running service would: with each user's --train check-ins after the cut-off and before the trajectory added to their history (no retraining).",
        discussion: "Printed as another table on the same trajectories. GETNext's published results use training history only (the first table); STHGCN's, the earlier trajectories (--earlier-trajectories)."))
    var recentHistory = false

    @Flag(help: ArgumentHelp(
        "Also score each file with each user's earlier trajectories of the --validation and --test files added to their history (STHGCN's protocol).",
        discussion: "STHGCN's published code builds its hypergraph from the train, validation and test files together and links each trajectory to the same user's trajectories that ended before it starts. Printed as another table on the same trajectories; no retraining."))
    var earlierTrajectories = false

    @Flag(help: "Skip the next-trip timing and its calibration.")
    var noTiming = false

    @Option(help: "Fitting instances come from the last this-many days of training.")
    var fitWindowDays = NextVisitParameters().fitWindowDays

    @Option(help: "At most this many fitting instances per user (the most recent sessions).")
    var maxInstancesPerUser = NextVisitParameters().maximumInstancesPerUser

    @Option(help: "L2 penalty on the weights.")
    var l2 = NextVisitParameters().l2

    @Option(help: "Hours without a check-in that end a session.")
    var sessionGapHours = Double(NextVisitParameters().sessionGapSeconds) / 3_600

    @Option(help: "Candidates: the user's most recently visited distinct stores.")
    var visitedCandidates = NextVisitParameters().visitedCandidates

    @Option(help: "Candidates: nearest stores to the current position.")
    var nearbyCandidates = NextVisitParameters().nearbyCandidates

    @Option(help: "Candidates: top successors of the last store.")
    var successorCandidates = NextVisitParameters().successorCandidates

    @Option(help: "Candidates: most popular stores.")
    var popularCandidates = NextVisitParameters().popularCandidates

    @Option(help: "Hour-kernel concentration kappa.")
    var hourKappa = NextVisitParameters().hourKernelConcentration

    @Option(help: "Recency ages count each pause between a user's check-ins for at most this many days (0: wall-clock time).")
    var recencyGapCapDays = Double(NextVisitParameters().recencyGapCapSeconds) / 86_400

    @Option(help: "Distance offset d0 in km of the log-distance feature.")
    var distanceOffsetKm = NextVisitParameters().distanceOffsetKilometers

    @Option(help: "ALS latent factors.")
    var alsFactors = ALSConfiguration.defaultFactorCount

    @Option(help: "ALS iterations.")
    var alsIterations = ALSConfiguration.defaultIterations

    @Option(help: "ALS confidence 1 + alpha * count.")
    var alsAlpha = ALSConfiguration.defaultAlpha

    @Option(help: "ALS regularization.")
    var alsRegularization = ALSConfiguration.defaultRegularization

    func validate() throws {
        for (name, value) in [("--train-format", trainFormat), ("--test-format", testFormat), ("--validation-format", validationFormat)] {
            guard let format = ImportFormat(rawValue: value), !format.isFolder else {
                throw ValidationError("\(name) must be one of tsmc, snap, getnext, csv (got '\(value)')")
            }
        }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard (0...12).contains(timeFolds) else { throw ValidationError("--time-folds must be 0 to 12 (got \(timeFolds))") }
        guard (1...365).contains(foldDays) else { throw ValidationError("--fold-days must be 1 to 365 (got \(foldDays))") }
        // Checked before the conversions to whole seconds, which a NaN or an infinity would trap.
        for (name, value) in [("--session-gap-hours", sessionGapHours), ("--recency-gap-cap-days", recencyGapCapDays)] {
            guard value.isFinite, value >= 0, value <= 36_500 * 24 else {
                throw ValidationError("\(name) must be a number from 0 up to 100 years (got \(value))")
            }
        }
        if let trainBefore, Self.parseTime(trainBefore) == nil {
            throw ValidationError("--train-before: '\(trainBefore)' is neither Unix seconds nor ISO 8601")
        }
        do {
            _ = try parameters()
            try configuredBoosterParameters().validate()
        } catch {
            throw ValidationError("\(error)")
        }
        if ranker == .xgboost, case .failure(let error) = XGBoostLibrary.shared {
            throw ValidationError("--ranker xgboost: \(error)")
        }
    }

    /// The boosted ranker's settings, or `nil` for the linear ranker.
    func boosterParameters() -> BoostedRankerParameters? {
        ranker == .xgboost ? configuredBoosterParameters() : nil
    }

    /// The boosted ranker's settings from the options, whichever ranker is chosen (the protocol table
    /// and the cross-validation train the booster either way).
    func configuredBoosterParameters() -> BoostedRankerParameters {
        var parameters = BoostedRankerParameters()
        parameters.objective = rankerObjective
        parameters.trees = rankerTrees
        parameters.maximumDepth = rankerDepth
        parameters.learningRate = rankerEta
        parameters.minimumChildWeight = rankerMinChildWeight
        parameters.rerankedCandidates = rankerCandidates
        parameters.maximumQueries = rankerMaxQueries
        return parameters
    }

    /// How the reported model is trained: the fit time and ranker the options give.
    var trainingChoice: TrainingChoice {
        TrainingChoice(fitTime: fitTime ?? queryTime, booster: boosterParameters(), timing: !noTiming)
    }

    func run() throws {
        let status = MPI.run { environment -> Int32 in
            try EvaluationRun(command: self, world: environment.world).execute()
            return 0
        }
        if status != 0 { throw ExitCode(status) }
    }

    func parameters() throws -> NextVisitParameters {
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = fitWindowDays
        parameters.maximumInstancesPerUser = maxInstancesPerUser
        parameters.l2 = l2
        parameters.sessionGapSeconds = Int64((sessionGapHours * 3_600).rounded())
        parameters.nearbyCandidates = nearbyCandidates
        parameters.visitedCandidates = visitedCandidates
        parameters.successorCandidates = successorCandidates
        parameters.popularCandidates = popularCandidates
        parameters.hourKernelConcentration = hourKappa
        parameters.distanceOffsetKilometers = distanceOffsetKm
        parameters.recencyGapCapSeconds = Int64((recencyGapCapDays * 86_400).rounded())
        parameters.features = try NextVisitFeatureSet.all.disabling(disableFeature.flatMap { $0.split(separator: ",").map(String.init) })
        try parameters.validate()
        return parameters
    }

    var alsConfiguration: ALSConfiguration {
        ALSConfiguration(
            factorCount: alsFactors, iterations: alsIterations, regularization: alsRegularization,
            confidence: .linear(alpha: alsAlpha))
    }

    static func parseTime(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { TimestampParsing.unixOrISO8601($0) }
    }
}

func roundTo(_ value: Double, _ digits: Int = 2) -> Double {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return (value * scale).rounded() / scale
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// `0.2906`, `-0.0123`, `+0.0040` for differences too (4 decimals).
func signed(_ value: Double) -> String {
    let rounded = (value * 10_000).rounded() / 10_000
    var text = "\(abs(rounded))"
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < 4 { text += String(repeating: "0", count: 4 - decimals) }
    }
    return (rounded < 0 ? "-" : "") + text
}

func isoDate(_ seconds: Int64) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

struct FileWriteError: Error, CustomStringConvertible {
    let path: String
    var description: String { "cannot write \(path)" }
}

func writeFile(_ path: String, _ contents: String) throws {
    guard let file = fopen(path, "w") else { throw FileWriteError(path: path) }
    defer { fclose(file) }
    var contents = contents
    let written = contents.withUTF8 { fwrite($0.baseAddress, 1, $0.count, file) }
    if written != contents.utf8.count { throw FileWriteError(path: path) }
}

extension EvaluationQueryTime: ExpressibleByArgument {}

/// `--ranker`: the linear score alone, or boosted trees re-ranking its best candidates.
enum RankerKind: String, CaseIterable, ExpressibleByArgument {
    case linear
    case xgboost

    init?(argument: String) {
        switch argument {
        case "linear": self = .linear
        case "xgboost", "boosted": self = .xgboost
        default: return nil
        }
    }
}
