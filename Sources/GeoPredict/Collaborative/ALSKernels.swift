/// The numerical kernels of implicit-feedback ALS. Pure functions, no I/O, no allocation.
///
/// Shapes: `k` factors, stored with a row `stride` that is a multiple of 8 (``FactorMatrix``), the
/// padding zero. A row's problem is
///
///     (YᵀY + λI + Yᵀ(Cᵤ − I)Y) xᵤ = YᵀCᵤ pᵤ
///
/// where the rows of Y that matter are those of the row's entries (`columns` into `others`), `Cᵤ`
/// holds their confidences and `pᵤ` is 1 on them.
///
/// Precision, and why the result does not depend on the number of ranks: the conjugate-gradient
/// kernel works in `Float` like `implicit`, with 8-lane SIMD accumulators reduced in a fixed tree; the
/// exact kernel and the Gram kernel accumulate in `Double` (a product of two floats is exact in
/// double). Every sum runs over a row's entries in the order given (the caller passes them sorted by
/// id), never over an order that depends on the rank layout.
///
/// `@_spi(Benchmarks)`: `benchmarks/kernels` times these against OpenBLAS and LAPACKE; not API.
@_spi(Benchmarks) public enum ALSKernels {
    typealias Lane = SIMD8<Float>
    typealias WideLane = SIMD8<Double>

    /// Conjugate-gradient steps on one row's normal equations, starting from (and overwriting) `x`.
    ///
    /// - Parameters:
    ///   - x: the row's `stride` factors (padding zero).
    ///   - gram: `stride × stride`, row-major, `YᵀY + λI` in its `k × k` corner, zero elsewhere.
    ///   - columns: the rows of `others` this row has entries for.
    ///   - confidences: per entry, `c ≥ 1`.
    ///   - others: the other side's factors, rows of `stride` floats.
    ///   - scratch: `3 × stride` floats.
    @_spi(Benchmarks) public static func conjugateGradient(
        x: UnsafeMutablePointer<Float>, factorCount k: Int, stride: Int,
        gram: UnsafePointer<Float>,
        columns: UnsafeBufferPointer<Int32>, confidences: UnsafeBufferPointer<Float>,
        others: UnsafePointer<Float>, steps: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let lanes = stride / 8
        let r = scratch
        let p = scratch + stride
        let product = scratch + 2 * stride

        // r = b − A x, with b = Σ c·y and A x = G x + Σ (c − 1)(y·x) y.
        symmetricProduct(gram, x, into: r, factorCount: k, lanes: lanes)
        negate(r, lanes: lanes)
        for entry in 0..<columns.count {
            let y = others + Int(columns[entry]) &* stride
            let confidence = confidences[entry]
            let coefficient = confidence - (confidence - 1) * dot(y, x, lanes: lanes)
            addScaled(coefficient, y, to: r, lanes: lanes)
        }
        copy(r, to: p, lanes: lanes)
        var residualNorm = dot(r, r, lanes: lanes)
        if residualNorm < 1e-20 { return }

        for _ in 0..<steps {
            symmetricProduct(gram, p, into: product, factorCount: k, lanes: lanes)
            for entry in 0..<columns.count {
                let y = others + Int(columns[entry]) &* stride
                let weight = (confidences[entry] - 1) * dot(y, p, lanes: lanes)
                addScaled(weight, y, to: product, lanes: lanes)
            }
            let curvature = dot(p, product, lanes: lanes)
            // A is positive definite when λ > 0; with λ = 0 a flat direction ends the solve.
            guard curvature > 0, curvature.isFinite else { return }
            let stepLength = residualNorm / curvature
            addScaled(stepLength, p, to: x, lanes: lanes)
            addScaled(-stepLength, product, to: r, lanes: lanes)
            let newNorm = dot(r, r, lanes: lanes)
            if newNorm < 1e-20 { return }
            let beta = newNorm / residualNorm
            for lane in 0..<lanes {
                store(load(r + 8 &* lane) + beta * load(p + 8 &* lane), p + 8 &* lane)
            }
            residualNorm = newNorm
        }
    }

