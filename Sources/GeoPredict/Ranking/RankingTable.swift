/// Training data of a ranker: query groups of candidate rows (single precision, as XGBoost stores
/// them) with one relevance label per row.
public struct RankingTable: Sendable, Equatable {
    /// Features per row.
    public let featureCount: Int
    /// All rows, row-major.
    public private(set) var features: [Float] = []
    /// One label per row (1 for the visited candidate, 0 for the others).
    public private(set) var labels: [Float] = []
    /// Rows per group, in order.
    public private(set) var groupSizes: [UInt32] = []

    public init(featureCount: Int) {
        precondition(featureCount > 0, "RankingTable: at least one feature")
        self.featureCount = featureCount
    }

    /// Rows in the table.
    public var rowCount: Int { labels.count }

    /// Appends one group: `rows.count == labels.count * featureCount`.
    public mutating func appendGroup(rows: some Collection<Float>, labels groupLabels: some Collection<Float>) {
        precondition(rows.count == groupLabels.count * featureCount && !groupLabels.isEmpty,
                     "RankingTable: one label per row of featureCount values")
        features.append(contentsOf: rows)
        labels.append(contentsOf: groupLabels)
        groupSizes.append(UInt32(groupLabels.count))
    }
}

/// The settings of the boosted ranker (gradient-boosted trees with a ranking objective, through
/// XGBoost). The defaults were chosen on the GETNext NYC validation file at the target time
/// (benchmarks/README.md): the objectives, depths and list lengths tried were within noise of each
/// other there, and pairwise trees of depth 4 over the top 20 train about 4× faster than `rank:ndcg`'s.
public struct BoostedRankerParameters: Sendable, Equatable, Hashable {
    /// XGBoost's ranking objective: `rank:pairwise`, `rank:ndcg` (LambdaMART) or `rank:map`.
    public var objective = "rank:pairwise"
    /// Boosting rounds (trees).
    public var trees = 200
    /// The deepest a tree grows.
    public var maximumDepth = 4
    /// The learning rate η.
    public var learningRate = 0.1
    /// The smallest Hessian sum a leaf may hold (XGBoost's min_child_weight).
    public var minimumChildWeight = 1.0
    /// L2 penalty on leaf weights (XGBoost's lambda).
    public var l2 = 1.0
    /// Histogram bins per feature (tree_method hist).
    public var maximumBins = 256
    /// The seed XGBoost is given (training is single-threaded, so the trees depend on nothing else).
    public var seed = 0
    /// The booster re-ranks this many of the linear model's best candidates per query.
    public var rerankedCandidates = 20
    /// At most about this many training queries are gathered (the first virtual partitions' users),
    /// so that the sample every rank trains on stays bounded whatever the number of users.
    public var maximumQueries = 20_000

    public init() {}

    /// Throws ``NextVisitModelError/invalidParameters(_:)`` for values XGBoost cannot use.
    public func validate() throws(NextVisitModelError) {
        func require(_ condition: Bool, _ message: String) throws(NextVisitModelError) {
            if !condition { throw .invalidParameters(message) }
        }
        try require(["rank:ndcg", "rank:pairwise", "rank:map"].contains(objective), "the ranker objective must be rank:ndcg, rank:pairwise or rank:map")
        try require(trees > 0, "at least one tree")
        try require((1...16).contains(maximumDepth), "the tree depth must be 1-16")
        try require(learningRate > 0 && learningRate <= 1, "the learning rate must be in (0, 1]")
        try require(minimumChildWeight >= 0 && minimumChildWeight.isFinite, "min child weight must be >= 0")
        try require(l2 >= 0 && l2.isFinite, "the leaf L2 must be >= 0")
        try require((2...65_536).contains(maximumBins), "bins must be 2-65536")
        try require(rerankedCandidates >= 2, "the ranker must re-rank at least 2 candidates")
        try require(maximumQueries > 0, "at least one training query for the ranker")
    }

    /// XGBoost's parameters, in the order they are set.
    var xgboostParameters: [(String, String)] {
        [
            ("objective", objective), ("eta", "\(learningRate)"), ("max_depth", "\(maximumDepth)"),
            ("min_child_weight", "\(minimumChildWeight)"), ("lambda", "\(l2)"), ("tree_method", "hist"),
            ("max_bin", "\(maximumBins)"), ("seed", "\(seed)"), ("nthread", "1"), ("verbosity", "0"),
            // A fixed base score: the trees' sum is then the whole margin, whatever the version's default.
            ("base_score", "0.5"),
        ]
    }
}

