/// One input of the next-visit score: a number per (query, candidate store), computed by
/// ``NextVisitFeatureExtractor`` from the user's history strictly before the query.
///
/// The definitions (with `n` the user's visits to the store in the history, `t_q` the query time, `a`
/// the last visited store, `κ` the hour-kernel concentration) follow the research prototype
/// `benchmarks/research/nextvisit.py` one for one, except that ages here run on the user's activity
/// clock (the prototype keeps the wall clock); the groups are what `--disable-feature` switches off.
public enum NextVisitFeature: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// `log(1 + n)`.
    case frequency
    /// `log(1 + Σ exp(-(t_q - t_i) / 1 day))` over the user's visits to the store, with the ages
    /// `t_q - t_i` on the user's activity clock (``NextVisitParameters/recencyGapCapSeconds``).
    case recencyDay
    /// The same with a 7-day time constant.
    case recencyWeek
    /// The same with a 30-day time constant.
    case recencyMonth
    /// 1 if the user has been there, else 0.
    case visited
    /// `log(1 + hours since the last visit)` on the activity clock, 0 if never visited.
    case hoursSinceVisit
    /// `log(1 + Σ K(hour_i, hour_q))`: visits to the store at this time of day (circular kernel
    /// `K = exp(κ(cos Δ − 1))` on local solar time).
    case userHour
    /// `log((Σ K + K̄) / (n + 1))`: the share of the user's visits to the store that fall at this time of day.
    case userHourShare
    /// `log(1 + visits on the same part of the week)` (weekday vs weekend).
    case userWeekPart
    /// `log(1 + the user's transitions a → store)` (consecutive visits less than a session gap apart).
    case userNext
    /// `log(1 + the user's transitions (previous, a) → store)`.
    case userNextSecondOrder
    /// `log P(store | a)` from everyone else's transitions, backed off to their popularity.
    case othersNext
    /// `log(1 + visits to the store in the current session)`.
    case session
    /// 1 if the store is the last one visited.
    case isLast
    /// 1 if the store is where the current session started.
    case isSessionStart
    /// `log(1 + the user's visits to the store that ended a session)`.
    case sessionEnd
    /// `log(distance km + d₀)` from the current position (or the last store): a fitted power-law decay.
    case distance
    /// `log(1 + everyone else's visits to the store)`.
    case popularity
    /// `log P(this time of day | store)` from everyone else's visits, smoothed towards the category.
    case storeHour
    /// `log` of the user's share of visits in the store's category (add-one smoothed).
    case categoryShare
    /// The collaborative-filtering score `x_u · y_s` (ALS, user factors folded in from the history).
    case collaborative

    /// The number of features.
    public static let count = allCases.count

    /// The part of the model the feature belongs to.
    public var group: NextVisitFeatureGroup {
        switch self {
        case .frequency, .recencyDay, .recencyWeek, .recencyMonth, .visited, .hoursSinceVisit: return .frequency
        case .userHour, .userHourShare, .userWeekPart: return .userTime
        case .userNext, .userNextSecondOrder, .othersNext: return .sequence
        case .session, .isLast, .isSessionStart, .sessionEnd: return .session
        case .distance: return .geography
        case .popularity: return .popularity
        case .storeHour: return .storeTime
        case .categoryShare: return .category
        case .collaborative: return .collaborative
        }
    }

    /// The command-line name (`user-next`).
    public var name: String {
        switch self {
        case .frequency: return "frequency"
        case .recencyDay: return "recency-day"
        case .recencyWeek: return "recency-week"
        case .recencyMonth: return "recency-month"
        case .visited: return "visited"
        case .hoursSinceVisit: return "hours-since-visit"
        case .userHour: return "user-hour"
        case .userHourShare: return "user-hour-share"
        case .userWeekPart: return "user-week-part"
        case .userNext: return "user-next"
        case .userNextSecondOrder: return "user-next-2"
        case .othersNext: return "others-next"
        case .session: return "session-count"
        case .isLast: return "is-last"
        case .isSessionStart: return "is-session-start"
        case .sessionEnd: return "session-end"
        case .distance: return "distance"
        case .popularity: return "popularity-count"
        case .storeHour: return "store-hour"
        case .categoryShare: return "category-share"
        case .collaborative: return "cf-score"
        }
    }

    public var description: String { name }
}

/// The parts of the next-visit model, for ablations (`--disable-feature geo,cf`).
public enum NextVisitFeatureGroup: String, CaseIterable, Sendable {
    /// How often and how recently the user went there.
    case frequency
    /// The user's own time-of-day and part-of-week rhythm at the store.
    case userTime = "user-time"
    /// Transitions from the last store: the user's own and everyone else's.
    case sequence
    /// The current session: visits in it, last store, where it started, where the user's sessions end.
    case session
    /// Distance from the current position.
    case geography = "geo"
    /// Everyone else's visits to the store.
    case popularity
    /// The store's hour-of-day profile at the query time.
    case storeTime = "store-time"
    /// The user's taste for the store's category.
    case category
    /// Collaborative filtering (ALS).
    case collaborative = "cf"

    /// The features of this group.
    public var features: [NextVisitFeature] { NextVisitFeature.allCases.filter { $0.group == self } }
}

/// A set of features, stored as a bit mask (the model's weights for features outside it are 0).
public struct NextVisitFeatureSet: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Bit `f.rawValue` is set when feature `f` is in the set.
    public private(set) var mask: UInt64

    /// Every feature.
    public static let all = NextVisitFeatureSet(mask: (1 << UInt64(NextVisitFeature.count)) - 1)

    public init(mask: UInt64) { self.mask = mask & ((1 << UInt64(NextVisitFeature.count)) - 1) }

    public init(_ features: some Sequence<NextVisitFeature>) {
        mask = 0
        for feature in features { insert(feature) }
    }

    public func contains(_ feature: NextVisitFeature) -> Bool { mask & (1 << UInt64(feature.rawValue)) != 0 }

    public mutating func insert(_ feature: NextVisitFeature) { mask |= 1 << UInt64(feature.rawValue) }

    public mutating func remove(_ feature: NextVisitFeature) { mask &= ~(1 << UInt64(feature.rawValue)) }

    /// The set without the features of `group`.
    public func removing(_ group: NextVisitFeatureGroup) -> NextVisitFeatureSet {
        var copy = self
        for feature in group.features { copy.remove(feature) }
        return copy
    }

    /// The features in the set, in ``NextVisitFeature`` order.
    public var features: [NextVisitFeature] { NextVisitFeature.allCases.filter(contains) }

    /// The set without the features or groups named in `names` (command-line names, comma-separated
    /// on the command line).
    ///
    /// - Throws: ``NextVisitModelError/unknownFeature(_:)`` for a name that is neither.
    public func disabling(_ names: [String]) throws(NextVisitModelError) -> NextVisitFeatureSet {
        var copy = self
        for name in names.map({ $0.trimmingSpaces }) where !name.isEmpty {
            if let group = NextVisitFeatureGroup(rawValue: name) {
                copy = copy.removing(group)
            } else if let feature = NextVisitFeature.allCases.first(where: { $0.name == name }) {
                copy.remove(feature)
            } else {
                throw .unknownFeature(name)
            }
        }
        return copy
    }

    public var description: String {
        self == .all ? "all" : features.map(\.name).joined(separator: ",")
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}
