/// One raw GPS position of one user: the input of stay-point detection.
public struct GPSFix: Sendable, Equatable, Hashable {
    /// Degrees, WGS 84.
    public var latitude: Double
    /// Degrees, WGS 84.
    public var longitude: Double
    /// Seconds since 1970-01-01 UTC.
    public var timestampUnixSeconds: Int64

    public init(latitude: Double, longitude: Double, timestampUnixSeconds: Int64) {
        self.latitude = latitude
        self.longitude = longitude
        self.timestampUnixSeconds = timestampUnixSeconds
    }

    /// The fix's position.
    public var point: GeoPoint { GeoPoint(latitude: latitude, longitude: longitude) }

    /// The fix carried by an importer's event (its venue id and category are not looked at).
    public init(_ checkIn: CheckIn) {
        self.init(
            latitude: checkIn.latitude, longitude: checkIn.longitude,
            timestampUnixSeconds: checkIn.timestampUnixSeconds)
    }

    /// The fix as a raw-GPS ``CheckIn`` (venue id `""`).
    public func checkIn(userID: String, trajectoryID: String = "") -> CheckIn {
        CheckIn(
            userID: userID, venueID: "", latitude: latitude, longitude: longitude,
            timestampUnixSeconds: timestampUnixSeconds, trajectoryID: trajectoryID)
    }
}
