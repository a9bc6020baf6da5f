@_spi(Benchmarks) @testable import GeoPredict
import Testing

/// The fast ALS kernels against ``ALSReference``.
struct ALSKernelTests {
    /// A small random problem: `rows` other-side rows, one row with `entries` entries.
    struct Problem {
        let k: Int
        let others: [Float]
        let columns: [Int32]
        let confidences: [Float]
        let start: [Float]
        let regularization: Float

        init(k: Int, rows: Int, entries: Int, seed: UInt64) {
            var random = ALSTestRandom(seed: seed)
            self.k = k
            others = (0..<(rows * k)).map { _ in random.nextFloat(in: -0.5..<0.5) }
            var chosen = Set<Int32>()
            while chosen.count < entries { chosen.insert(Int32(random.next() % UInt64(rows))) }
            columns = chosen.sorted()
            confidences = columns.map { _ in 1 + 40 * Float(1 + random.next() % 5) }
            start = (0..<k).map { _ in random.nextFloat(in: 0..<0.01) }
            regularization = 0.1
        }

        /// `YᵀY` of all rows, packed.
        var packedGram: [Double] { ALSReference.gram(rows: others, rowCount: others.count / k, factorCount: k) }

        var denseGramWithRegularization: [Double] {
            ALSGram.doubleWithRegularization(packedGram, factorCount: k, regularization: Double(regularization))
        }

        var stride: Int { FactorMatrix<StoreAxis>.paddedStride(k) }

        var paddedOthers: [Float] {
            FactorMatrix<StoreAxis>(rowCount: others.count / k, factorCount: k, rowMajor: others).storage
        }
    }

    static func fastConjugateGradient(_ problem: Problem, steps: Int) -> [Float] {
        let stride = problem.stride
        var x = [Float](repeating: 0, count: stride)
        for index in 0..<problem.k { x[index] = problem.start[index] }
        let gram = ALSGram.floatWithRegularization(
            problem.packedGram, factorCount: problem.k, stride: stride, regularization: Double(problem.regularization)
        )
        var scratch = [Float](repeating: .nan, count: 3 * stride)
        let others = problem.paddedOthers
        x.withUnsafeMutableBufferPointer { x in
            gram.withUnsafeBufferPointer { gram in
                problem.columns.withUnsafeBufferPointer { columns in
                    problem.confidences.withUnsafeBufferPointer { confidences in
                        others.withUnsafeBufferPointer { others in
                            scratch.withUnsafeMutableBufferPointer { scratch in
                                ALSKernels.conjugateGradient(
                                    x: x.baseAddress!, factorCount: problem.k, stride: stride, gram: gram.baseAddress!,
                                    columns: columns, confidences: confidences, others: others.baseAddress!,
                                    steps: steps, scratch: scratch.baseAddress!
                                )
                            }
                        }
                    }
                }
            }
        }
        #expect(x[problem.k...].allSatisfy { $0 == 0 }, "padding must stay zero")
        return Array(x.prefix(problem.k))
    }

    static func fastExactSolve(_ problem: Problem) -> [Float]? {
        let stride = problem.stride
        var x = [Float](repeating: 0, count: stride)
        var scratch = [Double](repeating: .nan, count: stride * stride + 2 * stride)
        let gram = problem.denseGramWithRegularization
        let others = problem.paddedOthers
        let solved = x.withUnsafeMutableBufferPointer { x in
            gram.withUnsafeBufferPointer { gram in
                problem.columns.withUnsafeBufferPointer { columns in
                    problem.confidences.withUnsafeBufferPointer { confidences in
                        others.withUnsafeBufferPointer { others in
                            scratch.withUnsafeMutableBufferPointer { scratch in
                                ALSKernels.exactSolve(
                                    x: x.baseAddress!, factorCount: problem.k, stride: stride, gram: gram.baseAddress!,
                                    columns: columns, confidences: confidences, others: others.baseAddress!,
                                    scratch: scratch.baseAddress!
                                )
                            }
                        }
                    }
                }
            }
        }
        return solved ? Array(x.prefix(problem.k)) : nil
    }

    static func maximumRelativeError(_ actual: [Float], _ expected: [Float]) -> Float {
        let scale = max(expected.map(abs).max() ?? 0, 1e-6)
        return zip(actual, expected).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }

