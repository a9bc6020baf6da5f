/// A store and its next-visit score (higher is more likely; a log-probability up to a per-query constant).
public struct RankedStore: Sendable, Equatable, Hashable {
    /// The catalogue index.
    public var store: Int
    public var score: Double

    public init(store: Int, score: Double) {
        self.store = store
        self.score = score
    }
}

/// What the service asks for.
public struct NextVisitRequest: Sendable {
    /// The time of the prediction (Unix seconds): usually now.
    public var time: Int64
    /// Where the user is now, if known; otherwise the last visited store's position is used.
    public var position: GeoPoint?
    /// How many stores to return.
    public var limit: Int
    /// Only stores in categories this filter accepts (for example ``CategoryFilter/shopping``); `nil`
    /// for all.
    public var categories: CategoryFilter?

    public init(time: Int64, position: GeoPoint? = nil, limit: Int = 10, categories: CategoryFilter? = nil) {
        self.time = time
        self.position = position
        self.limit = limit
        self.categories = categories
    }
}

/// The answer to a ``NextVisitRequest``.
public struct NextVisitPrediction: Sendable {
    /// The most likely next stores, best first (ties by store index).
    public var stores: [RankedStore]
    /// When the user's next shopping trip is likely, if the model has a timing part.
    public var nextTrip: NextTripEstimate?
    /// Where distances were measured from: the request's position, else the last visited store's
    /// (`nil` for a user with neither).
    public var origin: GeoPoint?
}

/// The trained next-visit model: candidate generation, then a linear score over ``NextVisitFeature``s
/// whose weights were fitted by a listwise softmax (see ``NextVisitTrainer``), plus the next-trip
/// timing. Identical on every rank; a query needs the user's visits, which live on the user's owner rank.
///
/// ```swift
/// var scratch = model.makeScratch()
/// let prediction = model.predict(
///     trainingVisits: VisitSequence(user: u, in: log), recentVisits: .empty,
///     request: NextVisitRequest(time: now, position: here, limit: 10, categories: .shopping),
///     scratch: &scratch)
/// for ranked in prediction.stores { print(catalogue.ids[ranked.store], ranked.score) }
/// ```
public struct NextVisitModel: Sendable {
    public let parameters: NextVisitParameters
    public let catalogue: StoreCatalogue
    public let statistics: VisitStatistics
    /// One weight per ``NextVisitFeature`` (0 for features left out).
    public let weights: [Double]
    /// The collaborative scorer used at serving time (trained on all training visits), if any.
    public let collaborative: (any CollaborativeScoring)?
    /// The next-trip timing, if fitted.
    public let timing: NextTripModel?
    /// How the weights were fitted.
    public let fitReport: SoftmaxFitReport?
    public let extractor: NextVisitFeatureExtractor
    public let candidateGenerator: CandidateGenerator
    /// Per store, whether it is a shopping store (``ShoppingCategories``): the timing's target visits.
    public let shoppingStores: [Bool]
    /// The boosted trees that re-rank the linear score's best candidates, if trained
    /// (`evaluate --ranker xgboost`); `nil` ranks by the linear score alone.
    public let booster: NextVisitBooster?

