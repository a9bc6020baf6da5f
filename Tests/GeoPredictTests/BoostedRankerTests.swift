@testable import GeoPredict
import MPI
import Testing

/// The boosted ranker: XGBoost's LambdaMART trained through the run-time-loaded C API, its trees
/// evaluated natively, and the next-visit model that re-ranks with them.
@Suite struct BoostedRankerTests {
    static let skipMessage: Comment = "libxgboost not found: install libxgboost-dev (hpc/lib/common.sh lists it) to run the boosted ranker tests"

    /// Groups of `candidates` rows of 3 uniform features in [-1, 1]; the visited candidate is the
    /// one with the largest x₀·x₁ — an interaction no linear score can express (x₂ is noise).
    static func interactionProblem(groups: Int, candidates: Int = 8, seed: UInt64) -> (table: RankingTable, targets: [Int]) {
        var random = ScoringRandom(seed: seed)
        var table = RankingTable(featureCount: 3)
        var targets: [Int] = []
        for _ in 0..<groups {
            var rows: [Float] = []
            var products: [Float] = []
            for _ in 0..<candidates {
                let row = (0..<3).map { _ in Float(random.uniform() * 2 - 1) }
                rows += row
                products.append(row[0] * row[1])
            }
            let target = products.indices.max { products[$0] < products[$1] } ?? 0
            targets.append(target)
            table.appendGroup(rows: rows, labels: (0..<candidates).map { $0 == target ? Float(1) : 0 })
        }
        return (table, targets)
    }

    /// The mean reciprocal rank of the targets under `scores` (one per row, groups of equal size).
    static func meanReciprocalRank(_ scores: [Double], targets: [Int], candidates: Int) -> Double {
        var total = 0.0
        for (group, target) in targets.enumerated() {
            let slice = Array(scores[(group * candidates)..<((group + 1) * candidates)])
            let better = slice.indices.filter { slice[$0] > slice[target] || (slice[$0] == slice[target] && $0 < target) }.count
            total += 1 / Double(better + 1)
        }
        return total / Double(targets.count)
    }

    static var smallParameters: BoostedRankerParameters {
        var parameters = BoostedRankerParameters()
        parameters.trees = 40
        parameters.maximumDepth = 4
        parameters.learningRate = 0.3
        return parameters
    }

    @Test("native trees follow XGBoost's walk: value < threshold goes left, NaN follows the default, leaves add to the base")
    func nativeWalkOfAHandWrittenForest() throws {
        // Tree 0: x0 < 0.5 ? (x1 < -1 ? 1 : 2) : 3, NaN on x0 goes right. Tree 1: a single leaf 0.25.
        let trees = try BoostedTrees(
            featureCount: 2, baseScore: 0.5,
            trees: [
                (features: [0, 1, 0, 0, 0, 0, 0], values: [0.5, -1, 3, 1, 2, 0, 0], left: [1, 3, -1, -1, -1, -1, -1],
                 right: [2, 4, -1, -1, -1, -1, -1], defaultLeft: [false, true, false, false, false, false, false]),
                (features: [0], values: [0.25], left: [-1], right: [-1], defaultLeft: [false]),
            ])
        #expect(trees.treeCount == 2)
        #expect(trees.predict(rows: [0.4, -2, 0.4, -1, 0.5, -5, .nan, -5, 0.1, .nan]) == [1.75, 2.75, 3.75, 3.75, 1.75])
    }

