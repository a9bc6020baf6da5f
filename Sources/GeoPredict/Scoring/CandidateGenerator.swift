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
        nearestIndex = NearestStoreIndex(catalogue: catalogue)
    }

    /// The candidates for `query`, ascending; when `filter` is given, only stores it accepts, topped up
    /// with the most popular accepted stores until there are at least `minimumCount`.
    public func candidates(for query: NextVisitQuery, filter: ((Int) -> Bool)? = nil, minimumCount: Int = 0) -> [Int32] {
        var chosen = Set<Int32>()
        chosen.reserveCapacity(query.history.count + parameters.successorCandidates + parameters.nearbyCandidates
            + parameters.popularCandidates)
        // The most recently visited distinct stores (all of them for most users; heavy users' oldest
        // haunts are left to the other sources).
        var visited = 0
        for store in query.history.stores.reversed() where visited < parameters.visitedCandidates {
            if chosen.insert(store).inserted { visited += 1 }
        }
        if let last = query.lastStore {
            chosen.formUnion(successors[successorOffsets[last]..<successorOffsets[last + 1]])
        }
        let origin = query.position ?? query.lastStore.map { GeoPoint(latitude: catalogue.latitudes[$0], longitude: catalogue.longitudes[$0]) }
        if let origin {
            for store in nearest(to: origin, count: parameters.nearbyCandidates) { chosen.insert(Int32(store)) }
        }
        chosen.formUnion(popular)
        if let filter {
            chosen = chosen.filter { filter(Int($0)) }
            if chosen.count < minimumCount {
                for store in storesByPopularity where filter(Int(store)) {
                    chosen.insert(store)
                    if chosen.count >= minimumCount { break }
                }
            }
        }
        return chosen.sorted()
    }

    /// The `count` stores nearest to `point`, nearest first (ties by index).
    public func nearest(to point: GeoPoint, count: Int) -> [Int] {
        nearestIndex.nearest(to: point, count: count)
    }
}
