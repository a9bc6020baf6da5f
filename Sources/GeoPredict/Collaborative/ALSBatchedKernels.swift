/// Kernels that solve or score every row of one side at once while walking the *other* side's rows
/// in a fixed order.
///
/// The store half uses them: a store's users are scattered over the shipped user factors (a cache
/// miss per entry when solving store by store), but walking the users in global order streams those
/// factors through memory once per pass, while the per-store state (factors, residuals, directions,
/// products: four rows per owned store) stays in cache. Each store still receives its terms in
/// global user order, with the same arithmetic as ``ALSKernels/conjugateGradient(x:factorCount:stride:gram:columns:confidences:others:steps:scratch:)``,
/// so the results are bit-identical to solving store by store.
extension ALSKernels {
    /// The rows a user-major system walks: rows `0..<shippedCount` in one buffer (factors received
    /// from other ranks), the rest in another (the rank's own factors, read in place).
    struct SplitRows {
        let shipped: UnsafePointer<Float>
        let local: UnsafePointer<Float>
        let shippedCount: Int
        let stride: Int

        /// The address of the first row of `range`, which lies wholly in one of the two buffers.
        @inline(__always)
        func base(of range: Range<Int>) -> UnsafePointer<Float> {
            range.lowerBound < shippedCount
                ? shipped + range.lowerBound &* stride
                : local + (range.lowerBound &- shippedCount) &* stride
        }
    }

    /// Work space for ``batchedConjugateGradient(targets:targetCount:factorCount:stride:gram:sourceOffsets:sourceColumns:confidences:sources:sourceOrder:steps:workspace:)``: three rows per target, a norm and a flag.
    struct BatchWorkspace {
        var residuals: [Float]
        var directions: [Float]
        var products: [Float]
        var norms: [Float]
        var active: [Bool]

        init(targetCount: Int, stride: Int) {
            residuals = [Float](repeating: 0, count: max(1, targetCount * stride))
            directions = residuals
            products = residuals
            norms = [Float](repeating: 0, count: max(1, targetCount))
            active = [Bool](repeating: false, count: max(1, targetCount))
        }
    }

