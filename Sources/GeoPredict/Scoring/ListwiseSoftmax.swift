#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// Training lists for the weights of a linear ranking score: per instance, the feature rows of its
/// candidates and which candidate was the one visited.
///
/// Instances are tagged with the virtual partition of their user and must be appended partition by
/// partition, in the same order at any rank count (a ``VisitLog`` walks users that way), so that
/// per-partition sums are rank-count independent.
public struct SoftmaxInstances: Sendable, Equatable {
    /// Features per candidate row.
    public let featureCount: Int
    /// All candidate rows, row-major.
    public private(set) var features: [Double] = []
    /// Per instance, its first row; one extra entry at the end.
    public private(set) var rowOffsets: [Int] = [0]
    /// Per instance, the row (relative to its first) of the visited candidate.
    public private(set) var targets: [Int] = []
    /// Per instance, its user's virtual partition.
    public private(set) var partitions: [Int] = []

    public init(featureCount: Int) {
        precondition(featureCount > 0, "SoftmaxInstances: at least one feature")
        self.featureCount = featureCount
    }

    /// The number of instances.
    public var count: Int { targets.count }

    /// Appends one instance: `rows.count` must be a multiple of ``featureCount`` and `target` one of its rows.
    public mutating func append(rows: [Double], target: Int, partition: Int) {
        precondition(rows.count % featureCount == 0 && (0..<(rows.count / featureCount)).contains(target),
                     "SoftmaxInstances: the target must be one of the rows")
        precondition(partitions.last.map { $0 <= partition } ?? true, "SoftmaxInstances: append partition by partition")
        features.append(contentsOf: rows)
        rowOffsets.append(features.count / featureCount)
        targets.append(target)
        partitions.append(partition)
    }
}

/// The listwise softmax (multinomial logistic) loss of a linear score `w·f` over each instance's
/// candidates, and its gradient and Hessian: the negative log-likelihood of the visited candidate
/// under `p_c = exp(w·f_c) / Σ exp(w·f_j)`. Convex in `w`; with an L2 penalty strictly convex.
public enum ListwiseSoftmax {
    /// The sums over `instances` of the loss, gradient and Hessian at `weights`, restricted to the
    /// features in `active` (indices into the feature rows): a vector
    /// `[loss, gradient (d), Hessian (d × d row-major)]` with `d = active.count`, per partition.
    ///
    /// Per instance: the candidates' scores and the softmax's normaliser (the loss term), then the
    /// second moments `Σ p f fᵀ` and the mean `E[f]`, then the gradient `E[f] − f_target` and the
    /// centring `−E[f] E[f]ᵀ`; the Hessians' lower triangles are mirrored at the end.
    ///
    /// Pure: the same inputs give the same bits.
    public static func partitionSums(
        _ instances: SoftmaxInstances, weights: [Double], active: [Int]
    ) -> [(partition: Int, sums: [Double])] {
        let d = active.count
        let width = 1 + d + d * d
        var result: [(partition: Int, sums: [Double])] = []
        var current = [Double](repeating: 0, count: width)
        var currentPartition = -1
        var workspace = Workspace(activeCount: d)
        defer { workspace.deallocate() }
        let stride = instances.featureCount
        instances.features.withUnsafeBufferPointer { rows in
            for instance in 0..<instances.count {
                let partition = instances.partitions[instance]
                if partition != currentPartition {
                    if currentPartition >= 0 { result.append((currentPartition, current)) }
                    current = [Double](repeating: 0, count: width)
                    currentPartition = partition
                }
                let candidates = instances.rowOffsets[instance]..<instances.rowOffsets[instance + 1]
                let target = instances.targets[instance]
                let (top, total) = softmax(of: candidates, rows: rows, stride: stride, weights: weights, active: active, workspace: &workspace)
                current[0] += top + log(total) - workspace.scores[target]
                current.withUnsafeMutableBufferPointer { sums in
                    addSecondMoments(of: candidates, total: total, rows: rows, stride: stride, active: active, workspace: workspace, into: sums)
                    addGradientAndCentring(
                        targetBase: (candidates.lowerBound + target) * stride, rows: rows, active: active,
                        mean: UnsafeBufferPointer(workspace.mean), into: sums)
                }
            }
        }
        if currentPartition >= 0 { result.append((currentPartition, current)) }
        mirrorUpperTriangles(&result, dimension: d)
        return result
    }