/// Trains boosted trees with XGBoost: single-threaded and seeded, so the same table gives the same
/// trees (the same bytes) on every rank and every run.
public enum XGBoostRanker {
    /// Trains on `table` and returns the trees, read from XGBoost's JSON model.
    public static func train(_ table: RankingTable, parameters: BoostedRankerParameters) throws(XGBoostError) -> BoostedTrees {
        let library = try XGBoostLibrary.shared.get()
        let booster = try makeBooster(table, parameters: parameters, library: library)
        defer { _ = library.boosterFree(booster.booster); _ = library.freeMatrix(booster.matrix) }
        let json = try savedModel(booster.booster, library: library)
        return try BoostedTrees(xgboostJSON: json)
    }

    /// XGBoost's own predictions (margins) for `rows` with a model trained on `table`: the reference
    /// the native trees are checked against.
    public static func trainAndPredict(
        _ table: RankingTable, parameters: BoostedRankerParameters, rows: [Float]
    ) throws(XGBoostError) -> (trees: BoostedTrees, predictions: [Float]) {
        let library = try XGBoostLibrary.shared.get()
        let booster = try makeBooster(table, parameters: parameters, library: library)
        defer { _ = library.boosterFree(booster.booster); _ = library.freeMatrix(booster.matrix) }
        let trees = try BoostedTrees(xgboostJSON: try savedModel(booster.booster, library: library))
        let matrix = try makeMatrix(rows, featureCount: table.featureCount, library: library)
        defer { _ = library.freeMatrix(matrix) }
        var length: UInt64 = 0
        var result: UnsafePointer<Float>?
        // option_mask 1: the raw margin (a ranking objective transforms nothing, but say so).
        try library.check(library.predict(booster.booster, matrix, 1, 0, 0, &length, &result), "XGBoosterPredict")
        guard let result else { throw .call(function: "XGBoosterPredict", message: "no output") }
        return (trees, Array(UnsafeBufferPointer(start: result, count: Int(length))))
    }

    private static func makeMatrix(_ rows: [Float], featureCount: Int, library: XGBoostLibrary) throws(XGBoostError)
        -> XGBoostLibrary.Handle
    {
        var matrix: XGBoostLibrary.Handle?
        let status = rows.withUnsafeBufferPointer { buffer in
            // Missing = NaN: no feature is ever NaN, so every value is present.
            library.createFromMat(buffer.baseAddress, UInt64(rows.count / featureCount), UInt64(featureCount), .nan, &matrix)
        }
        try library.check(status, "XGDMatrixCreateFromMat")
        guard let matrix else { throw .call(function: "XGDMatrixCreateFromMat", message: "no matrix") }
        return matrix
    }

    private static func makeBooster(
        _ table: RankingTable, parameters: BoostedRankerParameters, library: XGBoostLibrary
    ) throws(XGBoostError) -> (booster: XGBoostLibrary.Handle, matrix: XGBoostLibrary.Handle) {
        let matrix = try makeMatrix(table.features, featureCount: table.featureCount, library: library)
        var booster: XGBoostLibrary.Handle?
        do throws(XGBoostError) {
            try library.check(table.labels.withUnsafeBufferPointer {
                library.setFloatInfo(matrix, "label", $0.baseAddress, UInt64($0.count))
            }, "XGDMatrixSetFloatInfo(label)")
            try library.check(table.groupSizes.withUnsafeBufferPointer {
                library.setUIntInfo(matrix, "group", $0.baseAddress, UInt64($0.count))
            }, "XGDMatrixSetUIntInfo(group)")
            let matrices: [XGBoostLibrary.Handle?] = [matrix]
            try library.check(library.boosterCreate(matrices, 1, &booster), "XGBoosterCreate")
            guard let booster else { throw XGBoostError.call(function: "XGBoosterCreate", message: "no booster") }
            for (name, value) in parameters.xgboostParameters {
                try library.check(library.setParam(booster, name, value), "XGBoosterSetParam(\(name))")
            }
            for iteration in 0..<parameters.trees {
                try library.check(library.updateOneIter(booster, Int32(iteration), matrix), "XGBoosterUpdateOneIter")
            }
            return (booster, matrix)
        } catch {
            if let booster { _ = library.boosterFree(booster) }
            _ = library.freeMatrix(matrix)
            throw error
        }
    }

    private static func savedModel(_ booster: XGBoostLibrary.Handle, library: XGBoostLibrary) throws(XGBoostError) -> [UInt8] {
        var length: UInt64 = 0
        var bytes: UnsafePointer<CChar>?
        try library.check(library.saveToBuffer(booster, "{\"format\": \"json\"}", &length, &bytes), "XGBoosterSaveModelToBuffer")
        guard let bytes else { throw .call(function: "XGBoosterSaveModelToBuffer", message: "no output") }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { Array(UnsafeBufferPointer(start: $0, count: Int(length))) }
    }
}
