/// A user's stay at a store of a ``StoreCatalogue``: a stay point matched to a store.
public struct Visit: Sendable, Equatable, Hashable {
    public var userID: String
    /// The store index in the catalogue the visit was matched against.
    public var store: Int32
    /// The stay's arrival, seconds since 1970-01-01 UTC (the visit's timestamp in a ``VisitLog``).
    public var arrivalUnixSeconds: Int64
    /// The stay's departure (see ``StayPoint/departureUnixSeconds``).
    public var departureUnixSeconds: Int64

    public init(userID: String, store: Int32, arrivalUnixSeconds: Int64, departureUnixSeconds: Int64) {
        self.userID = userID
        self.store = store
        self.arrivalUnixSeconds = arrivalUnixSeconds
        self.departureUnixSeconds = departureUnixSeconds
    }

    /// The visit as ``VisitLog/init(visits:shards:)`` takes it.
    public var logEntry: (userID: String, store: Int32, timestamp: Int64) {
        (userID, store, arrivalUnixSeconds)
    }
}

/// Matches stay points to the nearest store of a catalogue within a radius.
///
/// ```swift
/// let matcher = StoreMatcher(catalogue: stores, radiusMeters: 100)
/// let visits = matcher.visits(of: stays)          // stays too far from every store are dropped
/// let log = VisitLog(visits: visits.map(\.logEntry), shards: shards)
/// ```
public struct StoreMatcher: Sendable {
    /// The stores matched against.
    public let catalogue: StoreCatalogue
    /// A stay matches a store at most this far away (haversine metres, inclusive).
    public let radiusMeters: Double
    /// The grid over the catalogue's stores (answers are store indices); reusable for other queries.
    public let index: GeoGridIndex

    /// - Parameter radiusMeters: the matching radius; the grid's cells are this size too.
    public init(catalogue: StoreCatalogue, radiusMeters: Double = 100) {
        precondition(radiusMeters > 0 && radiusMeters.isFinite, "StoreMatcher: radius must be positive")
        self.catalogue = catalogue
        self.radiusMeters = radiusMeters
        index = GeoGridIndex(catalogue: catalogue, cellSizeMeters: radiusMeters)
    }

    /// The index of the store nearest to `point` within the radius (smallest index on a tie), or `nil`.
    public func store(nearestTo point: GeoPoint) -> Int? {
        index.nearest(to: point, within: radiusMeters)?.index
    }

    /// The visit of `stay`, or `nil` if no store is within the radius.
    public func visit(of stay: StayPoint, userID: String) -> Visit? {
        store(nearestTo: stay.point).map {
            Visit(
                userID: userID, store: Int32($0), arrivalUnixSeconds: stay.arrivalUnixSeconds,
                departureUnixSeconds: stay.departureUnixSeconds)
        }
    }

    /// The visits of `stays`, in their order; stays with no store within the radius are dropped.
    public func visits(of stays: [UserStayPoint]) -> [Visit] {
        stays.compactMap { visit(of: $0.stayPoint, userID: $0.userID) }
    }
}
