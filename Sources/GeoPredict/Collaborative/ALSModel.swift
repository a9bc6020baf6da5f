import MPI

/// One rank's part of a trained implicit-feedback ALS model: the factors of its users and of the
/// stores it owns.
///
/// Scoring needs every store's factors on the rank that holds the user: call
/// ``replicatedStoreFactors(on:)`` once after training (collective) and score with the
/// ``StoreFactorTable`` it returns.
public struct ALSModel: Sendable, Equatable {
    /// The settings the model was trained with.
    public let configuration: ALSConfiguration
    /// This rank's users, in the order of the training input (the ``VisitLog``'s local user order).
    public let userIDs: [String]
    /// Row `u` holds the factors of `userIDs[u]`, that is of the ``VisitLog``'s local user `u`.
    public let userFactors: FactorMatrix<UserAxis>
    /// The catalogue indices of the stores this rank owns, ordered by (partition, index).
    public let storeIndices: [Int32]
    /// Row `i` holds the factors of store `storeIndices[i]`.
    public let storeFactors: FactorMatrix<StoreAxis>
    /// The number of stores in the catalogue the model was trained on.
    public let storeCount: Int
    /// `YᵀY` over every store (not only the owned ones), as a packed upper triangle (row by row,
    /// `k(k+1)/2` values), identical on every rank. Fold-in needs it.
    public let storeGram: [Double]

    /// The number of latent factors.
    public var factorCount: Int { configuration.factorCount }

    public init(
        configuration: ALSConfiguration, userIDs: [String], userFactors: FactorMatrix<UserAxis>,
        storeIndices: [Int32], storeFactors: FactorMatrix<StoreAxis>, storeCount: Int, storeGram: [Double]
    ) {
        self.configuration = configuration
        self.userIDs = userIDs
        self.userFactors = userFactors
        self.storeIndices = storeIndices
        self.storeFactors = storeFactors
        self.storeCount = storeCount
        self.storeGram = storeGram
    }

    /// Every store's factors on every rank (`MPI_Allgatherv`), in catalogue order. Collective.
    public func replicatedStoreFactors(on collectives: some Collectives) throws(ALSError) -> StoreFactorTable {
        let (indices, values) = try ALSError.wrapping { () throws(MPIError) in
            (try collectives.allGatherVarying(storeIndices).values, try collectives.allGatherVarying(storeFactors.rowMajorValues).values)
        }
        let k = factorCount
        guard indices.count == storeCount, values.count == storeCount * k else {
            throw .malformedMatrix("ranks own \(indices.count) stores in all, the catalogue has \(storeCount)")
        }
        var table = FactorMatrix<StoreAxis>(rowCount: storeCount, factorCount: k)
        var seen = [Bool](repeating: false, count: storeCount)
        for (position, index) in indices.enumerated() {
            let store = Int(index)
            guard (0..<storeCount).contains(store), !seen[store] else { throw .unknownStore(index: store) }
            seen[store] = true
            table.setRow(store, to: values[(position * k)..<((position + 1) * k)])
        }
        return try StoreFactorTable(factors: table, gram: storeGram)
    }

    /// The predicted preference of local user `user` for catalogue store `store`: `xᵤ · yₛ`.
    public func score(user: Int, store: Int, in table: StoreFactorTable) -> Float {
        table.score(userFactors.row(user), store: store)
    }
}

extension ALSModel {
    private static let magic: [UInt8] = Array("GPALSM01".utf8)

    /// Appends the model to `writer` (what ``init(from:)`` reads): a checkpoint of this rank's part.
    public func write(to writer: inout ByteWriter) {
        writer.write(bytes: Self.magic)
        configuration.write(to: &writer)
        writer.write(Int64(storeCount))
        writer.write(Int64(userIDs.count))
        for id in userIDs { writer.write(id) }
        userFactors.write(to: &writer)
        writer.write(Int64(storeIndices.count))
        for index in storeIndices { writer.write(index) }
        storeFactors.write(to: &writer)
        writer.write(Int64(storeGram.count))
        for value in storeGram { writer.write(value) }
    }

    /// Reads a model written by ``write(to:)``.
    ///
    /// - Throws: ``ALSError/corruptCheckpoint(_:)`` when the bytes are not such a model.
    public init(from reader: inout ByteReader) throws(ALSError) {
        try ALSCodec.expectMagic(Self.magic, in: &reader)
        let configuration = try ALSConfiguration(from: &reader)
        let storeCount = try ALSCodec.count(from: &reader)
        let userCount = try ALSCodec.count(from: &reader)
        var userIDs = [String]()
        userIDs.reserveCapacity(userCount)
        for _ in 0..<userCount { userIDs.append(try ALSCodec.run { () throws(ByteReader.Error) in try reader.readString() }) }
        let userFactors = try FactorMatrix<UserAxis>(from: &reader)
        let ownedCount = try ALSCodec.count(from: &reader)
        var storeIndices = [Int32]()
        storeIndices.reserveCapacity(ownedCount)
        for _ in 0..<ownedCount { storeIndices.append(try ALSCodec.run { () throws(ByteReader.Error) in try reader.read(Int32.self) }) }
        let storeFactors = try FactorMatrix<StoreAxis>(from: &reader)
        let gramCount = try ALSCodec.count(from: &reader)
        var storeGram = [Double]()
        storeGram.reserveCapacity(gramCount)
        for _ in 0..<gramCount { storeGram.append(try ALSCodec.run { () throws(ByteReader.Error) in try reader.readDouble() }) }
        let k = configuration.factorCount
        guard userFactors.rowCount == userIDs.count, userFactors.factorCount == k,
              storeFactors.rowCount == storeIndices.count, storeFactors.factorCount == k,
              storeGram.count == k * (k + 1) / 2,
              storeIndices.allSatisfy({ (0..<storeCount).contains(Int($0)) })
        else { throw .corruptCheckpoint("model parts disagree in shape") }
        self.init(
            configuration: configuration, userIDs: userIDs, userFactors: userFactors, storeIndices: storeIndices,
            storeFactors: storeFactors, storeCount: storeCount, storeGram: storeGram
        )
    }
}

