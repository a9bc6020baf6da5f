#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The k stores nearest to a point, in microseconds: a static k-d tree over the stores' positions as
/// unit vectors on the sphere. The straight-line (chord) distance between unit vectors grows with the
/// great-circle distance, so the k nearest by chord are exactly the k nearest on the sphere, with no
/// special case at the poles or the antimeridian.
public struct NearestStoreIndex: Sendable {
    /// Per tree slot, the store index; the tree is implicit (median splits over `order` ranges).
    private let order: [Int32]
    /// Per store, x, y, z on the unit sphere.
    private let coordinates: [Double]
    /// Per tree node (range), the split axis; nodes are addressed by their range.
    private let axes: [UInt8]
    /// Per store, degrees, for the final haversine ranking.
    private let latitudes: [Double]
    private let longitudes: [Double]

    public init(catalogue: StoreCatalogue) {
        var coordinates = [Double](repeating: 0, count: catalogue.count * 3)
        for store in 0..<catalogue.count {
            let point = Self.unitVector(latitude: catalogue.latitudes[store], longitude: catalogue.longitudes[store])
            coordinates[store * 3] = point.0
            coordinates[store * 3 + 1] = point.1
            coordinates[store * 3 + 2] = point.2
        }
        var order = (0..<catalogue.count).map(Int32.init)
        var axes = [UInt8](repeating: 0, count: catalogue.count)
        Self.build(&order, &axes, coordinates, 0, catalogue.count)
        self.order = order
        self.coordinates = coordinates
        self.axes = axes
        latitudes = catalogue.latitudes
        longitudes = catalogue.longitudes
    }

    static func unitVector(latitude: Double, longitude: Double) -> (Double, Double, Double) {
        let phi = latitude * Double.pi / 180
        let lambda = longitude * Double.pi / 180
        return (cos(phi) * cos(lambda), cos(phi) * sin(lambda), sin(phi))
    }

    /// Orders `order[low..<high]` so that its middle element splits the range on the widest axis; the
    /// axis is stored at the middle slot.
    private static func build(_ order: inout [Int32], _ axes: inout [UInt8], _ xyz: [Double], _ low: Int, _ high: Int) {
        guard high - low > 1 else { return }
        var lower = [Double](repeating: .infinity, count: 3)
        var upper = [Double](repeating: -.infinity, count: 3)
        for slot in low..<high {
            for axis in 0..<3 {
                let value = xyz[Int(order[slot]) * 3 + axis]
                lower[axis] = min(lower[axis], value)
                upper[axis] = max(upper[axis], value)
            }
        }
        let axis = (0..<3).max { upper[$0] - lower[$0] < upper[$1] - lower[$1] } ?? 0
        let sorted = order[low..<high].sorted {
            let a = xyz[Int($0) * 3 + axis]
            let b = xyz[Int($1) * 3 + axis]
            return a != b ? a < b : $0 < $1
        }
        order.replaceSubrange(low..<high, with: sorted)
        let middle = (low + high) / 2
        axes[middle] = UInt8(axis)
        build(&order, &axes, xyz, low, middle)
        build(&order, &axes, xyz, middle + 1, high)
    }

