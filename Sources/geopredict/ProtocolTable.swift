import GeoPredict

/// The histories a trajectory can be scored with (``EvaluationInputs``).
enum EvaluationProtocol: String, CaseIterable, Encodable {
    /// GETNext's: the training history and the trajectory's own earlier check-ins.
    case trajectoryOnly = "trajectory only"
    /// STHGCN's: also the user's validation and test trajectories that ended before this one.
    case earlierTrajectories = "earlier trajectories"
    /// The running service's: also every training-file check-in after the cut-off, up to the trajectory.
    case asServed = "as served"

    func history(in inputs: EvaluationInputs) -> RecentCheckIns? {
        switch self {
        case .trajectoryOnly: return nil
        case .earlierTrajectories: return inputs.earlier
        case .asServed: return inputs.recent
        }
    }
}

/// The two rankers compared in the protocol table and the folds.
enum ComparedRanker: String, Encodable {
    case linear
    case xgboost

    /// `model` (trained with a booster when there is one) ranked this way.
    func apply(to model: NextVisitModel) -> NextVisitModel? {
        switch self {
        case .linear: return model.linearRanker
        case .xgboost: return model.booster == nil ? nil : model
        }
    }
}

/// A published NYC result, as the issue quotes it (not re-run here); `nil` where the paper gives none.
struct PublishedResult {
    let name: String
    let protocolName: EvaluationProtocol
    let queryTime: EvaluationQueryTime
    let figures: [Double?]

    /// Acc@1 / Acc@5 / Acc@10 / MRR@10 with a dash for a missing figure.
    var compact: String { figures.map { $0.map { signed($0) } ?? "–" }.joined(separator: " / ") }

    /// The rows of the issue (issue 20) by protocol: GETNext's split for the first two, STHGCN's for the LLMs.
    static let all: [PublishedResult] = [
        PublishedResult(name: "GETNext (SIGIR 2022)", protocolName: .trajectoryOnly, queryTime: .last, figures: [0.2435, nil, 0.6143, 0.3621]),
        PublishedResult(name: "ROTAN (KDD 2024) without the target time", protocolName: .trajectoryOnly, queryTime: .last,
                        figures: [0.2499, nil, 0.5943, 0.3634]),
        PublishedResult(name: "ROTAN (KDD 2024) with the target time", protocolName: .trajectoryOnly, queryTime: .target,
                        figures: [0.3106, nil, 0.6131, 0.4104]),
        PublishedResult(name: "STHGCN (SIGIR 2023)", protocolName: .earlierTrajectories, queryTime: .last,
                        figures: [0.2734, nil, 0.6244, 0.3915]),
        PublishedResult(name: "GA-LLM (2025, Qwen2.5-3B fine-tuned)", protocolName: .earlierTrajectories, queryTime: .target,
                        figures: [0.4070, 0.6448, nil, nil]),
        PublishedResult(name: "GNPR-SID (KDD 2025)", protocolName: .earlierTrajectories, queryTime: .target, figures: [0.3618, nil, nil, nil]),
        PublishedResult(name: "LLM4POI (SIGIR 2024, Llama-2-7B fine-tuned)", protocolName: .earlierTrajectories, queryTime: .target,
                        figures: [0.3372, nil, nil, nil]),
    ]
}

/// A goal of issue 20 on the NYC test file: at least these Acc@1 / Acc@10 / MRR@10 (`nil`: none set).
struct ProtocolGoal {
    let protocolName: EvaluationProtocol
    let queryTime: EvaluationQueryTime
    let acc1: Double?
    let acc10: Double?
    let mrr10: Double?

    static let all: [ProtocolGoal] = [
        ProtocolGoal(protocolName: .trajectoryOnly, queryTime: .last, acc1: 0.30, acc10: 0.72, mrr10: 0.43),
        ProtocolGoal(protocolName: .trajectoryOnly, queryTime: .target, acc1: 0.34, acc10: 0.74, mrr10: 0.46),
        ProtocolGoal(protocolName: .earlierTrajectories, queryTime: .target, acc1: 0.41, acc10: 0.78, mrr10: nil),
    ]

    var compact: String {
        [acc1, nil, acc10, mrr10].map { $0.map { String(signed($0).prefix(4)) } ?? "–" }.joined(separator: " / ")
    }

    /// "met", or the figures short of the goal.
    func verdict(_ metrics: MetricsSummary) -> String {
        let checks: [(name: String, goal: Double?, value: Double)] = [
            ("Acc@1", acc1, metrics.acc1), ("Acc@10", acc10, metrics.acc10), ("MRR@10", mrr10, metrics.mrr10),
        ]
        let short = checks.filter { check in check.goal.map { check.value < $0 } ?? false }.map(\.name)
        return short.isEmpty ? "met" : "not met (\(short.joined(separator: ", ")) short)"
    }
}

