import MPI
#if canImport(Glibc)
import Glibc
#endif

/// How visit counts become confidence weights `c(u, s)` in implicit-feedback ALS.
///
/// Hu, Koren & Volinsky (2008) weigh each observed (user, store) pair by a confidence that grows with
/// the count `r`, and every unobserved pair by 1. Both of their forms are offered; both give 1 at
/// `r = 0` and grow with `r`.
public enum Confidence: Sendable, Equatable, Hashable {
    /// `c = 1 + alpha × r` (HKV eq. 1; Spark MLlib's `alpha`; pass `1 + alpha × counts` to benfred's
    /// `implicit` to get the same model).
    case linear(alpha: Float)
    /// `c = 1 + alpha × log(1 + r / epsilon)` (HKV's alternative, for counts with a long tail).
    case logarithmic(alpha: Float, epsilon: Float)

    /// The confidence for a visit count `count` (> 0).
    public func weight(forCount count: Float) -> Float {
        switch self {
        case .linear(let alpha): return 1 + alpha * count
        case .logarithmic(let alpha, let epsilon): return 1 + alpha * log1pf(count / epsilon)
        }
    }

    var isValid: Bool {
        switch self {
        case .linear(let alpha): return alpha.isFinite && alpha >= 0
        case .logarithmic(let alpha, let epsilon): return alpha.isFinite && alpha >= 0 && epsilon.isFinite && epsilon > 0
        }
    }
}

/// How each user's (or store's) least-squares problem is solved.
public enum ALSSolver: Sendable, Equatable, Hashable {
    /// A few conjugate-gradient steps warm-started from the previous factors, with `YᵀCᵤY` applied
    /// implicitly as `YᵀY + Yᵀ(Cᵤ − I)Y` (Takács et al. 2011; `implicit`'s default with 3 steps).
    /// Cost per row: `steps + 1` passes over the row's entries plus a k×k product per step.
    case conjugateGradient(steps: Int)
    /// The exact solution by Cholesky factorisation of `YᵀY + Yᵀ(Cᵤ − I)Y + λI` (built and factorised
    /// in double precision). Cost per row: `entries × k² + k³/3`.
    case cholesky

    /// `implicit`'s default: three conjugate-gradient steps.
    public static let `default` = ALSSolver.conjugateGradient(steps: 3)
}

/// The settings of implicit-feedback ALS training.
///
/// The defaults suit next-visit data (a few to a few hundred distinct stores per user, small counts):
/// 32 factors, 15 iterations, `λ = 0.1`, linear confidence with `alpha = 10` (``defaultAlpha``), and
/// three conjugate-gradient steps as in `implicit`. With `alpha = 10` one visit weighs 11 times an
/// unvisited store. Hu, Koren & Volinsky found 40 best on TV viewing; on the NYC check-ins' validation
/// file (benchmarks/README.md) every alpha from 2 to 100 scored within 0.002 MRR@10 of the others, so
/// the default stays the value every model so far was trained with. Use
/// ``Confidence/logarithmic(alpha:epsilon:)`` when counts are large or noisy.
public struct ALSConfiguration: Sendable, Equatable, Hashable {
    /// The confidence slope of the default ``Confidence/linear(alpha:)``: the one source of the
    /// default that `Train`, `geopredict evaluate` and the API's documentation state.
    public static let defaultAlpha: Float = 10
    /// The default number of sweeps.
    public static let defaultIterations = 15
    /// The default λ.
    public static let defaultRegularization: Float = 0.1
    /// The default number of latent factors.
    public static let defaultFactorCount = 32

    /// The number of latent factors k.
    public var factorCount: Int
    /// Full sweeps (users then stores).
    public var iterations: Int
    /// λ, added to the diagonal of every row's normal equations (`implicit`'s convention: not scaled
    /// by the row's number of entries, unlike Spark's).
    public var regularization: Float
    /// Maps visit counts to confidences.
    public var confidence: Confidence
    /// The per-row solver.
    public var solver: ALSSolver
    /// Seeds the initial factors, which are a hash of (seed, entity id, factor): uniform in
    /// `[0, 0.01)` like `implicit`'s, and independent of ranks and of the order of the data.
    public var seed: UInt64
    /// Whether to compute the training loss after each iteration. It costs one pass over the store
    /// side's entries (about a quarter of a conjugate-gradient half-sweep) and one small reduction.
    public var computesLoss: Bool

    public init(
        factorCount: Int = defaultFactorCount,
        iterations: Int = defaultIterations,
        regularization: Float = defaultRegularization,
        confidence: Confidence = .linear(alpha: defaultAlpha),
        solver: ALSSolver = .default,
        seed: UInt64 = 0,
        computesLoss: Bool = false
    ) {
        self.factorCount = factorCount
        self.iterations = iterations
        self.regularization = regularization
        self.confidence = confidence
        self.solver = solver
        self.seed = seed
        self.computesLoss = computesLoss
    }

    /// Throws ``ALSError/invalidConfiguration(_:)`` for settings no training can use.
    public func validate() throws(ALSError) {
        guard (1...4_096).contains(factorCount) else { throw .invalidConfiguration("factorCount \(factorCount) is not in 1...4096") }
        guard iterations >= 0 else { throw .invalidConfiguration("iterations \(iterations) is negative") }
        guard regularization.isFinite, regularization >= 0 else {
            throw .invalidConfiguration("regularization \(regularization) must be finite and >= 0")
        }
        guard confidence.isValid else { throw .invalidConfiguration("confidence \(confidence) is invalid") }
        if case .conjugateGradient(let steps) = solver, steps < 1 {
            throw .invalidConfiguration("conjugate gradient needs at least one step, got \(steps)")
        }
    }
}

/// What training reports after each iteration.
public struct ALSProgress: Sendable, Equatable {
    /// 1 after the first full sweep.
    public var iteration: Int
    /// Seconds since training started (set-up included).
    public var elapsedSeconds: Double
    /// `implicit`'s training loss (see ``ALSLoss``), or `nil` unless
    /// ``ALSConfiguration/computesLoss`` is set. The same on every rank.
    public var loss: Double?
    /// Seconds spent before the first iteration: planning the exchanges and the first Gram.
    public var setupSeconds = 0.0
    /// Where this iteration's time went on this rank.
    public var phases = ALSPhaseSeconds()
}

/// Why ALS training, a solve or a checkpoint failed.
public enum ALSError: Error, Equatable {
    case invalidConfiguration(String)
    case malformedMatrix(String)
    /// A store index is not in the catalogue.
    case unknownStore(index: Int)
    /// The shard map and the communicator disagree on the number of ranks.
    case shardMismatch(shardRanks: Int, communicatorRanks: Int)
    /// Factor matrices of different widths were combined.
    case factorCountMismatch(expected: Int, actual: Int)
    /// A checkpoint could not be read.
    case corruptCheckpoint(String)
    /// A collective failed.
    case communication(MPIError)
}
