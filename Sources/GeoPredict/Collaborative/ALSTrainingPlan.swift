import MPI

/// Everything about one rank's share of ALS training that does not change between iterations: the
/// confidence matrix in the orientations each half needs, the two routing plans and the global
/// constants of the loss. Built once, collectively, by
/// ``build(counts:catalogue:shards:configuration:on:)``.
struct ALSTrainingPlan {
    /// Contiguous rows of one virtual partition.
    struct PartitionRows: Sendable {
        let partition: Int
        let rows: Range<Int>
    }

    let factorCount: Int
    let partitionCount: Int
    /// Catalogue stores (owned or not); the store side of the loss counts all of them.
    let storeCount: Int
    let globalUserCount: Int
    let globalEntryCount: Int
    /// `Σ c` over every (user, store) pair with a visit, exact and the same on every rank.
    let totalConfidence: Double

    /// The rank's users, grouped by partition in ascending order.
    let userPartitions: [PartitionRows]
    /// The stores this rank owns, ordered by (partition, catalogue index).
    let ownedStores: [Int32]
    /// ``ownedStores`` grouped by partition.
    let storePartitions: [PartitionRows]

    // User half.

    /// Rows: the rank's users. Columns: catalogue store indices, ascending in each row (shared with
    /// the input). Values: confidences.
    let userSide: SparseMatrix<UserAxis, StoreAxis>
    /// Owned store rows → the ranks whose users visited them.
    let storeFetch: RowExchange
    /// The catalogue index of each row ``storeFetch`` delivers.
    let fetchedStores: [Int32]

    // Store half.

    /// Local user rows → the owners of the stores they visited (each user once per other owner; a
    /// rank's own stores read its users' factors in place, nothing is copied to itself).
    let userShipment: RowExchange
    /// The store half seen from the users. Rows `0..<shippedRowCount` are the rows ``userShipment``
    /// delivers (each sender's block ascending by global user); rows `shippedRowCount...` are this
    /// rank's own users (row `shippedRowCount + u` is local user `u`). Columns are positions in
    /// ``ownedStores`` (ascending in each row), values are confidences. Walking the rows in
    /// ``userOrder`` visits the users in global order, so every store receives its terms ordered by
    /// (user partition, user id) while the user factors stream through memory in order.
    let storeSideByUser: SparseMatrix<UserAxis, StoreAxis>
    /// How many rows of ``storeSideByUser`` arrive from other ranks.
    let shippedRowCount: Int
    /// Ranges of ``storeSideByUser`` rows in global user order (one per user partition); a range
    /// never mixes shipped and local rows.
    let userOrder: [Range<Int>]
    /// The same entries store by store (rows ``ownedStores``, columns as ``storeSideByUser``'s rows,
    /// each store's users in global order); built only for the exact solver, which needs a whole
    /// store at a time.
    let storeSideByStore: SparseMatrix<StoreAxis, UserAxis>?

    // MARK: Building

