#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// Trains a ``NextVisitModel`` on the visits of all ranks. Collective: every rank calls
/// ``train(visits:catalogue:shards:on:progress:)`` with its own users.
///
/// 1. Everyone's counts (popularity, hour profiles, transitions) are summed exactly over ranks.
/// 2. Fitting instances are built from the training data itself: every session (visits less than a
///    session gap apart) whose last visit falls in the last ``NextVisitParameters/fitWindowDays`` days
///    and has at least two earlier visits in the session becomes "predict the last visit from
///    everything before it" — the shape of the GETNext evaluation. Features use only visits strictly
///    before the target, everyone's counts exclude the user's own visits, and the collaborative
///    scorer used for fitting is trained on the visits *before* the fit window only, so no target
///    leaks into its own features.
/// 3. The weights minimise the mean listwise softmax loss + λ‖w‖² by Newton's method on per-partition
///    sums (``SoftmaxFit``): the same bits at any rank count.
/// 4. The serving collaborative scorer is trained on all visits; the next-trip timing is fitted.
public struct NextVisitTrainer {
    public var parameters: NextVisitParameters
    /// How collaborative scorers are trained; `nil` leaves ``NextVisitFeature/collaborative`` out.
    public var collaborative: (any CollaborativeTraining)?
    /// The next-trip timing settings; `nil` skips the timing part.
    public var timing: NextTripParameters?

    public init(
        parameters: NextVisitParameters = NextVisitParameters(),
        collaborative: (any CollaborativeTraining)? = ALSCollaborativeTraining(),
        timing: NextTripParameters? = NextTripParameters()
    ) {
        self.parameters = parameters
        self.collaborative = collaborative
        self.timing = timing
    }

    /// Whether each fitting instance is asked at its target visit's time (as a client asking "which
    /// store at 18:00?" is) instead of at the last earlier visit's (the GETNext protocol). Only the
    /// time: the target's store and place never reach the features. A fitting choice, not a model
    /// parameter: the weights carry it, and serving asks at whatever time the client gives.
    public var fitsAtTargetTime = false

    /// The boosted ranker's settings; `nil` (the default) ranks by the linear score alone. Trained
    /// after the weights, on the same fitting instances: each rank builds the rows of its own users,
    /// the rows are gathered in partition order, and every rank trains the same trees from the same
    /// bytes (XGBoost single-threaded, seeded). Needs XGBoost's library (``XGBoostLibrary``).
    public var booster: BoostedRankerParameters?

    /// Seconds spent in each stage, for reports.
    public struct Timings: Sendable, Equatable {
        public var statistics = 0.0
        public var collaborative = 0.0
        public var instances = 0.0
        public var fit = 0.0
        public var booster = 0.0
        public var timing = 0.0
    }

