@testable import GeoPredict
import MPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct TimingTests {
    static let hour: Int64 = Seconds.perHour

    @Test func evidenceCountsAnchorsFollowedByATrip() {
        // Check-ins at 0 h, 1 h (a trip), 30 h, 40 h (a trip); the query at 100 h.
        let parameters = NextTripParameters()
        let evidence = TripEvidence(
            timestamps: [0, 1 * Self.hour, 30 * Self.hour, 40 * Self.hour], isTrip: [false, true, false, true],
            at: 100 * Self.hour, parameters: parameters)
        // 0 h → trip at 1 h; 1 h → next trip 40 h (39 h later); 30 h → 40 h; 40 h → none.
        #expect(evidence.anchors == 4)
        #expect(evidence.followed == 2)
        #expect(evidence.waits.reduce(0, +) == 0, "no anchor has 7 observed days before the query")
        // At 250 h the first three anchors have their 7 days observed and a next trip within them.
        let later = TripEvidence(
            timestamps: [0, 1 * Self.hour, 30 * Self.hour, 40 * Self.hour], isTrip: [false, true, false, true],
            at: 250 * Self.hour, parameters: parameters)
        #expect(later.waits.reduce(0, +) == 3)
        // Check-ins at or after the query time are not evidence.
        let early = TripEvidence(
            timestamps: [0, 1 * Self.hour, 30 * Self.hour, 40 * Self.hour], isTrip: [false, true, false, true],
            at: 24 * Self.hour, parameters: parameters)
        #expect(early.anchors == 1 && early.followed == 1)
    }

    @Test func probabilitiesShrinkTowardsThePopulation() {
        var parameters = NextTripParameters()
        parameters.binCount = 4
        let model = NextTripModel(parameters: parameters, meanProbability: 0.2, priorStrength: 10, populationWaits: [0.25, 0.25, 0.25, 0.25])
        var evidence = TripEvidence(timestamps: [], isTrip: [], at: 0, parameters: parameters)
        #expect(model.probability(evidence) == 0.2, "no history: the population's rate")
        evidence.anchors = 10
        evidence.followed = 8
        #expect(abs(model.probability(evidence) - 0.5) < 1e-15, "(8 + 2) / (10 + 10)")
        evidence.anchors = 1_000
        evidence.followed = 800
        #expect(abs(model.probability(evidence) - 802.0 / 1_010) < 1e-15)
    }

    @Test func windowsComeFromTheUsersWaitsShrunkTowardsThePopulations() {
        let parameters = NextTripParameters()
        let edges = NextTripModel.binEdges(parameters)
        #expect(edges.count == parameters.binCount + 1 && edges[0] == 0 && abs(edges.last! - Double(Seconds.perWeek)) < 1e-6)
        let population = [Double](repeating: 1.0 / Double(parameters.binCount), count: parameters.binCount)
        let model = NextTripModel(parameters: parameters, meanProbability: 0.3, priorStrength: 5, populationWaits: population)
        let none = TripEvidence(timestamps: [], isTrip: [], at: 0, parameters: parameters)
        let (low, high) = model.waitQuantiles(none)
        // Uniform over bins: the quartiles are the edges a quarter and three quarters of the way.
        #expect(abs(low - edges[10]) < 1e-6 && abs(high - edges[30]) < 1e-6)
        var habitual = none
        habitual.waits[20] = 10_000
        let (habitualLow, habitualHigh) = model.waitQuantiles(habitual)
        #expect(habitualLow >= edges[20] - 1e-6 && habitualHigh <= edges[21] + 1e-6)
        let estimate = model.estimate(habitual, at: 1_000)
        #expect(estimate.earliest == 1_000 + Int64(habitualLow.rounded()) && estimate.latest >= estimate.earliest)
    }

    /// Users whose rates come from a Beta(μm, (1 − μ)m) prior: the empirical-Bayes strength lands near m.
    @Test func empiricalBayesRecoversThePriorStrength() throws {
        var random = ScoringRandom(seed: 99)
        let mean = 0.2
        let strength = 10.0
        var evidence: [(partition: Int, anchors: Int, followed: Int)] = []
        for user in 0..<2_000 {
            // A Beta(2, 8) draw as the ratio of Gamma(2) and Gamma(2) + Gamma(8) (sums of exponentials).
            let a = (0..<2).reduce(0.0) { sum, _ in sum - log(1 - random.uniform()) }
            let b = (0..<8).reduce(0.0) { sum, _ in sum - log(1 - random.uniform()) }
            let p = a / (a + b)
            let n = 40
            let k = (0..<n).filter { _ in random.uniform() < p }.count
            evidence.append((user % 16, n, k))
        }
        evidence.sort { $0.partition < $1.partition }
        let fitted = try NextTripModel.empiricalBayesStrength(mean: mean, evidence: evidence, partitionCount: 16, on: SingleProcessCollectives())
        #expect(fitted > strength / 2 && fitted < strength * 2, "fitted \(fitted)")
    }

    @Test func fitOnALogIsCalibratedOnItsOwnData() throws {
        let catalogue = ScoringTestData.catalogue()
        let log = VisitLog(visits: ScoringTestData.visits(userCount: 40, days: 50), shards: ShardMap(rankCount: 1))
        let targets = NextVisitTrainer.tripTargets(catalogue)
        #expect(targets.contains(true) && targets.contains(false))
        let end = log.timestamps.max()! + 1
        let model = try NextTripModel.fit(
            visits: log, targets: targets, end: end, parameters: NextTripParameters(), partitionCount: 1_024, on: SingleProcessCollectives())
        #expect(model.meanProbability > 0 && model.meanProbability < 1)
        #expect(model.priorStrength > 0)
        #expect(abs(model.populationWaits.reduce(0, +) - 1) < 1e-12)
        // The pooled rate is the anchor-weighted mean of the users' own rates.
        var anchors = 0
        var followed = 0
        for user in 0..<log.userCount {
            let evidence = TripEvidence(history: VisitSequence(user: user, in: log), targets: targets, at: end, parameters: model.parameters)
            anchors += evidence.anchors
            followed += evidence.followed
        }
        #expect(abs(model.meanProbability - Double(followed) / Double(anchors)) < 1e-15)
    }
}
