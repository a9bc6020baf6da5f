#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A uniform latitude/longitude grid over a fixed set of points, for "which points lie within r metres
/// of here" and "which point is nearest, if any lies within r metres".
///
/// Points keep the indices they were given in (for a ``StoreCatalogue``, the store indices), and
/// every answer is ordered by index, so results never depend on hashing or insertion order.
/// Cells are `cellSizeMeters` tall; columns have the same width in degrees, adjusted so that a whole
/// number of them spans 360°. A query scans only the cells its bounding box touches — computed on the
/// sphere, so it stays correct near the poles and across the antimeridian — and then filters by
/// exact haversine distance, so the cell size only changes speed, never answers. A cell size close
/// to the usual query radius is fastest.
///
/// ```swift
/// let index = GeoGridIndex(catalogue: stores, cellSizeMeters: 100)
/// if let hit = index.nearest(to: GeoPoint(latitude: 39.98, longitude: 116.31), within: 100) {
///     print(stores.ids[hit.index], hit.distanceMeters)
/// }
/// let around = index.indices(within: 500, of: somewhere)   // ascending store indices
/// ```
public struct GeoGridIndex: Sendable {
    /// The indexed points, by index.
    public let points: [GeoPoint]
    /// The requested cell height, metres.
    public let cellSizeMeters: Double
    private let latitudeStep: Double
    private let longitudeStep: Double
    private let rowCount: Int
    private let columnCount: Int
    /// The keys (`row * columnCount + column`) of the non-empty cells, ascending: the cells of a row
    /// are contiguous, and so are those of a band of whole rows.
    private let cellKeys: [Int]
    /// Per non-empty cell, where its members start in `members`; one extra entry at the end.
    private let cellStarts: [Int]
    /// Point indices grouped by cell, ascending within each cell.
    private let members: [Int32]

    /// Indexes `points`; index `i` in every answer is `points[i]`.
    ///
    /// - Parameter cellSizeMeters: the cell height; must be positive and finite. Values below one metre
    ///   are raised to one metre so that the grid stays small.
    public init(points: [GeoPoint], cellSizeMeters: Double = 100) {
        precondition(cellSizeMeters > 0 && cellSizeMeters.isFinite, "GeoGridIndex: cell size must be positive")
        self.points = points
        self.cellSizeMeters = cellSizeMeters
        let step = max(cellSizeMeters, 1) / Geodesy.metersPerDegree
        latitudeStep = step
        rowCount = Int((180 / step).rounded(.up)) + 1
        columnCount = max(1, Int((360 / step).rounded(.up)))
        longitudeStep = 360 / Double(columnCount)

        var keyed = [(key: Int, index: Int32)]()
        keyed.reserveCapacity(points.count)
        for (index, point) in points.enumerated() {
            let row = Self.row(of: point.latitude, step: step, rowCount: rowCount)
            let column = Self.column(of: point.longitude, step: longitudeStep, columnCount: columnCount)
            keyed.append((row * columnCount + column, Int32(index)))
        }
        keyed.sort { $0.key != $1.key ? $0.key < $1.key : $0.index < $1.index }
        var keys = [Int]()
        var starts = [Int]()
        for (position, entry) in keyed.enumerated() where position == 0 || keyed[position - 1].key != entry.key {
            keys.append(entry.key)
            starts.append(position)
        }
        starts.append(keyed.count)
        cellKeys = keys
        cellStarts = starts
        members = keyed.map(\.index)
    }

    /// Indexes the stores of `catalogue`; answers are store indices.
    public init(catalogue: StoreCatalogue, cellSizeMeters: Double = 100) {
        self.init(
            points: zip(catalogue.latitudes, catalogue.longitudes).map { GeoPoint(latitude: $0, longitude: $1) },
            cellSizeMeters: cellSizeMeters)
    }

    /// The number of indexed points.
    public var count: Int { points.count }

    /// The indices of all points within `radiusMeters` (inclusive) of `center`, ascending.
    public func indices(within radiusMeters: Double, of center: GeoPoint) -> [Int] {
        var found = [Int]()
        forEachCandidate(within: radiusMeters, of: center) { index in
            if Geodesy.haversineMeters(center, points[index]) <= radiusMeters { found.append(index) }
        }
        found.sort()
        return found
    }