    /// - Parameter exchangeBytesPerRound: the most factor bytes a rank sends in one all-to-all round.
    static func build(
        counts: UserStoreCounts, catalogue: StoreCatalogue, shards: ShardMap,
        configuration: ALSConfiguration, exchangeBytesPerRound: Int, on collectives: some Collectives
    ) throws(ALSError) -> ALSTrainingPlan {
        let rank = collectives.rank
        let size = collectives.size
        guard shards.rankCount == size else { throw .shardMismatch(shardRanks: shards.rankCount, communicatorRanks: size) }
        let storeCount = catalogue.count
        for column in counts.counts.columns where column < 0 || Int(column) >= storeCount {
            throw .unknownStore(index: Int(column))
        }

        let storePartition = catalogue.ids.map { Int32(shards.partition(of: $0)) }
        let storeOwner = storePartition.map { shards.owner(ofPartition: Int($0)) }
        let ownedStores = (0..<storeCount)
            .filter { storeOwner[$0] == rank }
            .sorted { (storePartition[$0], $0) < (storePartition[$1], $1) }
            .map { Int32($0) }
        var ownedPosition = [Int32](repeating: -1, count: storeCount)
        for (position, store) in ownedStores.enumerated() { ownedPosition[Int(store)] = Int32(position) }

        let userPartitions = try partitionRuns(counts.userPartitions, shards: shards, rank: rank)
        let globalUsers = try globalUserIndices(userPartitions, shards: shards, on: collectives)
        let confidences = counts.counts.values.map { configuration.confidence.weight(forCount: $0) }
        let userSide = SparseMatrix<UserAxis, StoreAxis>(
            uncheckedOffsets: counts.counts.offsets, columns: counts.counts.columns, values: confidences
        )
        let rowsPerRound = RowExchange.rowsPerRound(
            bytesPerRound: exchangeBytesPerRound, factorCount: configuration.factorCount, rankCount: size)
        let (storeFetch, fetchedStores) = try fetchPlan(
            counts: counts.counts, storeOwner: storeOwner, ownedPosition: ownedPosition, size: size,
            rowsPerRound: rowsPerRound, on: collectives
        )
        let shipment = try shipmentPlan(
            userSide: userSide, userPartitions: userPartitions, globalUsers: globalUsers, storeOwner: storeOwner,
            ownedPosition: ownedPosition, rank: rank, size: size, rowsPerRound: rowsPerRound, on: collectives
        )
        var storeSideByStore: SparseMatrix<StoreAxis, UserAxis>?
        if configuration.solver == .cholesky {
            storeSideByStore = transposeInOrder(shipment.byUser, order: shipment.order, storeCount: ownedStores.count)
        }
        let (totalConfidence, entryCount) = try confidenceTotals(
            confidences: confidences, matrix: counts.counts, userPartitions: userPartitions,
            partitionCount: shards.partitionCount, on: collectives
        )
        return ALSTrainingPlan(
            factorCount: configuration.factorCount, partitionCount: shards.partitionCount,
            storeCount: storeCount, globalUserCount: globalUsers.total, globalEntryCount: entryCount,
            totalConfidence: totalConfidence, userPartitions: userPartitions, ownedStores: ownedStores,
            storePartitions: try partitionRuns(ownedStores.map { storePartition[Int($0)] }, shards: shards, rank: rank),
            userSide: userSide, storeFetch: storeFetch, fetchedStores: fetchedStores,
            userShipment: shipment.exchange, storeSideByUser: shipment.byUser,
            shippedRowCount: shipment.shippedRowCount, userOrder: shipment.order,
            storeSideByStore: storeSideByStore
        )
    }

    /// Groups rows by partition; the partitions must ascend and belong to `rank`.
    static func partitionRuns(_ partitions: [Int32], shards: ShardMap, rank: Int) throws(ALSError) -> [PartitionRows] {
        var runs = [PartitionRows]()
        var start = 0
        while start < partitions.count {
            let partition = Int(partitions[start])
            guard (0..<shards.partitionCount).contains(partition), shards.owner(ofPartition: partition) == rank else {
                throw .malformedMatrix("partition \(partition) at row \(start) is not owned by rank \(rank)")
            }
            if let previous = runs.last, previous.partition >= partition {
                throw .malformedMatrix("rows are not grouped by ascending partition at row \(start)")
            }
            var end = start + 1
            while end < partitions.count, partitions[end] == partitions[start] { end += 1 }
            runs.append(PartitionRows(partition: partition, rows: start..<end))
            start = end
        }
        return runs
    }

    /// Each local user's position in the global order by (partition, id), which is the same at any
    /// rank count: partitions are whole on one rank, and users are sorted by id within them.
    static func globalUserIndices(
        _ runs: [PartitionRows], shards: ShardMap, on collectives: some Collectives
    ) throws(ALSError) -> GlobalUsers {
        var perPartition = [Int64](repeating: 0, count: shards.partitionCount)
        for run in runs { perPartition[run.partition] = Int64(run.rows.count) }
        let totals = try ALSError.wrapping { () throws(MPIError) in try collectives.allReduce(perPartition, .sum) }
        var starts = [Int64](repeating: 0, count: shards.partitionCount)
        var running: Int64 = 0
        for partition in 0..<shards.partitionCount {
            starts[partition] = running
            running += totals[partition]
        }
        guard running <= Int64(Int32.max) else { throw .invalidConfiguration("\(running) users exceed the 2³¹ − 1 supported") }
        var indices = [Int32](repeating: 0, count: runs.last?.rows.upperBound ?? 0)
        for run in runs {
            for row in run.rows { indices[row] = Int32(starts[run.partition] + Int64(row - run.rows.lowerBound)) }
        }
        return GlobalUsers(indices: indices, partitionStarts: starts.map(Int.init), total: Int(running))
    }

    /// Where the rank's users stand in the global user order.
    struct GlobalUsers {
        /// Per local user, its global index.
        let indices: [Int32]
        /// Per partition, the global index of its first user (all ranks agree).
        let partitionStarts: [Int]
        let total: Int

