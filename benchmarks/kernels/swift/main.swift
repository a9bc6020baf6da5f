// bench-kernels: GeoPredict's hand-written ALS kernels against OpenBLAS (CBLAS) and LAPACKE, at
// k = 32, 128 and 256, one thread (OPENBLAS_NUM_THREADS=1, as every rank runs). Three kernels, each
// on the same random data both ways, with the largest difference between the two results:
//
// - gram: Σ y yᵀ of n factor rows (Float rows, Double sums): ALSKernels.gram against cblas_dsyrk on
//   the rows converted to Double (conversion timed in), and cblas_ssyrk in Float (faster, but sums in
//   Float: not what the model computes).
// - exact: one row's exact solve (G + Σ (c − 1) y yᵀ) x = Σ c y over its m entries:
//   ALSKernels.exactSolve against cblas_dsyrk + cblas_dgemv + LAPACKE_dposv (Cholesky).
// - cg: three conjugate-gradient steps on one row's system, in Float: ALSKernels.conjugateGradient
//   against cblas_ssymv / cblas_sgemv / cblas_sdot / cblas_saxpy on the row's gathered entries.
//
// Prints one `kernel k hand_us blas_us speedup max_difference` line per case (microseconds per call,
// best of the repeats) and the same as JSON with --json PATH.
@_spi(Benchmarks) import GeoPredict
import COpenBLAS
import Foundation

var arguments = Array(CommandLine.arguments.dropFirst())
var jsonPath: String?
var repeats = 5
var sizes = [32, 128, 256]
while !arguments.isEmpty {
    let option = arguments.removeFirst()
    switch option {
    case "--json": jsonPath = arguments.isEmpty ? nil : arguments.removeFirst()
    case "--repeats": repeats = arguments.isEmpty ? 5 : Int(arguments.removeFirst()) ?? 5
    case "--k": sizes = arguments.isEmpty ? sizes : arguments.removeFirst().split(separator: ",").compactMap { Int($0) }
    default:
        FileHandle.standardError.write(Data("usage: bench-kernels [--repeats N] [--k 32,128,256] [--json PATH]\n".utf8))
        exit(2)
    }
}

/// A small deterministic generator (xorshift64*), so both sides get the same data on every run.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    /// Uniform in [-0.5, 0.5).
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) - 0.5 }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}


struct KernelTiming: Codable {
    var kernel: String
    var k: Int
    var calls: Int
    var handMicroseconds: Double
    var blasMicroseconds: Double
    var speedup: Double { handMicroseconds / blasMicroseconds }
    var maxDifference: Double
    var note: String

    enum CodingKeys: String, CodingKey { case kernel, k, calls, handMicroseconds, blasMicroseconds, maxDifference, note }
}

/// The cases, their repeats and what they measured.
struct KernelBench {
    let repeats: Int
    var results = [KernelTiming]()

    /// The best (smallest) wall time of `repeats` runs of `body`, in seconds.
    func best(_ body: () -> Void) -> Double {
        var fastest = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return fastest
    }

    mutating func report(_ result: KernelTiming) {
        results.append(result)
        let name = result.kernel.padding(toLength: 14, withPad: " ", startingAt: 0)
        let figures = String(
            format: "k=%-4d hand %10.2f us  blas %10.2f us  speedup %5.2fx  max difference %.2e",
            result.k, result.handMicroseconds, result.blasMicroseconds, result.speedup, result.maxDifference)
        print("\(name)\(figures)  \(result.note)")
    }
}

/// `count` rows of `stride` floats, the first `k` of each random, the padding zero.
func factorRows(_ count: Int, k: Int, stride: Int, random: inout Random) -> [Float] {
    var rows = [Float](repeating: 0, count: count * stride)
    for row in 0..<count { for column in 0..<k { rows[row * stride + column] = random.float() } }
    return rows
}

func maxDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
func maxDifference(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0 }

// MARK: Gram

