/// Every store's factors, in catalogue order, replicated on every rank: what serving reads.
///
/// Built by ``ALSModel/replicatedStoreFactors(on:)`` (or read from a checkpoint). Scores are dot
/// products `x·y` in `Float`, summed in a fixed order so every rank gives the same bits; fold-in solves
/// a user's factors from the user's visits in a few microseconds, for near-real-time updates.
public struct StoreFactorTable: Sendable, Equatable {
    /// Row `s` holds the factors of catalogue store `s`.
    public let factors: FactorMatrix<StoreAxis>
    /// `YᵀY` over all stores, packed upper triangle (row by row, `k(k+1)/2` values).
    public let gram: [Double]

    /// A table from factors and, optionally, their Gram (computed here, in catalogue order, if `nil`).
    ///
    /// - Throws: ``ALSError/factorCountMismatch(expected:actual:)`` when `gram` has the wrong size.
    public init(factors: FactorMatrix<StoreAxis>, gram: [Double]? = nil) throws(ALSError) {
        let k = factors.factorCount
        let expected = k * (k + 1) / 2
        if let gram, gram.count != expected { throw .factorCountMismatch(expected: expected, actual: gram.count) }
        self.factors = factors
        self.gram = gram ?? Self.computeGram(factors)
    }

    /// The number of stores.
    public var storeCount: Int { factors.rowCount }

    /// The number of latent factors.
    public var factorCount: Int { factors.factorCount }

    /// The predicted preference `user · y(store)` (`user.count == factorCount`).
    public func score(_ user: some Collection<Float>, store: Int) -> Float {
        precondition((0..<storeCount).contains(store), "StoreFactorTable: no store \(store)")
        let padded = paddedUser(user)
        return padded.withUnsafeBufferPointer { vector in
            factors.storage.withUnsafeBufferPointer { rows in
                guard let vectorBase = vector.baseAddress, let rowBase = rows.baseAddress else { return 0 }
                return ALSKernels.dot(rowBase + store * factors.stride, vectorBase, lanes: factors.stride / 8)
            }
        }
    }

    /// The scores of every store for `user`, by catalogue index.
    public func scores(for user: some Collection<Float>) -> [Float] {
        let padded = paddedUser(user)
        let stride = factors.stride
        return [Float](unsafeUninitializedCapacity: storeCount) { output, initialized in
            padded.withUnsafeBufferPointer { vector in
                factors.storage.withUnsafeBufferPointer { rows in
                    guard let vectorBase = vector.baseAddress, let rowBase = rows.baseAddress else { return }
                    for store in 0..<storeCount {
                        output[store] = ALSKernels.dot(rowBase + store * stride, vectorBase, lanes: stride / 8)
                    }
                }
            }
            initialized = storeCount
        }
    }

    /// The `count` best stores for `user`, best first; ties go to the lower catalogue index.
    ///
    /// - Parameter excluding: stores to leave out (for example those the user already visited).
    public func topStores(
        for user: some Collection<Float>, count: Int, excluding: Set<Int> = []
    ) -> [ScoredStore] {
        StoreRanking.top(scores(for: user), count: count, excluding: excluding)
    }

    /// The factors of a user from the user's visits, solved exactly against these store factors:
    /// `(YᵀY + Yᵀ(Cᵤ − I)Y + λI) x = YᵀCᵤ p` (Cholesky, double precision). Costs about
    /// `visits × k² + k³/3` operations, microseconds for k = 32.
    ///
    /// - Parameters:
    ///   - visits: `(store index, count)` pairs in any order; repeats are added up, counts `<= 0` dropped.
    ///   - regularization: λ, normally the model's.
    ///   - confidence: count → confidence, normally the model's.
    /// - Throws: ``ALSError/unknownStore(index:)`` for a store outside the table, or
    ///   ``ALSError/invalidConfiguration(_:)`` when the system is singular (only with λ = 0).
    public func foldIn(
        visits: [(store: Int32, count: Float)], regularization: Float, confidence: Confidence
    ) throws(ALSError) -> [Float] {
        try foldIn(visits: visits, system: foldInSystem(regularization: regularization), confidence: confidence)
    }

    /// `YᵀY + λI` as a dense `k × k` matrix: the part of every fold-in's system that does not depend on
    /// the user, to compute once and pass to ``foldIn(visits:system:confidence:)``.
    public func foldInSystem(regularization: Float) -> [Double] {
        ALSGram.doubleWithRegularization(gram, factorCount: factorCount, regularization: Double(regularization))
    }

