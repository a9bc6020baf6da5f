/// The first stage of a prediction: the few hundred stores worth scoring for one query, out of the
/// whole catalogue.
///
/// The union of the user's (most recently) visited stores, the most frequent successors of the last store, the stores
/// nearest to the current position and the most popular stores — each list is cheap (precomputed or a
/// grid lookup), so a query costs microseconds. The result is sorted by store index.
public struct CandidateGenerator: Sendable {
    public let catalogue: StoreCatalogue
    public let parameters: NextVisitParameters
    /// Per store, its top successors (``NextVisitParameters/successorCandidates``), CSR.
    let successorOffsets: [Int]
    let successors: [Int32]
    let popular: [Int32]
    let storesByPopularity: [Int32]
    let nearestIndex: NearestStoreIndex
    /// Per store, its ``NextVisitParameters/nearbyCandidates`` nearest stores (itself included): the
    /// nearby candidates of every query without a reported position, looked up instead of searched.
    let nearbyByStore: [Int32]

    public init(catalogue: StoreCatalogue, statistics: VisitStatistics, parameters: NextVisitParameters) {
        self.catalogue = catalogue
        self.parameters = parameters
        var offsets = [0]
        var successors: [Int32] = []
        for store in 0..<catalogue.count {
            successors.append(contentsOf: statistics.topSuccessors(of: store, count: parameters.successorCandidates))
            offsets.append(successors.count)
        }
        successorOffsets = offsets
        self.successors = successors
        storesByPopularity = statistics.storesByPopularity
        popular = Array(statistics.storesByPopularity.prefix(parameters.popularCandidates))
        let index = NearestStoreIndex(catalogue: catalogue)
        nearestIndex = index
        let nearby = max(parameters.nearbyCandidates, 0)
        var table = [Int32]()
        table.reserveCapacity(catalogue.count * min(nearby, catalogue.count))
        for store in 0..<catalogue.count {
            table.append(contentsOf: index.nearest(to: catalogue.position(of: store), count: nearby).map(Int32.init))
        }
        nearbyByStore = table
    }

    /// The candidates for `query`, ascending; when `filter` is given, only stores it accepts, topped up
    /// with the most popular accepted stores until there are at least `minimumCount`.
    public func candidates(for query: NextVisitQuery, filter: ((Int) -> Bool)? = nil, minimumCount: Int = 0) -> [Int32] {
        var marks = [Bool](repeating: false, count: catalogue.count)
        return unorderedCandidates(for: query, filter: filter, minimumCount: minimumCount, marks: &marks).sorted()
    }

    /// The same stores as ``candidates(for:filter:minimumCount:)`` in no particular order, found
    /// without a sort: `marks` (one per store) must be all `false`, and is again on return.
    public func unorderedCandidates(
        for query: NextVisitQuery, filter: ((Int) -> Bool)?, minimumCount: Int, marks: inout [Bool]
    ) -> [Int32] {
        var gathered = [Int32]()
        gathered.reserveCapacity(min(query.history.count, parameters.visitedCandidates) + parameters.successorCandidates
            + parameters.nearbyCandidates + parameters.popularCandidates)
        appendRecentlyVisited(query.history.stores, to: &gathered)
        if let last = query.lastStore {
            gathered.append(contentsOf: successors[successorOffsets[last]..<successorOffsets[last + 1]])
        }
        if let position = query.position {
            for store in nearest(to: position, count: parameters.nearbyCandidates) { gathered.append(Int32(store)) }
        } else if let last = query.lastStore {
            // The last store's own position: its precomputed neighbours.
            let width = min(max(parameters.nearbyCandidates, 0), catalogue.count)
            gathered.append(contentsOf: nearbyByStore[(last * width)..<((last + 1) * width)])
        }
        gathered.append(contentsOf: popular)
        var unique = [Int32]()
        unique.reserveCapacity(gathered.count)
        for store in gathered where !marks[Int(store)] {
            marks[Int(store)] = true
            unique.append(store)
        }
        guard let filter else {
            for store in unique { marks[Int(store)] = false }
            return unique
        }
        var accepted = unique.filter { filter(Int($0)) }
        if accepted.count < minimumCount {
            for store in storesByPopularity where !marks[Int(store)] && filter(Int(store)) {
                marks[Int(store)] = true
                unique.append(store)
                accepted.append(store)
                if accepted.count >= minimumCount { break }
            }
        }
        for store in unique { marks[Int(store)] = false }
        return accepted
    }

    /// Appends the most recently visited distinct stores, at most ``NextVisitParameters/visitedCandidates``
    /// of them (all of them for most users; heavy users' oldest haunts are left to the other sources).
    private func appendRecentlyVisited(_ stores: ArraySlice<Int32>, to chosen: inout [Int32]) {
        let limit = parameters.visitedCandidates
        if stores.count <= limit {
            chosen.append(contentsOf: stores)
            return
        }
        var seen = Set<Int32>()
        for store in stores.reversed() where seen.count < limit {
            if seen.insert(store).inserted { chosen.append(store) }
        }
    }

    /// The `count` stores nearest to `point`, nearest first (ties by index).
    public func nearest(to point: GeoPoint, count: Int) -> [Int] {
        nearestIndex.nearest(to: point, count: count)
    }
}