extension KernelBench {
    mutating func benchmarkGram(k: Int, rowCount n: Int) {
        let stride = k  // a multiple of 8 at every k measured, as FactorMatrix pads
        var random = Random(state: 0x9E37_79B9_7F4A_7C15 &+ UInt64(k))
        let rows = factorRows(n, k: k, stride: stride, random: &random)
        var packed = [Double](repeating: 0, count: k * (k + 1) / 2)
        var scratch = [Double](repeating: 0, count: stride * stride + stride)
        let hand = best {
            rows.withUnsafeBufferPointer { rows in
                packed.withUnsafeMutableBufferPointer { packed in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        ALSKernels.gram(
                            rows: rows.baseAddress!, rowCount: n, factorCount: k, stride: stride,
                            into: packed.baseAddress!, scratch: scratch.baseAddress!)
                    }
                }
            }
        }
        var wide = [Double](repeating: 0, count: n * k)
        var full = [Double](repeating: 0, count: k * k)
        let blas = best {
            for row in 0..<n { for column in 0..<k { wide[row * k + column] = Double(rows[row * stride + column]) } }
            // C = Aᵀ A with A the n × k row-major rows: upper triangle of C.
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(k), Int32(n), 1, wide, Int32(k), 0, &full, Int32(k))
        }
        var blasPacked = [Double]()
        for row in 0..<k { for column in row..<k { blasPacked.append(full[row * k + column]) } }
        report(KernelTiming(
            kernel: "gram", k: k, calls: 1, handMicroseconds: hand * 1e6, blasMicroseconds: blas * 1e6,
            maxDifference: maxDifference(packed, blasPacked), note: "n=\(n) rows; dsyrk incl. Float->Double copy"))

        var single = [Float](repeating: 0, count: k * k)
        let blasFloat = best {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(k), Int32(n), 1, rows, Int32(stride), 0, &single, Int32(k))
        }
        var singlePacked = [Double]()
        for row in 0..<k { for column in row..<k { singlePacked.append(Double(single[row * k + column])) } }
        report(KernelTiming(
            kernel: "gram-float", k: k, calls: 1, handMicroseconds: hand * 1e6, blasMicroseconds: blasFloat * 1e6,
            maxDifference: maxDifference(packed, singlePacked), note: "n=\(n) rows; ssyrk sums in Float (not the model's precision)"))
    }
}

// MARK: Per-row solves

/// `rowCount` rows' entries: `entries` distinct columns each into `otherCount` other rows, with
/// confidences `1 + 10 · count` (count 1...4), as implicit ALS weighs visits.
struct RowEntries {
    var columns: [[Int32]]
    var confidences: [[Float]]

    init(rowCount: Int, entries: Int, otherCount: Int, random: inout Random) {
        columns = []
        confidences = []
        for _ in 0..<rowCount {
            var chosen = Set<Int32>()
            while chosen.count < entries { chosen.insert(Int32(random.below(otherCount))) }
            columns.append(chosen.sorted())
            confidences.append((0..<entries).map { _ in 1 + 10 * Float(1 + random.below(4)) })
        }
    }
}

/// Row `row`'s entries and the shared buffers, as the hand-written kernels take them (every array
/// here is non-empty).
func withKernelPointers<Scratch, Gram>(
    _ row: Int, _ rows: RowEntries, _ solutions: inout [Float], _ scratch: inout [Scratch], _ others: [Float], _ gram: [Gram],
    _ body: (UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Scratch>,
        UnsafePointer<Float>, UnsafePointer<Gram>) -> Void
) {
    rows.columns[row].withUnsafeBufferPointer { columns in
        rows.confidences[row].withUnsafeBufferPointer { confidences in
            solutions.withUnsafeMutableBufferPointer { solutions in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    others.withUnsafeBufferPointer { others in
                        gram.withUnsafeBufferPointer { gram in
                            body(columns, confidences, solutions.baseAddress!, scratch.baseAddress!, others.baseAddress!, gram.baseAddress!)
                        }
                    }
                }
            }
        }
    }
}

/// `YᵀY + λI` of `others`, as the k × k Doubles the exact solve takes.
func regularizedGram(_ others: [Float], count: Int, k: Int, stride: Int, lambda: Double) -> [Double] {
    var gram = [Double](repeating: 0, count: k * k)
    for row in 0..<count {
        for i in 0..<k {
            let yi = Double(others[row * stride + i])
            for j in 0..<k { gram[i * k + j] += yi * Double(others[row * stride + j]) }
        }
    }
    for i in 0..<k { gram[i * k + i] += lambda }
    return gram
}

