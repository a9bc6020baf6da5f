import MPI

/// The collaborative-filtering input of the next-visit score: a preference of a user for each candidate
/// store, from the user's visits.
///
/// The model calls it with the history *before* the query, so the score never sees the visit it
/// predicts; training uses a scorer fitted on data before the fit window and serving one fitted on all
/// training data (see ``NextVisitTrainer``).
public protocol CollaborativeScoring: Sendable {
    /// Writes the preference of a user with visits `history` for each of `candidates` into `scores`
    /// (`scores.count == candidates.count`).
    func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double])

    /// The same, allowed to reuse work kept in `memo` (one per thread) for a history it has seen.
    func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double], memo: inout FoldInMemo)
}

extension CollaborativeScoring {
    /// Scorers with nothing worth keeping ignore the memo.
    public func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double], memo: inout FoldInMemo) {
        score(history: history, candidates: candidates, into: &scores)
    }
}

/// ALS store factors with the user's factors folded in from the history: `x_u = argmin` of the
/// implicit-feedback loss against fixed store factors (exact solve), score `x_u · y_s`.
public struct ALSFoldInScoring: CollaborativeScoring {
    /// Every store's factors.
    public let table: StoreFactorTable
    /// λ and the confidence mapping used for the fold-in (normally the training's).
    public let configuration: ALSConfiguration
    /// `YᵀY + λI`, shared by every fold-in.
    let system: [Double]

    public init(table: StoreFactorTable, configuration: ALSConfiguration) {
        self.table = table
        self.configuration = configuration
        system = table.foldInSystem(regularization: configuration.regularization)
    }

    public func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double]) {
        var none = FoldInMemo(capacity: 0)
        score(history: history, candidates: candidates, into: &scores, memo: &none)
    }

    public func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double], memo: inout FoldInMemo) {
        precondition(scores.count == candidates.count, "ALSFoldInScoring: one score per candidate")
        let counts = history.storeCounts()
        guard !counts.isEmpty, let user = userFactors(counts, memo: &memo) else {
            for index in scores.indices { scores[index] = 0 }
            return
        }
        write(user, candidates: candidates, into: &scores)
    }

    /// The folded-in factors for `counts` (sorted by store, as ``VisitSequence/storeCounts()`` gives
    /// them), from `memo` when it has them; `nil` if the solve fails.
    private func userFactors(_ counts: [(store: Int32, count: Float)], memo: inout FoldInMemo) -> [Float]? {
        // Training scores every history once: no memo, and no key built for it.
        let key = memo.capacity > 0 ? FoldInMemo.Key(counts) : nil
        if let key, let known = memo.factors(for: key) { return known }
        guard let user = try? table.foldIn(visits: counts, system: system, confidence: configuration.confidence) else { return nil }
        if let key { memo.remember(user, for: key) }
        return user
    }

    private func write(_ user: [Float], candidates: [Int32], into scores: inout [Double]) {
        let k = table.factorCount
        table.factors.storage.withUnsafeBufferPointer { rows in
            let stride = table.factors.stride
            for (index, store) in candidates.enumerated() {
                // Float products added in factor order: the same bits on every rank.
                var dot: Float = 0
                let base = Int(store) * stride
                for factor in 0..<k { dot += rows[base + factor] * user[factor] }
                scores[index] = Double(dot)
            }
        }
    }
}

/// How the trainer obtains collaborative scorers: one from the visits before the fit window, one from
/// all training visits. Collective: every rank calls it with its own users' visits.
public protocol CollaborativeTraining {
    /// Trains on the visits of `visits` (this rank's users) strictly before `end` (all of them when
    /// `nil`) and returns a scorer usable on every rank.
    func train(
        visits: VisitLog, before end: Int64?, catalogue: StoreCatalogue, shards: ShardMap,
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> any CollaborativeScoring
}

/// Distributed implicit ALS (``ImplicitALS``) as the collaborative part.
public struct ALSCollaborativeTraining: CollaborativeTraining {
    public var configuration: ALSConfiguration
    /// Called on every rank after each ALS iteration (a status page's progress; set
    /// ``ALSConfiguration/computesLoss`` to get the loss too), with whether the model is the one on
    /// every visit (`before` nil) rather than the one before the fit window.
    public var iterationObserver: ((_ progress: ALSProgress, _ coversEveryVisit: Bool) -> Void)?

    /// ``ALSConfiguration``'s defaults: 32 factors, 15 iterations, λ = 0.1, confidence `1 + 10 × count`.
    public init(
        configuration: ALSConfiguration = ALSConfiguration(),
        iterationObserver: ((_ progress: ALSProgress, _ coversEveryVisit: Bool) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.iterationObserver = iterationObserver
    }

    public func train(
        visits: VisitLog, before end: Int64?, catalogue: StoreCatalogue, shards: ShardMap,
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> any CollaborativeScoring {
        do {
            let counts = end.map { UserStoreCounts(visitLog: visits, before: $0) } ?? UserStoreCounts(visitLog: visits)
            let model = try ImplicitALS.train(
                counts, catalogue: catalogue, shards: shards, configuration: configuration, on: collectives
            ) { progress in iterationObserver?(progress, end == nil) }
            let table = try model.replicatedStoreFactors(on: collectives)
            return ALSFoldInScoring(table: table, configuration: configuration)
        } catch {
            throw .collaborative("\(error)")
        }
    }
}
