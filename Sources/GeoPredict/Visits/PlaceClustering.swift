#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// A place found by clustering stay points, for data without a store catalogue.
public struct Place: Sendable, Equatable, Hashable {
    /// Derived from the centre (`"place:39.984120,116.306710"`, six decimals ≈ 0.1 m), so the same stay
    /// points give the same id in any order and at any rank count. Two places whose centres round
    /// to the same text get `~2`, `~3`, … in the order of their smallest member.
    public var id: String
    /// Mean latitude of the member stay points, degrees.
    public var latitude: Double
    /// Circular mean longitude of the member stay points, degrees.
    public var longitude: Double
    /// The number of stay points in the place.
    public var stayPointCount: Int

    public init(id: String, latitude: Double, longitude: Double, stayPointCount: Int) {
        self.id = id
        self.latitude = latitude
        self.longitude = longitude
        self.stayPointCount = stayPointCount
    }

    /// The place as a store, to enter a ``StoreCatalogue``.
    public func store(category: String = "") -> Store {
        Store(id: id, latitude: latitude, longitude: longitude, category: category)
    }
}

/// The result of clustering: the places, and which place each input point went to.
public struct PlaceClusters: Sendable, Equatable {
    /// Every place, ordered by id (byte-wise), which is also their order in ``storeCatalogue(category:)``.
    public let places: [Place]
    /// Per input point (in input order), its index in ``places``; `nil` for points with an invalid position.
    public let placeOfPoint: [Int?]

    public init(places: [Place], placeOfPoint: [Int?]) {
        self.places = places
        self.placeOfPoint = placeOfPoint
    }

    /// The places as a store catalogue; store index `i` is `places[i]`.
    public func storeCatalogue(category: String = "") -> StoreCatalogue {
        StoreCatalogue(stores: places.map { $0.store(category: category) })
    }

    /// The visits of `stays`, which must be the points that were clustered, in the same order.
    /// Store indices are looked up by place id in `catalogue` (which must contain the places), so
    /// the catalogue may hold other stores too.
    public func visits(of stays: [UserStayPoint], in catalogue: StoreCatalogue) -> [Visit] {
        precondition(stays.count == placeOfPoint.count, "PlaceClusters: \(stays.count) stays for \(placeOfPoint.count) points")
        return zip(stays, placeOfPoint).compactMap { stay, place in
            guard let place, let store = catalogue.index(of: places[place].id) else { return nil }
            return Visit(
                userID: stay.userID, store: Int32(store), arrivalUnixSeconds: stay.stayPoint.arrivalUnixSeconds,
                departureUnixSeconds: stay.stayPoint.departureUnixSeconds)
        }
    }
}

/// Clusters stay points into places: DBSCAN with `minPoints = 1` and haversine distance, as
/// trackintel's `generate_locations` (defaults `epsilon=100`, `num_samples=1`).
///
/// With one required neighbour every point is a core point, so a place is exactly a connected
/// component of the graph "within `epsilonMeters` (inclusive)" — single linkage. Components do not
/// depend on the order of the points; the points are put in a canonical order (by latitude, then
/// longitude) before anything is summed, so the centres and ids are bit-identical for any input
/// order and any rank count.
///
/// Clustering runs over **all users' stay points together** (trackintel's `agg_level="dataset"`),
/// not per user (its default): the places become the items of the collaborative model, and a place
/// that only one user can visit teaches the model nothing about other users. The price is single
/// linkage's chaining: in a dense area, stays less than ε apart can join into one large place.
public struct PlaceClustering: Sendable {
    /// Two stay points at most this far apart (haversine metres) are in the same place.
    public var epsilonMeters: Double
    /// Prepended to every place id.
    public var idPrefix: String

    public init(epsilonMeters: Double = 100, idPrefix: String = "place:") {
        precondition(epsilonMeters >= 0 && epsilonMeters.isFinite, "PlaceClustering: epsilon must be finite and >= 0")
        self.epsilonMeters = epsilonMeters
        self.idPrefix = idPrefix
    }

    /// Clusters the positions of `stays` (see ``clusters(of:)-([GeoPoint])``).
    public func clusters(of stays: [UserStayPoint]) -> PlaceClusters {
        clusters(of: stays.map(\.stayPoint.point))
    }

    /// Clusters `points` into places. Points with a non-finite or out-of-range position get no place.
    public func clusters(of points: [GeoPoint]) -> PlaceClusters {
        // Canonical order: -0.0 + 0.0 is +0.0, so the sort key and the sums never see signed zeros.
        let canonical = points.enumerated()
            .filter { $0.element.hasValidPosition }
            .map { (input: $0.offset, point: GeoPoint(latitude: $0.element.latitude + 0, longitude: $0.element.longitude + 0)) }
            .sorted { ($0.point.latitude, $0.point.longitude) < ($1.point.latitude, $1.point.longitude) }
        let sortedPoints = canonical.map(\.point)
        var components = UnionFind(count: sortedPoints.count)
        let grid = GeoGridIndex(points: sortedPoints, cellSizeMeters: max(epsilonMeters, 1))
        for position in sortedPoints.indices {
            grid.forEachCandidate(within: epsilonMeters, of: sortedPoints[position]) { other in
                guard other > position, components.root(of: position) != components.root(of: other),
                    Geodesy.haversineMeters(sortedPoints[position], sortedPoints[other]) <= epsilonMeters
                else { return }
                components.union(position, other)
            }
        }
        return places(of: canonical, components: &components, pointCount: points.count)
    }

