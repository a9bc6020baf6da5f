#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// The settings of the next-trip timing. Defaults as in `benchmarks/research/timing.py`.
public struct NextTripParameters: Sendable, Equatable, Hashable {
    /// "Soon" means within this many seconds (24 h).
    public var horizonSeconds: Int64 = Seconds.perDay
    /// The window describes the next trip given that it comes within this many seconds (7 days).
    public var windowHorizonSeconds: Int64 = Seconds.perWeek
    /// Waiting times are binned on a log scale from ``shortestWaitSeconds`` to the window horizon.
    public var binCount = 40
    public var shortestWaitSeconds = 60.0
    /// The window is the wait between these two quantiles (the middle half by default).
    public var windowQuantiles = (lower: 0.25, upper: 0.75)
    /// Pseudo-observations of the population's waiting-time histogram added to the user's.
    public var windowPriorStrength = 5.0
    /// The strength `m` of the beta prior on P(trip within the horizon); `nil` fits it by maximum
    /// marginal likelihood (empirical Bayes).
    public var priorStrength: Double?

    public init() {}

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.horizonSeconds == rhs.horizonSeconds && lhs.windowHorizonSeconds == rhs.windowHorizonSeconds
            && lhs.binCount == rhs.binCount && lhs.shortestWaitSeconds == rhs.shortestWaitSeconds
            && lhs.windowQuantiles == rhs.windowQuantiles && lhs.windowPriorStrength == rhs.windowPriorStrength
            && lhs.priorStrength == rhs.priorStrength
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(horizonSeconds)
        hasher.combine(windowHorizonSeconds)
        hasher.combine(binCount)
        hasher.combine(windowPriorStrength)
    }
}

/// When a user's next (shopping) trip is likely.
public struct NextTripEstimate: Sendable, Equatable {
    /// The start of the likely window (Unix seconds).
    public var earliest: Int64
    /// The end of the likely window (Unix seconds).
    public var latest: Int64
    /// P(a trip within the horizon, 24 h by default, of the query time).
    public var probabilityWithinHorizon: Double
    /// The user's own evidence: check-ins whose following 24 h were observed, and how many of them
    /// were followed by a trip.
    public var observedAnchors: Int
    public var anchorsFollowedByTrip: Int
}

/// What one user's history says about the timing of trips: from every check-in ("anchor") whose next
/// 24 h (7 days) lie before the query, whether a trip followed within 24 h, and how long it took.
public struct TripEvidence: Sendable, Equatable {
    /// Anchors with an observed 24-h outcome.
    public var anchors = 0
    /// Of those, anchors followed by a trip within the horizon.
    public var followed = 0
    /// Per waiting-time bin, anchors whose next trip (within the window horizon) came after that long.
    public var waits: [Int64]

    /// Collects the evidence of `history` as of `time`; `targets[s]` says whether store `s` is a trip.
    public init(history: VisitSequence, targets: [Bool], at time: Int64, parameters: NextTripParameters) {
        self.init(
            timestamps: Array(history.timestamps), isTrip: history.stores.map { targets[Int($0)] }, at: time,
            parameters: parameters)
    }

    /// Collects the evidence of check-ins at `timestamps` (ascending), `isTrip` saying which were trips,
    /// as of `time` (later check-ins are ignored).
    public init(timestamps: [Int64], isTrip: [Bool], at time: Int64, parameters: NextTripParameters) {
        precondition(timestamps.count == isTrip.count, "TripEvidence: one flag per check-in")
        waits = [Int64](repeating: 0, count: parameters.binCount)
        var tripTimes: [Int64] = []
        for index in timestamps.indices where timestamps[index] < time && isTrip[index] {
            tripTimes.append(timestamps[index])
        }
        let edges = NextTripModel.binEdges(parameters)
        for index in timestamps.indices {
            let anchor = timestamps[index]
            guard anchor + parameters.horizonSeconds <= time else { continue }
            let next = Self.firstAfter(anchor, in: tripTimes)
            anchors += 1
            if let next, next - anchor <= parameters.horizonSeconds { followed += 1 }
            if anchor + parameters.windowHorizonSeconds <= time, let next, next - anchor <= parameters.windowHorizonSeconds {
                waits[NextTripModel.bin(of: Double(next - anchor), edges: edges)] += 1
            }
        }
    }

