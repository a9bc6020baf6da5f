/// Which field of a line holds what, for one input layout.
///
/// TSMC2014 and SNAP have fixed layouts. The GETNext and plain CSV layouts are read from the
/// header line by column name (ASCII case-insensitive, surrounding spaces, quotes and a UTF-8 byte
/// order mark ignored; the first column with a recognised name wins):
///
/// | Role        | Names                                                                               |
/// |-------------|-------------------------------------------------------------------------------------|
/// | user        | `user_id`, `userid`, `user`                                                         |
/// | venue       | `venue_id`, `venueid`, `venue`, `store_id`, `poi_id`, `location_id`, `place_id`       |
/// | latitude    | `latitude`, `lat`                                                                   |
/// | longitude   | `longitude`, `lon`, `lng`, `long`                                                   |
/// | timestamp   | `timestamp`, `timestamp_unix_seconds`, `utc_time`, `time`, `datetime`, `unix_time`  |
/// | category    | `category`, `category_name`, `venue_category`, `venue_category_name`, `poi_catname`  |
/// | trajectory  | `trajectory_id`, `trajectory`                                                       |
/// | UTC offset  | `utc_offset_minutes`, `timezone_offset_minutes`, `timezone`, `tz_offset`             |
///
/// The plain CSV needs user, latitude, longitude and timestamp; without a venue column every row
/// is a raw GPS fix, and a row with an empty venue is one too. GETNext also needs venue,
/// category and trajectory columns.
public struct ColumnLayout: Sendable, Equatable {
    /// How the timestamp field is written.
    public enum TimestampStyle: Sendable, Equatable {
        /// `Tue Apr 03 18:00:09 +0000 2012`.
        case tsmc
        /// ISO-8601 (`2010-10-19T23:55:27Z`, `2012-12-21 13:29:31+00:00`).
        case iso8601
        /// Unix seconds, or ISO-8601 when the field looks like a date.
        case unixOrISO8601
    }

    /// The field separator (tab or comma).
    public var separator: UInt8
    /// Whether fields may be quoted (CSV).
    public var isQuoted: Bool
    /// The number of fields every line must have.
    public var fieldCount: Int
    /// The field of the user id (0-based, as are all the field positions below).
    public var user: Int
    /// The field of the venue id; `nil` when every line is a raw GPS fix.
    public var venue: Int?
    /// The field of the latitude (degrees).
    public var latitude: Int
    /// The field of the longitude (degrees).
    public var longitude: Int
    /// The field of the timestamp, written as ``timestampStyle`` says.
    public var timestamp: Int
    public var timestampStyle: TimestampStyle
    /// The field of the category name, if any.
    public var category: Int?
    /// The field of the trajectory id, if any.
    public var trajectory: Int?
    /// The field of the UTC offset in minutes, if any.
    public var utcOffset: Int?
    /// Whether an empty venue field means a raw GPS fix (plain CSV) rather than a bad line.
    public var emptyVenueIsRawFix: Bool
    /// What issues call the venue field (`"venue"`, SNAP's `"location"`, or the header's name).
    public var venueFieldName: String

    /// TSMC2014: `user, venue, category id, category name, lat, lon, tz offset minutes, time`.
    public static let tsmc = ColumnLayout(
        separator: 0x09, isQuoted: false, fieldCount: 8, user: 0, venue: 1, latitude: 4, longitude: 5,
        timestamp: 7, timestampStyle: .tsmc, category: 3, trajectory: nil, utcOffset: 6,
        emptyVenueIsRawFix: false, venueFieldName: "venue")

    /// SNAP (Gowalla, Brightkite): `user, time, lat, lon, location`.
    public static let snap = ColumnLayout(
        separator: 0x09, isQuoted: false, fieldCount: 5, user: 0, venue: 4, latitude: 2, longitude: 3,
        timestamp: 1, timestampStyle: .iso8601, category: nil, trajectory: nil, utcOffset: nil,
        emptyVenueIsRawFix: false, venueFieldName: "location")

    /// The errors of reading a header.
    public enum HeaderError: Error, Equatable, CustomStringConvertible {
        /// The header lacks columns the layout needs (the roles, such as `"latitude"`).
        case missingColumns([String], header: String)

        public var description: String {
            switch self {
            case let .missingColumns(columns, header):
                return "the header lacks column(s) \(columns.joined(separator: ", ")): \"\(header.prefix(200))\""
            }
        }
    }

    /// Reads a GETNext or plain CSV header line.
    public static func fromHeader(_ header: String, format: ImportFormat) throws(HeaderError) -> ColumnLayout {
        let names = headerNames(header)
        func find(_ aliases: [String]) -> Int? {
            for alias in aliases { if let index = names.firstIndex(of: alias) { return index } }
            return nil
        }
        let user = find(["user_id", "userid", "user"])
        let venue = find(["venue_id", "venueid", "venue", "store_id", "poi_id", "location_id", "place_id"])
        let latitude = find(["latitude", "lat"])
        let longitude = find(["longitude", "lon", "lng", "long"])
        let timestamp = find(["timestamp", "timestamp_unix_seconds", "utc_time", "time", "datetime", "unix_time"])
        let category = find(["category", "category_name", "venue_category", "venue_category_name", "poi_catname"])
        let trajectory = find(["trajectory_id", "trajectory"])
        let offset = find(["utc_offset_minutes", "timezone_offset_minutes", "timezone", "tz_offset"])
        var missing: [String] = []
        if user == nil { missing.append("user_id") }
        if latitude == nil { missing.append("latitude") }
        if longitude == nil { missing.append("longitude") }
        if timestamp == nil { missing.append(format == .getnext ? "UTC_time" : "timestamp") }
        if format == .getnext {
            if venue == nil { missing.append("POI_id") }
            if category == nil { missing.append("POI_catname") }
            if trajectory == nil { missing.append("trajectory_id") }
        }
        guard let user, let latitude, let longitude, let timestamp, missing.isEmpty else {
            throw .missingColumns(missing, header: header)
        }
        return ColumnLayout(
            separator: UInt8(ascii: ","), isQuoted: true, fieldCount: names.count, user: user, venue: venue,
            latitude: latitude, longitude: longitude, timestamp: timestamp,
            timestampStyle: format == .getnext ? .iso8601 : .unixOrISO8601, category: category,
            trajectory: trajectory, utcOffset: offset, emptyVenueIsRawFix: format == .csv,
            venueFieldName: venue.map { names[$0] } ?? "venue")
    }

    /// The normalised column names of a CSV header.
    static func headerNames(_ header: String) -> [String] {
        var text = Substring(header)
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        while let last = text.last, last == "\r" || last == "\n" { text = text.dropLast() }
        return text.split(separator: ",", omittingEmptySubsequences: false).map { name in
            var name = name.trimmingSpaces()
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = name.dropFirst().dropLast() }
            return String(name.trimmingSpaces()).lowercased()
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}
