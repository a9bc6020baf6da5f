/// One predictor's figures in an evaluation table, as `geopredict evaluate --json-out` writes them.
public struct MetricsSummary: Codable, Sendable, Equatable {
    /// Queries counted.
    public var n: Int
    public var acc1: Double
    public var acc5: Double
    public var acc10: Double
    public var mrr10: Double

    public init(_ metrics: RankingMetrics) {
        n = metrics.count
        acc1 = metrics.accuracyAt1
        acc5 = metrics.accuracyAt5
        acc10 = metrics.accuracyAt10
        mrr10 = metrics.meanReciprocalRankAt10
    }

    /// `0.2739 / 0.5958 / 0.6955 / 0.4096` (Acc@1 / Acc@5 / Acc@10 / MRR@10).
    public var compact: String {
        [acc1, acc5, acc10, mrr10].map { fixed($0) }.joined(separator: " / ")
    }
}

/// The figures of one evaluation table: every predictor on all trajectories and on the shopping slice
/// (keyed by ``NextVisitPredictor/description``), and how many trajectories were scored or skipped.
public struct EvaluationTableSummary: Codable, Sendable, Equatable {
    public var all: [String: MetricsSummary]
    public var shopping: [String: MetricsSummary]
    public var trajectories: Int
    public var unknownUser: Int
    public var tooShort: Int

    enum CodingKeys: String, CodingKey {
        case all, shopping, trajectories
        case unknownUser = "unknown_user"
        case tooShort = "too_short"
    }

    /// The model's figures on all trajectories.
    public var model: MetricsSummary? { all[NextVisitPredictor.model.description] }
}

extension NextVisitEvaluationReport {
    /// The table's figures, for JSON.
    public var summary: EvaluationTableSummary {
        func block(_ shoppingOnly: Bool) -> [String: MetricsSummary] {
            var block: [String: MetricsSummary] = [:]
            for predictor in NextVisitPredictor.allCases {
                block[predictor.description] = MetricsSummary(metrics(predictor, shoppingOnly: shoppingOnly))
            }
            return block
        }
        return EvaluationTableSummary(
            all: block(false), shopping: block(true), trajectories: counts.trajectories,
            unknownUser: counts.unknownUser, tooShort: counts.tooShort)
    }
}

extension NextVisitModel {
    /// The same model ranking by its linear score alone: the boosted ranker's fallback and reference.
    /// The booster is trained after the linear weights and changes none of them, so this ranks exactly
    /// as a model trained without a booster.
    public var linearRanker: NextVisitModel {
        guard booster != nil else { return self }
        return NextVisitModel(
            parameters: parameters, catalogue: catalogue, statistics: statistics, weights: weights,
            collaborative: collaborative, timing: timing, fitReport: fitReport, booster: nil)
    }
}
