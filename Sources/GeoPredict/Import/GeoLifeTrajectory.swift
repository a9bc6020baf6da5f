/// A problem with one line of a GeoLife `.plt` file. Bad lines are skipped and reported, never fatal.
public struct GeoLifeLineIssue: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Why the line was skipped.
    public enum Reason: Error, Sendable, Equatable, Hashable {
        /// The file ends inside the six header lines (after `linesFound` lines).
        case truncatedHeader(linesFound: Int)
        /// A data line must have 7 comma-separated fields.
        case wrongFieldCount(Int)
        /// Not a number, or outside `-90...90`.
        case invalidLatitude(String)
        /// Not a number, or outside `-180...180`.
        case invalidLongitude(String)
        /// Not `YYYY-MM-DD` with a real calendar day.
        case invalidDate(String)
        /// Not `HH:MM:SS` within a day.
        case invalidTime(String)
        /// Not a finite number of days.
        case invalidDays(String)
    }

    /// The file the line is in, as given to the reader.
    public var file: String
    /// 1-based line number in the file.
    public var line: Int
    public var reason: Reason

    public init(file: String, line: Int, reason: Reason) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String { "\(file):\(line): \(reason)" }
}

/// Which columns of a `.plt` line give the time.
public enum GeoLifeTimeSource: Sendable, Equatable, Hashable {
    /// Columns 6 and 7, `2008-10-23,02:53:04`, read as UTC (what trackintel's `read_geolife` uses).
    case dateAndTime
    /// Column 5, fractional days since 1899-12-30 UTC, rounded to the nearest second.
    case days
}

/// The fixes of one `.plt` file, in file order.
public struct GeoLifeTrajectory: Sendable, Equatable {
    /// The user folder's name (`"000"`).
    public var userID: String
    /// The file name without `.plt` (`"20081023025304"`).
    public var trajectoryID: String
    /// One fix per valid data line, in file order.
    public var fixes: [GPSFix]
    /// The lines that were skipped, and why.
    public var issues: [GeoLifeLineIssue]

    public init(userID: String, trajectoryID: String, fixes: [GPSFix], issues: [GeoLifeLineIssue]) {
        self.userID = userID
        self.trajectoryID = trajectoryID
        self.fixes = fixes
        self.issues = issues
    }

    /// The fixes as raw-GPS events (venue id `""`, ``CheckIn/trajectoryID`` = this file's id).
    public var checkIns: [CheckIn] { fixes.map { $0.checkIn(userID: userID, trajectoryID: trajectoryID) } }
}

/// Every fix of one GeoLife user, merged over the user's `.plt` files.
public struct GeoLifeUserTrack: Sendable, Equatable {
    /// The user folder's name (`"000"`).
    public var userID: String
    /// All fixes ordered by time; fixes with equal times keep file-name order, then line order.
    public var fixes: [GPSFix]
    /// The number of `.plt` files read.
    public var trajectoryCount: Int
    /// The skipped lines of every file.
    public var issues: [GeoLifeLineIssue]

    public init(userID: String, fixes: [GPSFix], trajectoryCount: Int, issues: [GeoLifeLineIssue]) {
        self.userID = userID
        self.fixes = fixes
        self.trajectoryCount = trajectoryCount
        self.issues = issues
    }
}

/// A user folder of a GeoLife tree: `root/NNN/Trajectory/*.plt`.
public struct GeoLifeUserFolder: Sendable, Equatable, Hashable {
    /// The folder's name (`"000"`).
    public var userID: String
    /// Paths of the user's `.plt` files, sorted by file name (GeoLife names them by start time).
    public var trajectoryPaths: [String]

    public init(userID: String, trajectoryPaths: [String]) {
        self.userID = userID
        self.trajectoryPaths = trajectoryPaths
    }
}

/// Why a GeoLife folder or file could not be read at all.
public enum GeoLifeError: Error, Sendable, Equatable {
    /// The path does not exist or is not a directory.
    case notADirectory(String)
    /// The directory has no `NNN/Trajectory` user folders.
    case noUserFolders(String)
    /// A file or directory could not be read.
    case unreadable(String)
}