    /// Buffers reused from instance to instance by ``partitionSums(_:weights:active:)``.
    private struct Workspace {
        /// Per candidate, `w·f` and `exp(w·f − top)`.
        var scores: [Double] = []
        var exponentials: [Double] = []
        /// The candidates' mean active features under the softmax.
        let mean: UnsafeMutableBufferPointer<Double>
        /// One candidate's nonzero active features (position in `active`, value), gathered once: the
        /// Hessian reads each d/2 times, and most features of most candidates are zero. Skipping a zero
        /// term adds nothing, so the sums keep their bits.
        let positions: UnsafeMutableBufferPointer<Int>
        let values: UnsafeMutableBufferPointer<Double>

        init(activeCount d: Int) {
            mean = .allocate(capacity: d)
            positions = .allocate(capacity: d)
            values = .allocate(capacity: d)
        }

        func deallocate() {
            mean.deallocate()
            positions.deallocate()
            values.deallocate()
        }
    }

    /// The candidates' scores into `workspace.scores` and their exponentials (shifted by the top
    /// score, for range) into `workspace.exponentials`; returns the top score and their sum.
    @inline(__always)
    private static func softmax(
        of candidates: Range<Int>, rows: UnsafeBufferPointer<Double>, stride: Int, weights: [Double], active: [Int],
        workspace: inout Workspace
    ) -> (top: Double, total: Double) {
        workspace.scores.removeAll(keepingCapacity: true)
        workspace.exponentials.removeAll(keepingCapacity: true)
        var top = -Double.infinity
        for row in candidates {
            let base = row * stride
            var z = 0.0
            for (k, feature) in active.enumerated() { z += weights[k] * rows[base + feature] }
            workspace.scores.append(z)
            top = max(top, z)
        }
        var total = 0.0
        for score in workspace.scores {
            let e = exp(score - top)
            workspace.exponentials.append(e)
            total += e
        }
        return (top, total)
    }

    /// Adds the candidates' `Σ p f fᵀ` (upper triangle) to the Hessian part of `sums`, and sets
    /// `workspace.mean` to `Σ p f`, with `p` each candidate's softmax probability.
    @inline(__always)
    private static func addSecondMoments(
        of candidates: Range<Int>, total: Double, rows: UnsafeBufferPointer<Double>, stride: Int, active: [Int],
        workspace: Workspace, into sums: UnsafeMutableBufferPointer<Double>
    ) {
        let d = active.count
        let (mean, positions, values) = (workspace.mean, workspace.positions, workspace.values)
        for k in 0..<d { mean[k] = 0 }
        for (candidate, row) in candidates.enumerated() {
            let p = workspace.exponentials[candidate] / total
            let base = row * stride
            var nonzero = 0
            for k in 0..<d {
                let value = rows[base + active[k]]
                if value == 0 { continue }
                positions[nonzero] = k
                values[nonzero] = value
                nonzero += 1
            }
            for a in 0..<nonzero { mean[positions[a]] += p * values[a] }
            for a in 0..<nonzero {
                let pk = p * values[a]
                if pk == 0 { continue }
                let hessianRow = 1 + d + positions[a] * d
                for b in a..<nonzero { sums[hessianRow + positions[b]] += pk * values[b] }
            }
        }
    }

    /// Adds the gradient `E[f] − f_target` and the centring `−E[f] E[f]ᵀ` (upper triangle) to `sums`;
    /// the target's features start at `rows[targetBase]`.
    @inline(__always)
    private static func addGradientAndCentring(
        targetBase: Int, rows: UnsafeBufferPointer<Double>, active: [Int], mean: UnsafeBufferPointer<Double>,
        into sums: UnsafeMutableBufferPointer<Double>
    ) {
        let d = active.count
        for k in 0..<d {
            sums[1 + k] += mean[k] - rows[targetBase + active[k]]
            for l in k..<d { sums[1 + d + k * d + l] -= mean[k] * mean[l] }
        }
    }

    /// Copies each Hessian's upper triangle below the diagonal.
    private static func mirrorUpperTriangles(_ result: inout [(partition: Int, sums: [Double])], dimension d: Int) {
        for index in result.indices {
            for k in 0..<d {
                for l in 0..<k { result[index].sums[1 + d + k * d + l] = result[index].sums[1 + d + l * d + k] }
            }
        }
    }

