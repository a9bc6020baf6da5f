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

    @Flag(help: "Also retrain without each group of features and print what each adds (on --validation if given, else --test).")
    var ablation = false

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
            try boosterParameters()?.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        if ranker == .xgboost, case .failure(let error) = XGBoostLibrary.shared {
            throw ValidationError("--ranker xgboost: \(error)")
        }
    }

    /// The boosted ranker's settings, or `nil` for the linear ranker.
    func boosterParameters() -> BoostedRankerParameters? {
        guard ranker == .xgboost else { return nil }
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

/// One `evaluate` run on every rank.
struct EvaluationRun {
    let command: EvaluateCommand
    let world: Communicator
    let shards: ShardMap

    init(command: EvaluateCommand, world: Communicator) {
        self.command = command
        self.world = world
        shards = ShardMap(rankCount: world.size)
    }

    /// An evaluation file: its own load (for the timing calibration and the default cut-off) and its
    /// load against the training catalogue (for the queries).
    struct EvaluationFile {
        let label: String
        let path: String
        let format: ImportFormat
        var own: LoadedDataset
        var known: LoadedDataset?
    }

    func say(_ text: String) {
        guard world.rank == 0 else { return }
        print(text)
        fflush(nil)
    }

    func execute() throws {
        let started = MPIEnvironment.wallTime
        var files: [EvaluationFile] = []
        for (label, path, format) in evaluationInputs() {
            let own = try load(path, format: format, stores: .fromData, before: nil)
            files.append(EvaluationFile(label: label, path: path, format: format, own: own))
        }
        let firstEvaluationTime = try world.allReduce(
            files.flatMap { $0.own.visits.timestamps }.min() ?? Int64.max, .minimum)
        // By default, train strictly before the first evaluated check-in's minute: some sources (TSMC2014)
        // record whole minutes, and the same check-in must not land on both sides.
        let cutoff = command.trainBefore.flatMap(EvaluateCommand.parseTime)
            ?? RecentCheckIns.startOfMinute(firstEvaluationTime)
        let training = try load(command.train, format: ImportFormat(rawValue: command.trainFormat) ?? .tsmc, stores: .fromData, before: cutoff)
        for index in files.indices {
            files[index].known = try load(files[index].path, format: files[index].format, stores: .catalogue(training.stores), before: nil)
        }
        let recent = try command.recentHistory
            ? RecentCheckIns(
                log: load(command.train, format: ImportFormat(rawValue: command.trainFormat) ?? .tsmc,
                          stores: .catalogue(training.stores), before: nil).visits,
                trainedBefore: cutoff)
            : nil
        // The evaluation files' own check-ins (venues known in training), for STHGCN's protocol.
        let earlier = command.earlierTrajectories
            ? RecentCheckIns(logs: files.compactMap { $0.known?.visits }, trainedBefore: cutoff)
            : nil
        let loadSeconds = MPIEnvironment.wallTime - started
        // The evaluation files' loads against the training catalogue drop unseen venues by design;
        // their own loads and the training load show the lines that could not be read.
        for report in [training.report] + files.map(\.own.report) { report.issueSummary().forEach(say) }
        say("training: \(training.report.checkInsKept) check-ins of \(training.report.userCount) users at "
            + "\(training.stores.count) stores, before \(cutoff) (\(isoDate(cutoff)))")
        say("load: \(roundTo(loadSeconds)) s on \(world.size) rank(s)")

        let parameters = try command.parameters()
        let (model, trainSeconds) = try trainModel(parameters, training: training, cutoff: cutoff, verbose: true)
        if let booster = model.booster {
            say("ranker: xgboost, \(booster.trees.treeCount) trees re-ranking the linear score's top \(booster.rerankedCandidates)")
        }
        say("train: \(roundTo(trainSeconds)) s; weights: "
            + NextVisitFeature.allCases.filter { model.weight(of: $0) != 0 }
            .map { "\($0.name) \(roundTo(model.weight(of: $0), 3))" }.joined(separator: ", "))

        var json: [String] = []
        for file in files {
            let evaluateStarted = MPIEnvironment.wallTime
            guard let known = file.known else { continue }
            let report = try NextVisitEvaluation.run(
                model: model, training: training.visits, test: known.visits, attributes: known.visitAttributes,
                listLength: max(command.top, 10), queryTime: command.queryTime, on: world)
            let evaluateSeconds = MPIEnvironment.wallTime - evaluateStarted
            say("")
            say(report.table(title: "\(file.label) \(file.path)"))
            let latency = report.modelMicroseconds
            say("  evaluate: \(roundTo(evaluateSeconds, 3)) s (\(report.trajectories.count) trajectories); model CPU per query: "
                + "median \(roundTo(latency.median, 1)) µs, p99 \(roundTo(latency.p99, 1)) µs, mean \(roundTo(latency.mean, 1)) µs")
            var timingJSON = "null"
            if let timing = model.timing {
                let calibration = try TimingCalibrationReport.run(
                    model: timing, training: training.visits, trainingTrips: NextVisitTrainer.tripTargets(training.stores),
                    test: file.own.visits, testTrips: NextVisitTrainer.tripTargets(file.own.stores), on: world)
                say(calibration.summary(title: "  next-trip timing on \(file.label)"))
                timingJSON = "{\"anchors\": \(calibration.anchors.count), \"observed_rate\": \(calibration.observedRate), "
                    + "\"mean_probability\": \(calibration.meanProbability), \"brier\": \(calibration.brierScore), "
                    + "\"constant_brier\": \(calibration.constantBrierScore), \"log_loss\": \(calibration.logLoss), "
                    + "\"window_coverage\": \(calibration.windowCoverage)}"
            }
            json.append("\"\(file.label)\": {\"metrics\": \(report.json()), \"timing\": \(timingJSON), "
                + "\"evaluate_seconds\": \(evaluateSeconds), \"model_microseconds\": {\"median\": \(latency.median), "
                + "\"p99\": \(latency.p99), \"mean\": \(latency.mean)}}")
            if file.label == "test", let path = command.predictionsOut, world.rank == 0 {
                try writeFile(path, report.predictionsCSV(top: command.top, catalogue: training.stores))
                say("  predictions: \(path)")
            }
            let histories = [
                (recent, "as_served", "as served (history includes check-ins after training, up to each trajectory)"),
                (earlier, "earlier_trajectories",
                 "with earlier trajectories (history includes the user's validation and test trajectories before this one, as STHGCN)"),
            ]
            for case (let history?, let key, let caption) in histories {
                let report = try NextVisitEvaluation.run(
                    model: model, training: training.visits, test: known.visits, attributes: known.visitAttributes,
                    listLength: 10, recent: history, queryTime: command.queryTime, on: world)
                say("")
                say(report.table(title: "\(file.label) \(caption)"))
                json.append("\"\(file.label)_\(key)\": {\"metrics\": \(report.json())}")
            }
        }
        say("")
        say("timings: load \(roundTo(loadSeconds)) s, train \(roundTo(trainSeconds)) s (ranks: \(world.size))")

        if command.ablation, let file = files.first, let known = file.known {
            let rows = try ablation(parameters, training: training, cutoff: cutoff, file: file, known: known, recent: recent)
            json.append("\"ablation\": {\(rows)}")
        }
        if let path = command.jsonOut, world.rank == 0 {
            try writeFile(path, "{\"ranks\": \(world.size), \"ranker\": \"\(command.ranker.rawValue)\", \"load_seconds\": \(loadSeconds), \"train_seconds\": \(trainSeconds), "
                + json.joined(separator: ", ") + "}\n")
        }
    }

    func evaluationInputs() -> [(String, String, ImportFormat)] {
        var inputs: [(String, String, ImportFormat)] = []
        if let validation = command.validation {
            inputs.append(("validation", validation, ImportFormat(rawValue: command.validationFormat) ?? .getnext))
        }
        inputs.append(("test", command.test, ImportFormat(rawValue: command.testFormat) ?? .getnext))
        return inputs
    }

    func load(_ path: String, format: ImportFormat, stores: StoreSource, before: Int64?) throws -> LoadedDataset {
        var options = LoadOptions(format: format)
        options.stores = stores
        options.keepBefore = before
        options.plausibleTimestamps = Int64(0)...Int64(4_102_444_800)
        return try DatasetLoader.load(path: path, options: options, shards: shards, on: world, progress: nil)
    }

    func trainModel(_ parameters: NextVisitParameters, training: LoadedDataset, cutoff: Int64, verbose: Bool) throws
        -> (NextVisitModel, Double)
    {
        let started = MPIEnvironment.wallTime
        var trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: parameters.features.contains(.collaborative) ? ALSCollaborativeTraining(configuration: command.alsConfiguration) : nil,
            timing: command.noTiming ? nil : NextTripParameters())
        trainer.fitsAtTargetTime = (command.fitTime ?? command.queryTime) == .target
        trainer.booster = command.boosterParameters()
        let (model, _) = try trainer.train(
            visits: training.visits, catalogue: training.stores, shards: shards, end: cutoff, on: world,
            progress: { line in if verbose { say("  " + line) } })
        return (model, MPIEnvironment.wallTime - started)
    }

    /// Retrains without each group and prints the model's metrics next to the full model's.
    /// With `recent`, each row also shows the model's MRR@10 as served.
    func ablation(
        _ parameters: NextVisitParameters, training: LoadedDataset, cutoff: Int64, file: EvaluationFile, known: LoadedDataset,
        recent: RecentCheckIns?
    ) throws -> String {
        say("")
        say("ablation on \(file.label) (\(file.path)): the model retrained without each part")
        say("    " + pad("", 26) + ["Acc@1", "Acc@5", "Acc@10", "MRR@10", "ΔAcc@1", "ΔAcc@10", "ΔMRR@10"].map { pad($0, 9) }.joined()
            + "  shopping Acc@1  MRR@10" + (recent == nil ? "" : "   served MRR@10  Δ"))
        var json: [String] = []
        var full: RankingMetrics?
        var fullServed: Double?
        let variants: [(String, NextVisitFeatureSet)] = [("full model", parameters.features)]
            + NextVisitFeatureGroup.allCases.compactMap { group in
                let without = parameters.features.removing(group)
                return without == parameters.features ? nil : ("- \(group.rawValue)", without)
            }
        for (name, features) in variants {
            var variant = parameters
            variant.features = features
            let (model, _) = try trainModel(variant, training: training, cutoff: cutoff, verbose: false)
            let report = try NextVisitEvaluation.run(
                model: model, training: training.visits, test: known.visits, attributes: known.visitAttributes,
                listLength: 10, queryTime: command.queryTime, on: world)
            let m = report.metrics(.model)
            let shopping = report.metrics(.model, shoppingOnly: true)
            let reference = full ?? m
            if full == nil { full = m }
            let cells = [m.accuracyAt1, m.accuracyAt5, m.accuracyAt10, m.meanReciprocalRankAt10,
                         m.accuracyAt1 - reference.accuracyAt1, m.accuracyAt10 - reference.accuracyAt10,
                         m.meanReciprocalRankAt10 - reference.meanReciprocalRankAt10]
            var servedCells = ""
            var servedJSON = ""
            if let recent {
                let served = try NextVisitEvaluation.run(
                    model: model, training: training.visits, test: known.visits, attributes: known.visitAttributes,
                    listLength: 10, recent: recent, queryTime: command.queryTime, on: world).metrics(.model).meanReciprocalRankAt10
                let reference = fullServed ?? served
                if fullServed == nil { fullServed = served }
                servedCells = "   " + pad(signed(served), 15) + signed(served - reference)
                servedJSON = ", \"served_mrr10\": \(served)"
            }
            say("    " + pad(name, 26) + cells.map { pad(signed($0), 9) }.joined()
                + "  " + pad(signed(shopping.accuracyAt1), 15) + pad(signed(shopping.meanReciprocalRankAt10), 6) + servedCells)
            json.append("\"\(name)\": {\"acc1\": \(m.accuracyAt1), \"acc5\": \(m.accuracyAt5), \"acc10\": \(m.accuracyAt10), "
                + "\"mrr10\": \(m.meanReciprocalRankAt10), \"shopping_acc1\": \(shopping.accuracyAt1), "
                + "\"shopping_mrr10\": \(shopping.meanReciprocalRankAt10)\(servedJSON)}")
        }
        return json.joined(separator: ", ")
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
