import GeoPredict

/// Everything one rank knows about the users it owns: the visits loaded at start, the events ingested
/// since, and the stay-point state of users who send raw GPS.
///
/// The loaded ``VisitLog`` stays immutable (one allocation per column for millions of users); a user
/// who receives new events gets a private, time-ordered copy of their history that grows from then on.
/// A user's visits are kept in up to three parts: those the serving model was trained on (its
/// statistics count them, and scoring subtracts them as the user's own), those in a training run going
/// on (``beginTraining()``), and those that arrived since (``recent``).
final class UserHistories {
    /// One user's history once they have received events since start.
    struct LiveUser {
        /// Visits the serving model was trained on, in time order.
        var trained: (stores: [Int32], timestamps: [Int64])
        /// Visits the training run going on was started with, in time order (empty between runs).
        var training: (stores: [Int32], timestamps: [Int64]) = ([], [])
        /// Visits since the last training started: in time order once settled (``TimeOrderedVisits``).
        var recent = TimeOrderedVisits()
        /// Events stored for the user: check-ins and raw GPS fixes.
        var eventCount: Int
        var lastEventUnixSeconds: Int64
        /// The last position the user reported, for predictions without a position.
        var lastPosition: GeoPoint?
        var stayPoints: StayPointDetector

        /// Records one event in place (the caller mutates the stored value, so that no array of the
        /// history is copied on write).
        mutating func record(timestamp: Int64, position: GeoPoint, kind: EventKind, matcher: StoreMatcher) -> Applied {
            eventCount += 1
            if timestamp >= lastEventUnixSeconds {
                lastEventUnixSeconds = timestamp
                lastPosition = position
            }
            switch kind {
            case .checkIn(let store):
                recent.insert(store, at: timestamp)
                return .visit(store: store)
            case .checkInAtUnknownStore:
                return .stored
            case .rawFix:
                break
            }
            // Out-of-order or invalid fixes are stored but cannot take part in stay-point detection.
            let fix = GPSFix(latitude: position.latitude, longitude: position.longitude, timestampUnixSeconds: timestamp)
            guard let stay = try? stayPoints.add(fix), let store = matcher.store(nearestTo: stay.point) else {
                return .stored
            }
            recent.insert(Int32(store), at: stay.arrivalUnixSeconds)
            return .detectedVisit(store: Int32(store))
        }

        var visitCount: Int { trained.stores.count + training.stores.count + recent.count }
    }

    /// What an event is, as far as the history is concerned.
    enum EventKind: Equatable {
        /// A check-in at the store with this catalogue index.
        case checkIn(store: Int32)
        /// A check-in at a store the catalogue no longer has (replayed from a log written with other
        /// data): it counts as an event, not a visit.
        case checkInAtUnknownStore
        /// A raw GPS fix, which goes through stay-point detection.
        case rawFix
    }

    /// What ``apply(userID:timestamp:position:kind:)`` did with an event.
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

    /// The user's visits that the serving model was trained on, in time order (empty for an unknown user).
    func trainedVisits(of userID: String) -> VisitSequence {
        if let user = live[userID] { return VisitSequence(stores: user.trained.stores, timestamps: user.trained.timestamps) }
        if let index = baseIndex(of: userID) { return VisitSequence(user: index, in: base) }
        return .empty
    }

    /// The user's visits that the serving model was not trained on, in time order.
    func recentVisits(of userID: String) -> VisitSequence {
        // Merges what arrived out of order since the last read (once per batch, not per event).
        live[userID]?.recent.settle()
        guard let user = live[userID] else { return .empty }
        let settled = user.recent.settled
        let recent = VisitSequence(stores: settled.stores, timestamps: settled.timestamps)
        guard !user.training.stores.isEmpty else { return recent }
        return VisitSequence(stores: user.training.stores, timestamps: user.training.timestamps).appending(recent)
    }

    /// All the user's visits in time order.
    func visits(of userID: String) -> VisitSequence {
        trainedVisits(of: userID).appending(recentVisits(of: userID))
    }

    /// The position the user last reported with an event since start, if any. (Without one, the
    /// model measures from the last visited store, whose nearby stores it has precomputed.)
    func reportedPosition(of userID: String) -> GeoPoint? {
        live[userID]?.lastPosition
    }