    @Test("a forest whose node points back up or out of its tree is refused")
    func malformedForestsAreRefused() {
        #expect(throws: XGBoostError.self) {
            try BoostedTrees(featureCount: 1, baseScore: 0, trees: [
                (features: [0, 0, 0], values: [0, 1, 2], left: [1, -1, -1], right: [5, -1, -1], defaultLeft: [false, false, false])])
        }
        #expect(throws: XGBoostError.self) {
            try BoostedTrees(featureCount: 1, baseScore: 0, trees: [
                (features: [3, 0, 0], values: [0, 1, 2], left: [1, -1, -1], right: [2, -1, -1], defaultLeft: [false, false, false])])
        }
        #expect(throws: XGBoostError.self) { try BoostedTrees(xgboostJSON: Array("{\"learner\": [1,".utf8)) }
    }

    @Test("the native trees give XGBoost's own predictions", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func nativeTreesMatchXGBoost() throws {
        let training = Self.interactionProblem(groups: 300, seed: 1)
        let held = Self.interactionProblem(groups: 100, seed: 2)
        let (trees, reference) = try XGBoostRanker.trainAndPredict(training.table, parameters: Self.smallParameters, rows: held.table.features)
        #expect(trees.treeCount == Self.smallParameters.trees)
        let native = trees.predict(rows: held.table.features)
        #expect(native.count == reference.count && native.count == held.table.rowCount)
        let largest = zip(native, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(largest <= 1e-5, "native and XGBoost predictions differ by \(largest)")
        // Not a constant forest: the predictions spread.
        #expect((reference.max() ?? 0) - (reference.min() ?? 0) > 0.5)
    }

    @Test("on an interaction, the boosted ranker beats the linear listwise model", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func boostedRankerBeatsTheLinearModel() throws {
        let candidates = 8
        let training = Self.interactionProblem(groups: 400, candidates: candidates, seed: 3)
        let held = Self.interactionProblem(groups: 200, candidates: candidates, seed: 4)
        let trees = try XGBoostRanker.train(training.table, parameters: Self.smallParameters)
        let boosted = Self.meanReciprocalRank(
            trees.predict(rows: held.table.features).map(Double.init), targets: held.targets, candidates: candidates)

        // The baseline: the project's linear listwise softmax, fitted on the same groups.
        var instances = SoftmaxInstances(featureCount: 3)
        for (group, target) in training.targets.enumerated() {
            let rows = training.table.features[(group * candidates * 3)..<((group + 1) * candidates * 3)].map(Double.init)
            instances.append(rows: rows, target: target, partition: 0)
        }
        let (weights, _) = try SoftmaxFit.fit(
            instances, active: [0, 1, 2], l2: 1e-4, partitionCount: 1, maximumIterations: 50, on: SingleProcessCollectives())
        let linearScores = stride(from: 0, to: held.table.features.count, by: 3).map { start in
            (0..<3).reduce(0.0) { $0 + weights[$1] * Double(held.table.features[start + $1]) }
        }
        let linear = Self.meanReciprocalRank(linearScores, targets: held.targets, candidates: candidates)
        #expect(boosted > linear + 0.15, "boosted MRR \(boosted) vs linear \(linear)")
    }

    @Test("training is deterministic: the same table gives the same trees and bits", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func trainingIsDeterministic() throws {
        let training = Self.interactionProblem(groups: 200, seed: 5)
        var parameters = Self.smallParameters
        parameters.seed = 7
        let first = try XGBoostRanker.train(training.table, parameters: parameters)
        let second = try XGBoostRanker.train(training.table, parameters: parameters)
        #expect(first == second)
        #expect(first.predict(rows: training.table.features).map(\.bitPattern) == second.predict(rows: training.table.features).map(\.bitPattern))
    }

    @Test("a next-visit model with the booster ranks by its margins, deterministically", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func nextVisitModelRerankesWithTheBooster() throws {
        let catalogue = ScoringTestData.catalogue()
        let shards = ShardMap(rankCount: 1)
        let cutoff: Int64 = 1_333_324_800 + 60 * Seconds.perDay
        let visits = VisitLog(
            visits: ScoringTestData.visits(userCount: 50, days: 70, seed: 5).filter { $0.timestamp < cutoff }, shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 30
        var trainer = NextVisitTrainer(parameters: parameters, collaborative: nil, timing: nil)
        var booster = Self.smallParameters
        booster.rerankedCandidates = 12
        trainer.booster = booster
        let (model, timings) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        let (again, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        let trees = try #require(model.booster).trees
        #expect(trees.treeCount == booster.trees)
        #expect(trees == again.booster?.trees)
        #expect(timings.booster > 0)

        var scratch = model.makeScratch()
        var reranked = 0
        for user in 0..<visits.userCount {
            let history = VisitSequence(user: user, in: visits)
            let query = NextVisitQuery(
                history: history, ownVisits: history, sessionStart: history.stores.endIndex, time: cutoff)
            let ranked = model.rank(query, limit: 10, scratch: &scratch)
            #expect(ranked.count == 10)
            // Best first by the trees' margin, ties to the lower store.
            #expect(zip(ranked, ranked.dropFirst()).allSatisfy { $0.score > $1.score || ($0.score == $1.score && $0.store < $1.store) })
            // Every listed store is among the linear score's best `rerankedCandidates`.
            let candidates = model.candidateGenerator.candidates(for: query)
            let linear = model.scores(query, candidates: candidates, scratch: &scratch)
            let linearBest = Set(bestPositions(linear, stores: candidates, limit: booster.rerankedCandidates).map { Int(candidates[$0]) })
            #expect(ranked.allSatisfy { linearBest.contains($0.store) })
            let linearTop = bestPositions(linear, stores: candidates, limit: 10).map { Int(candidates[$0]) }
            if linearTop != ranked.map(\.store) { reranked += 1 }
        }
        // The trees change some lists (else they would add nothing).
        #expect(reranked > 0)
    }

    @Test("a checkpoint keeps the boosted trees: the decoded model ranks with the same bits", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func checkpointKeepsTheBooster() throws {
        let catalogue = ScoringTestData.catalogue()
        let shards = ShardMap(rankCount: 1)
        let cutoff: Int64 = 1_333_324_800 + 60 * Seconds.perDay
        let visits = VisitLog(
            visits: ScoringTestData.visits(userCount: 40, days: 70, seed: 9).filter { $0.timestamp < cutoff }, shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 30
        var trainer = NextVisitTrainer(parameters: parameters, collaborative: nil, timing: nil)
        trainer.booster = Self.smallParameters
        let (model, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        let bytes = try ModelCheckpoint(model: model).encoded()
        let restored = try ModelCheckpoint(decoding: bytes, catalogue: catalogue).model
        #expect(restored.booster == model.booster)
        #expect(try ModelCheckpoint(model: restored).encoded() == bytes)
        var scratch = model.makeScratch()
        for user in 0..<visits.userCount {
            let history = VisitSequence(user: user, in: visits)
            let query = NextVisitQuery(history: history, ownVisits: history, sessionStart: history.stores.endIndex, time: cutoff)
            #expect(restored.rank(query, limit: 10, scratch: &scratch) == model.rank(query, limit: 10, scratch: &scratch))
        }
        // The trees are in the file: it is longer than the same model's without them.
        let linearBytes = try ModelCheckpoint(model: NextVisitModel(
            parameters: model.parameters, catalogue: catalogue, statistics: model.statistics, weights: model.weights,
            collaborative: nil, timing: nil, fitReport: model.fitReport)).encoded()
        #expect(bytes.count > linearBytes.count)
    }

    @Test("the linear ranker of a boosted model ranks exactly as the model trained without the booster", .enabled(if: XGBoostLibrary.isAvailable, skipMessage))
    func linearRankerMatchesTheModelTrainedWithoutTheBooster() throws {
        let catalogue = ScoringTestData.catalogue()
        let shards = ShardMap(rankCount: 1)
        let cutoff: Int64 = 1_333_324_800 + 60 * 86_400
        let visits = VisitLog(
            visits: ScoringTestData.visits(userCount: 40, days: 70, seed: 13).filter { $0.timestamp < cutoff }, shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 30
        var trainer = NextVisitTrainer(parameters: parameters, collaborative: nil, timing: nil)
        let (linear, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        trainer.booster = Self.smallParameters
        let (boosted, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        let stripped = boosted.linearRanker
        #expect(boosted.booster != nil && stripped.booster == nil && linear.linearRanker.booster == nil)
        #expect(stripped.weights.map(\.bitPattern) == linear.weights.map(\.bitPattern))
        var scratch = linear.makeScratch()
        var differs = 0
        for user in 0..<visits.userCount {
            let history = VisitSequence(user: user, in: visits)
            let query = NextVisitQuery(history: history, ownVisits: history, sessionStart: history.stores.endIndex, time: cutoff)
            let expected = linear.rank(query, limit: 10, scratch: &scratch)
            #expect(stripped.rank(query, limit: 10, scratch: &scratch) == expected)
            if boosted.rank(query, limit: 10, scratch: &scratch) != expected { differs += 1 }
        }
        // The comparison is not vacuous: the booster itself ranks some users differently.
        #expect(differs > 0)
    }

    @Test("without XGBoost, training with the booster says what to install")
    func missingLibraryIsExplained() {
        let message = "\(XGBoostError.libraryMissing("libxgboost.so: cannot open shared object file"))"
        #expect(message.contains("libxgboost-dev"))
        #expect(message.contains("GEOPREDICT_XGBOOST_LIBRARY"))
    }
}
