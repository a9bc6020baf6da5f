/// Starting factors that depend only on (seed, entity kind, id, factor), never on a rank's random
/// state, so every rank count starts from the same model.
enum InitialFactors {
    /// Uniform in `[0, 0.01)`, the range `implicit` uses.
    static let scale: Float = 0.01

    static func userRow(id: String, seed: UInt64, factorCount: Int) -> [Float] {
        row(base: StableHash.hash(id) ^ StableHash.mix(seed ^ 0x5553_4552), factorCount: factorCount)
    }

    static func storeRow(id: String, seed: UInt64, factorCount: Int) -> [Float] {
        row(base: StableHash.hash(id) ^ StableHash.mix(seed ^ 0x5354_4f52), factorCount: factorCount)
    }

    private static func row(base: UInt64, factorCount: Int) -> [Float] {
        (0..<factorCount).map { factor in
            let bits = StableHash.mix(base &+ UInt64(factor) &* 0x9e37_79b9_7f4a_7c15)
            // The top 24 bits give every float in [0, 1) on a 2⁻²⁴ grid, exactly.
            return Float(bits >> 40) * 0x1p-24 * scale
        }
    }

    static func users(_ ids: [String], seed: UInt64, factorCount: Int) -> FactorMatrix<UserAxis> {
        var factors = FactorMatrix<UserAxis>(rowCount: ids.count, factorCount: factorCount)
        for (row, id) in ids.enumerated() { factors.setRow(row, to: userRow(id: id, seed: seed, factorCount: factorCount)) }
        return factors
    }

    static func stores(_ ids: [String], seed: UInt64, factorCount: Int) -> FactorMatrix<StoreAxis> {
        var factors = FactorMatrix<StoreAxis>(rowCount: ids.count, factorCount: factorCount)
        for (row, id) in ids.enumerated() { factors.setRow(row, to: storeRow(id: id, seed: seed, factorCount: factorCount)) }
        return factors
    }
}
