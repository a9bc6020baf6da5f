import MPI
#if canImport(Glibc)
import Glibc
#endif

/// Distributed implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008), the
/// collaborative part of GeoPredict.
///
/// Users are sharded by ``ShardMap`` (the rank's ``VisitLog``); stores are sharded too: store `s`
/// belongs to `shards.owner(ofPartition: shards.partition(of: catalogue.ids[s]))`. Each iteration:
///
/// 1. **User half.** Every rank fetches the factors of the stores its users visited from their
///    owners (one `alltoallv`, routing planned once), gets `YᵀY` as an exact sum of per-partition
///    Grams (``PartitionedSum``), and solves each of its users.
/// 2. **Store half.** Every rank ships its users' new factors to the owners of the stores they
///    visited, `XᵀX` is summed the same way, and each owner solves its stores.
///
/// The model is bit-identical at any number of ranks: each row's terms are added in a canonical order
/// (a user's stores by index, a store's users by (partition, id)), the Grams and the loss go through
/// ``PartitionedSum``, and the initial factors are a hash of the ids.
///
/// ```swift
/// let counts = UserStoreCounts(visitLog: log)
/// let model = try ImplicitALS.train(counts, catalogue: catalogue, shards: shards, on: world) { progress in
///     if world.rank == 0 { print("iteration \(progress.iteration) \(progress.elapsedSeconds) s") }
/// }
/// let table = try model.replicatedStoreFactors(on: world)   // every store, on every rank
/// let top = table.topStores(for: model.userFactors.row(0), count: 10)
/// ```
public enum ImplicitALS {
    /// The default of `train`'s `exchangeBytesPerRound`: 32 MiB, as for the loader's exchange.
    public static let defaultExchangeBytesPerRound = 32 << 20

