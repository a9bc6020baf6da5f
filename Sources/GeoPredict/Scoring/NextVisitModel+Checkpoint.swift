// The model part of a ``ModelCheckpoint`` body. Everything a prediction reads is stored with its exact
// bits (weights, factors and Gram as stored, integer counts), so a decoded model ranks and scores
// exactly like the one that was written. Derived members (feature extractor, candidate generator,
// shopping flags, the statistics' derived tables) are rebuilt by the same initialisers training uses.

extension NextVisitModel {
    private enum ScorerTag: UInt8 {
        case none = 0
        case alsFoldIn = 1
    }

    /// Appends the model (without its catalogue) to `writer`.
    func write(to writer: inout ByteWriter) throws(ModelCheckpointError) {
        parameters.write(to: &writer)
        writer.write(Int64(weights.count))
        writer.write(weights)
        statistics.write(to: &writer)
        switch collaborative {
        case nil:
            writer.write(ScorerTag.none.rawValue)
        case let scorer as ALSFoldInScoring:
            writer.write(ScorerTag.alsFoldIn.rawValue)
            scorer.configuration.write(to: &writer)
            scorer.table.write(to: &writer)
        case let other?:
            throw .unsupportedScorer("\(type(of: other))")
        }
        writer.write(timing != nil)
        timing?.write(to: &writer)
        writer.write(fitReport != nil)
        if let fitReport {
            writer.write(Int64(fitReport.iterations))
            writer.write(fitReport.objective)
            writer.write(fitReport.gradientNorm)
            writer.write(Int64(fitReport.instanceCount))
        }
        writer.write(booster != nil)
        if let booster {
            writer.write(Int64(booster.rerankedCandidates))
            booster.trees.write(to: &writer)
        }
    }

    /// Reads a model written by ``write(to:)`` for `catalogue` (already checked against the file).
    init(from reader: inout CheckpointReader, catalogue: StoreCatalogue) throws(ModelCheckpointError) {
        let parameters = try NextVisitParameters(from: &reader)
        let weightCount = try reader.count(elementBytes: 8)
        guard weightCount == NextVisitFeature.count else {
            throw .malformed("\(weightCount) weights for \(NextVisitFeature.count) features")
        }
        let weights = try reader.array(weightCount, elementBytes: 8) { reader throws(ModelCheckpointError) in try reader.double() }
        let statistics = try VisitStatistics(from: &reader, catalogue: catalogue)
        let collaborative: (any CollaborativeScoring)?
        switch ScorerTag(rawValue: try reader.uint8()) {
        case .none?:
            collaborative = nil
        case .alsFoldIn?:
            let configuration: ALSConfiguration
            do {
                // ALSModel's checkpoint codec for the configuration (it validates what it reads).
                configuration = try ALSConfiguration(from: &reader.reader)
            } catch {
                throw .malformed("ALS configuration: \(error)")
            }
            let table = try StoreFactorTable(from: &reader, storeCount: catalogue.count)
            guard table.factorCount == configuration.factorCount else {
                throw .malformed("store factors have k = \(table.factorCount), the configuration \(configuration.factorCount)")
            }
            collaborative = ALSFoldInScoring(table: table, configuration: configuration)
        case nil:
            throw .malformed("unknown collaborative scorer")
        }
        let timing = try reader.bool() ? try NextTripModel(from: &reader) : nil
        var fitReport: SoftmaxFitReport?
        if try reader.bool() {
            fitReport = SoftmaxFitReport(
                iterations: try reader.int(in: 0...Int(Int32.max), "fit iterations"), objective: try reader.double(),
                gradientNorm: try reader.double(), instanceCount: try reader.int(in: 0...Int.max, "fit instances"))
        }
        var booster: NextVisitBooster?
        if try reader.bool() {
            let reranked = try reader.int(in: 2...Int(Int32.max), "re-ranked candidates")
            do {
                booster = try NextVisitBooster(trees: try BoostedTrees(from: &reader), rerankedCandidates: reranked)
            } catch let error as ModelCheckpointError {
                throw error
            } catch {
                throw .malformed("boosted trees: \(error)")
            }
        }
        self.init(
            parameters: parameters, catalogue: catalogue, statistics: statistics, weights: weights,
            collaborative: collaborative, timing: timing, fitReport: fitReport, booster: booster)
    }
}

