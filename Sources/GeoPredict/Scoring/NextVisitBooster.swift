#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The boosted ranker of a ``NextVisitModel``: gradient-boosted trees (LambdaMART, trained with
/// XGBoost) that re-rank the linear score's best ``rerankedCandidates`` candidates of each query.
///
/// A row is the candidate's ``NextVisitFeature`` values, then what the linear model cannot use: its
/// own score, the gap to the query's best score and its rank, and the query's context (hour of day
/// on solar time, weekend, hours since the last visit, visits in the current session, history
/// length), so that the trees can form interactions such as time of day × store hour profile or
/// distance × frequency. Evaluated natively (``BoostedTrees``): no XGBoost call per prediction.
public struct NextVisitBooster: Sendable, Equatable {
    public let trees: BoostedTrees
    /// How many of the linear model's best candidates the trees re-rank.
    public let rerankedCandidates: Int

    /// The booster's extra columns, after the ``NextVisitFeature``s.
    public enum Column: Int, CaseIterable, Sendable {
        case linearScore, gapToBest, linearRank
        case queryHour, weekend, hoursSinceLastVisit, sessionVisits, historyLength
    }

    /// Values per row.
    public static let featureCount = NextVisitFeature.count + Column.allCases.count
    /// The query-context columns (the same for every candidate of a query).
    static let contextCount = 5

    public init(trees: BoostedTrees, rerankedCandidates: Int) throws(NextVisitModelError) {
        guard trees.featureCount <= Self.featureCount else {
            throw .invalidParameters("the boosted trees read \(trees.featureCount) features; rows have \(Self.featureCount)")
        }
        guard rerankedCandidates >= 2 else { throw .invalidParameters("the ranker must re-rank at least 2 candidates") }
        self.trees = trees
        self.rerankedCandidates = rerankedCandidates
    }

    /// The query-context columns of `query` (``Column/queryHour`` …): the same for training and serving.
    static func context(of query: NextVisitQuery, catalogue: StoreCatalogue) -> [Float] {
        let last = query.lastStore
        let longitude = query.position?.longitude ?? last.map { catalogue.longitudes[$0] } ?? 0
        let hour = SolarTime.hour(at: query.time, longitude: longitude)
        let weekend: Float = SolarTime.isWeekend(at: query.time, longitude: longitude) ? 1 : 0
        let hoursSince = query.history.timestamps.last.map { log1p(Double(max(query.time - $0, 0)) / Double(Seconds.perHour)) } ?? -1
        let sessionVisits = Double(query.history.stores.endIndex - query.sessionStart)
        return [Float(hour), weekend, Float(hoursSince), Float(sessionVisits), Float(log1p(Double(query.history.count)))]
    }

    /// Appends the rows of the candidates at `order` (positions in `featureRows`, best linear score
    /// first) to `rows`.
    static func appendRows(
        to rows: inout [Float], featureRows: UnsafeBufferPointer<Double>, linearScores: [Double], order: [Int], context: [Float]
    ) {
        let stride = NextVisitFeature.count
        let best = order.first.map { linearScores[$0] } ?? 0
        for (rank, candidate) in order.enumerated() {
            let base = candidate * stride
            for feature in 0..<stride { rows.append(Float(featureRows[base + feature])) }
            rows.append(Float(linearScores[candidate]))
            rows.append(Float(linearScores[candidate] - best))
            rows.append(Float(rank))
            rows.append(contentsOf: context)
        }
    }
}

/// The `limit` best of `scores`, best first, ties to the lower `stores` value (``bestFirst(_:limit:by:)``).
/// Returns positions in `scores`.
func bestPositions(_ scores: [Double], stores: [Int32], limit: Int) -> [Int] {
    bestFirst(scores.indices, limit: limit) { a, b in
        scores[a] != scores[b] ? scores[a] > scores[b] : stores[a] < stores[b]
    }
}
