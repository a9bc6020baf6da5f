/// Why a fix was not accepted by a ``StayPointDetector``.
public enum StayPointError: Error, Sendable, Equatable {
    /// The fix is older than the previous fix of the same user; detection needs time order.
    case outOfOrder(previousUnixSeconds: Int64, fixUnixSeconds: Int64)
    /// The position is not finite or outside `-90...90`, `-180...180`.
    case invalidPosition(latitude: Double, longitude: Double)
}

/// Incremental stay-point detection for one user, for a live feed: fixes arrive one at a time and a
/// stay point is returned as soon as the user is seen to have left it.
///
/// Gives exactly (to the bit) the stay points of ``StayPointDetection/stayPoints(in:parameters:)``
/// over the same fixes, followed by ``finish()``. Memory is constant: the open stay is kept as its
/// first fix and a running mean.
///
/// ```swift
/// var detector = StayPointDetector()
/// for fix in feed {
///     if let stay = try detector.add(fix) { record(stay) }
/// }
/// ```
public struct StayPointDetector: Sendable, Equatable {
    /// The thresholds in use.
    public let parameters: StayPointParameters
    private var start: GPSFix?
    private var lastTimestamp: Int64 = .min
    private var centre: StayCentre?

    public init(parameters: StayPointParameters = .init()) {
        self.parameters = parameters
    }

    /// Adds the user's next fix.
    ///
    /// - Returns: the stay point this fix closes (the user has moved away from it), if any.
    /// - Throws: ``StayPointError`` if the fix is older than the previous one or its position is
    ///   invalid; the detector is unchanged then.
    public mutating func add(_ fix: GPSFix) throws(StayPointError) -> StayPoint? {
        guard fix.hasValidPosition else {
            throw .invalidPosition(latitude: fix.latitude, longitude: fix.longitude)
        }
        guard let anchor = start, var open = centre else {
            restart(at: fix)
            return nil
        }
        guard fix.timestampUnixSeconds >= lastTimestamp else {
            throw .outOfOrder(previousUnixSeconds: lastTimestamp, fixUnixSeconds: fix.timestampUnixSeconds)
        }
        if fix.timestampUnixSeconds - lastTimestamp > parameters.gapThresholdSeconds {
            restart(at: fix)
            return nil
        }
        lastTimestamp = fix.timestampUnixSeconds
        guard Geodesy.haversineMeters(anchor.point, fix.point) >= parameters.distanceThresholdMeters else {
            open.add(fix)
            centre = open
            return nil
        }
        restart(at: fix)
        guard fix.timestampUnixSeconds - anchor.timestampUnixSeconds >= parameters.timeThresholdSeconds else {
            return nil
        }
        return open.stayPoint(arrival: anchor.timestampUnixSeconds, departure: fix.timestampUnixSeconds)
    }

    /// Ends the track: returns the open stay if ``StayPointParameters/includeLast`` is set and it is
    /// long enough (departure = its last fix), and resets the detector.
    public mutating func finish() -> StayPoint? {
        defer { self = StayPointDetector(parameters: parameters) }
        guard parameters.includeLast else { return nil }
        return openStay
    }

    /// The stay the user is in right now, if it already lasts the time threshold (from its first fix
    /// to the latest fix). It may still grow; it is not final until ``add(_:)`` returns it.
    public var openStay: StayPoint? {
        guard let anchor = start, let centre,
            lastTimestamp - anchor.timestampUnixSeconds >= parameters.timeThresholdSeconds
        else { return nil }
        return centre.stayPoint(arrival: anchor.timestampUnixSeconds, departure: lastTimestamp)
    }

    /// The time of the latest fix, or `nil` before the first.
    public var latestFixUnixSeconds: Int64? { start == nil ? nil : lastTimestamp }

    private mutating func restart(at fix: GPSFix) {
        start = fix
        centre = StayCentre(fix)
        lastTimestamp = fix.timestampUnixSeconds
    }
}

/// Incremental stay-point detection for many users at once (one ``StayPointDetector`` each), for the
/// rank that owns those users in the live service.
public struct StayPointTracker: Sendable {
    /// The thresholds in use.
    public let parameters: StayPointParameters
    private var detectors: [String: StayPointDetector] = [:]

    public init(parameters: StayPointParameters = .init()) {
        self.parameters = parameters
    }

    /// The number of users with an open track.
    public var userCount: Int { detectors.count }

    /// Adds the next fix of `userID`; returns the stay point it closes, if any.
    public mutating func add(_ fix: GPSFix, userID: String) throws(StayPointError) -> StayPoint? {
        var detector = detectors[userID] ?? StayPointDetector(parameters: parameters)
        let stay = try detector.add(fix)
        detectors[userID] = detector
        return stay
    }

    /// Adds a raw-GPS event (its venue id is not looked at); returns the stay point it closes, if any.
    public mutating func add(_ checkIn: CheckIn) throws(StayPointError) -> StayPoint? {
        try add(GPSFix(checkIn), userID: checkIn.userID)
    }

    /// The open stay of `userID`, if it already lasts the time threshold.
    public func openStay(of userID: String) -> StayPoint? { detectors[userID]?.openStay }

    /// Ends the track of `userID` (see ``StayPointDetector/finish()``) and forgets the user.
    public mutating func finish(userID: String) -> StayPoint? {
        guard var detector = detectors.removeValue(forKey: userID) else { return nil }
        return detector.finish()
    }

    /// Ends and forgets every user whose latest fix is more than the gap threshold before `now`: their
    /// open stay can never be closed by a later fix (the gap discards it), so keeping them only costs
    /// memory. Returns what ``StayPointDetector/finish()`` gives for them, ordered by user id.
    public mutating func finishIdleUsers(now unixSeconds: Int64) -> [UserStayPoint] {
        let idle = detectors.compactMap { userID, detector -> String? in
            guard let latest = detector.latestFixUnixSeconds else { return userID }
            return unixSeconds - latest > parameters.gapThresholdSeconds ? userID : nil
        }
        return finish(users: idle)
    }

    /// Ends every track; returns the final stays (``StayPointParameters/includeLast``), ordered by user id.
    public mutating func finishAll() -> [UserStayPoint] { finish(users: Array(detectors.keys)) }

    private mutating func finish(users: [String]) -> [UserStayPoint] {
        users.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.compactMap { userID in
            finish(userID: userID).map { UserStayPoint(userID: userID, stayPoint: $0) }
        }
    }
}
