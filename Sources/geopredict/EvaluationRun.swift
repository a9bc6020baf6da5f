import GeoPredict
import MPI
#if canImport(Glibc)
import Glibc
#endif

/// How one model of an `evaluate` run is trained.
struct TrainingChoice {
    /// When the fitting instances are asked (``NextVisitTrainer/fitsAtTargetTime``).
    var fitTime: EvaluationQueryTime
    /// The boosted ranker's settings, `nil` for the linear ranker alone.
    var booster: BoostedRankerParameters?
    /// Whether the next-trip timing is fitted (it changes no ranking).
    var timing: Bool
}

/// An evaluation file: its own load (for the timing calibration and the default cut-off) and its
/// load against the training catalogue (for the queries).
struct EvaluationFile {
    let label: String
    let path: String
    let format: ImportFormat
    var own: LoadedDataset
    var known: LoadedDataset
}

/// What every pass of an `evaluate` run reads: loaded once.
struct EvaluationInputs {
    /// Training uses the check-ins strictly before this time.
    var cutoff: Int64
    var training: LoadedDataset
    /// Validation first (when given), then test.
    var files: [EvaluationFile]
    /// The training file's check-ins after the cut-off (`--recent-history`, the service's view).
    var recent: RecentCheckIns?
    /// The evaluation files' own check-ins (`--earlier-trajectories`, STHGCN's protocol).
    var earlier: RecentCheckIns?
    var loadSeconds: Double

    /// The file a choice is made on: validation if given, else test.
    var tuningFile: EvaluationFile? { files.first }

    func file(_ label: String) -> EvaluationFile? { files.first { $0.label == label } }
}

/// One `evaluate` run on every rank: load, train, score each file under each history, then the
/// optional passes (ablation, the protocol table, the time-ordered folds), then the JSON report.
struct EvaluationRun {
    let command: EvaluateCommand
    let world: Communicator
    let shards: ShardMap

    init(command: EvaluateCommand, world: Communicator) {
        self.command = command
        self.world = world
        shards = ShardMap(rankCount: world.size)
    }

    func say(_ text: String) {
        guard world.rank == 0 else { return }
        print(text)
        fflush(nil)
    }

    func execute() throws {
        let inputs = try loadInputs()
        var report = EvaluationReport(ranks: world.size, ranker: command.ranker.rawValue, loadSeconds: inputs.loadSeconds)
        let parameters = try command.parameters()
        let (model, trainSeconds) = try trainModel(
            parameters, training: inputs.training, cutoff: inputs.cutoff, choice: command.trainingChoice, verbose: true)
        report.trainSeconds = trainSeconds
        describe(model, trainSeconds: trainSeconds)
        for file in inputs.files {
            try score(model, on: file, inputs: inputs, into: &report)
        }
        say("")
        say("timings: load \(roundTo(inputs.loadSeconds)) s, train \(roundTo(trainSeconds)) s (ranks: \(world.size))")

        if command.ablation, let file = inputs.tuningFile {
            report.ablation = try ablation(parameters, inputs: inputs, file: file)
        }
        var models = ProtocolModels()
        if command.allProtocols {
            report.protocols = try protocolTable(parameters, inputs: inputs, models: &models)
        }
        if command.timeFolds > 0 {
            report.timeFolds = try timeOrderedValidation(parameters, inputs: inputs, models: &models)
        }
        if let path = command.jsonOut, world.rank == 0 {
            try writeFile(path, report.jsonText())
        }
    }

    // MARK: Loading