        /// The partition holding global user `user` (the last partition starting at or before it).
        func partition(ofGlobalUser user: Int) -> Int {
            var low = 0
            var high = partitionStarts.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if partitionStarts[middle] <= user { low = middle } else { high = middle - 1 }
            }
            return low
        }
    }

    /// The user half's plan: each rank asks the owners, once, for the stores its users visited.
    static func fetchPlan(
        counts: SparseMatrix<UserAxis, StoreAxis>, storeOwner: [Int], ownedPosition: [Int32], size: Int,
        rowsPerRound: Int, on collectives: some Collectives
    ) throws(ALSError) -> (RowExchange, [Int32]) {
        var needed = [Bool](repeating: false, count: storeOwner.count)
        for column in counts.columns { needed[Int(column)] = true }
        var requestCounts = [Int](repeating: 0, count: size)
        for store in needed.indices where needed[store] { requestCounts[storeOwner[store]] += 1 }
        var next = exclusivePrefixSums(requestCounts)
        // The owners answer in the order asked: grouped by owner, ascending within each.
        var requests = [Int32](repeating: 0, count: requestCounts.reduce(0, +))
        for store in needed.indices where needed[store] {
            requests[next[storeOwner[store]]] = Int32(store)
            next[storeOwner[store]] += 1
        }
        let incoming = try ALSError.wrapping { () throws(MPIError) in
            try collectives.allToAllVarying(requests, sendCounts: requestCounts)
        }
        var sendRows = [Int32]()
        sendRows.reserveCapacity(incoming.values.count)
        for store in incoming.values {
            let position = ownedPosition[Int(store)]
            guard position >= 0 else { throw .malformedMatrix("rank asked for store \(store), which it does not own") }
            sendRows.append(position)
        }
        let exchange = try ALSError.wrapping { () throws(MPIError) in
            try RowExchange.planned(
                sendRows: sendRows, sendCounts: incoming.counts, receiveCounts: requestCounts, rowsPerRound: rowsPerRound,
                on: collectives)
        }
        return (exchange, requests)
    }

    /// What the store half needs, from ``shipmentPlan(userSide:userPartitions:globalUsers:storeOwner:ownedPosition:rank:size:on:)``.
    struct Shipment {
        let exchange: RowExchange
        let byUser: SparseMatrix<UserAxis, StoreAxis>
        let shippedRowCount: Int
        let order: [Range<Int>]
    }

    /// The store half's plan: every (user, store, confidence) entry goes to the store's owner, and
    /// each user's factor row to every other owner of a store it visited (once per owner). Entries
    /// travel grouped by user, users ascending, so the owner's user-major matrix is the received data
    /// as it arrives; the entries of the rank's own stores never leave it.
    ///
    /// Passes: count what goes to each rank, pack it (and keep the local entries), exchange, then
    /// build the user-major matrix of the shipped and local users and the canonical walk over both.
    static func shipmentPlan(
        userSide: SparseMatrix<UserAxis, StoreAxis>, userPartitions: [PartitionRows], globalUsers: GlobalUsers,
        storeOwner: [Int], ownedPosition: [Int32], rank: Int, size: Int, rowsPerRound: Int,
        on collectives: some Collectives
    ) throws(ALSError) -> Shipment {
        let counts = ShipmentCounts(userSide: userSide, storeOwner: storeOwner, rank: rank, size: size)
        let outgoing = OutgoingShipment(
            userSide: userSide, counts: counts, globalUsers: globalUsers, storeOwner: storeOwner,
            ownedPosition: ownedPosition, rank: rank, size: size)
        let received = try ALSError.wrapping { () throws(MPIError) in
            let headers = try collectives.allToAllVarying(outgoing.headers, sendCounts: counts.rows.map { 2 * $0 })
            let stores = try collectives.allToAllVarying(outgoing.stores, sendCounts: counts.entries)
            let confidences = try collectives.allToAll(outgoing.confidences, sendCounts: counts.entries, receiveCounts: stores.counts)
            return ReceivedShipment(headers: headers, stores: stores.values, confidences: confidences.values)
        }
        let receiveRowCounts = received.headers.counts.map { $0 / 2 }
        let exchange = try ALSError.wrapping { () throws(MPIError) in
            try RowExchange.planned(
                sendRows: outgoing.sendRows, sendCounts: counts.rows, receiveCounts: receiveRowCounts, rowsPerRound: rowsPerRound,
                on: collectives)
        }
        return try userMajorShipment(
            received, shippedRowCount: receiveRowCounts.reduce(0, +), outgoing: outgoing, userPartitions: userPartitions,
            globalUsers: globalUsers, ownedPosition: ownedPosition, exchange: exchange)
    }

    /// How many entries and user rows the rank sends to each rank (0 to itself), and how many entries
    /// of its own stores it keeps.
    struct ShipmentCounts {
        var entries: [Int]
        var rows: [Int]
        var localEntries: Int

        init(userSide: SparseMatrix<UserAxis, StoreAxis>, storeOwner: [Int], rank: Int, size: Int) {
            entries = [Int](repeating: 0, count: size)
            rows = [Int](repeating: 0, count: size)
            var lastUser = [Int](repeating: -1, count: size)
            for user in 0..<userSide.rowCount {
                for entry in userSide.entryRange(ofRow: user) {
                    let owner = storeOwner[Int(userSide.columns[entry])]
                    entries[owner] += 1
                    if lastUser[owner] != user {
                        rows[owner] += 1
                        lastUser[owner] = user
                    }
                }
            }
            localEntries = entries[rank]
            entries[rank] = 0
            rows[rank] = 0
        }
    }

    /// What the rank sends, grouped by destination rank: per shipped user one header (global user,
    /// entry count) and its local row (for the factor exchange), per entry its store and confidence;
    /// and the entries of its own stores, kept as a user-major matrix (row u: local user u's entries).
    struct OutgoingShipment {
        var headers: [Int32]
        var stores: [Int32]
        var confidences: [Float]
        var sendRows: [Int32]
        var localOffsets: [Int]
        var localColumns: [Int32]
        var localValues: [Float]

        init(
            userSide: SparseMatrix<UserAxis, StoreAxis>, counts: ShipmentCounts, globalUsers: GlobalUsers,
            storeOwner: [Int], ownedPosition: [Int32], rank: Int, size: Int
        ) {
            var nextEntry = exclusivePrefixSums(counts.entries)
            var nextRow = exclusivePrefixSums(counts.rows)
            stores = [Int32](repeating: 0, count: counts.entries.reduce(0, +))
            confidences = [Float](repeating: 0, count: stores.count)
            headers = [Int32](repeating: 0, count: 2 * counts.rows.reduce(0, +))
            sendRows = [Int32](repeating: 0, count: counts.rows.reduce(0, +))
            localOffsets = [Int](repeating: 0, count: userSide.rowCount + 1)
            localColumns = [Int32](repeating: 0, count: counts.localEntries)
            localValues = [Float](repeating: 0, count: counts.localEntries)
            var localNext = 0
            var lastUser = [Int](repeating: -1, count: size)
            for user in 0..<userSide.rowCount {
                for entry in userSide.entryRange(ofRow: user) {
                    let store = userSide.columns[entry]
                    let owner = storeOwner[Int(store)]
                    if owner == rank {
                        localColumns[localNext] = ownedPosition[Int(store)]
                        localValues[localNext] = userSide.values[entry]
                        localNext += 1
                        continue
                    }
                    if lastUser[owner] != user {
                        sendRows[nextRow[owner]] = Int32(user)
                        headers[2 * nextRow[owner]] = globalUsers.indices[user]
                        nextRow[owner] += 1
                        lastUser[owner] = user
                    }
                    headers[2 * (nextRow[owner] - 1) + 1] += 1
                    stores[nextEntry[owner]] = store
                    confidences[nextEntry[owner]] = userSide.values[entry]
                    nextEntry[owner] += 1
                }
                localOffsets[user + 1] = localNext
            }
        }
    }

    /// What the other ranks shipped to this one.
    struct ReceivedShipment {
        /// Per shipped user, (global user, entry count), by sending rank.
        let headers: RankBlocks<Int32>
        let stores: [Int32]
        let confidences: [Float]
    }

    /// The store half's user-major matrix: the shipped users' rows first, then the local users'; and
    /// the canonical walk over both (runs of rows by partition, partitions ascending).
    static func userMajorShipment(
        _ received: ReceivedShipment, shippedRowCount: Int, outgoing: OutgoingShipment, userPartitions: [PartitionRows],
        globalUsers: GlobalUsers, ownedPosition: [Int32], exchange: RowExchange
    ) throws(ALSError) -> Shipment {
        let localRowCount = outgoing.localOffsets.count - 1
        let shippedEntryCount = received.stores.count
        var offsets = [Int](repeating: 0, count: shippedRowCount + localRowCount + 1)
        var segments = [(partition: Int, rows: Range<Int>)]()
        for row in 0..<shippedRowCount {
            let count = Int(received.headers.values[2 * row + 1])
            guard count > 0 else { throw .malformedMatrix("a shipped user has no entries") }
            offsets[row + 1] = offsets[row] + count
            let partition = globalUsers.partition(ofGlobalUser: Int(received.headers.values[2 * row]))
            if let last = segments.last, last.partition == partition, last.rows.upperBound == row {
                segments[segments.count - 1].rows = last.rows.lowerBound..<(row + 1)
            } else {
                segments.append((partition, row..<(row + 1)))
            }
        }
        guard offsets[shippedRowCount] == shippedEntryCount else {
            throw .malformedMatrix("shipped headers name \(offsets[shippedRowCount]) entries, \(shippedEntryCount) arrived")
        }
        for user in 0..<localRowCount {
            offsets[shippedRowCount + user + 1] = shippedEntryCount + outgoing.localOffsets[user + 1]
        }
        for run in userPartitions {
            segments.append((run.partition, (shippedRowCount + run.rows.lowerBound)..<(shippedRowCount + run.rows.upperBound)))
        }
        var columns = [Int32]()
        columns.reserveCapacity(shippedEntryCount + outgoing.localColumns.count)
        for store in received.stores {
            let position = ownedPosition[Int(store)]
            guard position >= 0 else { throw .malformedMatrix("received an entry for store \(store), not owned here") }
            columns.append(position)
        }
        columns.append(contentsOf: outgoing.localColumns)
        // Each partition's users all live on its one owner, ascending; partitions ascend globally.
        segments.sort { $0.partition < $1.partition }
        for (previous, next) in zip(segments, segments.dropFirst()) where previous.partition == next.partition {
            throw .malformedMatrix("users of partition \(next.partition) arrived from two ranks")
        }
        let byUser = SparseMatrix<UserAxis, StoreAxis>(
            uncheckedOffsets: offsets, columns: columns, values: received.confidences + outgoing.localValues
        )
        return Shipment(exchange: exchange, byUser: byUser, shippedRowCount: shippedRowCount, order: segments.map(\.rows))
    }

    /// The store-major form of `byUser`: walking its rows in `order` appends each user to its stores,
    /// so every store's users come out in global order (a counting sort, no comparisons).
    static func transposeInOrder(
        _ byUser: SparseMatrix<UserAxis, StoreAxis>, order: [Range<Int>], storeCount: Int
    ) -> SparseMatrix<StoreAxis, UserAxis> {
        var offsets = [Int](repeating: 0, count: storeCount + 1)
        for column in byUser.columns { offsets[Int(column) + 1] += 1 }
        for index in 1..<offsets.count { offsets[index] += offsets[index - 1] }
        var next = offsets
        var columns = [Int32](repeating: 0, count: byUser.entryCount)
        var values = [Float](repeating: 0, count: byUser.entryCount)
        for range in order {
            for row in range {
                for entry in byUser.entryRange(ofRow: row) {
                    let store = Int(byUser.columns[entry])
                    columns[next[store]] = Int32(row)
                    values[next[store]] = byUser.values[entry]
                    next[store] += 1
                }
            }
        }
        return SparseMatrix(uncheckedOffsets: offsets, columns: columns, values: values)
    }

    /// `Σ c` (exact, via per-partition partials) and the number of entries, over all ranks.
    static func confidenceTotals(
        confidences: [Float], matrix: SparseMatrix<UserAxis, StoreAxis>, userPartitions: [PartitionRows],
        partitionCount: Int, on collectives: some Collectives
    ) throws(ALSError) -> (Double, Int) {
        var sum = PartitionedSum(length: 1, partitionCount: partitionCount)
        for run in userPartitions {
            var total = 0.0
            for entry in matrix.offsets[run.rows.lowerBound]..<matrix.offsets[run.rows.upperBound] {
                total += Double(confidences[entry])
            }
            sum.set([total], partition: run.partition)
        }
        return try ALSError.wrapping { () throws(MPIError) in
            let total = try collectives.exactTotal(of: sum)
            let entries = try collectives.allReduce([Int64(matrix.entryCount)], .sum)
            return (total[0], Int(entries[0]))
        }
    }
}

extension ALSError {
    /// Runs MPI work and reports its failure as ``communication(_:)``.
    @inline(__always)
    static func wrapping<T>(_ body: () throws(MPIError) -> T) throws(ALSError) -> T {
        do {
            return try body()
        } catch {
            throw .communication(error)
        }
    }
}