    /// The `count` stores nearest to `point`, nearest first; equally near stores by index.
    ///
    /// The tree finds the `count` nearest by chord; since two stores at the same great-circle distance
    /// can come out a rounding error apart in chord length (and in the opposite order to their haversine
    /// distances), every store within a 1 µm-of-arc margin of the `count`-th chord is collected and the
    /// answer is ranked by ``Geodesy/haversineMeters(_:_:)``, the distance used everywhere else.
    public func nearest(to point: GeoPoint, count: Int) -> [Int] {
        guard count > 0, !order.isEmpty else { return [] }
        let query = Self.unitVector(latitude: point.latitude, longitude: point.longitude)
        var best: [(distance: Double, store: Int32)] = []
        best.reserveCapacity(count + 1)
        search(query, 0, order.count, count, &best)
        guard let kth = best.last?.distance else { return [] }
        let radius = kth.squareRoot() + Self.chordMargin
        var within: [Int32] = []
        within.reserveCapacity(best.count)
        collect(query, 0, order.count, radius * radius, &within)
        // The usual case: no other store within the margin of the k-th, and no two of the k within the
        // margin of each other. Then the chord order is the haversine order, and re-ranking can be skipped.
        if within.count == best.count && Self.separatedBeyondMargin(best) { return best.map { Int($0.store) } }
        let ranked = within.map { store in
            (distance: Geodesy.haversineMeters(
                latitude1: point.latitude, longitude1: point.longitude,
                latitude2: latitudes[Int(store)], longitude2: longitudes[Int(store)]), store: store)
        }.sorted { $0.distance != $1.distance ? $0.distance < $1.distance : $0.store < $1.store }
        return ranked.prefix(count).map { Int($0.store) }
    }

    /// Whether consecutive chord lengths (squared, ascending) differ by more than ``chordMargin``.
    private static func separatedBeyondMargin(_ sorted: [(distance: Double, store: Int32)]) -> Bool {
        var previous = -Double.infinity
        for entry in sorted {
            let chord = entry.distance.squareRoot()
            if chord - previous <= chordMargin { return false }
            previous = chord
        }
        return true
    }

    /// 1.6·10⁻¹³ of the unit sphere is 1 µm on the Earth: far above the rounding of a chord (about 10⁻¹⁶)
    /// or of a haversine distance, far below any real difference between two stores.
    static let chordMargin = 1.6e-13

    /// Appends every store whose squared chord to `query` is at most `limit`.
    private func collect(_ query: (Double, Double, Double), _ low: Int, _ high: Int, _ limit: Double, _ found: inout [Int32]) {
        guard low < high else { return }
        let middle = (low + high) / 2
        let store = order[middle]
        if squaredDistance(query, Int(store)) <= limit { found.append(store) }
        guard high - low > 1 else { return }
        let axis = Int(axes[middle])
        let queryValue = axis == 0 ? query.0 : (axis == 1 ? query.1 : query.2)
        let delta = queryValue - coordinates[Int(store) * 3 + axis]
        if delta < 0 || delta * delta <= limit { collect(query, low, middle, limit, &found) }
        if delta >= 0 || delta * delta <= limit { collect(query, middle + 1, high, limit, &found) }
    }

    private func squaredDistance(_ query: (Double, Double, Double), _ store: Int) -> Double {
        let dx = coordinates[store * 3] - query.0
        let dy = coordinates[store * 3 + 1] - query.1
        let dz = coordinates[store * 3 + 2] - query.2
        return dx * dx + dy * dy + dz * dz
    }

    private func search(
        _ query: (Double, Double, Double), _ low: Int, _ high: Int, _ count: Int,
        _ best: inout [(distance: Double, store: Int32)]
    ) {
        guard low < high else { return }
        let middle = (low + high) / 2
        let store = order[middle]
        offer((squaredDistance(query, Int(store)), store), count, &best)
        guard high - low > 1 else { return }
        let axis = Int(axes[middle])
        let queryValue = axis == 0 ? query.0 : (axis == 1 ? query.1 : query.2)
        let delta = queryValue - coordinates[Int(store) * 3 + axis]
        let (near, far) = delta < 0 ? ((low, middle), (middle + 1, high)) : ((middle + 1, high), (low, middle))
        search(query, near.0, near.1, count, &best)
        // The far side can only help if the splitting plane is closer than the current k-th best.
        if best.count < count || delta * delta <= best[best.count - 1].distance {
            search(query, far.0, far.1, count, &best)
        }
    }

    /// Keeps `best` sorted by (distance, store) and at most `count` long.
    private func offer(_ candidate: (distance: Double, store: Int32), _ count: Int, _ best: inout [(distance: Double, store: Int32)]) {
        best.insertBestFirst(candidate, limit: count) { a, b in
            a.distance != b.distance ? a.distance < b.distance : a.store < b.store
        }
    }
}