    /// Trains a model. Collective: every rank calls it with its own users.
    ///
    /// - Parameters:
    ///   - counts: this rank's users (those `shards` gives it, ordered by (partition, id)) and their
    ///     visit counts per catalogue store.
    ///   - catalogue: every store, identical on every rank.
    ///   - shards: the shard map of users and stores; `shards.rankCount` must equal the rank count.
    ///   - configuration: hyper-parameters and solver.
    ///   - exchangeBytesPerRound: the most factor bytes a rank sends in one all-to-all round; larger
    ///     exchanges take several rounds, so a rank never holds a copy of all its outgoing rows beside
    ///     the rows it receives. It changes memory and the number of calls, never the model.
    ///   - collectives: the job's ``Communicator`` (or ``SingleProcessCollectives``).
    ///   - progress: called on every rank after each iteration (print it on rank 0).
    /// - Returns: this rank's part of the model.
    public static func train(
        _ counts: UserStoreCounts, catalogue: StoreCatalogue, shards: ShardMap,
        configuration: ALSConfiguration = ALSConfiguration(), exchangeBytesPerRound: Int = defaultExchangeBytesPerRound,
        on collectives: some Collectives, progress: (ALSProgress) -> Void = { _ in }
    ) throws(ALSError) -> ALSModel {
        let clock = Stopwatch()
        try configuration.validate()
        let plan = try ALSTrainingPlan.build(
            counts: counts, catalogue: catalogue, shards: shards, configuration: configuration,
            exchangeBytesPerRound: exchangeBytesPerRound, on: collectives
        )
        let k = configuration.factorCount
        var users = InitialFactors.users(counts.userIDs, seed: configuration.seed, factorCount: k)
        var stores = InitialFactors.stores(
            plan.ownedStores.map { catalogue.ids[Int($0)] }, seed: configuration.seed, factorCount: k
        )
        var storeGram = try gram(of: stores, partitions: plan.storePartitions, plan: plan, on: collectives)
        // Every catalogue store's row, filled with the fetched ones: the user side's columns are
        // catalogue indices, so no per-entry remapping is needed.
        var storeTable = FactorMatrix<StoreAxis>(rowCount: plan.storeCount, factorCount: k)
        var workspace = ALSKernels.BatchWorkspace(targetCount: plan.ownedStores.count, stride: stores.stride)

        let setupSeconds = clock.elapsedSeconds

        for iteration in 0..<configuration.iterations {
            var phases = ALSPhaseSeconds()
            var stopwatch = Stopwatch()
            let fetched = try ALSError.wrapping { () throws(MPIError) in try plan.storeFetch.exchange(stores, on: collectives) }
            phases.fetchStoreFactors = stopwatch.lap()
            storeTable.setRows(plan.fetchedStores, from: fetched)
            solve(plan.userSide, others: storeTable, gram: storeGram, configuration: configuration, into: &users)
            phases.solveUsers = stopwatch.lap()

            let userGram = try gram(of: users, partitions: plan.userPartitions, plan: plan, on: collectives)
            phases.userGram = stopwatch.lap()
            let shippedUsers = try ALSError.wrapping { () throws(MPIError) in try plan.userShipment.exchange(users, on: collectives) }
            phases.shipUserFactors = stopwatch.lap()
            if let byStore = plan.storeSideByStore {
                // The exact solver reads whole stores at a time: one buffer with shipped then local rows.
                let allUsers = FactorMatrix<UserAxis>(
                    rowCount: shippedUsers.rowCount + users.rowCount, factorCount: k,
                    paddedStorage: shippedUsers.storage + users.storage
                )
                solve(byStore, others: allUsers, gram: userGram, configuration: configuration, into: &stores)
            } else {
                solveStores(
                    plan: plan, shippedUsers: shippedUsers, localUsers: users, gram: userGram,
                    configuration: configuration, into: &stores, workspace: &workspace
                )
            }
            phases.solveStores = stopwatch.lap()
            storeGram = try gram(of: stores, partitions: plan.storePartitions, plan: plan, on: collectives)
            phases.storeGram = stopwatch.lap()

            var loss: Double?
            if configuration.computesLoss {
                loss = try ALSLoss.compute(
                    plan: plan, stores: stores, shippedUsers: shippedUsers, localUsers: users, userGram: userGram,
                    storeGram: storeGram, regularization: configuration.regularization, on: collectives
                )
                phases.loss = stopwatch.lap()
            }
            progress(ALSProgress(
                iteration: iteration + 1, elapsedSeconds: clock.elapsedSeconds, loss: loss,
                setupSeconds: setupSeconds, phases: phases
            ))
        }
        return ALSModel(
            configuration: configuration, userIDs: counts.userIDs, userFactors: users,
            storeIndices: plan.ownedStores, storeFactors: stores, storeCount: catalogue.count, storeGram: storeGram
        )
    }

    /// `Σ y yᵀ` over all ranks' rows of `factors` as a packed upper triangle, summed exactly per
    /// partition.
    static func gram<Entity>(
        of factors: FactorMatrix<Entity>, partitions: [ALSTrainingPlan.PartitionRows],
        plan: ALSTrainingPlan, on collectives: some Collectives
    ) throws(ALSError) -> [Double] {
        let k = factors.factorCount
        let stride = factors.stride
        var sum = PartitionedSum(length: k * (k + 1) / 2, partitionCount: plan.partitionCount)
        var scratch = [Double](repeating: 0, count: stride * stride + stride)
        var packed = [Double](repeating: 0, count: sum.length)
        factors.storage.withUnsafeBufferPointer { storage in
            guard let base = storage.baseAddress else { return }
            for run in partitions where !run.rows.isEmpty {
                scratch.withUnsafeMutableBufferPointer { scratch in
                    packed.withUnsafeMutableBufferPointer { packed in
                        // Both buffers are non-empty (k ≥ 1), so their base addresses exist.
                        guard let output = packed.baseAddress, let work = scratch.baseAddress else { return }
                        ALSKernels.gram(
                            rows: base + run.rows.lowerBound * stride, rowCount: run.rows.count,
                            factorCount: k, stride: stride, into: output, scratch: work
                        )
                    }
                }
                sum.set(packed, partition: run.partition)
            }
        }
        return try ALSError.wrapping { () throws(MPIError) in try collectives.exactTotal(of: sum) }
    }