    /// ``foldIn(visits:regularization:confidence:)`` with `system` from ``foldInSystem(regularization:)``.
    public func foldIn(
        visits: [(store: Int32, count: Float)], system: [Double], confidence: Confidence
    ) throws(ALSError) -> [Float] {
        precondition(system.count == factorCount * factorCount, "StoreFactorTable: fold-in system of the wrong size")
        let merged = UserStoreCounts.merge(visits)
        for visit in merged where !(0..<storeCount).contains(Int(visit.store)) { throw .unknownStore(index: Int(visit.store)) }
        let k = factorCount
        let stride = factors.stride
        let columns = merged.map(\.store)
        let confidences = merged.map { confidence.weight(forCount: $0.count) }
        var scratch = [Double](repeating: 0, count: stride * stride + 2 * stride)
        var solution = [Float](repeating: 0, count: stride)
        // With no visits there are no rows to read; the solution buffer stands in as a valid address.
        let rows = factors.storage.isEmpty ? [Float](repeating: 0, count: stride) : factors.storage
        let solved = columns.withUnsafeBufferPointer { columns in
            confidences.withUnsafeBufferPointer { confidences in
                system.withUnsafeBufferPointer { system in
                    rows.withUnsafeBufferPointer { rows in
                        scratch.withUnsafeMutableBufferPointer { scratch in
                            solution.withUnsafeMutableBufferPointer { solution in
                                guard let x = solution.baseAddress, let gram = system.baseAddress,
                                      let others = rows.baseAddress, let work = scratch.baseAddress
                                else { return false }
                                return ALSKernels.exactSolve(
                                    x: x, factorCount: k, stride: stride, gram: gram, columns: columns,
                                    confidences: confidences, others: others, scratch: work
                                )
                            }
                        }
                    }
                }
            }
        }
        guard solved else { throw .invalidConfiguration("fold-in system is singular; use a regularization > 0") }
        return Array(solution.prefix(k))
    }

    /// ``foldIn(visits:regularization:confidence:)`` with a model's λ and confidence.
    public func foldIn(visits: [(store: Int32, count: Float)], configuration: ALSConfiguration) throws(ALSError) -> [Float] {
        try foldIn(visits: visits, regularization: configuration.regularization, confidence: configuration.confidence)
    }

    private func paddedUser(_ user: some Collection<Float>) -> [Float] {
        precondition(user.count == factorCount, "StoreFactorTable: \(user.count) user factors for a k = \(factorCount) model")
        var padded = [Float](repeating: 0, count: factors.stride)
        for (index, value) in user.enumerated() { padded[index] = value }
        return padded
    }

    private static func computeGram(_ factors: FactorMatrix<StoreAxis>) -> [Double] {
        let k = factors.factorCount
        var packed = [Double](repeating: 0, count: k * (k + 1) / 2)
        var scratch = [Double](repeating: 0, count: factors.stride * factors.stride + factors.stride)
        factors.storage.withUnsafeBufferPointer { rows in
            packed.withUnsafeMutableBufferPointer { packed in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    guard let rowBase = rows.baseAddress, let output = packed.baseAddress, let work = scratch.baseAddress else { return }
                    ALSKernels.gram(
                        rows: rowBase, rowCount: factors.rowCount, factorCount: k, stride: factors.stride,
                        into: output, scratch: work
                    )
                }
            }
        }
        return packed
    }
}

/// A store and its score.
public struct ScoredStore: Sendable, Equatable, Hashable {
    /// The catalogue index.
    public var store: Int
    public var score: Float

    public init(store: Int, score: Float) {
        self.store = store
        self.score = score
    }
}

/// Top-N selection with a deterministic order.
enum StoreRanking {
    /// The `count` highest scores, best first, ties by lower index; NaN scores never rank.
    static func top(_ scores: [Float], count: Int, excluding: Set<Int>) -> [ScoredStore] {
        let ranked = scores.enumerated().lazy
            .filter { !$0.element.isNaN && !excluding.contains($0.offset) }
            .map { ScoredStore(store: $0.offset, score: $0.element) }
        return bestFirst(ranked, limit: count) { a, b in a.score != b.score ? a.score > b.score : a.store < b.store }
    }
}

extension StoreFactorTable {
    private static let magic: [UInt8] = Array("GPALST01".utf8)

    /// Appends the table to `writer` (what ``init(from:)`` reads).
    public func write(to writer: inout ByteWriter) {
        writer.write(bytes: Self.magic)
        factors.write(to: &writer)
        writer.write(Int64(gram.count))
        for value in gram { writer.write(value) }
    }

    /// Reads a table written by ``write(to:)``.
    public init(from reader: inout ByteReader) throws(ALSError) {
        try ALSCodec.expectMagic(Self.magic, in: &reader)
        let factors = try FactorMatrix<StoreAxis>(from: &reader)
        let count = try ALSCodec.count(from: &reader)
        var gram = [Double]()
        gram.reserveCapacity(count)
        for _ in 0..<count { gram.append(try ALSCodec.run { () throws(ByteReader.Error) in try reader.readDouble() }) }
        do {
            try self.init(factors: factors, gram: gram)
        } catch {
            throw .corruptCheckpoint("Gram of \(count) values for k = \(factors.factorCount)")
        }
    }
}