extension KernelBench {
    mutating func benchmarkExact(k: Int, rowCount: Int, entries m: Int, otherCount: Int) {
        let stride = k
        var random = Random(state: 0xD1B5_4A32_D192_ED03 &+ UInt64(k))
        let others = factorRows(otherCount, k: k, stride: stride, random: &random)
        let rows = RowEntries(rowCount: rowCount, entries: m, otherCount: otherCount, random: &random)
        let gram = regularizedGram(others, count: otherCount, k: k, stride: stride, lambda: 0.1)
        var handSolutions = [Float](repeating: 0, count: rowCount * stride)
        var scratch = [Double](repeating: 0, count: stride * stride + 2 * stride)
        let hand = best {
            for row in 0..<rowCount {
                withKernelPointers(row, rows, &handSolutions, &scratch, others, gram) { columns, confidences, solutions, scratch, others, gram in
                    _ = ALSKernels.exactSolve(
                        x: solutions + row * stride, factorCount: k, stride: stride, gram: gram, columns: columns,
                        confidences: confidences, others: others, scratch: scratch)
                }
            }
        }
        var blasSolutions = [Float](repeating: 0, count: rowCount * stride)
        var matrix = [Double](repeating: 0, count: k * k)
        var weighted = [Double](repeating: 0, count: m * k)
        var plain = [Double](repeating: 0, count: m * k)
        var rhs = [Double](repeating: 0, count: k)
        var weights = [Double](repeating: 0, count: m)
        let blas = best {
            for row in 0..<rowCount {
                let columns = rows.columns[row]
                let confidences = rows.confidences[row]
                for entry in 0..<m {
                    let base = Int(columns[entry]) * stride
                    let c = Double(confidences[entry])
                    let scale = (c - 1).squareRoot()
                    weights[entry] = c
                    for i in 0..<k {
                        let y = Double(others[base + i])
                        plain[entry * k + i] = y
                        weighted[entry * k + i] = scale * y
                    }
                }
                for index in 0..<(k * k) { matrix[index] = gram[index] }
                // A = G + Wᵀ W with W's rows √(c − 1) y; b = Yᵀ c.
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(k), Int32(m), 1, weighted, Int32(k), 1, &matrix, Int32(k))
                cblas_dgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(k), 1, plain, Int32(k), weights, 1, 0, &rhs, 1)
                let info = LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(k), 1, &matrix, Int32(k), &rhs, 1)
                precondition(info == 0, "dposv failed: \(info)")
                for i in 0..<k { blasSolutions[row * stride + i] = Float(rhs[i]) }
            }
        }
        report(KernelTiming(
            kernel: "exact-solve", k: k, calls: rowCount, handMicroseconds: hand / Double(rowCount) * 1e6,
            blasMicroseconds: blas / Double(rowCount) * 1e6, maxDifference: maxDifference(handSolutions, blasSolutions),
            note: "m=\(m) entries per row; dsyrk + dgemv + dposv"))
    }
}