    /// The first of `sorted` strictly after `time`.
    static func firstAfter(_ time: Int64, in sorted: [Int64]) -> Int64? {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] <= time { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count ? sorted[low] : nil
    }
}

/// Next-trip timing: P(trip within 24 h) per user as a beta-binomial whose prior (the population's mean
/// and an empirical-Bayes strength) shrinks users with little history towards everyone; the window is
/// the middle half of the user's waiting time to the next trip, the user's histogram (log-spaced bins)
/// shrunk towards the population's.
public struct NextTripModel: Sendable, Equatable {
    public let parameters: NextTripParameters
    /// The population's P(trip within the horizon after a check-in).
    public let meanProbability: Double
    /// The beta prior's strength m (pseudo-anchors).
    public let priorStrength: Double
    /// The population's waiting-time distribution over the bins (sums to 1).
    public let populationWaits: [Double]

    public init(parameters: NextTripParameters, meanProbability: Double, priorStrength: Double, populationWaits: [Double]) {
        precondition(populationWaits.count == parameters.binCount, "NextTripModel: one population share per bin")
        self.parameters = parameters
        self.meanProbability = meanProbability
        self.priorStrength = priorStrength
        self.populationWaits = populationWaits
    }

    /// The bin edges in seconds: 0, then `binCount` log-spaced edges up to the window horizon.
    static func binEdges(_ parameters: NextTripParameters) -> [Double] {
        let low = log(parameters.shortestWaitSeconds)
        let high = log(Double(parameters.windowHorizonSeconds))
        let n = parameters.binCount
        return [0] + (0..<n).map { n == 1 ? exp(high) : exp(low + (high - low) * Double($0) / Double(n - 1)) }
    }

    static func bin(of wait: Double, edges: [Double]) -> Int {
        var index = 0
        while index + 1 < edges.count, edges[index + 1] <= wait { index += 1 }
        return min(index, edges.count - 2)
    }

