/// Marker types that give matrices an orientation the compiler checks.
///
/// The most common mistake with implicit-feedback libraries is passing an item×user matrix where a
/// user×item one is expected: it trains without complaint and produces nonsense. Here the row and
/// column kinds are type parameters (`SparseMatrix<UserAxis, StoreAxis>` is user×store), so the user
/// half of ALS cannot be handed the store side's matrix.
public protocol MatrixAxis: Sendable {}

/// Rows or columns indexed by users.
public enum UserAxis: MatrixAxis {}

/// Rows or columns indexed by stores.
public enum StoreAxis: MatrixAxis {}

/// A sparse matrix in compressed-sparse-row form with `Row`s as rows and `Column`s as columns.
///
/// Row `r`'s entries are `columns[offsets[r]..<offsets[r + 1]]` with the matching `values`. What a
/// column number means (a catalogue store index, a global user index, a row of a buffer of factors)
/// is stated where the matrix is built; its *kind* is in the type.
public struct SparseMatrix<Row: MatrixAxis, Column: MatrixAxis>: Sendable, Equatable {
    /// Where each row's entries start; `offsets.count == rowCount + 1`, `offsets[0] == 0`.
    public let offsets: [Int]
    /// Per entry, its column.
    public let columns: [Int32]
    /// Per entry, its value.
    public let values: [Float]

    /// A matrix from its CSR arrays.
    ///
    /// - Throws: ``ALSError/malformedMatrix(_:)`` when the arrays do not describe a CSR matrix.
    public init(offsets: [Int], columns: [Int32], values: [Float]) throws(ALSError) {
        guard let first = offsets.first, first == 0 else { throw .malformedMatrix("offsets must start with 0") }
        guard columns.count == values.count else {
            throw .malformedMatrix("\(columns.count) columns but \(values.count) values")
        }
        guard offsets.last == columns.count else {
            throw .malformedMatrix("the last offset is \(offsets.last ?? 0), expected \(columns.count)")
        }
        for index in 1..<offsets.count where offsets[index] < offsets[index - 1] {
            throw .malformedMatrix("offsets decrease at row \(index - 1)")
        }
        self.offsets = offsets
        self.columns = columns
        self.values = values
    }

    /// A matrix whose arrays the caller has already checked.
    init(uncheckedOffsets offsets: [Int], columns: [Int32], values: [Float]) {
        self.offsets = offsets
        self.columns = columns
        self.values = values
    }

    /// The number of rows.
    public var rowCount: Int { offsets.count - 1 }

    /// The number of stored entries.
    public var entryCount: Int { columns.count }

    /// The entry positions of row `row`.
    public func entryRange(ofRow row: Int) -> Range<Int> { offsets[row]..<offsets[row + 1] }

    /// The transpose, with `columnCount` rows; each new row's entries are ordered by old row.
    public func transposed(columnCount: Int) -> SparseMatrix<Column, Row> {
        var counts = [Int](repeating: 0, count: columnCount + 1)
        for column in columns { counts[Int(column) + 1] += 1 }
        for index in 1..<counts.count { counts[index] += counts[index - 1] }
        var next = counts
        var newColumns = [Int32](repeating: 0, count: columns.count)
        var newValues = [Float](repeating: 0, count: values.count)
        for row in 0..<rowCount {
            for entry in entryRange(ofRow: row) {
                let column = Int(columns[entry])
                newColumns[next[column]] = Int32(row)
                newValues[next[column]] = values[entry]
                next[column] += 1
            }
        }
        return SparseMatrix<Column, Row>(uncheckedOffsets: counts, columns: newColumns, values: newValues)
    }
}

/// Dense latent factors, one row of ``factorCount`` floats per `Entity` (user or store).
///
/// Rows are stored with a stride rounded up to a multiple of 8 and zero padding, so the solver
/// kernels can work in whole SIMD vectors; ``row(_:)`` hides the padding.
public struct FactorMatrix<Entity: MatrixAxis>: Sendable, Equatable {
    /// The number of rows.
    public let rowCount: Int
    /// The number of latent factors per row (k).
    public let factorCount: Int
    /// The distance between rows in ``storage`` (``factorCount`` rounded up to a multiple of 8).
    let stride: Int
    /// Row-major, zero-padded values.
    var storage: [Float]

    /// `rowCount` rows of zeros.
    public init(rowCount: Int, factorCount: Int) {
        precondition(rowCount >= 0 && factorCount > 0, "FactorMatrix: invalid shape \(rowCount)×\(factorCount)")
        self.rowCount = rowCount
        self.factorCount = factorCount
        self.stride = Self.paddedStride(factorCount)
        self.storage = [Float](repeating: 0, count: rowCount * stride)
    }

    /// A matrix from unpadded row-major values (`values.count == rowCount * factorCount`).
    public init(rowCount: Int, factorCount: Int, rowMajor values: [Float]) {
        precondition(values.count == rowCount * factorCount, "FactorMatrix: \(values.count) values for \(rowCount)×\(factorCount)")
        self.init(rowCount: rowCount, factorCount: factorCount)
        for row in 0..<rowCount {
            for factor in 0..<factorCount { storage[row * stride + factor] = values[row * factorCount + factor] }
        }
    }

    /// A matrix over already padded storage (`storage.count == rowCount * stride`).
    init(rowCount: Int, factorCount: Int, paddedStorage storage: [Float]) {
        let stride = Self.paddedStride(factorCount)
        precondition(storage.count == rowCount * stride, "FactorMatrix: storage does not match \(rowCount)×\(stride)")
        self.rowCount = rowCount
        self.factorCount = factorCount
        self.stride = stride
        self.storage = storage
    }

    /// The stride used for `factorCount` factors.
    static func paddedStride(_ factorCount: Int) -> Int { (factorCount + 7) / 8 * 8 }

    /// The factors of row `row`.
    public func row(_ row: Int) -> ArraySlice<Float> {
        storage[(row * stride)..<(row * stride + factorCount)]
    }

    /// One factor.
    public subscript(row: Int, factor: Int) -> Float {
        get { storage[row * stride + factor] }
        set { storage[row * stride + factor] = newValue }
    }

    /// Replaces row `row` with `values` (`values.count == factorCount`).
    public mutating func setRow(_ row: Int, to values: some Collection<Float>) {
        precondition(values.count == factorCount, "FactorMatrix: expected \(factorCount) factors")
        for (offset, value) in values.enumerated() { storage[row * stride + offset] = value }
    }

    /// Copies row `index` of `source` to row `rows[index]` here, for every index.
    mutating func setRows(_ rows: [Int32], from source: FactorMatrix<Entity>) {
        precondition(rows.count == source.rowCount && source.stride == stride, "FactorMatrix: row scatter shape mismatch")
        let stride = self.stride
        storage.withUnsafeMutableBufferPointer { target in
            source.storage.withUnsafeBufferPointer { origin in
                guard let targetBase = target.baseAddress, let originBase = origin.baseAddress else { return }
                for (index, row) in rows.enumerated() {
                    precondition((0..<rowCount).contains(Int(row)), "FactorMatrix: no row \(row)")
                    (targetBase + Int(row) * stride).update(from: originBase + index * stride, count: stride)
                }
            }
        }
    }

    /// Every row, unpadded, back to back.
    public var rowMajorValues: [Float] {
        var values = [Float]()
        values.reserveCapacity(rowCount * factorCount)
        for row in 0..<rowCount { values.append(contentsOf: self.row(row)) }
        return values
    }
}
