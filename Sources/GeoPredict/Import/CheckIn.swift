/// One location event as the importers read it: a check-in at a venue, or a raw GPS fix.
///
/// Ids stay strings here because the sources use strings; the engine interns them into dense
/// indices once the events have reached the rank that owns their user.
public struct CheckIn: Sendable, Equatable, Hashable {
    /// The user's id as the source spells it.
    public var userID: String
    /// The venue (store) id, or `""` for a raw GPS fix that still needs visit detection.
    public var venueID: String
    /// Degrees, WGS 84, `-90...90`.
    public var latitude: Double
    /// Degrees, WGS 84, `-180...180`.
    public var longitude: Double
    /// Seconds since 1970-01-01 UTC.
    public var timestampUnixSeconds: Int64
    /// The venue's category name (`"Clothing Store"`), or `""` when the source has none.
    public var category: String
    /// The trajectory the event belongs to (GETNext layout), or `""`.
    public var trajectoryID: String

    public init(
        userID: String, venueID: String, latitude: Double, longitude: Double,
        timestampUnixSeconds: Int64, category: String = "", trajectoryID: String = ""
    ) {
        self.userID = userID
        self.venueID = venueID
        self.latitude = latitude
        self.longitude = longitude
        self.timestampUnixSeconds = timestampUnixSeconds
        self.category = category
        self.trajectoryID = trajectoryID
    }

    /// Whether this is a raw GPS fix rather than a check-in at a known venue.
    public var isRawFix: Bool { venueID.isEmpty }
}
