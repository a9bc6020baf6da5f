import MPI

/// The training loss as benfred's `implicit` defines it (`calculate_loss`):
///
///     [ Σ_{u,s} c(u,s) (p(u,s) − xᵤ·yₛ)²  +  λ (‖X‖² + ‖Y‖²) ]  /  (Σ_observed c + U·S − nnz)
///
/// over *every* (user, store) cell, with `c = 1`, `p = 0` where nobody visited. It is computed without
/// touching the unobserved cells: `Σ_all (x·y)² = ⟨XᵀX, YᵀY⟩`, plus `c(1 − s)² − s²` per observed cell
/// (on the store owners, who hold both sides' factors after the store half), plus the traces. All sums
/// are exact per partition, so the value is the same at any rank count.
enum ALSLoss {
    static func compute(
        plan: ALSTrainingPlan, stores: FactorMatrix<StoreAxis>, shippedUsers: FactorMatrix<UserAxis>,
        localUsers: FactorMatrix<UserAxis>,
        userGram: [Double], storeGram: [Double], regularization: Float, on collectives: some Collectives
    ) throws(ALSError) -> Double {
        let k = stores.factorCount
        let stride = stores.stride
        var sum = PartitionedSum(length: 1, partitionCount: plan.partitionCount)
        let system = plan.storeSideByUser
        let storeRows = stores.storage.isEmpty ? [Float](repeating: 0, count: stride) : stores.storage
        // Per store, its users' terms in global user order; then per partition, its stores in order.
        let perStore = ImplicitALS.withUserRows(plan: plan, shipped: shippedUsers, local: localUsers) { sources in
            system.offsets.withUnsafeBufferPointer { offsets in
                system.columns.withUnsafeBufferPointer { columns in
                    system.values.withUnsafeBufferPointer { confidences in
                        storeRows.withUnsafeBufferPointer { storeRows in
                            guard let targets = storeRows.baseAddress else { return [Double]() }
                            return ALSKernels.batchedLossTerms(
                                targets: targets, targetCount: stores.rowCount, stride: stride,
                                sourceOffsets: offsets, sourceColumns: columns, confidences: confidences,
                                sources: sources, sourceOrder: plan.userOrder
                            )
                        }
                    }
                }
            }
        }
        for run in plan.storePartitions {
            var total = 0.0
            for store in run.rows { total += perStore[store] }
            sum.set([total], partition: run.partition)
        }
        let observed = try ALSError.wrapping { () throws(MPIError) in try collectives.exactTotal(of: sum) }[0]
        let cells = Double(plan.globalUserCount) * Double(plan.storeCount)
        let unobserved = cells - Double(plan.globalEntryCount)
        let numerator = ALSGram.frobeniusProduct(userGram, storeGram, factorCount: k) + observed
            + Double(regularization) * (ALSGram.trace(userGram, factorCount: k) + ALSGram.trace(storeGram, factorCount: k))
        return numerator / (plan.totalConfidence + unobserved)
    }
}