    /// Counts for `GetUser`, or nil for an unknown user.
    func summary(of userID: String) -> (events: Int, visits: Int, lastEventUnixSeconds: Int64)? {
        if let user = live[userID] { return (user.eventCount, user.visitCount, user.lastEventUnixSeconds) }
        guard let index = baseIndex(of: userID) else { return nil }
        let range = base.visitRange(ofUser: index)
        let fixes = baseFixCounts[userID] ?? 0
        return (range.count + fixes, range.count, range.isEmpty ? 0 : base.timestamps[range.upperBound - 1])
    }

    /// Records one validated event of a user this rank owns. Amortised O(log n) in the user's history,
    /// in time order or not (``TimeOrderedVisits``).
    func apply(userID: String, timestamp: Int64, position: GeoPoint, kind: EventKind) -> Applied {
        if live[userID] == nil { live[userID] = makeLiveUser(userID) }
        // Mutated through the dictionary's accessor, in place: a copy taken out and written back
        // would share its arrays with the stored value and copy them whole on every event.
        return live[userID]?.record(timestamp: timestamp, position: position, kind: kind, matcher: matcher) ?? .stored
    }

    /// Marks every visit as trained on: called once a model trained on ``snapshot()`` serves.
    func markAllTrained() {
        settleAll()
        for (id, var user) in live where !user.training.stores.isEmpty || !user.recent.isEmpty {
            user.trained = Self.inTrainingOrder(user.trained, user.training, user.recent.settled)
            user.training = ([], [])
            user.recent = TimeOrderedVisits()
            live[id] = user
        }
    }

    /// Starts a training run beside serving: the visits so far become the run's, and returns them as
    /// one log; visits that arrive during the run stay recent. End it with ``finishTraining(installed:)``.
    func beginTraining() -> VisitLog {
        settleAll()
        for (id, var user) in live where !user.recent.isEmpty {
            user.training = Self.merged(user.training, user.recent.settled)
            user.recent = TimeOrderedVisits()
            live[id] = user
        }
        return snapshot()
    }

    /// Ends the run ``beginTraining()`` started: its visits become trained on if its model now
    /// serves, or recent again if it failed.
    func finishTraining(installed: Bool) {
        settleAll()
        for (id, var user) in live where !user.training.stores.isEmpty {
            if installed {
                user.trained = Self.inTrainingOrder(user.trained, user.training)
            } else {
                user.recent = TimeOrderedVisits(settled: Self.merged(user.training, user.recent.settled))
            }
            user.training = ([], [])
            live[id] = user
        }
    }

    private static func merged(
        _ first: (stores: [Int32], timestamps: [Int64]), _ second: (stores: [Int32], timestamps: [Int64])
    ) -> (stores: [Int32], timestamps: [Int64]) {
        guard !second.stores.isEmpty else { return first }
        let merged = VisitSequence(stores: first.stores, timestamps: first.timestamps)
            .appending(VisitSequence(stores: second.stores, timestamps: second.timestamps))
        return (Array(merged.stores), Array(merged.timestamps))
    }