    /// Solves one row's normal equations exactly: builds `A = gram + Σ (c − 1) y yᵀ` and
    /// `b = Σ c y` in double precision and factorises A by Cholesky.
    ///
    /// - Parameters:
    ///   - x: receives the row's factors (`k` floats; the padding is left alone).
    ///   - gram: `k × k` row-major doubles, `YᵀY + λI`.
    ///   - scratch: `stride × stride + 2 × stride` doubles.
    /// - Returns: `false` (leaving `x` unchanged) when A is not positive definite, which needs λ = 0.
    @discardableResult
    @_spi(Benchmarks) public static func exactSolve(
        x: UnsafeMutablePointer<Float>, factorCount k: Int, stride: Int,
        gram: UnsafePointer<Double>,
        columns: UnsafeBufferPointer<Int32>, confidences: UnsafeBufferPointer<Float>,
        others: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Double>
    ) -> Bool {
        let matrix = scratch
        let rhs = scratch + stride * stride
        let y = rhs + stride
        for row in 0..<k {
            for column in 0..<stride { matrix[row &* stride &+ column] = column < k ? gram[row &* k &+ column] : 0 }
        }
        for index in 0..<stride {
            rhs[index] = 0
            y[index] = 0
        }
        let lanes = stride / 8
        for entry in 0..<columns.count {
            let source = others + Int(columns[entry]) &* stride
            for index in 0..<k { y[index] = Double(source[index]) }
            let confidence = Double(confidences[entry])
            addUpperRankOne(weight: confidence - 1, y, to: matrix, factorCount: k, stride: stride)
            let scale = WideLane(repeating: confidence)
            for lane in 0..<lanes {
                storeWide(loadWide(rhs + 8 &* lane) + scale * loadWide(y + 8 &* lane), rhs + 8 &* lane)
            }
        }
        guard choleskyFactorUpper(matrix, factorCount: k, stride: stride) else { return false }
        choleskySolveUpper(matrix, rhs, factorCount: k, stride: stride)
        for index in 0..<k { x[index] = Float(rhs[index]) }
        return true
    }

    /// `matrix += weight · y yᵀ` on and above the diagonal (whole 8-wide chunks, so a few entries
    /// below the diagonal change too; nothing reads them).
    @inline(__always)
    static func addUpperRankOne(
        weight: Double, _ y: UnsafePointer<Double>, to matrix: UnsafeMutablePointer<Double>,
        factorCount k: Int, stride: Int
    ) {
        let lanes = stride / 8
        for row in 0..<k {
            let scale = WideLane(repeating: weight * y[row])
            let base = matrix + row &* stride
            for lane in (row / 8)..<lanes {
                storeWide(loadWide(base + 8 &* lane) + scale * loadWide(y + 8 &* lane), base + 8 &* lane)
            }
        }
    }

    /// Factorises the symmetric matrix in the upper triangle of `matrix` as `UᵀU`, in place
    /// (right-looking, row-oriented so the trailing update is SIMD). Returns `false` if a pivot is not
    /// positive.
    static func choleskyFactorUpper(_ matrix: UnsafeMutablePointer<Double>, factorCount k: Int, stride: Int) -> Bool {
        let lanes = stride / 8
        for pivot in 0..<k {
            let pivotRow = matrix + pivot &* stride
            let diagonal = pivotRow[pivot]
            guard diagonal > 0, diagonal.isFinite else { return false }
            let root = diagonal.squareRoot()
            pivotRow[pivot] = root
            let inverse = 1 / root
            for column in (pivot + 1)..<k { pivotRow[column] *= inverse }
            // Trailing update: row i (> pivot) -= U[pivot, i] · U[pivot, :], on and above the diagonal.
            for row in (pivot + 1)..<k {
                let scale = WideLane(repeating: pivotRow[row])
                let target = matrix + row &* stride
                // Whole chunks from the one holding the diagonal: the columns left of the diagonal
                // that change are below it, where nothing is ever read.
                for lane in (row / 8)..<lanes {
                    let offset = 8 &* lane
                    storeWide(loadWide(target + offset) - scale * loadWide(pivotRow + offset), target + offset)
                }
            }
        }
        return true
    }

    /// Solves `UᵀU x = b` in place in `b`, given U from ``choleskyFactorUpper(_:factorCount:stride:)``.
    static func choleskySolveUpper(
        _ matrix: UnsafePointer<Double>, _ b: UnsafeMutablePointer<Double>, factorCount k: Int, stride: Int
    ) {
        // Uᵀ z = b (forward): z_i = (b_i − Σ_{j<i} U[j,i] z_j) / U[i,i], done column by column.
        for row in 0..<k {
            let value = b[row] / matrix[row &* stride &+ row]
            b[row] = value
            for column in (row + 1)..<k { b[column] -= matrix[row &* stride &+ column] * value }
        }
        // U x = z (backward).
        for row in Swift.stride(from: k - 1, through: 0, by: -1) {
            var value = b[row]
            for column in (row + 1)..<k { value -= matrix[row &* stride &+ column] * b[column] }
            b[row] = value / matrix[row &* stride &+ row]
        }
    }