    /// Trains the model.
    ///
    /// - Parameters:
    ///   - visits: this rank's users (those `shards` gives it).
    ///   - end: the end of the training data (exclusive); `nil` uses one second after the last visit
    ///     of any rank.
    ///   - progress: called on every rank with a line per stage (print it on rank 0).
    public func train(
        visits: VisitLog, catalogue: StoreCatalogue, shards: ShardMap, end: Int64? = nil,
        on collectives: some Collectives, progress: (String) -> Void = { _ in }
    ) throws(NextVisitModelError) -> (model: NextVisitModel, timings: Timings) {
        try parameters.validate()
        try booster?.validate()
        var timings = Timings()
        var clock = Stopwatch()
        let statistics = try VisitStatistics.build(
            from: visits, catalogue: catalogue, sessionGapSeconds: parameters.sessionGapSeconds, on: collectives)
        timings.statistics = clock.lap()
        let dataEnd: Int64
        do {
            let lastVisit = visits.timestamps.max() ?? Int64.min
            dataEnd = try end ?? (collectives.allReduce([lastVisit], .maximum)[0] + 1)
        } catch {
            throw .communication("\(error)")
        }
        let fitFrom = dataEnd - Int64(parameters.fitWindowDays) * Seconds.perDay
        progress("statistics: \(statistics.totalVisits) visits, \(statistics.transitionTargets.count) transitions "
            + "(\(roundedString(timings.statistics)) s)")

        var features = parameters.features
        var fitScorer: (any CollaborativeScoring)?
        var servingScorer: (any CollaborativeScoring)?
        if let collaborative, features.contains(.collaborative) {
            fitScorer = try collaborative.train(
                visits: visits, before: fitFrom, catalogue: catalogue, shards: shards, on: collectives)
            servingScorer = try collaborative.train(
                visits: visits, before: nil, catalogue: catalogue, shards: shards, on: collectives)
            timings.collaborative = clock.lap()
            progress("collaborative: two ALS models, before the fit window and on everything (\(roundedString(timings.collaborative)) s)")
        } else {
            features.remove(.collaborative)
        }

        var fitParameters = parameters
        fitParameters.features = features
        let extractor = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statistics, parameters: fitParameters)
        let generator = CandidateGenerator(catalogue: catalogue, statistics: statistics, parameters: fitParameters)
        let userCount: Int64
        do {
            userCount = try collectives.allReduce([Int64(visits.userCount)], .sum)[0]
        } catch {
            throw .communication("\(error)")
        }
        let (instances, contexts) = Self.instancesAndContexts(
            visits: visits, from: fitFrom, extractor: extractor, generator: generator, collaborative: fitScorer,
            parameters: fitParameters, atTargetTime: fitsAtTargetTime,
            partitionLimit: Self.fitPartitionLimit(userCount: userCount, parameters: parameters, partitionCount: shards.partitionCount))
        timings.instances = clock.lap()
        let active = features.features.map(\.rawValue)
        let (weights, report) = try SoftmaxFit.fit(
            instances, active: active, l2: parameters.l2, partitionCount: shards.partitionCount,
            maximumIterations: parameters.maximumNewtonIterations, on: collectives)
        timings.fit = clock.lap()
        progress("fit: \(report.instanceCount) instances, \(report.iterations) Newton iterations, objective "
            + "\(roundedString(report.objective, digits: 5)) (instances \(roundedString(timings.instances)) s, fit \(roundedString(timings.fit)) s)")

        var boostedRanker: NextVisitBooster?
        if let booster {
            let table = try Self.boosterTable(
                instances, contexts: contexts, weights: weights, parameters: booster, partitionCount: shards.partitionCount,
                on: collectives)
            let trees: BoostedTrees
            do {
                trees = try XGBoostRanker.train(table, parameters: booster)
            } catch {
                throw .ranker("\(error)")
            }
            boostedRanker = try NextVisitBooster(trees: trees, rerankedCandidates: booster.rerankedCandidates)
            timings.booster = clock.lap()
            progress("booster: \(booster.trees) trees (\(booster.objective), depth \(booster.maximumDepth)) on "
                + "\(table.groupSizes.count) queries × top \(booster.rerankedCandidates) (\(roundedString(timings.booster)) s)")
        }