    /// Solves `A x = b` for a symmetric positive definite `A` (row-major, `n × n`) by Cholesky; `nil`
    /// when `A` is not positive definite.
    public static func solveSymmetric(_ a: [Double], _ b: [Double]) -> [Double]? {
        let n = b.count
        precondition(a.count == n * n, "solveSymmetric: A must be n × n")
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var sum = b[i]
            for k in 0..<i { sum -= l[i * n + k] * y[k] }
            y[i] = sum / l[i * n + i]
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = y[i]
            for k in (i + 1)..<n { sum -= l[k * n + i] * x[k] }
            x[i] = sum / l[i * n + i]
        }
        return x
    }
}

/// What one weight fit did.
public struct SoftmaxFitReport: Sendable, Equatable {
    /// Newton iterations taken.
    public var iterations: Int
    /// The final objective: mean negative log-likelihood + λ‖w‖².
    public var objective: Double
    /// The final gradient's largest magnitude.
    public var gradientNorm: Double
    /// Instances over all ranks.
    public var instanceCount: Int
}

/// Fits the weights of the listwise softmax by Newton's method on sums taken over all ranks.
///
/// Each rank passes its own users' instances; per-partition sums go through ``PartitionedSum``, so every
/// rank sees the same gradient and Hessian bits and takes the same steps: the weights are
/// bit-identical at any rank count. Collective.
public enum SoftmaxFit {
    /// - Parameters:
    ///   - active: the feature indices to fit; the other weights stay 0.
    ///   - l2: λ in `mean NLL + λ‖w‖²`.
    ///   - partitionCount: the shard map's number of virtual partitions.
    /// - Returns: one weight per feature (`instances.featureCount`), and a report.
    public static func fit(
        _ instances: SoftmaxInstances, active: [Int], l2: Double, partitionCount: Int, maximumIterations: Int,
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> (weights: [Double], report: SoftmaxFitReport) {
        let d = active.count
        let countTotal: Int
        do {
            countTotal = Int(try collectives.allReduce([Int64(instances.count)], .sum)[0])
        } catch {
            throw .communication("\(error)")
        }
        guard countTotal > 0 else { throw .noTrainingInstances }
        var w = [Double](repeating: 0, count: d)
        var evaluation = try evaluate(instances, w, active, l2, countTotal, partitionCount, collectives)
        var iterations = 0
        while iterations < maximumIterations {
            iterations += 1
            guard let direction = ListwiseSoftmax.solveSymmetric(evaluation.hessian, evaluation.gradient.map { -$0 }) else {
                throw .singularSystem
            }
            let decrement = -zip(evaluation.gradient, direction).reduce(0) { $0 + $1.0 * $1.1 }
            if decrement < 1e-14 { break }
            var step = 1.0
            var accepted = false
            while step > 1e-10 {
                let candidate = zip(w, direction).map { $0 + step * $1 }
                let next = try evaluate(instances, candidate, active, l2, countTotal, partitionCount, collectives)
                if next.objective <= evaluation.objective - 1e-4 * step * decrement {
                    w = candidate
                    evaluation = next
                    accepted = true
                    break
                }
                step /= 2
            }
            if !accepted { break }
        }
        var weights = [Double](repeating: 0, count: instances.featureCount)
        for (k, feature) in active.enumerated() { weights[feature] = w[k] }
        let report = SoftmaxFitReport(
            iterations: iterations, objective: evaluation.objective,
            gradientNorm: evaluation.gradient.map(abs).max() ?? 0, instanceCount: countTotal)
        return (weights, report)
    }

    private struct Evaluation {
        var objective: Double
        var gradient: [Double]
        var hessian: [Double]
    }

    private static func evaluate(
        _ instances: SoftmaxInstances, _ w: [Double], _ active: [Int], _ l2: Double, _ count: Int,
        _ partitionCount: Int, _ collectives: some Collectives
    ) throws(NextVisitModelError) -> Evaluation {
        let d = active.count
        var sum = PartitionedSum(length: 1 + d + d * d, partitionCount: partitionCount)
        for (partition, sums) in ListwiseSoftmax.partitionSums(instances, weights: w, active: active) {
            sum.set(sums, partition: partition)
        }
        let total: [Double]
        do {
            total = try collectives.exactTotal(of: sum)
        } catch {
            throw .communication("\(error)")
        }
        let n = Double(count)
        var objective = total[0] / n
        var gradient = [Double](repeating: 0, count: d)
        var hessian = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            objective += l2 * w[k] * w[k]
            gradient[k] = total[1 + k] / n + 2 * l2 * w[k]
            for l in 0..<d { hessian[k * d + l] = total[1 + d + k * d + l] / n }
            hessian[k * d + k] += 2 * l2
        }
        return Evaluation(objective: objective, gradient: gradient, hessian: hessian)
    }
}
