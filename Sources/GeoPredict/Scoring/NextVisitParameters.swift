/// The hyper-parameters of the next-visit model. The defaults were chosen on the GETNext NYC
/// validation file (see `benchmarks/research/nextvisit.py` and benchmarks/README.md), by a few
/// principled values each, not by a search.
public struct NextVisitParameters: Sendable, Equatable, Hashable {
    /// Consecutive visits more than this apart start a new session (GETNext's trajectories use 24 h).
    public var sessionGapSeconds: Int64 = Seconds.perDay
    /// Candidates: the user's most recently visited distinct stores (bounds the work for heavy users).
    public var visitedCandidates = 200
    /// Candidates: the most frequent successors of the last store (everyone's transitions).
    public var successorCandidates = 20
    /// Candidates: the stores nearest to the current position.
    public var nearbyCandidates = 50
    /// Candidates: the most visited stores overall.
    public var popularCandidates = 20
    /// Pseudo-transitions that back everyone else's transitions off to their popularity (β).
    public var transitionPrior = 5.0
    /// The distance feature is `log(km + d₀)`: d₀ keeps the decay finite at zero distance (100 m).
    public var distanceOffsetKilometers = 0.1
    /// Concentration κ of the circular hour-of-day kernel `exp(κ(cos Δ − 1))` (κ = 2: about ±3 h).
    public var hourKernelConcentration = 2.0
    /// Recency runs on the user's activity clock: each pause between consecutive visits (and from the
    /// last one to the query) counts for at most this long, so weeks without check-ins (a holiday, or
    /// check-ins the history does not hold) do not make the user's habits look stale (0: wall-clock
    /// time). A week: the pauses of users who check in weekly still count in full.
    public var recencyGapCapSeconds: Int64 = Seconds.perWeek
    /// Pseudo-visits that pull a store's hour profile towards its category's.
    public var storeHourPrior = 10.0
    /// Fitting instances: sessions whose target lies in the last this-many days of the training data.
    public var fitWindowDays = 112
    /// At most this many fitting instances per user (the most recent), so that heavy users do not
    /// dominate the loss and the fitting cost stays linear in users.
    public var maximumInstancesPerUser = 16
    /// Fitting instances come from at most about this many users: with more, only the users of the
    /// first virtual partitions are used (a sample that does not depend on the rank count). A score
    /// with a few dozen weights needs no more, and it keeps the fit's time and memory bounded at
    /// millions of users.
    public var maximumFitUsers = 100_000
    /// L2 penalty λ on the weights (loss = mean negative log-likelihood + λ‖w‖²).
    public var l2 = 1e-4
    /// The features the score uses; the weights of the others stay 0.
    public var features = NextVisitFeatureSet.all
    /// The most Newton iterations of the weight fit.
    public var maximumNewtonIterations = 50

    public init() {}

    /// Throws ``NextVisitModelError/invalidParameters(_:)`` for values no model can use.
    public func validate() throws(NextVisitModelError) {
        func require(_ condition: Bool, _ message: String) throws(NextVisitModelError) {
            if !condition { throw .invalidParameters(message) }
        }
        try require(sessionGapSeconds > 0, "the session gap must be positive")
        try require(visitedCandidates >= 0 && successorCandidates >= 0 && nearbyCandidates >= 0 && popularCandidates >= 0,
                    "candidate counts must be >= 0")
        try require(transitionPrior > 0 && transitionPrior.isFinite, "the transition prior must be positive")
        try require(distanceOffsetKilometers > 0 && distanceOffsetKilometers.isFinite, "d0 must be positive")
        try require(hourKernelConcentration >= 0 && hourKernelConcentration.isFinite, "kappa must be >= 0")
        try require(recencyGapCapSeconds >= 0, "the recency gap cap must be >= 0 (0: wall-clock time)")
        try require(storeHourPrior > 0 && storeHourPrior.isFinite, "the store-hour prior must be positive")
        try require(fitWindowDays > 0, "the fit window must be at least a day")
        try require(maximumInstancesPerUser > 0, "at least one fitting instance per user")
        try require(maximumFitUsers > 0, "at least one fitting user")
        try require(l2 >= 0 && l2.isFinite, "l2 must be >= 0")
        try require(maximumNewtonIterations > 0, "at least one Newton iteration")
    }
}

/// Why a next-visit model could not be built, trained or used.
public enum NextVisitModelError: Error, Equatable, CustomStringConvertible {
    case invalidParameters(String)
    /// A `--disable-feature` name that is neither a feature nor a group.
    case unknownFeature(String)
    /// There was nothing to fit the weights on (no session with enough history in the fit window).
    case noTrainingInstances
    /// The Newton system could not be solved (only without L2 and with degenerate features).
    case singularSystem
    /// A collective failed.
    case communication(String)
    /// Collaborative filtering failed.
    case collaborative(String)
    /// The boosted ranker could not be trained (XGBoost missing or failing).
    case ranker(String)

    public var description: String {
        switch self {
        case .invalidParameters(let message): return "invalid model parameters: \(message)"
        case .unknownFeature(let name):
            let groups = NextVisitFeatureGroup.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown feature '\(name)' (groups: \(groups); or a feature name)"
        case .noTrainingInstances: return "no training instance: no session with 2+ earlier visits in the fit window"
        case .singularSystem: return "the weight fit is singular (set an L2 penalty)"
        case .communication(let message): return "collective failed: \(message)"
        case .collaborative(let message): return "collaborative filtering failed: \(message)"
        case .ranker(let message): return "boosted ranker: \(message)"
        }
    }
}