    /// The parts' visits together, in the order training saw them: a ``VisitLog`` orders a user's
    /// visits by time, then by store. Trained visits must keep that order exactly, because a prediction
    /// subtracts the user's own transitions from everyone's counts: visits at the same second kept in
    /// arrival order would subtract transitions that training counted the other way round, making
    /// "everyone else's" counts negative.
    private static func inTrainingOrder(
        _ parts: (stores: [Int32], timestamps: [Int64])...
    ) -> (stores: [Int32], timestamps: [Int64]) {
        let ordered = parts.flatMap { zip($0.timestamps, $0.stores) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        return (ordered.map(\.1), ordered.map(\.0))
    }

    /// Every user's visits as one log, for training.
    func snapshot() -> VisitLog {
        guard !live.isEmpty else { return base }
        settleAll()
        var entries = [(userID: String, store: Int32, timestamp: Int64)]()
        let liveVisits = live.values.reduce(0) { $0 + $1.visitCount }
        entries.reserveCapacity(base.visitCount + liveVisits)
        for index in 0..<base.userCount where live[base.userIDs[index]] == nil {
            for visit in base.visitRange(ofUser: index) {
                entries.append((base.userIDs[index], base.stores[visit], base.timestamps[visit]))
            }
        }
        for (id, user) in live {
            for part in [user.trained, user.training, user.recent.settled] {
                for (store, timestamp) in zip(part.stores, part.timestamps) { entries.append((id, store, timestamp)) }
            }
        }
        return VisitLog(visits: entries, shards: shards)
    }

    private func baseIndex(of userID: String) -> Int? {
        base.userIndex(of: userID, partition: shards.partition(of: userID))
    }

    private func makeLiveUser(_ userID: String) -> LiveUser {
        let history = trainedVisits(of: userID)
        let summary = summary(of: userID)
        return LiveUser(
            trained: (Array(history.stores), Array(history.timestamps)),
            eventCount: summary?.events ?? 0, lastEventUnixSeconds: summary?.lastEventUnixSeconds ?? .min,
            lastPosition: nil, stayPoints: StayPointDetector()
        )
    }

    /// Merges every user's out-of-order arrivals, before a pass that reads all histories.
    private func settleAll() {
        let unsettled = live.compactMap { $0.value.recent.isSettled ? nil : $0.key }
        for id in unsettled { live[id]?.recent.settle() }
    }
}

/// Visits kept in time order (visits at the same second in arrival order), cheap to extend in any
/// order: a visit at or after the last one is appended; an earlier one waits in an unsorted tail
/// that ``settle()`` sorts and merges in one pass when the visits are next read. A batch of k
/// out-of-order visits into a history of n costs O(k log k + n) once instead of O(n) per visit
/// (an insert that shifts the array): an upload sent newest first no longer grows with n².
struct TimeOrderedVisits {
    /// The visits in time order, if ``isSettled``; else those that arrived before the first one out of order.
    private(set) var stores: [Int32] = []
    private(set) var timestamps: [Int64] = []
    /// Visits that arrived since the first one earlier than ``timestamps``' last, in arrival order.
    private var unsettled: [(timestamp: Int64, store: Int32)] = []

    init() {}

    /// Visits already in time order.
    init(settled visits: (stores: [Int32], timestamps: [Int64])) {
        stores = visits.stores
        timestamps = visits.timestamps
    }

    var count: Int { stores.count + unsettled.count }
    var isEmpty: Bool { count == 0 }
    /// Whether ``stores`` and ``timestamps`` hold every visit, in time order.
    var isSettled: Bool { unsettled.isEmpty }

    /// The visits in time order (without the cost of a merge once settled: callers settle first).
    var settled: (stores: [Int32], timestamps: [Int64]) {
        guard !isSettled else { return (stores, timestamps) }
        var merged = self
        merged.settle()
        return (merged.stores, merged.timestamps)
    }

    /// Adds a visit, to be kept after any visit at the same second that arrived before it.
    mutating func insert(_ store: Int32, at timestamp: Int64) {
        if unsettled.isEmpty, timestamp >= timestamps.last ?? .min {
            stores.append(store)
            timestamps.append(timestamp)
        } else {
            unsettled.append((timestamp, store))
        }
    }

    /// Sorts the visits that arrived out of order (stably: same-second visits keep arrival order) and
    /// merges them in; the settled visits all arrived earlier, so they go first among equals. Each
    /// arrival finds its place by binary search and the settled runs between them are copied whole:
    /// O(k log n) comparisons and one copy of the n settled visits.
    mutating func settle() {
        guard !unsettled.isEmpty else { return }
        // Swift's sort is stable: arrivals at the same second stay in arrival order.
        let arrivals = unsettled.sorted { $0.timestamp < $1.timestamp }
        unsettled = []
        var mergedStores = [Int32]()
        var mergedTimestamps = [Int64]()
        mergedStores.reserveCapacity(stores.count + arrivals.count)
        mergedTimestamps.reserveCapacity(stores.count + arrivals.count)
        var copied = 0
        for arrival in arrivals {
            let place = Self.firstIndex(after: arrival.timestamp, in: timestamps, from: copied)
            mergedStores.append(contentsOf: stores[copied..<place])
            mergedTimestamps.append(contentsOf: timestamps[copied..<place])
            copied = place
            mergedStores.append(arrival.store)
            mergedTimestamps.append(arrival.timestamp)
        }
        mergedStores.append(contentsOf: stores[copied...])
        mergedTimestamps.append(contentsOf: timestamps[copied...])
        stores = mergedStores
        timestamps = mergedTimestamps
    }

    /// The first index at or after `start` whose time is later than `time` (the end if none).
    private static func firstIndex(after time: Int64, in timestamps: [Int64], from start: Int) -> Int {
        var low = start
        var high = timestamps.endIndex
        while low < high {
            let middle = low + (high - low) / 2
            if timestamps[middle] <= time { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
