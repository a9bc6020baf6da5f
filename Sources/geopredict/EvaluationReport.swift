import Foundation
import GeoPredict

/// What `geopredict evaluate --json-out` writes: the run, then one entry per table (`validation`,
/// `test`, `test_as_served`, `test_earlier_trajectories`, ...), then the optional passes.
struct EvaluationReport: Encodable {
    var ranks: Int
    var ranker: String
    var loadSeconds: Double
    var trainSeconds = 0.0
    /// Keyed by the file's label, with `_as_served` or `_earlier_trajectories` for the other histories.
    var tables: [String: TableResult] = [:]
    /// `--ablation`: keyed by the row's name (`full model`, `- frequency`, ...).
    var ablation: [String: AblationRow]?
    /// `--all-protocols`.
    var protocols: [ProtocolRow]?
    /// `--time-folds`.
    var timeFolds: CrossValidationReport?

    init(ranks: Int, ranker: String, loadSeconds: Double) {
        self.ranks = ranks
        self.ranker = ranker
        self.loadSeconds = loadSeconds
    }

    /// A key of the report's top level: the fixed ones and the tables' labels.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(ranks, forKey: Key("ranks"))
        try container.encode(ranker, forKey: Key("ranker"))
        try container.encode(loadSeconds, forKey: Key("load_seconds"))
        try container.encode(trainSeconds, forKey: Key("train_seconds"))
        for (label, table) in tables { try container.encode(table, forKey: Key(label)) }
        try container.encodeIfPresent(ablation, forKey: Key("ablation"))
        try container.encodeIfPresent(protocols, forKey: Key("all_protocols"))
        try container.encodeIfPresent(timeFolds, forKey: Key("time_folds"))
    }

    /// The report as one line of JSON (keys sorted, so that two runs' files compare as text).
    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A log loss can be infinite; the report must still be written.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// One table of the report.
struct TableResult: Encodable {
    var metrics: EvaluationTableSummary
    var timing: TimingSummary?
    var evaluateSeconds: Double?
    var modelMicroseconds: LatencySummary?

    init(metrics: EvaluationTableSummary) { self.metrics = metrics }

    enum CodingKeys: String, CodingKey {
        case metrics, timing
        case evaluateSeconds = "evaluate_seconds"
        case modelMicroseconds = "model_microseconds"
    }
}

/// The model's CPU microseconds per query over every rank's queries.
struct LatencySummary: Encodable {
    var median: Double
    var p99: Double
    var mean: Double
}

/// The next-trip timing's calibration on one file.
struct TimingSummary: Encodable {
    var anchors: Int
    var observedRate: Double
    var meanProbability: Double
    var brier: Double
    var constantBrier: Double
    var logLoss: Double
    var windowCoverage: Double

    init(_ report: TimingCalibrationReport) {
        anchors = report.anchors.count
        observedRate = report.observedRate
        meanProbability = report.meanProbability
        brier = report.brierScore
        constantBrier = report.constantBrierScore
        logLoss = report.logLoss
        windowCoverage = report.windowCoverage
    }

    enum CodingKeys: String, CodingKey {
        case anchors, brier
        case observedRate = "observed_rate"
        case meanProbability = "mean_probability"
        case constantBrier = "constant_brier"
        case logLoss = "log_loss"
        case windowCoverage = "window_coverage"
    }
}

/// One row of `--ablation`: the model's figures on the tuning file (and as served, when asked).
struct AblationRow: Encodable {
    var acc1: Double
    var acc5: Double
    var acc10: Double
    var mrr10: Double
    var shoppingAcc1: Double
    var shoppingMRR10: Double
    var servedMRR10: Double?

    init(all: RankingMetrics, shopping: RankingMetrics) {
        acc1 = all.accuracyAt1
        acc5 = all.accuracyAt5
        acc10 = all.accuracyAt10
        mrr10 = all.meanReciprocalRankAt10
        shoppingAcc1 = shopping.accuracyAt1
        shoppingMRR10 = shopping.meanReciprocalRankAt10
    }

    enum CodingKeys: String, CodingKey {
        case acc1, acc5, acc10, mrr10
        case shoppingAcc1 = "shopping_acc1"
        case shoppingMRR10 = "shopping_mrr10"
        case servedMRR10 = "served_mrr10"
    }
}