    @Test(arguments: [(k: 32, entries: 20), (k: 5, entries: 3), (k: 12, entries: 40), (k: 8, entries: 0)])
    func conjugateGradientMatchesReference(shape: (k: Int, entries: Int)) {
        let problem = Problem(k: shape.k, rows: 60, entries: shape.entries, seed: UInt64(shape.k * 100 + shape.entries))
        let stride = problem.stride
        let gram = ALSGram.floatWithRegularization(
            problem.packedGram, factorCount: problem.k, stride: stride, regularization: Double(problem.regularization)
        )
        let unpaddedGram = (0..<(problem.k * problem.k)).map { gram[($0 / problem.k) * stride + $0 % problem.k] }
        for steps in [1, 3] {
            let fast = Self.fastConjugateGradient(problem, steps: steps)
            let reference = ALSReference.conjugateGradient(
                x: problem.start, factorCount: problem.k, gram: unpaddedGram, columns: problem.columns,
                confidences: problem.confidences, others: problem.others, steps: steps
            )
            #expect(Self.maximumRelativeError(fast, reference) < 2e-4, "k=\(problem.k) steps=\(steps): \(fast) vs \(reference)")
        }
    }

    @Test(arguments: [(k: 32, entries: 20), (k: 5, entries: 3), (k: 17, entries: 50), (k: 8, entries: 0)])
    func exactSolveMatchesGaussianElimination(shape: (k: Int, entries: Int)) throws {
        let problem = Problem(k: shape.k, rows: 80, entries: shape.entries, seed: UInt64(7 + shape.k))
        let fast = try #require(Self.fastExactSolve(problem))
        let reference = ALSReference.exactSolve(
            factorCount: problem.k, gram: problem.denseGramWithRegularization, columns: problem.columns,
            confidences: problem.confidences, others: problem.others
        )
        #expect(Self.maximumRelativeError(fast, reference) < 1e-5, "\(fast) vs \(reference)")
    }

    @Test func conjugateGradientConvergesToTheExactSolution() throws {
        // With as many steps as unknowns, CG solves the system (up to rounding).
        let problem = Problem(k: 16, rows: 50, entries: 25, seed: 99)
        let exact = try #require(Self.fastExactSolve(problem))
        let converged = Self.fastConjugateGradient(problem, steps: 40)
        #expect(Self.maximumRelativeError(converged, exact) < 2e-3, "\(converged) vs \(exact)")
        // And a few steps already get most of the way from the start.
        let threeSteps = Self.fastConjugateGradient(problem, steps: 3)
        let startError = Self.maximumRelativeError(problem.start, exact)
        #expect(Self.maximumRelativeError(threeSteps, exact) < startError)
    }