    /// Loads the evaluation files, then the training file before the cut-off, then each evaluation
    /// file against the training catalogue and the later histories the options ask for.
    func loadInputs() throws -> EvaluationInputs {
        let started = MPIEnvironment.wallTime
        var own: [(label: String, path: String, format: ImportFormat, dataset: LoadedDataset)] = []
        for (label, path, format) in evaluationInputs() {
            let dataset = try load(path, format: format, stores: .fromData, before: nil)
            own.append((label, path, format, dataset))
        }
        let firstEvaluationTime = try world.allReduce(
            own.flatMap { $0.dataset.visits.timestamps }.min() ?? Int64.max, .minimum)
        // By default, train strictly before the first evaluated check-in's minute: some sources (TSMC2014)
        // record whole minutes, and the same check-in must not land on both sides.
        let cutoff = command.trainBefore.flatMap(EvaluateCommand.parseTime)
            ?? RecentCheckIns.startOfMinute(firstEvaluationTime)
        let training = try load(command.train, format: trainFormat, stores: .fromData, before: cutoff)
        var files: [EvaluationFile] = []
        for file in own {
            let known = try load(file.path, format: file.format, stores: .catalogue(training.stores), before: nil)
            files.append(EvaluationFile(label: file.label, path: file.path, format: file.format, own: file.dataset, known: known))
        }
        let recent = try command.recentHistory || command.allProtocols
            ? RecentCheckIns(
                log: load(command.train, format: trainFormat, stores: .catalogue(training.stores), before: nil).visits,
                trainedBefore: cutoff)
            : nil
        let earlier = command.earlierTrajectories || command.allProtocols
            ? RecentCheckIns(logs: files.map(\.known.visits), trainedBefore: cutoff)
            : nil
        let inputs = EvaluationInputs(
            cutoff: cutoff, training: training, files: files, recent: recent, earlier: earlier,
            loadSeconds: MPIEnvironment.wallTime - started)
        // The evaluation files' loads against the training catalogue drop unseen venues by design;
        // their own loads and the training load show the lines that could not be read.
        for report in [training.report] + files.map(\.own.report) { report.issueSummary().forEach(say) }
        say("training: \(training.report.checkInsKept) check-ins of \(training.report.userCount) users at "
            + "\(training.stores.count) stores, before \(cutoff) (\(isoDate(cutoff)))")
        say("load: \(roundTo(inputs.loadSeconds)) s on \(world.size) rank(s)")
        return inputs
    }

    var trainFormat: ImportFormat { ImportFormat(rawValue: command.trainFormat) ?? .tsmc }

    func evaluationInputs() -> [(String, String, ImportFormat)] {
        var inputs: [(String, String, ImportFormat)] = []
        if let validation = command.validation {
            inputs.append(("validation", validation, ImportFormat(rawValue: command.validationFormat) ?? .getnext))
        }
        inputs.append(("test", command.test, ImportFormat(rawValue: command.testFormat) ?? .getnext))
        return inputs
    }

    /// Loads `path` on every rank (each keeps its own users), check-ins in `from..<before`.
    func load(_ path: String, format: ImportFormat, stores: StoreSource, from: Int64? = nil, before: Int64?) throws -> LoadedDataset {
        var options = LoadOptions(format: format)
        options.stores = stores
        options.keepFrom = from
        options.keepBefore = before
        options.plausibleTimestamps = Int64(0)...Int64(4_102_444_800)
        return try DatasetLoader.load(path: path, options: options, shards: shards, on: world, progress: nil)
    }

    // MARK: Training

