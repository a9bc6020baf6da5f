import MPI

extension NextVisitTrainer {
    /// The boosted ranker's training queries, the same on every rank: each fitting instance becomes a
    /// group of its linear score's best ``BoostedRankerParameters/rerankedCandidates`` candidates
    /// (as at prediction time), labelled 1 for the visited store; instances whose visited store is
    /// not among them teach a ranker of that list nothing and are left out. Only the first virtual
    /// partitions' queries are kept, up to about ``BoostedRankerParameters/maximumQueries`` (a
    /// sample that does not depend on the rank count), then gathered and put in partition order.
    /// Collective.
    static func boosterTable(
        _ instances: SoftmaxInstances, contexts: [Float], weights: [Double], parameters: BoostedRankerParameters,
        partitionCount: Int, on collectives: some Collectives
    ) throws(NextVisitModelError) -> RankingTable {
        let width = NextVisitBooster.featureCount
        let contextCount = NextVisitBooster.contextCount
        precondition(contexts.count == instances.count * contextCount, "boosterTable: one context per instance")
        var rows: [Float] = []
        var sizes: [Int32] = []
        var targets: [Int32] = []
        var partitions: [Int32] = []
        instances.features.withUnsafeBufferPointer { features in
            let stride = instances.featureCount
            for instance in 0..<instances.count {
                let first = instances.rowOffsets[instance]
                let count = instances.rowOffsets[instance + 1] - first
                let block = UnsafeBufferPointer(rebasing: features[(first * stride)..<((first + count) * stride)])
                let linear = NextVisitModel.linearScores(rows: Array(block), count: count, weights: weights)
                // Fitting candidates are in store order, so a row's position breaks ties as a store index does.
                let order = bestPositions(linear, stores: (0..<count).map(Int32.init), limit: parameters.rerankedCandidates)
                guard let target = order.firstIndex(of: instances.targets[instance]) else { continue }
                NextVisitBooster.appendRows(
                    to: &rows, featureRows: block, linearScores: linear, order: order,
                    context: Array(contexts[(instance * contextCount)..<((instance + 1) * contextCount)]))
                sizes.append(Int32(order.count))
                targets.append(Int32(target))
                partitions.append(Int32(instances.partitions[instance]))
            }
        }
        do {
            // The first partitions whose queries reach the cap, counted over all ranks.
            var counts = [Int64](repeating: 0, count: partitionCount)
            for partition in partitions { counts[Int(partition)] += 1 }
            let totals = try collectives.allReduce(counts, .sum)
            var limit = partitionCount
            var cumulative: Int64 = 0
            for partition in 0..<partitionCount {
                cumulative += totals[partition]
                if cumulative >= Int64(parameters.maximumQueries) { limit = partition + 1; break }
            }
            // Instances come partition by partition, so the kept ones are a prefix.
            let kept = partitions.firstIndex { Int($0) >= limit } ?? partitions.count
            let keptRows = sizes[..<kept].reduce(0) { $0 + Int($1) } * width
            let gatheredRows = try collectives.allGatherVarying(Array(rows[..<keptRows])).values
            let gatheredSizes = try collectives.allGatherVarying(Array(sizes[..<kept])).values
            let gatheredTargets = try collectives.allGatherVarying(Array(targets[..<kept])).values
            let gatheredPartitions = try collectives.allGatherVarying(Array(partitions[..<kept])).values
            var offsets = [Int](repeating: 0, count: gatheredSizes.count + 1)
            for (group, size) in gatheredSizes.enumerated() { offsets[group + 1] = offsets[group] + Int(size) * width }
            // A partition's queries all come from one rank, in its order: sorting the groups by
            // partition (stably) gives the same sequence at any rank count.
            let order = gatheredPartitions.indices.sorted {
                (gatheredPartitions[$0], $0) < (gatheredPartitions[$1], $1)
            }
            var table = RankingTable(featureCount: width)
            for group in order {
                let size = Int(gatheredSizes[group])
                var labels = [Float](repeating: 0, count: size)
                labels[Int(gatheredTargets[group])] = 1
                table.appendGroup(rows: gatheredRows[offsets[group]..<offsets[group + 1]], labels: labels)
            }
            guard table.rowCount > 0 else { throw NextVisitModelError.noTrainingInstances }
            return table
        } catch let error as NextVisitModelError {
            throw error
        } catch {
            throw .communication("\(error)")
        }
    }
}