    /// The nearest point within `radiusMeters` (inclusive) of `center`, or `nil` if there is none.
    /// Of points at exactly the same distance, the one with the smallest index wins.
    public func nearest(to center: GeoPoint, within radiusMeters: Double) -> (index: Int, distanceMeters: Double)? {
        var best: (index: Int, distanceMeters: Double)?
        forEachCandidate(within: radiusMeters, of: center) { index in
            let distance = Geodesy.haversineMeters(center, points[index])
            guard distance <= radiusMeters else { return }
            if let current = best,
                current.distanceMeters < distance || (current.distanceMeters == distance && current.index < index)
            {
                return
            }
            best = (index, distance)
        }
        return best
    }

    /// Calls `body` once for every point in a cell that the query circle may touch (a superset of the
    /// answer). Costs a binary search per row of the bounding box plus the candidates, however many
    /// columns the grid has.
    func forEachCandidate(within radiusMeters: Double, of center: GeoPoint, _ body: (Int) -> Void) {
        guard radiusMeters >= 0, radiusMeters.isFinite, center.latitude.isFinite, center.longitude.isFinite,
            !members.isEmpty
        else { return }
        // Padding absorbs rounding in the bounding box, so points on the circle are never missed.
        let angularRadius = radiusMeters / Geodesy.earthRadiusMeters
        let deltaLatitude = angularRadius * 180 / Double.pi * (1 + 1e-9) + 1e-9
        let firstRow = Self.row(of: center.latitude - deltaLatitude, step: latitudeStep, rowCount: rowCount)
        let lastRow = Self.row(of: center.latitude + deltaLatitude, step: latitudeStep, rowCount: rowCount)
        guard let columns = columnRanges(angularRadius: angularRadius, center: center, deltaLatitude: deltaLatitude)
        else {
            // Every column: the rows' cells form one contiguous run of keys.
            visitCells(from: firstRow * columnCount, through: (lastRow + 1) * columnCount - 1, body)
            return
        }
        for row in firstRow...lastRow {
            for range in columns {
                visitCells(from: row * columnCount + range.lowerBound, through: row * columnCount + range.upperBound, body)
            }
        }
    }

    /// Calls `body` for the members of every non-empty cell whose key is in `first...last`.
    private func visitCells(from first: Int, through last: Int, _ body: (Int) -> Void) {
        var low = 0
        var high = cellKeys.count
        while low < high {
            let middle = (low + high) / 2
            if cellKeys[middle] < first { low = middle + 1 } else { high = middle }
        }
        var slot = low
        while slot < cellKeys.count, cellKeys[slot] <= last {
            for position in cellStarts[slot]..<cellStarts[slot + 1] { body(Int(members[position])) }
            slot += 1
        }
    }

    /// The column ranges (wrapped into `0..<columnCount`, at most two) that the query's bounding box
    /// covers, or `nil` for every column (the circle reaches a pole or spans all longitudes).
    private func columnRanges(angularRadius: Double, center: GeoPoint, deltaLatitude: Double) -> [ClosedRange<Int>]? {
        guard abs(center.latitude) + deltaLatitude < 90, angularRadius < Double.pi / 2 else { return nil }
        // The widest longitude difference on a small circle of angular radius δ around latitude φ is
        // asin(sin δ / cos φ).
        let ratio = sin(angularRadius) / cos(center.latitude * Double.pi / 180)
        guard ratio < 1 else { return nil }
        let deltaLongitude = asin(ratio) * 180 / Double.pi * (1 + 1e-9) + 1e-9
        let low = Int(((center.longitude - deltaLongitude + 180) / longitudeStep).rounded(.down))
        let high = Int(((center.longitude + deltaLongitude + 180) / longitudeStep).rounded(.down))
        guard high - low + 1 < columnCount else { return nil }
        let wrappedLow = ((low % columnCount) + columnCount) % columnCount
        let wrappedHigh = ((high % columnCount) + columnCount) % columnCount
        if wrappedLow <= wrappedHigh { return [wrappedLow...wrappedHigh] }
        return [wrappedLow...(columnCount - 1), 0...wrappedHigh]
    }

    private static func row(of latitude: Double, step: Double, rowCount: Int) -> Int {
        guard latitude.isFinite else { return 0 }
        let raw = ((latitude + 90) / step).rounded(.down)
        return Int(min(max(raw, 0), Double(rowCount - 1)))
    }

    private static func column(of longitude: Double, step: Double, columnCount: Int) -> Int {
        guard longitude.isFinite else { return 0 }
        // Fold into [-180, 180) first so that out-of-range inputs still land in a real column.
        var folded = (longitude + 180).truncatingRemainder(dividingBy: 360)
        if folded < 0 { folded += 360 }
        let raw = Int((folded / step).rounded(.down))
        return min(max(raw, 0), columnCount - 1)
    }
}