    /// Conjugate-gradient steps for every target row, warm-started from (and overwriting) `targets`.
    ///
    /// - Parameters:
    ///   - targets: `targetCount` rows of `stride` floats (the stores being solved).
    ///   - gram: `stride × stride`, `YᵀY + λI` of the sources' side (here XᵀX + λI).
    ///   - sourceOffsets, sourceColumns, confidences: per source row, its entries: target rows and `c`.
    ///   - sources: the source rows (the users: shipped and local).
    ///   - sourceOrder: ranges of source rows; walked in this order, they give every target its terms
    ///     in canonical order.
    static func batchedConjugateGradient(
        targets: UnsafeMutablePointer<Float>, targetCount: Int, factorCount k: Int, stride: Int,
        gram: UnsafePointer<Float>,
        sourceOffsets: UnsafeBufferPointer<Int>, sourceColumns: UnsafeBufferPointer<Int32>,
        confidences: UnsafeBufferPointer<Float>, sources: SplitRows, sourceOrder: [Range<Int>],
        steps: Int, workspace: inout BatchWorkspace
    ) {
        let lanes = stride / 8
        workspace.residuals.withUnsafeMutableBufferPointer { residuals in
            workspace.directions.withUnsafeMutableBufferPointer { directions in
                workspace.products.withUnsafeMutableBufferPointer { products in
                    workspace.norms.withUnsafeMutableBufferPointer { norms in
                        workspace.active.withUnsafeMutableBufferPointer { active in
                            guard let r = residuals.baseAddress, let p = directions.baseAddress,
                                  let product = products.baseAddress
                            else { return }
                            // r = −G x, then + Σ (c − (c − 1) x·y) y over the sources in order.
                            for target in 0..<targetCount {
                                symmetricProduct(gram, targets + target &* stride, into: r + target &* stride, factorCount: k, lanes: lanes)
                                negate(r + target &* stride, lanes: lanes)
                            }
                            for range in sourceOrder {
                                let base = sources.base(of: range)
                                for row in range {
                                    let y = base + (row &- range.lowerBound) &* stride
                                    for entry in sourceOffsets[row]..<sourceOffsets[row &+ 1] {
                                        let target = Int(sourceColumns[entry]) &* stride
                                        let confidence = confidences[entry]
                                        let coefficient = confidence - (confidence - 1) * dot(y, targets + target, lanes: lanes)
                                        addScaled(coefficient, y, to: r + target, lanes: lanes)
                                    }
                                }
                            }
                            for target in 0..<targetCount {
                                let offset = target &* stride
                                copy(r + offset, to: p + offset, lanes: lanes)
                                norms[target] = dot(r + offset, r + offset, lanes: lanes)
                                active[target] = !(norms[target] < 1e-20)
                            }
                            for _ in 0..<steps {
                                for target in 0..<targetCount where active[target] {
                                    symmetricProduct(gram, p + target &* stride, into: product + target &* stride, factorCount: k, lanes: lanes)
                                }
                                for range in sourceOrder {
                                    let base = sources.base(of: range)
                                    for row in range {
                                        let y = base + (row &- range.lowerBound) &* stride
                                        for entry in sourceOffsets[row]..<sourceOffsets[row &+ 1] {
                                            let target = Int(sourceColumns[entry])
                                            guard active[target] else { continue }
                                            let offset = target &* stride
                                            let weight = (confidences[entry] - 1) * dot(y, p + offset, lanes: lanes)
                                            addScaled(weight, y, to: product + offset, lanes: lanes)
                                        }
                                    }
                                }
                                for target in 0..<targetCount where active[target] {
                                    let offset = target &* stride
                                    let curvature = dot(p + offset, product + offset, lanes: lanes)
                                    guard curvature > 0, curvature.isFinite else {
                                        active[target] = false
                                        continue
                                    }
                                    let stepLength = norms[target] / curvature
                                    addScaled(stepLength, p + offset, to: targets + offset, lanes: lanes)
                                    addScaled(-stepLength, product + offset, to: r + offset, lanes: lanes)
                                    let newNorm = dot(r + offset, r + offset, lanes: lanes)
                                    if newNorm < 1e-20 {
                                        active[target] = false
                                        continue
                                    }
                                    let beta = newNorm / norms[target]
                                    for lane in 0..<lanes {
                                        let at = offset &+ 8 &* lane
                                        store(load(r + at) + beta * load(p + at), p + at)
                                    }
                                    norms[target] = newNorm
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Per target row, `Σ c (1 − s)² − s²` over its entries (`s = x·y`), in double precision, adding
    /// each target's terms in the order the sources are walked (see ``lossTerm(x:stride:columns:confidences:others:)``).
    static func batchedLossTerms(
        targets: UnsafePointer<Float>, targetCount: Int, stride: Int,
        sourceOffsets: UnsafeBufferPointer<Int>, sourceColumns: UnsafeBufferPointer<Int32>,
        confidences: UnsafeBufferPointer<Float>, sources: SplitRows, sourceOrder: [Range<Int>]
    ) -> [Double] {
        let lanes = stride / 8
        var totals = [Double](repeating: 0, count: targetCount)
        for range in sourceOrder {
            let base = sources.base(of: range)
            for row in range {
                let y = base + (row &- range.lowerBound) &* stride
                for entry in sourceOffsets[row]..<sourceOffsets[row &+ 1] {
                    let target = Int(sourceColumns[entry])
                    let score = Double(dot(targets + target &* stride, y, lanes: lanes))
                    let miss = 1 - score
                    totals[target] += Double(confidences[entry]) * miss * miss - score * score
                }
            }
        }
        return totals
    }
}