/// One row of `--all-protocols`.
struct ProtocolRow: Encodable {
    var protocolName: EvaluationProtocol
    var queryTime: String
    var fitTime: String
    var ranker: ComparedRanker
    var validation: MetricsSummary?
    var test: MetricsSummary?

    enum CodingKeys: String, CodingKey {
        case ranker, validation, test
        case protocolName = "protocol"
        case queryTime = "query_time"
        case fitTime = "fit_time"
    }
}

/// The models the protocol table and the folds' validation column share: one per fit time, trained
/// on everything before the cut-off, with the booster when there is one.
struct ProtocolModels {
    var byFitTime: [EvaluationQueryTime: NextVisitModel] = [:]
}

extension EvaluationRun {
    /// The model fitted at `fitTime` on all the training data (with the booster when libxgboost loads),
    /// trained once per run.
    func protocolModel(
        fitTime: EvaluationQueryTime, parameters: NextVisitParameters, inputs: EvaluationInputs, models: inout ProtocolModels
    ) throws -> NextVisitModel {
        if let model = models.byFitTime[fitTime] { return model }
        let choice = TrainingChoice(fitTime: fitTime, booster: boosterForComparisons(), timing: false)
        let (model, seconds) = try trainModel(parameters, training: inputs.training, cutoff: inputs.cutoff, choice: choice, verbose: false)
        say("  trained at fit time \(fitTime.rawValue)\(model.booster == nil ? "" : " with the booster") in \(roundTo(seconds)) s")
        models.byFitTime[fitTime] = model
        return model
    }

    /// Every protocol at both query times with both rankers, on every file, printed as one Markdown
    /// table beside the published rows and the issue's goals.
    func protocolTable(_ parameters: NextVisitParameters, inputs: EvaluationInputs, models: inout ProtocolModels) throws -> [ProtocolRow] {
        say("")
        say("all protocols (fit time = query time unless --fit-time; Acc@1 / Acc@5 / Acc@10 / MRR@10):")
        var rows: [ProtocolRow] = []
        for queryTime in EvaluationQueryTime.allCases {
            let fitTime = command.fitTime ?? queryTime
            let model = try protocolModel(fitTime: fitTime, parameters: parameters, inputs: inputs, models: &models)
            for protocolName in EvaluationProtocol.allCases {
                for ranker in [ComparedRanker.linear, .xgboost] {
                    guard let ranked = ranker.apply(to: model) else { continue }
                    var row = ProtocolRow(protocolName: protocolName, queryTime: queryTime.rawValue, fitTime: fitTime.rawValue, ranker: ranker)
                    for file in inputs.files {
                        let metrics = MetricsSummary(try evaluate(
                            ranked, training: inputs.training, on: file.known, recent: protocolName.history(in: inputs),
                            queryTime: queryTime).metrics(.model))
                        if file.label == "validation" { row.validation = metrics } else { row.test = metrics }
                    }
                    rows.append(row)
                }
            }
        }
        say("")
        say(protocolMarkdown(rows).joined(separator: "\n"))
        return rows
    }

    /// The table: per protocol and query time, the model's rows, then the published rows and the goal.
    func protocolMarkdown(_ rows: [ProtocolRow]) -> [String] {
        var lines = ["| Protocol | query time | fit time | ranker | validation | test |", "|---|---|---|---|---|---|"]
        for protocolName in EvaluationProtocol.allCases {
            for queryTime in EvaluationQueryTime.allCases {
                let group = rows.filter { $0.protocolName == protocolName && $0.queryTime == queryTime.rawValue }
                for row in group {
                    lines.append("| \(protocolName.rawValue) | \(row.queryTime) | \(row.fitTime) | \(row.ranker.rawValue) | "
                        + "\(row.validation?.compact ?? "") | \(row.test?.compact ?? "") |")
                }
                for published in PublishedResult.all where published.protocolName == protocolName && published.queryTime == queryTime {
                    lines.append("| \(published.name), as published (NYC) | | | | | \(published.compact) |")
                }
                for goal in ProtocolGoal.all where goal.protocolName == protocolName && goal.queryTime == queryTime {
                    let verdicts = group.compactMap { row in row.test.map { "\(row.ranker.rawValue) \(goal.verdict($0))" } }
                    lines.append("| goal (NYC test) ≥ \(goal.compact) | | | | | \(verdicts.joined(separator: "; ")) |")
                }
            }
        }
        return lines
    }
}