    public init(
        parameters: NextVisitParameters, catalogue: StoreCatalogue, statistics: VisitStatistics, weights: [Double],
        collaborative: (any CollaborativeScoring)?, timing: NextTripModel?, fitReport: SoftmaxFitReport?,
        booster: NextVisitBooster? = nil
    ) {
        precondition(weights.count == NextVisitFeature.count, "NextVisitModel: one weight per feature")
        self.parameters = parameters
        self.catalogue = catalogue
        self.statistics = statistics
        self.weights = weights
        self.collaborative = collaborative
        self.timing = timing
        self.fitReport = fitReport
        extractor = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statistics, parameters: parameters)
        candidateGenerator = CandidateGenerator(catalogue: catalogue, statistics: statistics, parameters: parameters)
        shoppingStores = (0..<catalogue.count).map { ShoppingCategories.contains(catalogue.category(of: $0)) }
        self.booster = booster
    }

    /// Buffers for ``rank(_:limit:filter:scratch:)``; keep one per thread. A service that answers the
    /// same users again keeps up to `foldInMemoCapacity` users' folded-in factors (``FoldInMemo``).
    public func makeScratch(foldInMemoCapacity: Int = 0) -> NextVisitScratch {
        extractor.makeScratch(foldInMemoCapacity: foldInMemoCapacity)
    }

    /// The weight of `feature`.
    public func weight(of feature: NextVisitFeature) -> Double { weights[feature.rawValue] }

    /// The `limit` best candidates for `query`, best first; ties go to the lower store index.
    ///
    /// - Parameter filter: only stores it accepts (the candidate list is topped up with the most
    ///   popular accepted stores to at least `limit`).
    public func rank(
        _ query: NextVisitQuery, limit: Int, filter: ((Int) -> Bool)? = nil, scratch: inout NextVisitScratch
    ) -> [RankedStore] {
        // Unordered: each candidate's score is independent of the others, and ties are broken by store.
        let candidates = candidateGenerator.unorderedCandidates(
            for: query, filter: filter, minimumCount: filter == nil ? 0 : limit, marks: &scratch.candidateMarks)
        let rows = extractor.features(for: query, candidates: candidates, collaborative: collaborative, scratch: &scratch)
        let linear = linearScores(rows: rows, count: candidates.count)
        guard let booster, limit > 0 else { return top(linear, candidates: candidates, limit: limit) }
        // The trees re-rank the linear score's best candidates (at least `limit` of them); their
        // margins are the scores returned.
        let order = bestPositions(linear, stores: candidates, limit: max(booster.rerankedCandidates, limit))
        var boosterRows: [Float] = []
        boosterRows.reserveCapacity(order.count * NextVisitBooster.featureCount)
        rows.withUnsafeBufferPointer { rows in
            NextVisitBooster.appendRows(
                to: &boosterRows, featureRows: rows, linearScores: linear, order: order,
                context: NextVisitBooster.context(of: query, catalogue: catalogue))
        }
        let margins = booster.trees.predict(rows: boosterRows)
        let reranked = bestPositions(margins.map(Double.init), stores: order.map { candidates[$0] }, limit: limit)
        return reranked.map { RankedStore(store: Int(candidates[order[$0]]), score: Double(margins[$0])) }
    }

    /// The linear scores of `candidates` for `query`, in the candidates' order.
    public func scores(_ query: NextVisitQuery, candidates: [Int32], scratch: inout NextVisitScratch) -> [Double] {
        let rows = extractor.features(for: query, candidates: candidates, collaborative: collaborative, scratch: &scratch)
        return linearScores(rows: rows, count: candidates.count)
    }

    /// `weights · f` for each of `count` feature rows.
    func linearScores(rows: [Double], count: Int) -> [Double] {
        Self.linearScores(rows: rows, count: count, weights: weights)
    }

    static func linearScores(rows: [Double], count: Int, weights: [Double]) -> [Double] {
        let stride = NextVisitFeature.count
        return (0..<count).map { row in
            var score = 0.0
            for feature in 0..<stride where weights[feature] != 0 { score += weights[feature] * rows[row * stride + feature] }
            return score
        }
    }

    /// A prediction for the service: the user's training visits (from the owner rank's ``VisitLog``;
    /// empty for a new user — cold start: popular stores near the position, or overall) followed by
    /// visits made since (the current trip), as of `request.time`.
    public func predict(
        trainingVisits: VisitSequence, recentVisits: VisitSequence, request: NextVisitRequest,
        scratch: inout NextVisitScratch
    ) -> NextVisitPrediction {
        let combined = recentVisits.isEmpty ? trainingVisits : trainingVisits.appending(recentVisits)
        let history = combined.before(request.time)
        let query = NextVisitQuery(
            history: history, ownVisits: trainingVisits, sessionStart: currentSessionStart(of: history, at: request.time),
            time: request.time, position: request.position)
        var filter: ((Int) -> Bool)?
        if let categories = request.categories, !categories.acceptsEverything {
            let catalogue = self.catalogue
            filter = { categories.accepts(catalogue.category(of: $0)) }
        }
        let stores = rank(query, limit: max(request.limit, 0), filter: filter, scratch: &scratch)
        let nextTrip = timing?.estimate(history: history, targets: shoppingStores, at: request.time)
        return NextVisitPrediction(stores: stores, nextTrip: nextTrip, origin: query.origin(in: catalogue))
    }

    /// Where the current session starts in `history` (visits before `time`): the trailing visits less
    /// than a session gap apart, if the last one is within a gap of `time`; else `endIndex` (no session yet).
    public func currentSessionStart(of history: VisitSequence, at time: Int64) -> Int {
        Self.sessionStart(of: history, at: time, gapSeconds: parameters.sessionGapSeconds)
    }

    /// ``currentSessionStart(of:at:)`` with the session gap given.
    static func sessionStart(of history: VisitSequence, at time: Int64, gapSeconds: Int64) -> Int {
        guard let lastTime = history.timestamps.last, time - lastTime <= gapSeconds else {
            return history.stores.endIndex
        }
        return history.sessionStarts(gapSeconds: gapSeconds).last ?? history.stores.startIndex
    }

    /// The `limit` best, best first, ties to the lower store index (``bestFirst(_:limit:by:)``: `limit`,
    /// at most 100, is usually far below the candidate count).
    private func top(_ scores: [Double], candidates: [Int32], limit: Int) -> [RankedStore] {
        let ranked = zip(candidates, scores).lazy.map { RankedStore(store: Int($0), score: $1) }
        return bestFirst(ranked, limit: limit) { a, b in a.score != b.score ? a.score > b.score : a.store < b.store }
    }
}