    /// Clusters the stay points of every rank together; every rank passes its own and gets the same
    /// ``PlaceClusters/places``, with ``PlaceClusters/placeOfPoint`` for its own points. Collective.
    ///
    /// Every rank receives all positions (16 bytes per stay point) and clusters them itself, which
    /// is simpler than a spatial partition and exact; fine up to some tens of millions of stay points.
    public func clustersAcrossRanks(of local: [GeoPoint], on collectives: some Collectives) throws(MPIError) -> PlaceClusters {
        var interleaved = [Double]()
        interleaved.reserveCapacity(2 * local.count)
        for point in local { interleaved += [point.latitude, point.longitude] }
        let gathered = try collectives.allGatherVarying(interleaved)
        let all = stride(from: 0, to: gathered.values.count, by: 2).map {
            GeoPoint(latitude: gathered.values[$0], longitude: gathered.values[$0 + 1])
        }
        let global = clusters(of: all)
        let first = gathered.offsets[collectives.rank] / 2
        return PlaceClusters(places: global.places, placeOfPoint: Array(global.placeOfPoint[first..<(first + local.count)]))
    }

    /// Turns components into places: clusters numbered by their smallest canonical member, centres
    /// summed in canonical order, then ordered by id.
    private func places(
        of canonical: [(input: Int, point: GeoPoint)], components: inout UnionFind, pointCount: Int
    ) -> PlaceClusters {
        var clusterOfRoot = [Int: Int]()
        var sums = [(latitude: Double, sine: Double, cosine: Double, count: Int)]()
        var clusterOfPosition = [Int](repeating: 0, count: canonical.count)
        for (position, entry) in canonical.enumerated() {
            let root = components.root(of: position)
            let cluster = clusterOfRoot[root] ?? sums.count
            if cluster == sums.count {
                clusterOfRoot[root] = cluster
                sums.append((0, 0, 0, 0))
            }
            let lambda = entry.point.longitude * Double.pi / 180
            sums[cluster].latitude += entry.point.latitude
            sums[cluster].sine += sin(lambda)
            sums[cluster].cosine += cos(lambda)
            sums[cluster].count += 1
            clusterOfPosition[position] = cluster
        }
        var usedIDs = [String: Int]()
        var unordered = [Place]()
        for sum in sums {
            let latitude = sum.latitude / Double(sum.count)
            let longitude = atan2(sum.sine, sum.cosine) * 180 / Double.pi
            var id = idPrefix + Self.fixedDecimal(latitude) + "," + Self.fixedDecimal(longitude)
            let seen = usedIDs[id, default: 0]
            usedIDs[id] = seen + 1
            if seen > 0 { id += "~\(seen + 1)" }
            unordered.append(Place(id: id, latitude: latitude, longitude: longitude, stayPointCount: sum.count))
        }
        let order = unordered.indices.sorted { unordered[$0].id.utf8.lexicographicallyPrecedes(unordered[$1].id.utf8) }
        var rankOfCluster = [Int](repeating: 0, count: order.count)
        for (rank, cluster) in order.enumerated() { rankOfCluster[cluster] = rank }
        var placeOfPoint = [Int?](repeating: nil, count: pointCount)
        for (position, entry) in canonical.enumerated() {
            placeOfPoint[entry.input] = rankOfCluster[clusterOfPosition[position]]
        }
        return PlaceClusters(places: order.map { unordered[$0] }, placeOfPoint: placeOfPoint)
    }

    /// `value` with six decimals, without Foundation: `-0.1234567` → `"-0.123457"`.
    static func fixedDecimal(_ value: Double) -> String {
        let scaled = (value * 1_000_000).rounded()
        let magnitude = UInt64(abs(scaled))
        let fraction = String(magnitude % 1_000_000)
        let sign = scaled < 0 ? "-" : ""
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}

extension GeoPoint {
    /// Whether the position is finite and within `-90...90`, `-180...180`.
    public var hasValidPosition: Bool {
        latitude.isFinite && longitude.isFinite && abs(latitude) <= 90 && abs(longitude) <= 180
    }
}

/// Disjoint sets over `0..<count` with path halving; the smaller index becomes the root.
struct UnionFind {
    private var parent: [Int]

    init(count: Int) { parent = Array(0..<count) }

    mutating func root(of element: Int) -> Int {
        var node = element
        while parent[node] != node {
            parent[node] = parent[parent[node]]
            node = parent[node]
        }
        return node
    }

    mutating func union(_ a: Int, _ b: Int) {
        let rootA = root(of: a)
        let rootB = root(of: b)
        if rootA < rootB { parent[rootB] = rootA } else if rootB < rootA { parent[rootA] = rootB }
    }
}