    /// The Gram matrix `Σ y yᵀ` of `rowCount` rows, in double precision, as the packed upper triangle
    /// (row by row: `(0,0), (0,1) … (0,k−1), (1,1) …`, `k(k+1)/2` values) into `packed`.
    ///
    /// - Parameter scratch: `stride × stride + stride` doubles.
    @_spi(Benchmarks) public static func gram(
        rows: UnsafePointer<Float>, rowCount: Int, factorCount k: Int, stride: Int,
        into packed: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>
    ) {
        let matrix = scratch
        let y = scratch + stride * stride
        for index in 0..<(stride * stride) { matrix[index] = 0 }
        for index in 0..<stride { y[index] = 0 }
        for row in 0..<rowCount {
            let source = rows + row &* stride
            for index in 0..<k { y[index] = Double(source[index]) }
            addUpperRankOne(weight: 1, y, to: matrix, factorCount: k, stride: stride)
        }
        var position = 0
        for row in 0..<k {
            for column in row..<k {
                packed[position] = matrix[row &* stride &+ column]
                position += 1
            }
        }
    }

    /// This store's (or user's) part of `implicit`'s loss: `Σ c (1 − s)² − s²` over the row's
    /// entries, `s = x·y`, in double precision. (The `s²` of every cell is added back as `⟨XᵀX, YᵀY⟩`.)
    static func lossTerm(
        x: UnsafePointer<Float>, stride: Int,
        columns: UnsafeBufferPointer<Int32>, confidences: UnsafeBufferPointer<Float>,
        others: UnsafePointer<Float>
    ) -> Double {
        let lanes = stride / 8
        var total = 0.0
        for entry in 0..<columns.count {
            let score = Double(dot(x, others + Int(columns[entry]) &* stride, lanes: lanes))
            let miss = 1 - score
            total += Double(confidences[entry]) * miss * miss - score * score
        }
        return total
    }

    // MARK: SIMD building blocks

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Lane {
        UnsafeRawPointer(pointer).loadUnaligned(as: Lane.self)
    }

    @inline(__always)
    static func load(_ pointer: UnsafeMutablePointer<Float>) -> Lane {
        UnsafeRawPointer(pointer).loadUnaligned(as: Lane.self)
    }

    @inline(__always)
    static func store(_ value: Lane, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lane.self)
    }

    @inline(__always)
    static func loadWide(_ pointer: UnsafePointer<Double>) -> WideLane {
        UnsafeRawPointer(pointer).loadUnaligned(as: WideLane.self)
    }

    @inline(__always)
    static func loadWide(_ pointer: UnsafeMutablePointer<Double>) -> WideLane {
        UnsafeRawPointer(pointer).loadUnaligned(as: WideLane.self)
    }

    @inline(__always)
    static func storeWide(_ value: WideLane, _ pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: WideLane.self)
    }

    /// The sum of the 8 lanes in a fixed tree.
    @inline(__always)
    static func horizontalSum(_ value: Lane) -> Float {
        let half = value.lowHalf + value.highHalf
        let quarter = half.lowHalf + half.highHalf
        return quarter[0] + quarter[1]
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, lanes: Int) -> Float {
        var sum = Lane()
        for lane in 0..<lanes { sum += load(a + 8 &* lane) * load(b + 8 &* lane) }
        return horizontalSum(sum)
    }

    @inline(__always)
    static func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, lanes: Int) -> Float {
        dot(UnsafePointer(a), UnsafePointer(b), lanes: lanes)
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafeMutablePointer<Float>, lanes: Int) -> Float {
        dot(a, UnsafePointer(b), lanes: lanes)
    }

    /// `target += scale · source`.
    @inline(__always)
    static func addScaled(_ scale: Float, _ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, lanes: Int) {
        let factor = Lane(repeating: scale)
        for lane in 0..<lanes {
            store(load(target + 8 &* lane) + factor * load(source + 8 &* lane), target + 8 &* lane)
        }
    }

    @inline(__always)
    static func addScaled(_ scale: Float, _ source: UnsafeMutablePointer<Float>, to target: UnsafeMutablePointer<Float>, lanes: Int) {
        addScaled(scale, UnsafePointer(source), to: target, lanes: lanes)
    }

    @inline(__always)
    static func negate(_ target: UnsafeMutablePointer<Float>, lanes: Int) {
        for lane in 0..<lanes { store(-load(target + 8 &* lane), target + 8 &* lane) }
    }

    @inline(__always)
    static func copy(_ source: UnsafeMutablePointer<Float>, to target: UnsafeMutablePointer<Float>, lanes: Int) {
        for lane in 0..<lanes { store(load(source + 8 &* lane), target + 8 &* lane) }
    }

    /// `target = G v` for the symmetric `G` (rows of `8 × lanes`), summing over G's rows in order.
    @inline(__always)
    static func symmetricProduct(
        _ gram: UnsafePointer<Float>, _ vector: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>,
        factorCount k: Int, lanes: Int
    ) {
        let stride = 8 &* lanes
        for lane in 0..<lanes {
            var sum = Lane()
            var row = gram + 8 &* lane
            for index in 0..<k {
                sum += Lane(repeating: vector[index]) * load(row)
                row += stride
            }
            store(sum, target + 8 &* lane)
        }
    }
}
