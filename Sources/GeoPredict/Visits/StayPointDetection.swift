#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Batch stay-point detection over one user's track: trackintel's `generate_staypoints`
/// (`method="sliding"`, haversine), itself Li et al. (2008).
///
/// Walking the fixes in time order, with `start` the first fix of the open stay:
/// 1. if the time since the *previous* fix exceeds the gap threshold, the open stay is dropped and a
///    new one starts at this fix;
/// 2. otherwise, if this fix is at least the distance threshold from `start`, the open stay ends: it is
///    a stay point if `time(this) - time(start)` reaches the time threshold, and a new stay starts at
///    this fix either way;
/// 3. otherwise the fix joins the open stay.
///
/// Only the distance to the stay's *first* fix counts, not to its centre. One deliberate difference:
/// the position is the mean of all the stay's fixes, where trackintel takes the mean of their
/// distinct coordinates (a side effect of its shapely union); repeated identical fixes therefore weigh
/// more here. On the GeoLife sample (`benchmarks/staypoints/compare-trackintel`) every stay point has
/// trackintel's exact start and end, and the centres differ by 0.6 m (median), 11 m at most.
public enum StayPointDetection {
    /// The stay points of one user's fixes, in time order.
    ///
    /// - Parameter fixes: one user's fixes. They are used in time order; fixes with equal times keep
    ///   their given order (a stable sort is applied only if the input is not sorted yet). Fixes
    ///   with a non-finite or out-of-range position are skipped.
    /// - Returns: the stay points; the same as feeding the fixes one by one to a
    ///   ``StayPointDetector`` and calling ``StayPointDetector/finish()`` at the end.
    public static func stayPoints(in fixes: [GPSFix], parameters: StayPointParameters = .init()) -> [StayPoint] {
        let track = orderedValidFixes(fixes)
        guard let first = track.first else { return [] }
        var result = [StayPoint]()
        var start = first
        var centre = StayCentre(first)
        for index in 1..<track.count {
            let fix = track[index]
            if fix.timestampUnixSeconds - track[index - 1].timestampUnixSeconds > parameters.gapThresholdSeconds {
                start = fix
                centre = StayCentre(fix)
                continue
            }
            if Geodesy.haversineMeters(start.point, fix.point) >= parameters.distanceThresholdMeters {
                if fix.timestampUnixSeconds - start.timestampUnixSeconds >= parameters.timeThresholdSeconds {
                    result.append(centre.stayPoint(arrival: start.timestampUnixSeconds, departure: fix.timestampUnixSeconds))
                }
                start = fix
                centre = StayCentre(fix)
            } else {
                centre.add(fix)
            }
        }
        if parameters.includeLast, let last = track.last,
            last.timestampUnixSeconds - start.timestampUnixSeconds >= parameters.timeThresholdSeconds
        {
            result.append(centre.stayPoint(arrival: start.timestampUnixSeconds, departure: last.timestampUnixSeconds))
        }
        return result
    }

    /// Valid fixes in time order; stable for equal times.
    static func orderedValidFixes(_ fixes: [GPSFix]) -> [GPSFix] {
        let valid = fixes.allSatisfy(\.hasValidPosition) ? fixes : fixes.filter(\.hasValidPosition)
        let isSorted = zip(valid, valid.dropFirst()).allSatisfy { $0.timestampUnixSeconds <= $1.timestampUnixSeconds }
        if isSorted { return valid }
        // Swift's sort is not guaranteed stable: sort (time, original position) pairs instead.
        return valid.enumerated()
            .sorted { ($0.element.timestampUnixSeconds, $0.offset) < ($1.element.timestampUnixSeconds, $1.offset) }
            .map(\.element)
    }
}

extension GPSFix {
    /// Whether the position is finite and within `-90...90`, `-180...180`.
    public var hasValidPosition: Bool { point.hasValidPosition }
}

/// The running mean position of a stay's fixes: latitude arithmetically, longitude as a circular
/// mean. Batch and incremental detection add fixes in the same order, so they agree to the bit.
struct StayCentre: Sendable, Equatable {
    private var latitudeSum: Double
    private var longitudeSineSum: Double
    private var longitudeCosineSum: Double
    private(set) var count: Int

    init(_ fix: GPSFix) {
        latitudeSum = 0
        longitudeSineSum = 0
        longitudeCosineSum = 0
        count = 0
        add(fix)
    }

    mutating func add(_ fix: GPSFix) {
        let lambda = fix.longitude * Double.pi / 180
        latitudeSum += fix.latitude
        longitudeSineSum += sin(lambda)
        longitudeCosineSum += cos(lambda)
        count += 1
    }

    func stayPoint(arrival: Int64, departure: Int64) -> StayPoint {
        StayPoint(
            latitude: latitudeSum / Double(count),
            longitude: atan2(longitudeSineSum, longitudeCosineSum) * 180 / Double.pi,
            arrivalUnixSeconds: arrival, departureUnixSeconds: departure, fixCount: count)
    }
}