    /// Fits the population part from this rank's users' visits (collective; bit-identical at any rank count).
    ///
    /// - Parameters:
    ///   - targets: per store, whether a visit there is a trip (for example ``ShoppingCategories``).
    ///   - end: the end of the training data (exclusive): outcomes after it are not observed.
    public static func fit(
        visits: VisitLog, targets: [Bool], end: Int64, parameters: NextTripParameters, partitionCount: Int,
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> NextTripModel {
        var evidence: [(partition: Int, anchors: Int, followed: Int)] = []
        var totals = [Int64](repeating: 0, count: 2 + parameters.binCount)
        for user in 0..<visits.userCount {
            let user = TripEvidence(history: VisitSequence(user: user, in: visits), targets: targets, at: end, parameters: parameters)
            totals[0] += Int64(user.anchors)
            totals[1] += Int64(user.followed)
            for bin in 0..<parameters.binCount { totals[2 + bin] += user.waits[bin] }
            evidence.append((0, user.anchors, user.followed))
        }
        for user in evidence.indices { evidence[user].partition = Int(visits.userPartitions[user]) }
        do {
            totals = try collectives.allReduce(totals, .sum)
        } catch {
            throw .communication("\(error)")
        }
        let mean = totals[0] > 0 ? Double(totals[1]) / Double(totals[0]) : 0
        let waitTotal = Double(totals[2...].reduce(0, +))
        let population = totals[2...].map { (Double($0) + 0.1) / (waitTotal + 0.1 * Double(parameters.binCount)) }
        let strength: Double
        if let fixed = parameters.priorStrength {
            strength = fixed
        } else if mean <= 0 || mean >= 1 {
            strength = 1
        } else {
            strength = try empiricalBayesStrength(mean: mean, evidence: evidence, partitionCount: partitionCount, on: collectives)
        }
        return NextTripModel(parameters: parameters, meanProbability: mean, priorStrength: strength, populationWaits: population)
    }

    /// The m maximising the beta-binomial marginal likelihood of all users' (followed, anchors), by
    /// golden-section search on log m over [0.1, 10⁵]; each evaluation is an exact sum over ranks.
    static func empiricalBayesStrength(
        mean: Double, evidence: [(partition: Int, anchors: Int, followed: Int)], partitionCount: Int,
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> Double {
        func negativeLogLikelihood(_ logStrength: Double) throws(NextVisitModelError) -> Double {
            let m = exp(logStrength)
            let a = mean * m
            let b = (1 - mean) * m
            var sum = PartitionedSum(length: 1, partitionCount: partitionCount)
            var partial = 0.0
            var currentPartition = -1
            for user in evidence where user.anchors > 0 {
                if user.partition != currentPartition {
                    if currentPartition >= 0 { sum.set([partial], partition: currentPartition) }
                    currentPartition = user.partition
                    partial = 0
                }
                let k = Double(user.followed)
                let n = Double(user.anchors)
                partial += logBeta(a + k, b + n - k) - logBeta(a, b)
            }
            if currentPartition >= 0 { sum.set([partial], partition: currentPartition) }
            do {
                return -(try collectives.exactTotal(of: sum))[0]
            } catch {
                throw .communication("\(error)")
            }
        }
        var low = log(0.1)
        var high = log(1e5)
        let ratio = (5.0.squareRoot() - 1) / 2
        var x1 = high - ratio * (high - low)
        var x2 = low + ratio * (high - low)
        var f1 = try negativeLogLikelihood(x1)
        var f2 = try negativeLogLikelihood(x2)
        for _ in 0..<60 {
            if f1 < f2 {
                high = x2
                x2 = x1
                f2 = f1
                x1 = high - ratio * (high - low)
                f1 = try negativeLogLikelihood(x1)
            } else {
                low = x1
                x1 = x2
                f1 = f2
                x2 = low + ratio * (high - low)
                f2 = try negativeLogLikelihood(x2)
            }
        }
        return exp((low + high) / 2)
    }

    static func logBeta(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }

    /// P(trip within the horizon) given a user's evidence: the posterior mean `(k + μm) / (n + m)`.
    public func probability(_ evidence: TripEvidence) -> Double {
        (Double(evidence.followed) + meanProbability * priorStrength) / (Double(evidence.anchors) + priorStrength)
    }

    /// The `(lower, upper)` quantiles of the waiting time, in seconds, for a user's evidence.
    public func waitQuantiles(_ evidence: TripEvidence) -> (lower: Double, upper: Double) {
        let own = evidence.waits.reduce(0, +)
        let m = parameters.windowPriorStrength
        let pmf = evidence.waits.indices.map { (Double(evidence.waits[$0]) + m * populationWaits[$0]) / (Double(own) + m) }
        let edges = Self.binEdges(parameters)
        func quantile(_ q: Double) -> Double {
            var cumulative = 0.0
            for bin in pmf.indices {
                if cumulative + pmf[bin] >= q || bin == pmf.count - 1 {
                    let fraction = pmf[bin] > 0 ? min(max((q - cumulative) / pmf[bin], 0), 1) : 0
                    return edges[bin] + fraction * (edges[bin + 1] - edges[bin])
                }
                cumulative += pmf[bin]
            }
            return edges[edges.count - 1]
        }
        return (quantile(parameters.windowQuantiles.lower), quantile(parameters.windowQuantiles.upper))
    }

    /// The estimate for a user with `history` (training and recent visits) at `time`.
    public func estimate(history: VisitSequence, targets: [Bool], at time: Int64) -> NextTripEstimate {
        estimate(TripEvidence(history: history, targets: targets, at: time, parameters: parameters), at: time)
    }

    /// The estimate at `time` for a user's evidence.
    public func estimate(_ evidence: TripEvidence, at time: Int64) -> NextTripEstimate {
        let (lower, upper) = waitQuantiles(evidence)
        return NextTripEstimate(
            earliest: time + Int64(lower.rounded()), latest: time + Int64(upper.rounded()),
            probabilityWithinHorizon: probability(evidence), observedAnchors: evidence.anchors,
            anchorsFollowedByTrip: evidence.followed)
    }
}
