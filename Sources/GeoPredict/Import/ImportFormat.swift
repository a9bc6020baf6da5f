/// The input layouts the importers read, named as on the command line (`--format tsmc`).
///
/// | Format    | Layout                                                                                   |
/// |-----------|------------------------------------------------------------------------------------------|
/// | `tsmc`    | Foursquare TSMC2014 TSV, no header: `user, venue, category id, category name, lat, lon,`  |
/// |           | `tz offset minutes, "Tue Apr 03 18:00:09 +0000 2012"`                                     |
/// | `snap`    | SNAP check-ins (Gowalla, Brightkite) TSV, no header: `user, 2010-10-19T23:55:27Z, lat,`   |
/// |           | `lon, location`                                                                          |
/// | `getnext` | The GETNext CSV, with header (`user_id, POI_id, ..., UTC_time, ..., trajectory_id, ...`)  |
/// | `csv`     | A plain CSV with a header naming `user_id, venue_id, latitude, longitude, timestamp` and  |
/// |           | optionally `category`, `trajectory_id`, `utc_offset_minutes` (see ``ColumnLayout``)        |
/// | `geolife` | A GeoLife folder tree of `.plt` trajectories (raw GPS, one folder per user)               |
public enum ImportFormat: String, CaseIterable, Sendable, CustomStringConvertible {
    case tsmc
    case snap
    case getnext
    case csv
    case geolife

    /// Whether the first line of a file is a header that names the columns.
    public var hasHeaderLine: Bool {
        switch self {
        case .getnext, .csv: return true
        case .tsmc, .snap, .geolife: return false
        }
    }

    /// Whether the input is a folder of files rather than one file.
    public var isFolder: Bool { self == .geolife }

    public var description: String { rawValue }
}