        var tripModel: NextTripModel?
        if let timing {
            tripModel = try NextTripModel.fit(
                visits: visits, targets: Self.tripTargets(catalogue), end: dataEnd, parameters: timing,
                partitionCount: shards.partitionCount, on: collectives)
            timings.timing = clock.lap()
        }
        let model = NextVisitModel(
            parameters: fitParameters, catalogue: catalogue, statistics: statistics, weights: weights,
            collaborative: servingScorer, timing: tripModel, fitReport: report, booster: boostedRanker)
        return (model, timings)
    }

    /// The stores whose visits count as trips for the timing: the shopping stores, or every store when
    /// the catalogue has none.
    public static func tripTargets(_ catalogue: StoreCatalogue) -> [Bool] {
        let shopping = (0..<catalogue.count).map { ShoppingCategories.contains(catalogue.category(of: $0)) }
        return shopping.contains(true) ? shopping : [Bool](repeating: true, count: catalogue.count)
    }

    /// How many virtual partitions (the first ones) supply fitting users: all of them unless there are
    /// more than ``NextVisitParameters/maximumFitUsers`` users.
    static func fitPartitionLimit(userCount: Int64, parameters: NextVisitParameters, partitionCount: Int) -> Int {
        guard userCount > Int64(parameters.maximumFitUsers) else { return partitionCount }
        let share = Double(parameters.maximumFitUsers) / Double(userCount)
        return max(1, min(partitionCount, Int((share * Double(partitionCount)).rounded(.up))))
    }

    /// The fitting instances of this rank's users in partitions below `partitionLimit`, user by user in
    /// log order (so partition by partition).
    static func instances(
        visits: VisitLog, from fitFrom: Int64, extractor: NextVisitFeatureExtractor, generator: CandidateGenerator,
        collaborative: (any CollaborativeScoring)?, parameters: NextVisitParameters, atTargetTime: Bool = false,
        partitionLimit: Int = .max
    ) -> SoftmaxInstances {
        instancesAndContexts(
            visits: visits, from: fitFrom, extractor: extractor, generator: generator, collaborative: collaborative,
            parameters: parameters, atTargetTime: atTargetTime, partitionLimit: partitionLimit).instances
    }

    /// ``instances(visits:from:extractor:generator:collaborative:parameters:atTargetTime:partitionLimit:)``
    /// and, per instance, its query's ``NextVisitBooster`` context columns (flat).
    static func instancesAndContexts(
        visits: VisitLog, from fitFrom: Int64, extractor: NextVisitFeatureExtractor, generator: CandidateGenerator,
        collaborative: (any CollaborativeScoring)?, parameters: NextVisitParameters, atTargetTime: Bool = false,
        partitionLimit: Int = .max
    ) -> (instances: SoftmaxInstances, contexts: [Float]) {
        var contexts: [Float] = []
        var instances = SoftmaxInstances(featureCount: NextVisitFeature.count)
        var scratch = extractor.makeScratch()
        for user in 0..<visits.userCount where Int(visits.userPartitions[user]) < partitionLimit {
            let all = VisitSequence(user: user, in: visits)
            let starts = all.sessionStarts(gapSeconds: parameters.sessionGapSeconds)
            var sessions: [(start: Int, end: Int)] = []
            for (index, start) in starts.enumerated() {
                let end = index + 1 < starts.count ? starts[index + 1] : all.stores.endIndex
                if end - start >= 3, all.timestamps[end - 1] >= fitFrom { sessions.append((start, end)) }
            }
            for session in sessions.suffix(parameters.maximumInstancesPerUser) {
                let target = session.end - 1
                let history = VisitSequence(stores: all.stores[..<target], timestamps: all.timestamps[..<target])
                let query = NextVisitQuery(
                    history: history, ownVisits: all, sessionStart: session.start,
                    time: all.timestamps[atTargetTime ? target : target - 1])
                let candidates = generator.candidates(for: query)
                guard let position = Self.position(of: all.stores[target], in: candidates) else { continue }
                let rows = extractor.features(for: query, candidates: candidates, collaborative: collaborative, scratch: &scratch)
                instances.append(rows: rows, target: position, partition: Int(visits.userPartitions[user]))
                contexts.append(contentsOf: NextVisitBooster.context(of: query, catalogue: extractor.catalogue))
            }
        }
        return (instances, contexts)
    }

    static func position(of store: Int32, in sorted: [Int32]) -> Int? {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < store { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low] == store ? low : nil
    }
}

func roundedString(_ value: Double, digits: Int = 2) -> String {
    let scale = pow(10.0, Double(digits))
    return String((value * scale).rounded() / scale)
}