extension KernelBench {
    mutating func benchmarkConjugateGradient(k: Int, rowCount: Int, entries m: Int, otherCount: Int, steps: Int) {
        let stride = k
        var random = Random(state: 0x94D0_49BB_1331_11EB &+ UInt64(k))
        let others = factorRows(otherCount, k: k, stride: stride, random: &random)
        let rows = RowEntries(rowCount: rowCount, entries: m, otherCount: otherCount, random: &random)
        let gram = regularizedGram(others, count: otherCount, k: k, stride: stride, lambda: 0.1).map(Float.init)
        let start = factorRows(rowCount, k: k, stride: stride, random: &random).map { $0 * 0.1 }
        var handSolutions = start
        var scratch = [Float](repeating: 0, count: 3 * stride)
        let hand = best {
            handSolutions = start
            for row in 0..<rowCount {
                withKernelPointers(row, rows, &handSolutions, &scratch, others, gram) { columns, confidences, solutions, scratch, others, gram in
                    ALSKernels.conjugateGradient(
                        x: solutions + row * stride, factorCount: k, stride: stride, gram: gram, columns: columns,
                        confidences: confidences, others: others, steps: steps, scratch: scratch)
                }
            }
        }
        var blasSolutions = start
        var gathered = [Float](repeating: 0, count: m * k)
        var weights = [Float](repeating: 0, count: m)
        var products = [Float](repeating: 0, count: m)
        var r = [Float](repeating: 0, count: k)
        var p = [Float](repeating: 0, count: k)
        var q = [Float](repeating: 0, count: k)
        var x = [Float](repeating: 0, count: k)
        let blas = best {
            blasSolutions = start
            for row in 0..<rowCount {
                let columns = rows.columns[row]
                let confidences = rows.confidences[row]
                for entry in 0..<m {
                    let base = Int(columns[entry]) * stride
                    for i in 0..<k { gathered[entry * k + i] = others[base + i] }
                }
                for i in 0..<k { x[i] = blasSolutions[row * stride + i] }
                // r = Yᵀ (c − (c − 1) Y x) − G x
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, gathered, Int32(k), x, 1, 0, &products, 1)
                for entry in 0..<m { weights[entry] = confidences[entry] - (confidences[entry] - 1) * products[entry] }
                cblas_ssymv(CblasRowMajor, CblasUpper, Int32(k), -1, gram, Int32(k), x, 1, 0, &r, 1)
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(k), 1, gathered, Int32(k), weights, 1, 1, &r, 1)
                for i in 0..<k { p[i] = r[i] }
                var norm = cblas_sdot(Int32(k), r, 1, r, 1)
                if norm >= 1e-20 {
                    for _ in 0..<steps {
                        // q = G p + Yᵀ ((c − 1) Y p)
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, gathered, Int32(k), p, 1, 0, &products, 1)
                        for entry in 0..<m { weights[entry] = (confidences[entry] - 1) * products[entry] }
                        cblas_ssymv(CblasRowMajor, CblasUpper, Int32(k), 1, gram, Int32(k), p, 1, 0, &q, 1)
                        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(k), 1, gathered, Int32(k), weights, 1, 1, &q, 1)
                        let curvature = cblas_sdot(Int32(k), p, 1, q, 1)
                        guard curvature > 0, curvature.isFinite else { break }
                        let step = norm / curvature
                        cblas_saxpy(Int32(k), step, p, 1, &x, 1)
                        cblas_saxpy(Int32(k), -step, q, 1, &r, 1)
                        let newNorm = cblas_sdot(Int32(k), r, 1, r, 1)
                        if newNorm < 1e-20 { break }
                        cblas_sscal(Int32(k), newNorm / norm, &p, 1)
                        cblas_saxpy(Int32(k), 1, r, 1, &p, 1)
                        norm = newNorm
                    }
                }
                for i in 0..<k { blasSolutions[row * stride + i] = x[i] }
            }
        }
        report(KernelTiming(
            kernel: "cg-\(steps)-steps", k: k, calls: rowCount, handMicroseconds: hand / Double(rowCount) * 1e6,
            blasMicroseconds: blas / Double(rowCount) * 1e6, maxDifference: maxDifference(handSolutions, blasSolutions),
            note: "m=\(m) entries per row; ssymv + sgemv + sdot/saxpy (Float, as the hand-written CG)"))
    }
}

var bench = KernelBench(repeats: repeats)
for k in sizes {
    // Work per call grows as k² (Gram, CG) or k³ (Cholesky): fewer calls at larger k keep each case
    // to about a second.
    let scale = max(1, (k / 32) * (k / 32))
    bench.benchmarkGram(k: k, rowCount: 50_000)
    bench.benchmarkExact(k: k, rowCount: max(20, 4_000 / (scale * max(1, k / 32))), entries: 30, otherCount: 5_000)
    bench.benchmarkConjugateGradient(k: k, rowCount: max(200, 40_000 / scale), entries: 30, otherCount: 5_000, steps: 3)
}

if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
        try encoder.encode(bench.results).write(to: URL(fileURLWithPath: jsonPath))
    } catch {
        FileHandle.standardError.write(Data("cannot write \(jsonPath): \(error)\n".utf8))
        exit(1)
    }
}
