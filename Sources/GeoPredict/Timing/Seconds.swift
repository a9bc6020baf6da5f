/// Lengths of time in seconds, the unit of every timestamp here (Unix seconds), so that a window reads
/// `7 * Seconds.perDay` rather than `604_800`. Calendar-free: a day is always 86,400 s (POSIX time has
/// no leap seconds), which is what the time arithmetic on timestamps needs.
///
/// Computed and `@inlinable`, so that they fold to constants in the hot paths (the hour kernel, the
/// recency features) as the literals did. Where a `Double` is needed: `Double(Seconds.perHour)`.
public enum Seconds {
    @inlinable public static var perMinute: Int64 { 60 }
    @inlinable public static var perHour: Int64 { 60 * perMinute }
    @inlinable public static var perDay: Int64 { 24 * perHour }
    @inlinable public static var perWeek: Int64 { 7 * perDay }
}