/// Shared pieces of the ALS checkpoint format (little-endian, via ``ByteWriter``/``ByteReader``).
enum ALSCodec {
    /// Reads with `body` and reports a short or malformed record as a corrupt checkpoint.
    static func run<T>(_ body: () throws(ByteReader.Error) -> T) throws(ALSError) -> T {
        do {
            return try body()
        } catch {
            throw .corruptCheckpoint("\(error)")
        }
    }

    static func expectMagic(_ magic: [UInt8], in reader: inout ByteReader) throws(ALSError) {
        for expected in magic {
            let byte = try run { () throws(ByteReader.Error) in try reader.read(UInt8.self) }
            guard byte == expected else { throw .corruptCheckpoint("not a \(String(decoding: magic, as: UTF8.self)) record") }
        }
    }

    /// A non-negative Int64 count that fits in memory-sized arrays.
    static func count(from reader: inout ByteReader) throws(ALSError) -> Int {
        let value = try run { () throws(ByteReader.Error) in try reader.read(Int64.self) }
        guard (0...Int64(Int32.max) * 64).contains(value) else { throw .corruptCheckpoint("impossible count \(value)") }
        return Int(value)
    }
}

extension FactorMatrix {
    /// Appends the shape and the unpadded row-major values.
    func write(to writer: inout ByteWriter) {
        writer.write(Int64(rowCount))
        writer.write(Int64(factorCount))
        for row in 0..<rowCount {
            for value in self.row(row) { writer.write(value) }
        }
    }

    init(from reader: inout ByteReader) throws(ALSError) {
        let rowCount = try ALSCodec.count(from: &reader)
        let factorCount = try ALSCodec.count(from: &reader)
        guard (1...4_096).contains(factorCount) else { throw .corruptCheckpoint("impossible factor count \(factorCount)") }
        self.init(rowCount: rowCount, factorCount: factorCount)
        for row in 0..<rowCount {
            for factor in 0..<factorCount {
                self[row, factor] = try ALSCodec.run { () throws(ByteReader.Error) in try reader.readFloat() }
            }
        }
    }
}

extension ALSConfiguration {
    func write(to writer: inout ByteWriter) {
        writer.write(Int64(factorCount))
        writer.write(Int64(iterations))
        writer.write(regularization)
        switch confidence {
        case .linear(let alpha):
            writer.write(UInt8(0))
            writer.write(alpha)
        case .logarithmic(let alpha, let epsilon):
            writer.write(UInt8(1))
            writer.write(alpha)
            writer.write(epsilon)
        }
        switch solver {
        case .conjugateGradient(let steps):
            writer.write(UInt8(0))
            writer.write(Int64(steps))
        case .cholesky:
            writer.write(UInt8(1))
        }
        writer.write(seed)
        writer.write(UInt8(computesLoss ? 1 : 0))
    }

    init(from reader: inout ByteReader) throws(ALSError) {
        let decoded = try ALSCodec.run { () throws(ByteReader.Error) -> ALSConfiguration? in
            let factorCount = Int(try reader.read(Int64.self))
            let iterations = Int(try reader.read(Int64.self))
            let regularization = try reader.readFloat()
            let confidence: Confidence
            switch try reader.read(UInt8.self) {
            case 0: confidence = .linear(alpha: try reader.readFloat())
            case 1: confidence = .logarithmic(alpha: try reader.readFloat(), epsilon: try reader.readFloat())
            default: return nil
            }
            let solver: ALSSolver
            switch try reader.read(UInt8.self) {
            case 0: solver = .conjugateGradient(steps: Int(try reader.read(Int64.self)))
            case 1: solver = .cholesky
            default: return nil
            }
            let seed = try reader.read(UInt64.self)
            let computesLoss = try reader.read(UInt8.self) != 0
            return ALSConfiguration(
                factorCount: factorCount, iterations: iterations, regularization: regularization,
                confidence: confidence, solver: solver, seed: seed, computesLoss: computesLoss
            )
        }
        guard let decoded else { throw .corruptCheckpoint("unknown confidence or solver tag") }
        self = decoded
        do {
            try validate()
        } catch {
            throw .corruptCheckpoint("invalid configuration: \(error)")
        }
    }
}