    func trainModel(
        _ parameters: NextVisitParameters, training: LoadedDataset, cutoff: Int64, choice: TrainingChoice, verbose: Bool
    ) throws -> (NextVisitModel, Double) {
        let started = MPIEnvironment.wallTime
        var trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: parameters.features.contains(.collaborative) ? ALSCollaborativeTraining(configuration: command.alsConfiguration) : nil,
            timing: choice.timing ? NextTripParameters() : nil)
        trainer.fitsAtTargetTime = choice.fitTime == .target
        trainer.booster = choice.booster
        let (model, _) = try trainer.train(
            visits: training.visits, catalogue: training.stores, shards: shards, end: cutoff, on: world,
            progress: { line in if verbose { say("  " + line) } })
        return (model, MPIEnvironment.wallTime - started)
    }

    /// The booster's settings for the passes that compare both rankers, or `nil` (with a line saying
    /// why) when libxgboost cannot be loaded: those passes then show the linear ranker only.
    func boosterForComparisons() -> BoostedRankerParameters? {
        switch XGBoostLibrary.shared {
        case .success: return command.configuredBoosterParameters()
        case .failure(let error):
            say("  (no boosted ranker: \(error))")
            return nil
        }
    }

    func describe(_ model: NextVisitModel, trainSeconds: Double) {
        if let booster = model.booster {
            say("ranker: xgboost, \(booster.trees.treeCount) trees re-ranking the linear score's top \(booster.rerankedCandidates)")
        }
        say("train: \(roundTo(trainSeconds)) s; weights: "
            + NextVisitFeature.allCases.filter { model.weight(of: $0) != 0 }
            .map { "\($0.name) \(roundTo(model.weight(of: $0), 3))" }.joined(separator: ", "))
    }

    // MARK: Scoring

    /// Scores `model` on `file` with `recent` in the history (or none) at `queryTime`.
    func evaluate(
        _ model: NextVisitModel, training: LoadedDataset, on known: LoadedDataset, recent: RecentCheckIns? = nil,
        queryTime: EvaluationQueryTime, listLength: Int = 10
    ) throws -> NextVisitEvaluationReport {
        try NextVisitEvaluation.run(
            model: model, training: training.visits, test: known.visits, attributes: known.visitAttributes,
            listLength: listLength, recent: recent, queryTime: queryTime, on: world)
    }

    /// The file's tables: trajectory only (with its cost, the timing calibration and, for the test
    /// file, the predictions CSV), then as served and with earlier trajectories when asked for.
    func score(_ model: NextVisitModel, on file: EvaluationFile, inputs: EvaluationInputs, into report: inout EvaluationReport) throws {
        let started = MPIEnvironment.wallTime
        let evaluation = try evaluate(
            model, training: inputs.training, on: file.known, queryTime: command.queryTime, listLength: max(command.top, 10))
        let seconds = MPIEnvironment.wallTime - started
        say("")
        say(evaluation.table(title: "\(file.label) \(file.path)"))
        let latency = evaluation.modelMicroseconds
        say("  evaluate: \(roundTo(seconds, 3)) s (\(evaluation.trajectories.count) trajectories); model CPU per query: "
            + "median \(roundTo(latency.median, 1)) µs, p99 \(roundTo(latency.p99, 1)) µs, mean \(roundTo(latency.mean, 1)) µs")
        var table = TableResult(metrics: evaluation.summary)
        table.evaluateSeconds = seconds
        table.modelMicroseconds = LatencySummary(median: latency.median, p99: latency.p99, mean: latency.mean)
        table.timing = try calibrateTiming(model, on: file, training: inputs.training)
        report.tables[file.label] = table
        if file.label == "test", let path = command.predictionsOut, world.rank == 0 {
            try writeFile(path, evaluation.predictionsCSV(top: command.top, catalogue: inputs.training.stores))
            say("  predictions: \(path)")
        }
        let histories = [
            (command.recentHistory ? inputs.recent : nil, "as_served",
             "as served (history includes check-ins after training, up to each trajectory)"),
            (command.earlierTrajectories ? inputs.earlier : nil, "earlier_trajectories",
             "with earlier trajectories (history includes the user's validation and test trajectories before this one, as STHGCN)"),
        ]
        for case (let history?, let key, let caption) in histories {
            let evaluation = try evaluate(model, training: inputs.training, on: file.known, recent: history, queryTime: command.queryTime)
            say("")
            say(evaluation.table(title: "\(file.label) \(caption)"))
            report.tables["\(file.label)_\(key)"] = TableResult(metrics: evaluation.summary)
        }
    }

    /// The next-trip timing's calibration on `file`, printed; `nil` without a timing part.
    func calibrateTiming(_ model: NextVisitModel, on file: EvaluationFile, training: LoadedDataset) throws -> TimingSummary? {
        guard let timing = model.timing else { return nil }
        let calibration = try TimingCalibrationReport.run(
            model: timing, training: training.visits, trainingTrips: NextVisitTrainer.tripTargets(training.stores),
            test: file.own.visits, testTrips: NextVisitTrainer.tripTargets(file.own.stores), on: world)
        say(calibration.summary(title: "  next-trip timing on \(file.label)"))
        return TimingSummary(calibration)
    }
}
