#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads GeoLife 1.3 trajectories (raw GPS): a root folder with one folder per user,
/// `NNN/Trajectory/*.plt`, the user id being the folder name `NNN`.
///
/// A `.plt` file has six header lines, then one fix per line:
/// `latitude,longitude,0,altitude_feet,days_since_1899-12-30,date,time`, e.g.
/// `39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04` (UTC). Altitude and the
/// constant column are not used. Blank lines are ignored; other bad lines are skipped and reported
/// as ``GeoLifeLineIssue``s with their line number.
///
/// ```swift
/// for folder in try GeoLifeReader.userFolders(in: "/data/geolife") {
///     let track = try GeoLifeReader.readUser(folder)
///     let stays = StayPointDetection.stayPoints(in: track.fixes)
/// }
/// ```
public enum GeoLifeReader {
    /// The number of header lines before the first fix.
    public static let headerLineCount = 6

    /// Parses the text of one `.plt` file.
    ///
    /// - Parameters:
    ///   - bytes: the file's bytes (UTF-8/ASCII; `\n` or `\r\n` line ends).
    ///   - file: the name used in issues.
    public static func parseTrajectory(
        _ bytes: [UInt8], userID: String, trajectoryID: String, file: String = "",
        timeSource: GeoLifeTimeSource = .dateAndTime
    ) -> GeoLifeTrajectory {
        var fixes = [GPSFix]()
        var issues = [GeoLifeLineIssue]()
        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if lineNumber <= headerLineCount { continue }
            let line = rawLine.last == UInt8(ascii: "\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            switch parseLine(line, timeSource: timeSource) {
            case .success(let fix): fixes.append(fix)
            case .failure(let reason): issues.append(GeoLifeLineIssue(file: file, line: lineNumber, reason: reason))
            }
        }
        // A final newline yields one extra empty piece; it is not a line of the file.
        let linesFound = bytes.isEmpty || bytes.last == UInt8(ascii: "\n") ? lineNumber - 1 : lineNumber
        if linesFound < headerLineCount {
            issues.append(GeoLifeLineIssue(file: file, line: max(linesFound, 1), reason: .truncatedHeader(linesFound: linesFound)))
        }
        return GeoLifeTrajectory(userID: userID, trajectoryID: trajectoryID, fixes: fixes, issues: issues)
    }

    /// The user folders under `root` (sub-folders that contain a `Trajectory` folder), ordered by
    /// user id, each with its `.plt` files ordered by name.
    public static func userFolders(in root: String) throws(GeoLifeError) -> [GeoLifeUserFolder] {
        guard isDirectory(root) else { throw .notADirectory(root) }
        var folders = [GeoLifeUserFolder]()
        for name in try listDirectory(root) {
            let trajectoryDirectory = root + "/" + name + "/Trajectory"
            guard isDirectory(trajectoryDirectory) else { continue }
            let files = try listDirectory(trajectoryDirectory).filter { $0.lowercased().hasSuffix(".plt") }
            folders.append(GeoLifeUserFolder(userID: name, trajectoryPaths: files.map { trajectoryDirectory + "/" + $0 }))
        }
        guard !folders.isEmpty else { throw .noUserFolders(root) }
        return folders
    }

    /// Reads one `.plt` file.
    public static func readTrajectory(
        atPath path: String, userID: String, timeSource: GeoLifeTimeSource = .dateAndTime
    ) throws(GeoLifeError) -> GeoLifeTrajectory {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        let trajectoryID = fileName.lowercased().hasSuffix(".plt") ? String(fileName.dropLast(4)) : fileName
        return parseTrajectory([UInt8](data), userID: userID, trajectoryID: trajectoryID, file: path, timeSource: timeSource)
    }

    /// Reads all files of one user and merges them into one time-ordered track.
    public static func readUser(
        _ folder: GeoLifeUserFolder, timeSource: GeoLifeTimeSource = .dateAndTime
    ) throws(GeoLifeError) -> GeoLifeUserTrack {
        var fixes = [GPSFix]()
        var issues = [GeoLifeLineIssue]()
        for path in folder.trajectoryPaths {
            let trajectory = try readTrajectory(atPath: path, userID: folder.userID, timeSource: timeSource)
            fixes += trajectory.fixes
            issues += trajectory.issues
        }
        return GeoLifeUserTrack(
            userID: folder.userID, fixes: StayPointDetection.orderedValidFixes(fixes),
            trajectoryCount: folder.trajectoryPaths.count, issues: issues)
    }

    // MARK: Lines

    /// Parses one data line (without its line end) into a fix, or says why it is bad.
    public static func parseLine<Line: BidirectionalCollection<UInt8>>(
        _ line: Line, timeSource: GeoLifeTimeSource = .dateAndTime
    ) -> Result<GPSFix, GeoLifeLineIssue.Reason> {
        var fields = [Line.SubSequence.SubSequence]()
        for field in line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            fields.append(trimmed(field))
        }
        guard fields.count == 7 else { return .failure(.wrongFieldCount(fields.count)) }
        guard let latitude = number(fields[0]), abs(latitude) <= 90 else {
            return .failure(.invalidLatitude(text(fields[0])))
        }
        guard let longitude = number(fields[1]), abs(longitude) <= 180 else {
            return .failure(.invalidLongitude(text(fields[1])))
        }
        let timestamp: Int64
        switch timeSource {
        case .dateAndTime:
            guard let day = GeoLifeTime.daysSinceEpoch(date: fields[5]) else { return .failure(.invalidDate(text(fields[5]))) }
            guard let second = GeoLifeTime.secondOfDay(time: fields[6]) else { return .failure(.invalidTime(text(fields[6]))) }
            timestamp = day * Seconds.perDay + second
        case .days:
            guard let days = number(fields[4]), let seconds = GeoLifeTime.unixSeconds(daysSince1899: days) else {
                return .failure(.invalidDays(text(fields[4])))
            }
            timestamp = seconds
        }
        return .success(GPSFix(latitude: latitude, longitude: longitude, timestampUnixSeconds: timestamp))
    }

    private static func trimmed<Field: BidirectionalCollection<UInt8>>(_ field: Field) -> Field.SubSequence {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }
        guard let first = field.firstIndex(where: { !isSpace($0) }), let last = field.lastIndex(where: { !isSpace($0) })
        else { return field[field.endIndex..<field.endIndex] }
        return field[first...last]
    }

    /// A finite decimal number; `Double(String)` alone would also accept `nan`, `inf` and hex.
    private static func number(_ field: some Collection<UInt8>) -> Double? {
        let allowed = field.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E")
        }
        guard allowed, !field.isEmpty, let value = Double(text(field)), value.isFinite else { return nil }
        return value
    }

    private static func text(_ field: some Collection<UInt8>) -> String { String(decoding: field, as: UTF8.self) }

    // MARK: Files

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory
    }

    /// Entry names, sorted byte-wise, so that the order never depends on the file system.
    private static func listDirectory(_ path: String) throws(GeoLifeError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } catch {
            throw .unreadable(path)
        }
    }
}