    @Test func exactSolveRejectsASingularSystem() {
        // λ = 0 and no entries: A = YᵀY of a zero matrix, not positive definite.
        let stride = 8
        var x = [Float](repeating: 7, count: stride)
        var scratch = [Double](repeating: 0, count: stride * stride + 2 * stride)
        let gram = [Double](repeating: 0, count: 4 * 4)
        let others = [Float](repeating: 0, count: stride)
        let solved = x.withUnsafeMutableBufferPointer { x in
            gram.withUnsafeBufferPointer { gram in
                others.withUnsafeBufferPointer { others in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        ALSKernels.exactSolve(
                            x: x.baseAddress!, factorCount: 4, stride: stride, gram: gram.baseAddress!,
                            columns: UnsafeBufferPointer(start: nil, count: 0), confidences: UnsafeBufferPointer(start: nil, count: 0),
                            others: others.baseAddress!, scratch: scratch.baseAddress!
                        )
                    }
                }
            }
        }
        #expect(!solved)
        #expect(x.allSatisfy { $0 == 7 }, "a failed solve leaves the factors alone")
    }

    /// The store half's batched kernel walks users, not stores; each store must still get exactly
    /// the row kernel's arithmetic (same terms, same order), so the bits must agree.
    @Test(arguments: [32, 7])
    func batchedConjugateGradientEqualsRowByRow(k: Int) {
        var random = ALSTestRandom(seed: UInt64(k) + 50)
        let stride = FactorMatrix<StoreAxis>.paddedStride(k)
        let storeCount = 9
        let shippedCount = 14
        let localCount = 11
        let users = FactorMatrix<UserAxis>(
            rowCount: shippedCount + localCount, factorCount: k,
            rowMajor: (0..<((shippedCount + localCount) * k)).map { _ in random.nextFloat(in: -0.5..<0.5) }
        )
        let start = FactorMatrix<StoreAxis>(
            rowCount: storeCount, factorCount: k, rowMajor: (0..<(storeCount * k)).map { _ in random.nextFloat(in: 0..<0.01) }
        )
        // User-major entries (ascending stores per user); some users visit nothing.
        var offsets = [0]
        var columns = [Int32]()
        var confidences = [Float]()
        for _ in 0..<(shippedCount + localCount) {
            for store in 0..<storeCount where random.next() % 3 == 0 {
                columns.append(Int32(store))
                confidences.append(1 + 40 * Float(1 + random.next() % 4))
            }
            offsets.append(columns.count)
        }
        // The canonical walk interleaves shipped and local ranges, as partitions of two ranks do.
        let order = [0..<5, 14..<20, 5..<14, 20..<25]
        let byUser = SparseMatrix<UserAxis, StoreAxis>(uncheckedOffsets: offsets, columns: columns, values: confidences)
        let byStore = ALSTrainingPlan.transposeInOrder(byUser, order: order, storeCount: storeCount)
        var packed = ALSReference.gram(rows: users.rowMajorValues, rowCount: users.rowCount, factorCount: k)
        packed = packed.map { $0 * 0.5 }
        let gram = ALSGram.floatWithRegularization(packed, factorCount: k, stride: stride, regularization: 0.1)

        // Row by row.
        var expected = start
        var scratch = [Float](repeating: 0, count: 3 * stride)
        for store in 0..<storeCount {
            let range = byStore.entryRange(ofRow: store)
            expected.storage.withUnsafeMutableBufferPointer { x in
                gram.withUnsafeBufferPointer { gram in
                    Array(byStore.columns[range]).withUnsafeBufferPointer { columns in
                        Array(byStore.values[range]).withUnsafeBufferPointer { confidences in
                            users.storage.withUnsafeBufferPointer { others in
                                scratch.withUnsafeMutableBufferPointer { scratch in
                                    ALSKernels.conjugateGradient(
                                        x: x.baseAddress! + store * stride, factorCount: k, stride: stride,
                                        gram: gram.baseAddress!, columns: columns, confidences: confidences,
                                        others: others.baseAddress!, steps: 3, scratch: scratch.baseAddress!
                                    )
                                }
                            }
                        }
                    }
                }
            }
        }

        // All at once, users in canonical order from two buffers.
        var batched = start
        var workspace = ALSKernels.BatchWorkspace(targetCount: storeCount, stride: stride)
        let shipped = Array(users.storage[0..<(shippedCount * stride)])
        let local = Array(users.storage[(shippedCount * stride)...])
        var lossTerms = [Double]()
        shipped.withUnsafeBufferPointer { shipped in
            local.withUnsafeBufferPointer { local in
                let sources = ALSKernels.SplitRows(
                    shipped: shipped.baseAddress!, local: local.baseAddress!, shippedCount: shippedCount, stride: stride
                )
                byUser.offsets.withUnsafeBufferPointer { offsets in
                    byUser.columns.withUnsafeBufferPointer { columns in
                        byUser.values.withUnsafeBufferPointer { confidences in
                            gram.withUnsafeBufferPointer { gram in
                                batched.storage.withUnsafeMutableBufferPointer { targets in
                                    ALSKernels.batchedConjugateGradient(
                                        targets: targets.baseAddress!, targetCount: storeCount, factorCount: k, stride: stride,
                                        gram: gram.baseAddress!, sourceOffsets: offsets, sourceColumns: columns,
                                        confidences: confidences, sources: sources, sourceOrder: order, steps: 3,
                                        workspace: &workspace
                                    )
                                    lossTerms = ALSKernels.batchedLossTerms(
                                        targets: UnsafePointer(targets.baseAddress!), targetCount: storeCount, stride: stride,
                                        sourceOffsets: offsets, sourceColumns: columns, confidences: confidences,
                                        sources: sources, sourceOrder: order
                                    )
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(batched.storage == expected.storage)
        #expect(batched != start, "the solve changed nothing")

        // The loss terms agree with the row-by-row kernel too.
        for store in 0..<storeCount {
            let range = byStore.entryRange(ofRow: store)
            let rowTerm = batched.storage.withUnsafeBufferPointer { stores in
                Array(byStore.columns[range]).withUnsafeBufferPointer { columns in
                    Array(byStore.values[range]).withUnsafeBufferPointer { confidences in
                        users.storage.withUnsafeBufferPointer { others in
                            ALSKernels.lossTerm(
                                x: stores.baseAddress! + store * stride, stride: stride, columns: columns,
                                confidences: confidences, others: others.baseAddress!
                            )
                        }
                    }
                }
            }
            #expect(lossTerms[store] == rowTerm, "store \(store)")
        }
    }

    @Test(arguments: [1, 5, 8, 32, 33])
    func gramMatchesReference(k: Int) {
        var random = ALSTestRandom(seed: UInt64(k))
        let rowCount = 37
        let rows = (0..<(rowCount * k)).map { _ in random.nextFloat(in: -1..<1) }
        let matrix = FactorMatrix<UserAxis>(rowCount: rowCount, factorCount: k, rowMajor: rows)
        var packed = [Double](repeating: .nan, count: k * (k + 1) / 2)
        var scratch = [Double](repeating: .nan, count: matrix.stride * matrix.stride + matrix.stride)
        matrix.storage.withUnsafeBufferPointer { storage in
            packed.withUnsafeMutableBufferPointer { packed in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    ALSKernels.gram(
                        rows: storage.baseAddress!, rowCount: rowCount, factorCount: k, stride: matrix.stride,
                        into: packed.baseAddress!, scratch: scratch.baseAddress!
                    )
                }
            }
        }
        let reference = ALSReference.gram(rows: rows, rowCount: rowCount, factorCount: k)
        for (fast, slow) in zip(packed, reference) { #expect(abs(fast - slow) <= 1e-12 * max(1, abs(slow))) }
    }

    @Test func gramHelpersAgreeWithDenseArithmetic() {
        let k = 3
        let a: [Double] = [1, 2, 3, 4, 5, 6]  // [[1,2,3],[2,4,5],[3,5,6]]
        let b: [Double] = [1, 0, 1, 2, 0, 3]  // [[1,0,1],[0,2,0],[1,0,3]]
        #expect(ALSGram.trace(a, factorCount: k) == 11)
        // Σ over all nine cells: 1·1 + 2·(3·1) + 4·2 + 6·3.
        let expected: Double = 33
        #expect(ALSGram.frobeniusProduct(a, b, factorCount: k) == expected)
        let dense = ALSGram.doubleWithRegularization(a, factorCount: k, regularization: 0.5)
        #expect(dense == [1.5, 2, 3, 2, 4.5, 5, 3, 5, 6.5])
    }

    @Test func topStoresBreaksTiesByIndexAndSkipsExclusions() {
        let scores: [Float] = [0.5, 0.9, 0.5, .nan, 0.9, 0.1]
        let top = StoreRanking.top(scores, count: 3, excluding: [])
        #expect(top.map(\.store) == [1, 4, 0])
        #expect(StoreRanking.top(scores, count: 2, excluding: [1]).map(\.store) == [4, 0])
        #expect(StoreRanking.top(scores, count: 10, excluding: []).count == 5)
        #expect(StoreRanking.top(scores, count: 0, excluding: []).isEmpty)
    }

    @Test func confidenceFunctions() {
        #expect(Confidence.linear(alpha: 40).weight(forCount: 2) == 81)
        let logarithmic = Confidence.logarithmic(alpha: 2, epsilon: 1).weight(forCount: 1)
        #expect(abs(logarithmic - (1 + 2 * 0.6931472)) < 1e-5)
    }
}

/// A small deterministic generator for test data (SplitMix64).
struct ALSTestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state)
    }

    mutating func nextFloat(in range: Range<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * Float(next() >> 40) * 0x1p-24
    }
}
