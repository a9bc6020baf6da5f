import GeoPredict

/// One held-out window of `--time-folds`: trained before `trainedBefore`, scored on the sessions of
/// the training file's check-ins from then until `heldOutBefore`.
struct TimeFold: Encodable {
    var trainedBefore: String
    var heldOutBefore: String
    /// Sessions scored (the same for every choice).
    var sessions: Int

    enum CodingKeys: String, CodingKey {
        case sessions
        case trainedBefore = "trained_before"
        case heldOutBefore = "held_out_before"
    }
}

/// One choice of `--time-folds`: its figures on each fold, their means, and on the validation file.
struct CrossValidationRow: Encodable {
    var queryTime: String
    var fitTime: String
    var ranker: ComparedRanker
    var folds: [MetricsSummary] = []
    var validation: MetricsSummary?

    var meanAcc1: Double { mean(folds.map(\.acc1)) }
    var meanAcc10: Double { mean(folds.map(\.acc10)) }
    var meanMRR10: Double { mean(folds.map(\.mrr10)) }

    private func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

    enum CodingKeys: String, CodingKey {
        case ranker, folds, validation
        case queryTime = "query_time"
        case fitTime = "fit_time"
        case meanAcc1 = "mean_acc1"
        case meanAcc10 = "mean_acc10"
        case meanMRR10 = "mean_mrr10"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queryTime, forKey: .queryTime)
        try container.encode(fitTime, forKey: .fitTime)
        try container.encode(ranker, forKey: .ranker)
        try container.encode(folds, forKey: .folds)
        try container.encodeIfPresent(validation, forKey: .validation)
        try container.encode(meanAcc1, forKey: .meanAcc1)
        try container.encode(meanAcc10, forKey: .meanAcc10)
        try container.encode(meanMRR10, forKey: .meanMRR10)
    }
}

/// `--time-folds`: the folds, and every choice's figures.
struct CrossValidationReport: Encodable {
    var foldDays: Int
    var booster: String?
    var folds: [TimeFold] = []
    var rows: [CrossValidationRow] = []

    enum CodingKeys: String, CodingKey {
        case booster, folds, rows
        case foldDays = "fold_days"
    }
}

/// A training file with a fold's cut-off that leaves nothing to train on or to score.
struct EmptyFoldError: Error, CustomStringConvertible {
    let description: String
}

