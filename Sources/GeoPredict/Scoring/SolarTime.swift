#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Local mean solar time: UTC shifted by longitude / 15 hours.
///
/// Time-of-day features need local time, and not every source gives a time zone (SNAP, GeoLife, plain
/// CSV). Solar time needs only the position, is the same for every rank and every run, and is within
/// about an hour of civil time in most places — well inside the ±3 h of the hour kernel.
public enum SolarTime {
    /// Seconds to add to UTC at `longitude` (degrees east).
    @inlinable
    public static func offsetSeconds(longitude: Double) -> Double { longitude / 15 * Double(Seconds.perHour) }

    /// The hour of the day in `[0, 24)` at `longitude` at `timestamp` (Unix seconds).
    @inlinable
    public static func hour(at timestamp: Int64, longitude: Double) -> Double {
        // Whole days in integers first (exact), then the fraction: no fmod on the hot path.
        let shift = offsetSeconds(longitude: longitude)
        let whole = shift.rounded(.down)
        var seconds = (timestamp + Int64(whole)) % Seconds.perDay
        if seconds < 0 { seconds += Seconds.perDay }
        let hour = (Double(seconds) + (shift - whole)) / Double(Seconds.perHour)
        return hour < 24 ? hour : hour - 24
    }

    /// The hour bin `0..<24` (the hour, rounded down).
    @inlinable
    public static func hourBin(at timestamp: Int64, longitude: Double) -> Int {
        Int(hour(at: timestamp, longitude: longitude))
    }

    /// Whether it is Saturday or Sunday at `longitude` at `timestamp`.
    @inlinable
    public static func isWeekend(at timestamp: Int64, longitude: Double) -> Bool {
        let local = timestamp + Int64(offsetSeconds(longitude: longitude).rounded(.down))
        let day = local >= 0 ? local / Seconds.perDay : (local - (Seconds.perDay - 1)) / Seconds.perDay
        // 1970-01-01 was a Thursday: day 0 → weekday index 3 with Monday = 0.
        let weekday = ((day + 3) % 7 + 7) % 7
        return weekday >= 5
    }
}