    /// The store half with the conjugate-gradient solver: all owned stores at once, streaming the
    /// user factors (shipped, then local) in global user order
    /// (``ALSKernels/batchedConjugateGradient(targets:targetCount:factorCount:stride:gram:sourceOffsets:sourceColumns:confidences:sources:sourceOrder:steps:workspace:)``).
    static func solveStores(
        plan: ALSTrainingPlan, shippedUsers: FactorMatrix<UserAxis>, localUsers: FactorMatrix<UserAxis>,
        gram packed: [Double], configuration: ALSConfiguration, into stores: inout FactorMatrix<StoreAxis>,
        workspace: inout ALSKernels.BatchWorkspace
    ) {
        guard case .conjugateGradient(let steps) = configuration.solver, stores.rowCount > 0 else { return }
        let k = stores.factorCount
        let stride = stores.stride
        let gram = ALSGram.floatWithRegularization(
            packed, factorCount: k, stride: stride, regularization: Double(configuration.regularization)
        )
        let system = plan.storeSideByUser
        withUserRows(plan: plan, shipped: shippedUsers, local: localUsers) { sources in
            system.offsets.withUnsafeBufferPointer { offsets in
                system.columns.withUnsafeBufferPointer { columns in
                    system.values.withUnsafeBufferPointer { confidences in
                        gram.withUnsafeBufferPointer { gram in
                            stores.storage.withUnsafeMutableBufferPointer { targets in
                                guard let gramBase = gram.baseAddress, let targetBase = targets.baseAddress else { return }
                                ALSKernels.batchedConjugateGradient(
                                    targets: targetBase, targetCount: stores.rowCount, factorCount: k, stride: stride,
                                    gram: gramBase, sourceOffsets: offsets, sourceColumns: columns,
                                    confidences: confidences, sources: sources, sourceOrder: plan.userOrder,
                                    steps: steps, workspace: &workspace
                                )
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `body` with the store side's user rows: the shipped buffer, then the local factors.
    static func withUserRows<Result>(
        plan: ALSTrainingPlan, shipped: FactorMatrix<UserAxis>, local: FactorMatrix<UserAxis>,
        _ body: (ALSKernels.SplitRows) -> Result
    ) -> Result {
        // Empty buffers have no address; a row of zeros stands in (no entry points into it).
        let placeholder = [Float](repeating: 0, count: local.stride)
        let shippedStorage = shipped.storage.isEmpty ? placeholder : shipped.storage
        let localStorage = local.storage.isEmpty ? placeholder : local.storage
        return shippedStorage.withUnsafeBufferPointer { shippedRows in
            localStorage.withUnsafeBufferPointer { localRows in
                guard let shippedBase = shippedRows.baseAddress, let localBase = localRows.baseAddress else {
                    preconditionFailure("non-empty arrays have addresses")
                }
                return body(ALSKernels.SplitRows(
                    shipped: shippedBase, local: localBase, shippedCount: plan.shippedRowCount, stride: local.stride
                ))
            }
        }
    }

    /// Solves every row of `system` against `others`, overwriting `factors` (the conjugate-gradient
    /// solver starts from the rows' current values).
    static func solve<Row, Column>(
        _ system: SparseMatrix<Row, Column>, others: FactorMatrix<Column>, gram packed: [Double],
        configuration: ALSConfiguration, into factors: inout FactorMatrix<Row>
    ) {
        precondition(system.rowCount == factors.rowCount, "ALS: \(system.rowCount) rows for \(factors.rowCount) factors")
        guard factors.rowCount > 0 else { return }
        let k = factors.factorCount
        let stride = factors.stride
        let regularization = Double(configuration.regularization)
        // No entries point into an empty buffer, but the kernels want a valid base address.
        let otherStorage = others.storage.isEmpty ? [Float](repeating: 0, count: stride) : others.storage
        switch configuration.solver {
        case .conjugateGradient(let steps):
            let gram = ALSGram.floatWithRegularization(packed, factorCount: k, stride: stride, regularization: regularization)
            var scratch = [Float](repeating: 0, count: 3 * stride)
            withRowPointers(system, otherStorage, gram, &scratch, &factors.storage) { row, columns, confidences, others, gram, scratch, x in
                ALSKernels.conjugateGradient(
                    x: x, factorCount: k, stride: stride, gram: gram, columns: columns, confidences: confidences,
                    others: others, steps: steps, scratch: scratch
                )
            }
        case .cholesky:
            let gram = ALSGram.doubleWithRegularization(packed, factorCount: k, regularization: regularization)
            var scratch = [Double](repeating: 0, count: stride * stride + 2 * stride)
            withRowPointers(system, otherStorage, gram, &scratch, &factors.storage) { row, columns, confidences, others, gram, scratch, x in
                ALSKernels.exactSolve(
                    x: x, factorCount: k, stride: stride, gram: gram, columns: columns, confidences: confidences,
                    others: others, scratch: scratch
                )
            }
        }
    }

    /// Calls `body` for each row of `system` with pointers to its entries, the other side's rows, the
    /// Gram, the scratch space and the row's factors. All arrays are non-empty.
    @inline(__always)
    private static func withRowPointers<Row, Column, GramScalar, ScratchScalar>(
        _ system: SparseMatrix<Row, Column>, _ others: [Float], _ gram: [GramScalar],
        _ scratch: inout [ScratchScalar], _ factors: inout [Float],
        _ body: (
            Int, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Float>, UnsafePointer<Float>,
            UnsafePointer<GramScalar>, UnsafeMutablePointer<ScratchScalar>, UnsafeMutablePointer<Float>
        ) -> Void
    ) {
        let stride = factors.count / max(system.rowCount, 1)
        system.columns.withUnsafeBufferPointer { columns in
            system.values.withUnsafeBufferPointer { confidences in
                others.withUnsafeBufferPointer { others in
                    gram.withUnsafeBufferPointer { gram in
                        scratch.withUnsafeMutableBufferPointer { scratch in
                            factors.withUnsafeMutableBufferPointer { factors in
                                guard let otherBase = others.baseAddress, let gramBase = gram.baseAddress,
                                      let scratchBase = scratch.baseAddress, let factorBase = factors.baseAddress
                                else { return }
                                for row in 0..<system.rowCount {
                                    let range = system.entryRange(ofRow: row)
                                    body(
                                        row, UnsafeBufferPointer(rebasing: columns[range]),
                                        UnsafeBufferPointer(rebasing: confidences[range]), otherBase, gramBase,
                                        scratchBase, factorBase + row * stride
                                    )
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Conversions of a packed Gram matrix into what the solvers read.
enum ALSGram {
    /// `stride × stride` floats: the Gram plus `λI` in the `k × k` corner, zero elsewhere.
    static func floatWithRegularization(_ packed: [Double], factorCount k: Int, stride: Int, regularization: Double) -> [Float] {
        var matrix = [Float](repeating: 0, count: stride * stride)
        var position = 0
        for row in 0..<k {
            for column in row..<k {
                let value = Float(packed[position] + (row == column ? regularization : 0))
                matrix[row * stride + column] = value
                matrix[column * stride + row] = value
                position += 1
            }
        }
        return matrix
    }

    /// `k × k` doubles: the Gram plus `λI`.
    static func doubleWithRegularization(_ packed: [Double], factorCount k: Int, regularization: Double) -> [Double] {
        var matrix = [Double](repeating: 0, count: k * k)
        var position = 0
        for row in 0..<k {
            for column in row..<k {
                let value = packed[position] + (row == column ? regularization : 0)
                matrix[row * k + column] = value
                matrix[column * k + row] = value
                position += 1
            }
        }
        return matrix
    }

    /// `⟨A, B⟩ = Σ A[i,j] B[i,j]` of two packed symmetric matrices.
    static func frobeniusProduct(_ a: [Double], _ b: [Double], factorCount k: Int) -> Double {
        var total = 0.0
        var position = 0
        for row in 0..<k {
            for column in row..<k {
                total += (row == column ? 1 : 2) * a[position] * b[position]
                position += 1
            }
        }
        return total
    }

    /// The trace of a packed symmetric matrix.
    static func trace(_ packed: [Double], factorCount k: Int) -> Double {
        var total = 0.0
        var position = 0
        for row in 0..<k {
            total += packed[position]
            position += k - row
        }
        return total
    }
}