extension NextVisitParameters {
    /// Every stored property, in declaration order (a new property needs a new format version).
    func write(to writer: inout ByteWriter) {
        writer.write(sessionGapSeconds)
        for count in [visitedCandidates, successorCandidates, nearbyCandidates, popularCandidates] { writer.write(Int64(count)) }
        writer.write([transitionPrior, distanceOffsetKilometers, hourKernelConcentration, storeHourPrior])
        for count in [fitWindowDays, maximumInstancesPerUser, maximumFitUsers] { writer.write(Int64(count)) }
        writer.write(l2)
        writer.write(features.mask)
        writer.write(Int64(maximumNewtonIterations))
        writer.write(recencyGapCapSeconds)
    }

    init(from reader: inout CheckpointReader) throws(ModelCheckpointError) {
        self.init()
        let counts = 0...Int(Int32.max)
        sessionGapSeconds = try reader.int64()
        visitedCandidates = try reader.int(in: counts, "visited candidates")
        successorCandidates = try reader.int(in: counts, "successor candidates")
        nearbyCandidates = try reader.int(in: counts, "nearby candidates")
        popularCandidates = try reader.int(in: counts, "popular candidates")
        transitionPrior = try reader.double()
        distanceOffsetKilometers = try reader.double()
        hourKernelConcentration = try reader.double()
        storeHourPrior = try reader.double()
        fitWindowDays = try reader.int(in: counts, "fit window days")
        maximumInstancesPerUser = try reader.int(in: counts, "instances per user")
        maximumFitUsers = try reader.int(in: counts, "fit users")
        l2 = try reader.double()
        let mask = try reader.uint64()
        features = NextVisitFeatureSet(mask: mask)
        guard features.mask == mask else { throw .malformed("feature mask \(String(mask, radix: 16)) names unknown features") }
        maximumNewtonIterations = try reader.int(in: counts, "Newton iterations")
        recencyGapCapSeconds = try reader.int64()
        do {
            try validate()
        } catch {
            throw .malformed("\(error)")
        }
    }
}

extension StoreFactorTable {
    /// Reads a table written by ``write(to:)`` whose shape was checked first: one row per store, and
    /// no more values than bytes left (a bad shape would otherwise allocate before failing).
    init(from reader: inout CheckpointReader, storeCount: Int) throws(ModelCheckpointError) {
        var peek = reader
        _ = try peek.bytes(8)  // the table's own magic, checked by its reader below
        let rows = try peek.int64()
        let factors = try peek.int64()
        guard rows == Int64(storeCount), (1...4_096).contains(factors), rows * factors <= Int64(peek.remainingCount / 4) else {
            throw .malformed("store factors of \(rows) × \(factors) for \(storeCount) stores")
        }
        do {
            self = try StoreFactorTable(from: &reader.reader)
        } catch {
            throw .malformed("store factors: \(error)")
        }
    }
}

extension BoostedTrees {
    /// Appends the forest: its shape, then per tree its nodes (children relative to the tree's root),
    /// every threshold and leaf with its exact bits.
    func write(to writer: inout ByteWriter) {
        writer.write(Int64(featureCount))
        writer.write(baseScore)
        writer.write(Int64(treeCount))
        for (tree, root) in roots.enumerated() {
            let end = tree + 1 < roots.count ? Int(roots[tree + 1]) : features.count
            writer.write(Int64(end - Int(root)))
            for node in Int(root)..<end {
                writer.write(features[node])
                writer.write(values[node])
                writer.write(left[node] < 0 ? -1 : left[node] - root)
                writer.write(right[node] < 0 ? -1 : right[node] - root)
                writer.write(defaultLeft[node])
            }
        }
    }

    /// Reads a forest written by ``write(to:)``, checked as XGBoost's is (children inside their tree,
    /// after their parent; split features inside the row).
    init(from reader: inout CheckpointReader) throws(ModelCheckpointError) {
        let featureCount = try reader.int(in: 1...NextVisitBooster.featureCount, "booster features")
        let baseScore = try reader.float()
        // A node takes 17 bytes.
        let treeCount = try reader.count(elementBytes: 17)
        var trees: [(features: [Int32], values: [Float], left: [Int32], right: [Int32], defaultLeft: [Bool])] = []
        for _ in 0..<treeCount {
            let nodes = try reader.count(elementBytes: 17)
            var tree = (features: [Int32](), values: [Float](), left: [Int32](), right: [Int32](), defaultLeft: [Bool]())
            for _ in 0..<nodes {
                tree.features.append(try reader.int32())
                tree.values.append(try reader.float())
                tree.left.append(try reader.int32())
                tree.right.append(try reader.int32())
                tree.defaultLeft.append(try reader.bool())
            }
            trees.append(tree)
        }
        do {
            try self.init(featureCount: featureCount, baseScore: baseScore, trees: trees)
        } catch {
            throw .malformed("boosted trees: \(error)")
        }
    }
}