/// Calendar arithmetic for GeoLife times (proleptic Gregorian, UTC), without Foundation.
enum GeoLifeTime {
    /// Days from 1899-12-30 (the spreadsheet epoch GeoLife uses) to 1970-01-01.
    static let spreadsheetEpochOffsetDays = 25_569.0

    /// `YYYY-MM-DD` → days since 1970-01-01, or `nil` if malformed or not a real date.
    static func daysSinceEpoch(date: some Collection<UInt8>) -> Int64? {
        let parts = date.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = digits(parts[0]), let month = digits(parts[1]), let day = digits(parts[2]),
            (1...12).contains(month), (1...daysInMonth(month, year: year)).contains(day)
        else { return nil }
        return daysFromCivil(year: year, month: month, day: day)
    }

    /// `HH:MM:SS` → seconds since midnight, or `nil` if malformed or out of range.
    static func secondOfDay(time: some Collection<UInt8>) -> Int64? {
        let parts = time.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }),
            let hour = digits(parts[0]), let minute = digits(parts[1]), let second = digits(parts[2]),
            hour < 24, minute < 60, second < 60
        else { return nil }
        return hour * Seconds.perHour + minute * Seconds.perMinute + second
    }

    /// Fractional days since 1899-12-30 → unix seconds, rounded to the nearest second.
    static func unixSeconds(daysSince1899 days: Double) -> Int64? {
        let seconds = ((days - spreadsheetEpochOffsetDays) * Double(Seconds.perDay)).rounded()
        guard seconds.isFinite, abs(seconds) < 1e15 else { return nil }
        return Int64(seconds)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func daysInMonth(_ month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func digits(_ field: some Collection<UInt8>) -> Int64? {
        guard !field.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in field {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