extension EvaluationRun {
    /// Time-ordered cross-validation inside the training data, for the choices the model makes (fit
    /// time, ranker) at each query time: fold k trains on the check-ins before `cutoff − k × window`
    /// and scores the sessions (cut at the session gap) of the next window, each session's last
    /// check-in predicted from its earlier ones and the fold's training history. Nothing after the
    /// real cut-off is read. The validation column is the same choice trained on all the training data.
    func timeOrderedValidation(
        _ parameters: NextVisitParameters, inputs: EvaluationInputs, models: inout ProtocolModels
    ) throws -> CrossValidationReport {
        let booster = boosterForComparisons()
        let window = Int64(command.foldDays) * Seconds.perDay
        var report = CrossValidationReport(foldDays: command.foldDays, booster: booster.map(Self.boosterSummary))
        var rows: [String: CrossValidationRow] = [:]
        var order: [String] = []
        say("")
        say("time-ordered folds inside the training data (\(command.timeFolds) × \(command.foldDays) days before \(isoDate(inputs.cutoff))):")
        for index in 1...command.timeFolds {
            let cut = inputs.cutoff - Int64(index) * window
            let training = try load(command.train, format: trainFormat, stores: .fromData, before: cut)
            let heldOut = try load(command.train, format: trainFormat, stores: .catalogue(training.stores), from: cut, before: cut + window)
            guard training.report.checkInsKept > 0, heldOut.report.checkInsKept > 0 else {
                throw EmptyFoldError(description: "--time-folds: fold \(index) (training before \(isoDate(cut))) has no check-ins to train on or to score")
            }
            var sessions = 0
            for fitTime in EvaluationQueryTime.allCases {
                let choice = TrainingChoice(fitTime: fitTime, booster: booster, timing: false)
                let (model, seconds) = try trainModel(parameters, training: training, cutoff: cut, choice: choice, verbose: false)
                for ranker in [ComparedRanker.linear, .xgboost] {
                    guard let ranked = ranker.apply(to: model) else { continue }
                    for queryTime in EvaluationQueryTime.allCases {
                        let evaluation = try evaluate(ranked, training: training, on: heldOut, queryTime: queryTime)
                        sessions = evaluation.counts.scored
                        let key = "\(queryTime.rawValue) \(fitTime.rawValue) \(ranker.rawValue)"
                        if rows[key] == nil {
                            rows[key] = CrossValidationRow(queryTime: queryTime.rawValue, fitTime: fitTime.rawValue, ranker: ranker)
                            order.append(key)
                        }
                        rows[key]?.folds.append(MetricsSummary(evaluation.metrics(.model)))
                    }
                }
                say("  fold \(index): trained before \(isoDate(cut)) at fit time \(fitTime.rawValue) in \(roundTo(seconds)) s")
            }
            report.folds.append(TimeFold(trainedBefore: isoDate(cut), heldOutBefore: isoDate(cut + window), sessions: sessions))
        }
        if let validation = inputs.file("validation") {
            for key in order {
                guard let row = rows[key], let fitTime = EvaluationQueryTime(rawValue: row.fitTime),
                      let queryTime = EvaluationQueryTime(rawValue: row.queryTime) else { continue }
                let model = try protocolModel(fitTime: fitTime, parameters: parameters, inputs: inputs, models: &models)
                guard let ranked = row.ranker.apply(to: model) else { continue }
                rows[key]?.validation = MetricsSummary(
                    try evaluate(ranked, training: inputs.training, on: validation.known, queryTime: queryTime).metrics(.model))
            }
        }
        report.rows = order.compactMap { rows[$0] }
        say("")
        say(crossValidationMarkdown(report).joined(separator: "\n"))
        return report
    }

    static func boosterSummary(_ booster: BoostedRankerParameters) -> String {
        "\(booster.objective), \(booster.trees) trees, depth \(booster.maximumDepth), eta \(booster.learningRate), "
            + "min_child_weight \(booster.minimumChildWeight), top \(booster.rerankedCandidates)"
    }

    /// Acc@1 / MRR@10 per fold, the means (Acc@1 / Acc@10 / MRR@10) and the validation file's figures.
    func crossValidationMarkdown(_ report: CrossValidationReport) -> [String] {
        let foldHeaders = report.folds.enumerated().map { index, fold in
            "fold \(index + 1): \(fold.trainedBefore.prefix(10)) + \(report.foldDays) d, n = \(fold.sessions)"
        }
        var lines = [
            "| query time | fit time | ranker | " + foldHeaders.joined(separator: " | ") + " | mean Acc@1 / Acc@10 / MRR@10 | validation file |",
            "|---|---|---|" + String(repeating: "---|", count: foldHeaders.count + 2),
        ]
        for row in report.rows {
            let folds = row.folds.map { "\(signed($0.acc1)) / \(signed($0.mrr10))" }
            lines.append("| \(row.queryTime) | \(row.fitTime) | \(row.ranker.rawValue) | " + folds.joined(separator: " | ")
                + " | \(signed(row.meanAcc1)) / \(signed(row.meanAcc10)) / \(signed(row.meanMRR10)) | \(row.validation?.compact ?? "") |")
        }
        lines.append("(folds: Acc@1 / MRR@10 on the held-out sessions; validation: Acc@1 / Acc@5 / Acc@10 / MRR@10"
            + (report.booster.map { "; booster: \($0)" } ?? "; no booster") + ")")
        return lines
    }
}
