@testable import GeoPredict

/// Slow, obviously correct versions of the ALS kernels, with the same inputs as the fast ones but
/// plain arrays: unpadded `k`-wide rows, dense loops, double precision, and naive Gaussian
/// elimination instead of Cholesky.
enum ALSReference {
    /// `implicit`'s `_least_squares_cg` for one row, transcribed loop by loop (in double precision).
    static func conjugateGradient(
        x start: [Float], factorCount k: Int, gram: [Float],
        columns: [Int32], confidences: [Float], others: [Float], steps: Int
    ) -> [Float] {
        var x = start.map(Double.init)
        func y(_ entry: Int) -> [Double] { (0..<k).map { Double(others[Int(columns[entry]) * k + $0]) } }
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        func gramTimes(_ v: [Double]) -> [Double] {
            (0..<k).map { row in (0..<k).reduce(0.0) { $0 + Double(gram[row * k + $1]) * v[$1] } }
        }
        var r = gramTimes(x).map { -$0 }
        for entry in columns.indices {
            let c = Double(confidences[entry])
            let weight = c - (c - 1) * dot(y(entry), x)
            for index in 0..<k { r[index] += weight * y(entry)[index] }
        }
        var p = r
        var rsOld = dot(r, r)
        if rsOld < 1e-20 { return x.map(Float.init) }
        for _ in 0..<steps {
            var ap = gramTimes(p)
            for entry in columns.indices {
                let weight = (Double(confidences[entry]) - 1) * dot(y(entry), p)
                for index in 0..<k { ap[index] += weight * y(entry)[index] }
            }
            let alpha = rsOld / dot(p, ap)
            for index in 0..<k {
                x[index] += alpha * p[index]
                r[index] -= alpha * ap[index]
            }
            let rsNew = dot(r, r)
            if rsNew < 1e-20 { break }
            for index in 0..<k { p[index] = r[index] + rsNew / rsOld * p[index] }
            rsOld = rsNew
        }
        return x.map(Float.init)
    }

    /// The exact solution of `(gram + Σ (c − 1) y yᵀ) x = Σ c y` by Gaussian elimination with
    /// partial pivoting; `gram` is `k × k` with λ on the diagonal.
    static func exactSolve(
        factorCount k: Int, gram: [Double], columns: [Int32], confidences: [Float], others: [Float]
    ) -> [Float] {
        var a = gram
        var b = [Double](repeating: 0, count: k)
        for entry in columns.indices {
            let c = Double(confidences[entry])
            let y = (0..<k).map { Double(others[Int(columns[entry]) * k + $0]) }
            for row in 0..<k {
                b[row] += c * y[row]
                for column in 0..<k { a[row * k + column] += (c - 1) * y[row] * y[column] }
            }
        }
        return gaussianElimination(a, b, size: k).map(Float.init)
    }

    static func gaussianElimination(_ matrix: [Double], _ rhs: [Double], size n: Int) -> [Double] {
        var a = matrix
        var b = rhs
        for pivot in 0..<n {
            let best = (pivot..<n).max { abs(a[$0 * n + pivot]) < abs(a[$1 * n + pivot]) } ?? pivot
            if best != pivot {
                for column in 0..<n { a.swapAt(pivot * n + column, best * n + column) }
                b.swapAt(pivot, best)
            }
            for row in (pivot + 1)..<n {
                let factor = a[row * n + pivot] / a[pivot * n + pivot]
                for column in pivot..<n { a[row * n + column] -= factor * a[pivot * n + column] }
                b[row] -= factor * b[pivot]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var value = b[row]
            for column in (row + 1)..<n { value -= a[row * n + column] * x[column] }
            x[row] = value / a[row * n + row]
        }
        return x
    }

    /// `Σ y yᵀ`, packed upper triangle.
    static func gram(rows: [Float], rowCount: Int, factorCount k: Int) -> [Double] {
        var packed = [Double]()
        for row in 0..<k {
            for column in row..<k {
                var total = 0.0
                for index in 0..<rowCount { total += Double(rows[index * k + row]) * Double(rows[index * k + column]) }
                packed.append(total)
            }
        }
        return packed
    }

    /// `implicit`'s loss by brute force over every (user, store) cell.
    static func loss(
        users: [[Float]], stores: [[Float]], confidences: [[Int: Float]], regularization: Float
    ) -> Double {
        var numerator = 0.0
        var denominator = 0.0
        for (user, x) in users.enumerated() {
            for (store, y) in stores.enumerated() {
                let score = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let c = Double(confidences[user][store] ?? 1)
                let p = confidences[user][store] == nil ? 0.0 : 1.0
                numerator += c * (p - score) * (p - score)
                denominator += c
            }
        }
        let norms = (users + stores).reduce(0.0) { total, row in total + row.reduce(0.0) { $0 + Double($1) * Double($1) } }
        return (numerator + Double(regularization) * norms) / denominator
    }

    /// The dot product in double precision.
    static func score(_ x: [Float], _ y: [Float]) -> Double {
        zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
}
