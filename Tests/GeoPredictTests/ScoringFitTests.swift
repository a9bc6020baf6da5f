@testable import GeoPredict
import MPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct ScoringFitTests {
    /// Instances drawn from the model itself: random features, the visited candidate sampled from the
    /// softmax of `weights · f`.
    static func synthetic(weights: [Double], instances: Int, candidates: Int, seed: UInt64, partitions: Int = 8) -> SoftmaxInstances {
        var random = ScoringRandom(seed: seed)
        var result = SoftmaxInstances(featureCount: weights.count)
        for instance in 0..<instances {
            var rows: [Double] = []
            var scores: [Double] = []
            for _ in 0..<candidates {
                let row = weights.indices.map { _ in random.uniform() * 2 - 1 }
                rows += row
                scores.append(zip(row, weights).reduce(0) { $0 + $1.0 * $1.1 })
            }
            let top = scores.max()!
            let total = scores.reduce(0) { $0 + exp($1 - top) }
            var u = random.uniform() * total
            var target = candidates - 1
            for (index, score) in scores.enumerated() {
                u -= exp(score - top)
                if u <= 0 { target = index; break }
            }
            result.append(rows: rows, target: target, partition: instance * partitions / instances)
        }
        return result
    }

    /// The loss by its definition, summed over instances.
    static func referenceLoss(_ instances: SoftmaxInstances, _ weights: [Double]) -> Double {
        var total = 0.0
        for instance in 0..<instances.count {
            let first = instances.rowOffsets[instance]
            let rows = instances.rowOffsets[instance + 1] - first
            let scores = (0..<rows).map { row in
                (0..<instances.featureCount).reduce(0.0) { $0 + weights[$1] * instances.features[(first + row) * instances.featureCount + $1] }
            }
            total += log(scores.map(exp).reduce(0, +)) - scores[instances.targets[instance]]
        }
        return total
    }

    /// The straightforward `ListwiseSoftmax.partitionSums` (the version before the gathered-row one):
    /// the fast kernel must give the same bits.
    static func referencePartitionSums(
        _ instances: SoftmaxInstances, weights: [Double], active: [Int]
    ) -> [(partition: Int, sums: [Double])] {
        let d = active.count
        let width = 1 + d + d * d
        var result: [(partition: Int, sums: [Double])] = []
        var current = [Double](repeating: 0, count: width)
        var currentPartition = -1
        var scores: [Double] = []
        var mean = [Double](repeating: 0, count: d)
        let stride = instances.featureCount
        let rows = instances.features
        do {
            for instance in 0..<instances.count {
                let partition = instances.partitions[instance]
                if partition != currentPartition {
                    if currentPartition >= 0 { result.append((currentPartition, current)) }
                    current = [Double](repeating: 0, count: width)
                    currentPartition = partition
                }
                let first = instances.rowOffsets[instance]
                let rowCount = instances.rowOffsets[instance + 1] - first
                scores.removeAll(keepingCapacity: true)
                var top = -Double.infinity
                for row in 0..<rowCount {
                    let base = (first + row) * stride
                    var z = 0.0
                    for (k, feature) in active.enumerated() { z += weights[k] * rows[base + feature] }
                    scores.append(z)
                    top = max(top, z)
                }
                var total = 0.0
                for row in 0..<rowCount { total += exp(scores[row] - top) }
                let target = instances.targets[instance]
                current[0] += top + log(total) - scores[target]
                for k in 0..<d { mean[k] = 0 }
                for row in 0..<rowCount {
                    let p = exp(scores[row] - top) / total
                    let base = (first + row) * stride
                    for (k, feature) in active.enumerated() { mean[k] += p * rows[base + feature] }
                    // Hessian part Σ p f fᵀ (upper triangle, mirrored below).
                    for (k, fk) in active.enumerated() {
                        let pk = p * rows[base + fk]
                        if pk == 0 { continue }
                        for l in k..<d { current[1 + d + k * d + l] += pk * rows[base + active[l]] }
                    }
                }
                let targetBase = (first + target) * stride
                for (k, feature) in active.enumerated() {
                    current[1 + k] += mean[k] - rows[targetBase + feature]
                    for l in k..<d { current[1 + d + k * d + l] -= mean[k] * mean[l] }
                }
            }
        }
        if currentPartition >= 0 { result.append((currentPartition, current)) }
        for index in result.indices {
            for k in 0..<d {
                for l in 0..<k { result[index].sums[1 + d + k * d + l] = result[index].sums[1 + d + l * d + k] }
            }
        }
        return result
    }

    @Test func partitionSumsMatchTheReferenceBitForBit() {
        var instances = Self.synthetic(weights: [0.7, -0.4, 0.2, 0.05, -1.1], instances: 60, candidates: 9, seed: 5, partitions: 4)
        // Zero features (skipped Hessian rows) and a later partition, one of whose instances has one candidate.
        var rows = [Double](repeating: 0, count: 5 * 3)
        rows[1] = 2.5
        rows[5 + 3] = -1
        instances.append(rows: rows, target: 2, partition: 7)
        instances.append(rows: [0.1, 0.2, 0.3, 0.4, 0.5], target: 0, partition: 7)
        // Sparse rows, as real candidates have: about half the features zero.
        var random = ScoringRandom(seed: 23)
        for instance in 0..<40 {
            let sparse = (0..<(7 * 5)).map { _ in random.uniform() < 0.5 ? 0 : random.uniform() * 4 - 2 }
            instances.append(rows: sparse, target: instance % 7, partition: 8 + instance / 10)
        }
        for active in [[0, 1, 2, 3, 4], [4, 1, 3], [2]] {
            let weights = active.map { Double($0) * 0.3 - 0.5 }
            let fast = ListwiseSoftmax.partitionSums(instances, weights: weights, active: active)
            let slow = Self.referencePartitionSums(instances, weights: weights, active: active)
            #expect(fast.map(\.partition) == slow.map(\.partition))
            let fastBits: [[UInt64]] = fast.map { $0.sums.map(\.bitPattern) }
            let slowBits: [[UInt64]] = slow.map { $0.sums.map(\.bitPattern) }
            #expect(fastBits == slowBits, "active \(active)")
        }
    }

    @Test func gradientAndHessianMatchFiniteDifferences() {
        let weights = [0.7, -0.4, 0.2]
        let instances = Self.synthetic(weights: weights, instances: 40, candidates: 6, seed: 11, partitions: 3)
        let at = [0.3, 0.1, -0.2]
        let sums = ListwiseSoftmax.partitionSums(instances, weights: at, active: [0, 1, 2])
        #expect(sums.map(\.partition) == [0, 1, 2])
        var total = [Double](repeating: 0, count: 1 + 3 + 9)
        for (_, partial) in sums { for index in total.indices { total[index] += partial[index] } }
        #expect(abs(total[0] - Self.referenceLoss(instances, at)) < 1e-9)
        let h = 1e-5
        for k in 0..<3 {
            var plus = at
            var minus = at
            plus[k] += h
            minus[k] -= h
            let numeric = (Self.referenceLoss(instances, plus) - Self.referenceLoss(instances, minus)) / (2 * h)
            #expect(abs(total[1 + k] - numeric) < 1e-5, "gradient \(k)")
            let gradientPlus = ListwiseSoftmax.partitionSums(instances, weights: plus, active: [0, 1, 2]).reduce(0.0) { $0 + $1.sums[1 + k] }
            for l in 0..<3 {
                let gPlus = ListwiseSoftmax.partitionSums(instances, weights: plus, active: [0, 1, 2]).reduce(0.0) { $0 + $1.sums[1 + l] }
                let gMinus = ListwiseSoftmax.partitionSums(instances, weights: minus, active: [0, 1, 2]).reduce(0.0) { $0 + $1.sums[1 + l] }
                #expect(abs(total[4 + k * 3 + l] - (gPlus - gMinus) / (2 * h)) < 1e-5, "Hessian \(k),\(l)")
            }
            _ = gradientPlus
        }
    }

    @Test func newtonRecoversTheGeneratingWeights() throws {
        let truth = [1.5, -0.8, 0.4, 0.0]
        let instances = Self.synthetic(weights: truth, instances: 6_000, candidates: 12, seed: 5)
        let (weights, report) = try SoftmaxFit.fit(
            instances, active: [0, 1, 2, 3], l2: 0, partitionCount: 8, maximumIterations: 50, on: SingleProcessCollectives())
        for (fitted, expected) in zip(weights, truth) { #expect(abs(fitted - expected) < 0.1, "\(weights) vs \(truth)") }
        #expect(report.gradientNorm < 1e-8)
        #expect(report.iterations < 15)
        #expect(report.instanceCount == 6_000)
    }

    @Test func inactiveFeaturesKeepZeroWeightAndL2Shrinks() throws {
        let truth = [1.0, -1.0, 0.5]
        let instances = Self.synthetic(weights: truth, instances: 2_000, candidates: 8, seed: 9)
        let (partial, _) = try SoftmaxFit.fit(instances, active: [0, 2], l2: 0, partitionCount: 8, maximumIterations: 50, on: SingleProcessCollectives())
        #expect(partial[1] == 0 && partial[0] != 0 && partial[2] != 0)
        let (free, _) = try SoftmaxFit.fit(instances, active: [0, 1, 2], l2: 0, partitionCount: 8, maximumIterations: 50, on: SingleProcessCollectives())
        let (shrunk, _) = try SoftmaxFit.fit(instances, active: [0, 1, 2], l2: 0.5, partitionCount: 8, maximumIterations: 50, on: SingleProcessCollectives())
        let norm = { (w: [Double]) in w.reduce(0) { $0 + $1 * $1 } }
        #expect(norm(shrunk) < norm(free))
    }

    @Test func anEmptyFitThrows() {
        #expect(throws: NextVisitModelError.noTrainingInstances) {
            try SoftmaxFit.fit(SoftmaxInstances(featureCount: 2), active: [0, 1], l2: 0.1, partitionCount: 4,
                               maximumIterations: 5, on: SingleProcessCollectives())
        }
    }

    @Test func choleskySolvesASymmetricSystem() {
        let a = [4.0, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]
        let x = [1.0, -2, 0.5]
        let b = (0..<3).map { i in (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * x[$1] } }
        let solved = ListwiseSoftmax.solveSymmetric(a, b)!
        for (s, e) in zip(solved, x) { #expect(abs(s - e) < 1e-12) }
        #expect(ListwiseSoftmax.solveSymmetric([1, 2, 2, 1], [1, 1]) == nil, "indefinite")
    }

    /// End to end on synthetic routines, in one process: the model beats the user's most frequent store
    /// on sessions it did not train on, and the service API behaves.
    @Test func trainerLearnsRoutinesAndServes() throws {
        let catalogue = ScoringTestData.catalogue()
        let all = ScoringTestData.visits(userCount: 60, days: 70, seed: 21)
        let cutoff: Int64 = 1_333_324_800 + 60 * Seconds.perDay
        let shards = ShardMap(rankCount: 1)
        let training = VisitLog(visits: all.filter { $0.timestamp < cutoff }, shards: shards)
        let later = VisitLog(visits: all.filter { $0.timestamp >= cutoff }, shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 30
        let trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: ALSCollaborativeTraining(configuration: ALSConfiguration(factorCount: 4, iterations: 3, confidence: .linear(alpha: 10))))
        let (model, _) = try trainer.train(visits: training, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        let finite = model.weights.allSatisfy { $0.isFinite }
        #expect(finite)
        #expect(model.weight(of: .collaborative) != 0)
        #expect(model.fitReport!.instanceCount > 100)

        var modelHits = 0
        var baselineHits = 0
        var scratch = model.makeScratch()
        for user in 0..<later.userCount {
            guard let known = training.userIndex(of: later.userIDs[user], partition: Int(later.userPartitions[user])) else { continue }
            let own = VisitSequence(user: known, in: training)
            let future = VisitSequence(user: user, in: later)
            guard future.count >= 3 else { continue }
            let prefix = future.prefix(2)
            let target = Int(future.stores[future.stores.startIndex + 2])
            let query = NextVisitQuery(history: own.appending(prefix), ownVisits: own, sessionStart: own.count, time: prefix.timestamps.last!)
            let ranked = model.rank(query, limit: 10, scratch: &scratch)
            #expect(Set(ranked.map(\.store)).count == ranked.count)
            #expect(zip(ranked, ranked.dropFirst()).allSatisfy { $0.score > $1.score || ($0.score == $1.score && $0.store < $1.store) })
            if ranked.first?.store == target { modelHits += 1 }
            if NextVisitBaselines.userMostFrequent(own, limit: 1).first == target { baselineHits += 1 }
        }
        #expect(modelHits > baselineHits, "model \(modelHits) vs most frequent \(baselineHits)")

        // Cold start: no history, a position and a category filter.
        let here = GeoPoint(latitude: catalogue.latitudes[5], longitude: catalogue.longitudes[5])
        let cold = model.predict(
            trainingVisits: .empty, recentVisits: .empty,
            request: NextVisitRequest(time: cutoff, position: here, limit: 5, categories: .shopping), scratch: &scratch)
        #expect(cold.stores.count == 5)
        #expect(cold.stores.allSatisfy { ShoppingCategories.contains(catalogue.category(of: $0.store)) })
        #expect(cold.nextTrip != nil)
        let overall = model.predict(trainingVisits: .empty, recentVisits: .empty, request: NextVisitRequest(time: cutoff), scratch: &scratch)
        #expect(overall.stores.count == 10)

        // A known user with a current trip: the trip's visits count, later ones do not.
        let own = VisitSequence(user: 0, in: training)
        let trip = VisitSequence(stores: [3, 7], timestamps: [cutoff + 100, cutoff + 200])
        let warm = model.predict(trainingVisits: own, recentVisits: trip, request: NextVisitRequest(time: cutoff + 300), scratch: &scratch)
        let estimate = try #require(warm.nextTrip)
        #expect(estimate.earliest >= cutoff + 300 && estimate.latest >= estimate.earliest)
        #expect((0...1).contains(estimate.probabilityWithinHorizon))
    }

    /// Fitting at the target time asks each instance at its target visit's time: the same sessions,
    /// candidates and targets (nothing of the target's store or place comes in), and hours since a
    /// visit are measured to the later time, never shorter.
    @Test func fittingAtTheTargetTimeChangesOnlyTheQueryTime() throws {
        let catalogue = ScoringTestData.catalogue()
        let log = VisitLog(visits: ScoringTestData.visits(userCount: 12, days: 30), shards: ShardMap(rankCount: 1))
        let parameters = NextVisitParameters()
        let statistics = try VisitStatistics.build(
            from: log, catalogue: catalogue, sessionGapSeconds: parameters.sessionGapSeconds, on: SingleProcessCollectives())
        let extractor = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statistics, parameters: parameters)
        let generator = CandidateGenerator(catalogue: catalogue, statistics: statistics, parameters: parameters)
        func instances(atTargetTime: Bool) -> SoftmaxInstances {
            NextVisitTrainer.instances(
                visits: log, from: .min, extractor: extractor, generator: generator, collaborative: nil,
                parameters: parameters, atTargetTime: atTargetTime)
        }
        let last = instances(atTargetTime: false)
        let target = instances(atTargetTime: true)
        #expect(last.count > 10)
        #expect(target.targets == last.targets && target.rowOffsets == last.rowOffsets && target.partitions == last.partitions)
        let hours = NextVisitFeature.hoursSinceVisit.rawValue
        let rows = last.features.count / last.featureCount
        let pairs = (0..<rows).map { (last.features[$0 * last.featureCount + hours], target.features[$0 * target.featureCount + hours]) }
        #expect(pairs.allSatisfy { $0.1 >= $0.0 - 1e-9 })
        #expect(pairs.contains { $0.1 > $0.0 + 0.1 }, "some instance is asked hours later")
        #expect(target.features != last.features)
    }
}
