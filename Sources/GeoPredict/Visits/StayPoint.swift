/// A place where one user stayed: consecutive fixes that stayed within a distance of the first one
/// for at least a minimum time.
///
/// The times follow trackintel (Li et al. 2008): ``arrivalUnixSeconds`` is the time of the stay's
/// first fix and ``departureUnixSeconds`` the time of the first fix *outside* the stay, so a stay
/// covers the travel gap until the user was seen elsewhere. The position is the mean of the stay's
/// fixes (longitude as a circular mean, so stays on the antimeridian work).
public struct StayPoint: Sendable, Equatable, Hashable {
    /// Mean latitude of the stay's fixes, degrees.
    public var latitude: Double
    /// Circular mean longitude of the stay's fixes, degrees in `-180...180`.
    public var longitude: Double
    /// Time of the first fix of the stay.
    public var arrivalUnixSeconds: Int64
    /// Time of the first fix after the stay (or of the last fix, for a final stay kept by
    /// ``StayPointParameters/includeLast``).
    public var departureUnixSeconds: Int64
    /// The number of fixes whose mean is the position.
    public var fixCount: Int

    public init(
        latitude: Double, longitude: Double, arrivalUnixSeconds: Int64, departureUnixSeconds: Int64, fixCount: Int
    ) {
        self.latitude = latitude
        self.longitude = longitude
        self.arrivalUnixSeconds = arrivalUnixSeconds
        self.departureUnixSeconds = departureUnixSeconds
        self.fixCount = fixCount
    }

    /// The stay's position.
    public var point: GeoPoint { GeoPoint(latitude: latitude, longitude: longitude) }

    /// `departure - arrival`, seconds.
    public var durationSeconds: Int64 { departureUnixSeconds - arrivalUnixSeconds }
}

/// A stay point together with the user it belongs to.
public struct UserStayPoint: Sendable, Equatable, Hashable {
    public var userID: String
    public var stayPoint: StayPoint

    public init(userID: String, stayPoint: StayPoint) {
        self.userID = userID
        self.stayPoint = stayPoint
    }
}

/// The thresholds of the sliding-window stay-point detector. The defaults are trackintel's
/// (`generate_staypoints(method="sliding")`): 100 m, 5 min, 15 min gap, last stay dropped.
public struct StayPointParameters: Sendable, Equatable, Hashable {
    /// A fix at least this far (haversine metres) from the stay's first fix ends the stay.
    public var distanceThresholdMeters: Double
    /// A stay must last at least this long (arrival to departure, inclusive bound), seconds.
    public var timeThresholdSeconds: Int64
    /// Two consecutive fixes more than this far apart in time (strict bound) break the track: the
    /// open stay is discarded, not emitted, and a new one starts at the later fix. Seconds.
    public var gapThresholdSeconds: Int64
    /// Whether the stay still open after the last fix is emitted (if long enough). The original
    /// algorithm only emits a stay once the user has left it.
    public var includeLast: Bool

    public init(
        distanceThresholdMeters: Double = 100, timeThresholdSeconds: Int64 = 5 * Seconds.perMinute,
        gapThresholdSeconds: Int64 = 15 * Seconds.perMinute, includeLast: Bool = false
    ) {
        self.distanceThresholdMeters = distanceThresholdMeters
        self.timeThresholdSeconds = timeThresholdSeconds
        self.gapThresholdSeconds = gapThresholdSeconds
        self.includeLast = includeLast
    }
}
