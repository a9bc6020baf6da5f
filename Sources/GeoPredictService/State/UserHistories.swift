import GeoPredict

/// Everything one rank knows about the users it owns: the visits loaded at start, the events ingested
/// since, and the stay-point state of users who send raw GPS.
///
/// The loaded ``VisitLog`` stays immutable (one allocation per column for millions of users); a user
/// who receives new events gets a private, time-ordered copy of their history that grows from then on.
final class UserHistories {
    /// One user's history once they have received events since start.
    struct LiveUser {
        var stores: [Int32]
        var timestamps: [Int64]
        /// Events stored for the user: check-ins and raw GPS fixes.
        var eventCount: Int
        var lastEventUnixSeconds: Int64
        /// The last position the user reported, for predictions without a position.
        var lastPosition: GeoPoint?
        var stayPoints: StayPointDetector
    }

    /// What ``apply(_:)`` did with an event.
    enum Applied: Equatable {
        /// A check-in became a visit to `store`.
        case visit(store: Int32)
        /// A raw fix closed a stay that matched `store`: a detected visit.
        case detectedVisit(store: Int32)
        /// Stored, without a new visit (a fix inside an open stay, or a stay with no store near it).
        case stored
    }

    let shards: ShardMap
    let catalogue: StoreCatalogue
    let matcher: StoreMatcher
    private let base: VisitLog
    /// Per base user, raw fixes loaded at start (they count as events).
    private let baseFixCounts: [String: Int]
    private var live: [String: LiveUser] = [:]

    init(base: VisitLog, baseFixCounts: [String: Int] = [:], catalogue: StoreCatalogue, shards: ShardMap, matchRadiusMeters: Double = 100) {
        self.base = base
        self.baseFixCounts = baseFixCounts
        self.catalogue = catalogue
        self.shards = shards
        self.matcher = StoreMatcher(catalogue: catalogue, radiusMeters: matchRadiusMeters)
    }

    /// Users this rank knows.
    var userCount: Int { base.userCount + live.keys.filter { baseIndex(of: $0) == nil }.count }

    /// The user's visits in time order (empty for an unknown user).
    func visits(of userID: String) -> VisitSequence {
        if let user = live[userID] { return VisitSequence(stores: user.stores, timestamps: user.timestamps) }
        if let index = baseIndex(of: userID) { return VisitSequence(user: index, in: base) }
        return .empty
    }

    /// The user's last known position: their last reported one, or their last visit's store.
    func lastPosition(of userID: String) -> GeoPoint? {
        if let position = live[userID]?.lastPosition { return position }
        let history = visits(of: userID)
        guard let store = history.stores.last else { return nil }
        return GeoPoint(latitude: catalogue.latitudes[Int(store)], longitude: catalogue.longitudes[Int(store)])
    }

    /// Counts for `GetUser`, or nil for an unknown user.
    func summary(of userID: String) -> (events: Int, visits: Int, lastEventUnixSeconds: Int64)? {
        if let user = live[userID] { return (user.eventCount, user.stores.count, user.lastEventUnixSeconds) }
        guard let index = baseIndex(of: userID) else { return nil }
        let range = base.visitRange(ofUser: index)
        let fixes = baseFixCounts[userID] ?? 0
        return (range.count + fixes, range.count, range.isEmpty ? 0 : base.timestamps[range.upperBound - 1])
    }

    /// Records one validated event of a user this rank owns. `storeIndex` is the catalogue index of
    /// the event's store for a check-in, nil for a raw GPS fix.
    func apply(userID: String, timestamp: Int64, position: GeoPoint, storeIndex: Int32?) -> Applied {
        var user = live[userID] ?? makeLiveUser(userID)
        defer { live[userID] = user }
        user.eventCount += 1
        if timestamp >= user.lastEventUnixSeconds {
            user.lastEventUnixSeconds = timestamp
            user.lastPosition = position
        }
        if let storeIndex {
            insert(storeIndex, at: timestamp, into: &user)
            return .visit(store: storeIndex)
        }
        // Out-of-order or invalid fixes are stored but cannot take part in stay-point detection.
        let fix = GPSFix(latitude: position.latitude, longitude: position.longitude, timestampUnixSeconds: timestamp)
        guard let stay = try? user.stayPoints.add(fix), let store = matcher.store(nearestTo: stay.point) else {
            return .stored
        }
        insert(Int32(store), at: stay.arrivalUnixSeconds, into: &user)
        return .detectedVisit(store: Int32(store))
    }

    /// Every user's visits as one log, for training.
    func snapshot() -> VisitLog {
        guard !live.isEmpty else { return base }
        var entries = [(userID: String, store: Int32, timestamp: Int64)]()
        entries.reserveCapacity(base.visitCount + live.values.reduce(0) { $0 + $1.stores.count })
        for index in 0..<base.userCount where live[base.userIDs[index]] == nil {
            for visit in base.visitRange(ofUser: index) {
                entries.append((base.userIDs[index], base.stores[visit], base.timestamps[visit]))
            }
        }
        for (id, user) in live {
            for (store, timestamp) in zip(user.stores, user.timestamps) { entries.append((id, store, timestamp)) }
        }
        return VisitLog(visits: entries, shards: shards)
    }

    private func baseIndex(of userID: String) -> Int? {
        base.userIndex(of: userID, partition: shards.partition(of: userID))
    }

    private func makeLiveUser(_ userID: String) -> LiveUser {
        let history = visits(of: userID)
        let summary = summary(of: userID)
        return LiveUser(
            stores: Array(history.stores), timestamps: Array(history.timestamps),
            eventCount: summary?.events ?? 0, lastEventUnixSeconds: summary?.lastEventUnixSeconds ?? .min,
            lastPosition: nil, stayPoints: StayPointDetector()
        )
    }

    /// Inserts a visit keeping time order (after any visit at the same second).
    private func insert(_ store: Int32, at timestamp: Int64, into user: inout LiveUser) {
        var position = user.timestamps.endIndex
        while position > 0, user.timestamps[position - 1] > timestamp { position -= 1 }
        user.stores.insert(store, at: position)
        user.timestamps.insert(timestamp, at: position)
    }
}
