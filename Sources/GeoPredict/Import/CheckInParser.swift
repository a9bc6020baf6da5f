#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns one line of a TSMC2014, SNAP, GETNext or plain CSV file into a ``CheckIn``, or says why
/// it cannot: a pure function of the line's bytes and its number, safe to call from any thread.
///
/// Validation: the layout's field count; non-empty user and venue ids (an empty venue is a raw
/// GPS fix in the plain CSV); valid UTF-8; finite coordinates in `-90...90` / `-180...180` and not
/// both exactly 0; a timestamp that parses (see ``TimestampParsing``) and lies in
/// ``plausibleTimestamps``; a UTC offset, when present, in whole minutes within `-720...840`.
///
/// ```swift
/// let parser = CheckInParser(format: .tsmc)
/// let line = "470\t49bb...\t4bf5...\tArts & Crafts Store\t40.72\t-74.00\t-240\tTue Apr 03 18:00:00 +0000 2012"
/// switch parser.parse(line, lineNumber: 1) {
/// case .success(let checkIn): print(checkIn.timestampUnixSeconds)  // 1333476000
/// case .failure(let issue): print(issue)                           // "line 1: ..."
/// }
/// ```
public struct CheckInParser: Sendable {
    /// The layout the parser reads.
    public let format: ImportFormat
    /// Which field holds what.
    public let columns: ColumnLayout
    /// Timestamps outside this range are reported as ``ImportIssue/Reason/implausibleTimestamp(_:)``.
    public var plausibleTimestamps: ClosedRange<Int64>

    /// Unix seconds of 1990-01-01T00:00:00Z, the earliest plausible timestamp.
    public static let earliestPlausibleTimestamp: Int64 = 631_152_000

    /// 1990-01-01 up to one day after `now` (Unix seconds; the current time by default).
    public static func defaultPlausibleTimestamps(now: Int64 = Int64(time(nil))) -> ClosedRange<Int64> {
        earliestPlausibleTimestamp...max(earliestPlausibleTimestamp, now + Seconds.perDay)
    }

    /// A parser for a format without a header (`tsmc`, `snap`).
    ///
    /// - Precondition: `format` is `.tsmc` or `.snap`; use ``init(format:header:plausibleTimestamps:)``
    ///   for the others.
    public init(format: ImportFormat, plausibleTimestamps: ClosedRange<Int64> = CheckInParser.defaultPlausibleTimestamps()) {
        switch format {
        case .tsmc: columns = .tsmc
        case .snap: columns = .snap
        case .getnext, .csv, .geolife: preconditionFailure("CheckInParser: \(format) needs a header (init(format:header:))")
        }
        self.format = format
        self.plausibleTimestamps = plausibleTimestamps
    }

    /// A parser for any line format; `header` is the file's first line, required for `getnext` and
    /// `csv` (ignored for the others).
    public init(
        format: ImportFormat, header: String?,
        plausibleTimestamps: ClosedRange<Int64> = CheckInParser.defaultPlausibleTimestamps()
    ) throws(ImportSetupError) {
        switch format {
        case .tsmc: columns = .tsmc
        case .snap: columns = .snap
        case .getnext, .csv:
            guard let header else { throw .missingHeader(format) }
            do {
                columns = try ColumnLayout.fromHeader(header, format: format)
            } catch {
                throw .header(error)
            }
        case .geolife: throw .notALineFormat(format)
        }
        self.format = format
        self.plausibleTimestamps = plausibleTimestamps
    }

    /// Parses `line` (without its newline; a trailing `\r` is ignored).
    public func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int64) -> Result<CheckIn, ImportIssue> {
        var offset: Int16?
        return parse(line, lineNumber: lineNumber, utcOffsetMinutes: &offset)
    }

    /// Parses `line` (a convenience for tests and small inputs).
    public func parse(_ line: String, lineNumber: Int64) -> Result<CheckIn, ImportIssue> {
        var line = line
        return line.withUTF8 { parse($0, lineNumber: lineNumber) }
    }

    /// Parses `line` and also returns the UTC offset in minutes when the layout has one (TSMC's
    /// fifth-from-last field, GETNext's `timezone`), else sets it to `nil`.
    public func parse(
        _ line: UnsafeBufferPointer<UInt8>, lineNumber: Int64, utcOffsetMinutes: inout Int16?
    ) -> Result<CheckIn, ImportIssue> {
        utcOffsetMinutes = nil
        var line = line
        if let last = line.last, last == 0x0d { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        let capacity = columns.fieldCount + 1
        return withUnsafeTemporaryAllocation(of: FieldSpan.self, capacity: capacity) { spans in
            let outcome = columns.isQuoted
                ? FieldSplitter.splitCSV(line, separator: columns.separator, into: spans)
                : FieldSplitter.splitPlain(line, separator: columns.separator, into: spans)
            switch outcome {
            case .unterminatedQuote:
                return .failure(ImportIssue(lineNumber: lineNumber, reason: .unterminatedQuote))
            case .fields(let count) where count != columns.fieldCount:
                return .failure(ImportIssue(
                    lineNumber: lineNumber, reason: .wrongFieldCount(expected: columns.fieldCount, found: count)))
            case .fields:
                let fields = LineFields(line: line, spans: UnsafeBufferPointer(spans), trimming: columns.isQuoted)
                return parseFields(fields, utcOffsetMinutes: &utcOffsetMinutes)
                    .mapError { ImportIssue(lineNumber: lineNumber, reason: $0) }
            }
        }
    }

    private func parseFields(_ fields: LineFields, utcOffsetMinutes: inout Int16?) -> Result<CheckIn, ImportIssue.Reason> {
        let userID: String
        switch fields.requiredString(columns.user, name: "user") {
        case .success(let value): userID = value
        case .failure(let reason): return .failure(reason)
        }
        var venueID = ""
        if let venue = columns.venue {
            if fields.isEmpty(venue), columns.emptyVenueIsRawFix {
                venueID = ""
            } else {
                switch fields.requiredString(venue, name: columns.venueFieldName) {
                case .success(let value): venueID = value
                case .failure(let reason): return .failure(reason)
                }
            }
        }
        let latitude: Double
        let longitude: Double
        switch fields.position(latitude: columns.latitude, longitude: columns.longitude) {
        case .success(let position): (latitude, longitude) = position
        case .failure(let reason): return .failure(reason)
        }
        let timestamp: Int64
        switch timestampValue(fields) {
        case .success(let value): timestamp = value
        case .failure(let reason): return .failure(reason)
        }
        var category = ""
        if let column = columns.category {
            guard let value = fields.string(column) else { return .failure(.invalidUTF8(field: "category")) }
            category = value
        }
        var trajectoryID = ""
        if let column = columns.trajectory {
            guard let value = fields.string(column) else { return .failure(.invalidUTF8(field: "trajectory_id")) }
            trajectoryID = value
        }
        if let column = columns.utcOffset, !fields.isEmpty(column) {
            let bytes = fields.bytes(column)
            guard let minutes = TextScanning.integer(bytes), (-720...840).contains(minutes) else {
                return .failure(.invalidUTCOffset(ImportIssue.excerpt(bytes)))
            }
            utcOffsetMinutes = Int16(minutes)
        }
        return .success(CheckIn(
            userID: userID, venueID: venueID, latitude: latitude, longitude: longitude,
            timestampUnixSeconds: timestamp, category: category, trajectoryID: trajectoryID))
    }

    private func timestampValue(_ fields: LineFields) -> Result<Int64, ImportIssue.Reason> {
        let bytes = fields.bytes(columns.timestamp)
        guard !bytes.isEmpty else { return .failure(.emptyField("timestamp")) }
        let parsed: Int64?
        switch columns.timestampStyle {
        case .tsmc: parsed = TimestampParsing.tsmc(bytes)
        case .iso8601: parsed = TimestampParsing.iso8601(bytes)
        case .unixOrISO8601: parsed = TimestampParsing.unixOrISO8601(bytes)
        }
        guard let seconds = parsed else { return .failure(.invalidTimestamp(ImportIssue.excerpt(bytes))) }
        guard plausibleTimestamps.contains(seconds) else { return .failure(.implausibleTimestamp(seconds)) }
        return .success(seconds)
    }
}

/// The errors of setting up an import (as opposed to bad lines, which are ``ImportIssue``s).
public enum ImportSetupError: Error, Equatable, CustomStringConvertible {
    /// The format needs a header line and the file has none.
    case missingHeader(ImportFormat)
    /// The header does not name the columns the format needs.
    case header(ColumnLayout.HeaderError)
    /// The format is read by a folder source, not line by line.
    case notALineFormat(ImportFormat)

    public var description: String {
        switch self {
        case .missingHeader(let format): return "the \(format) format needs a header line, and the input is empty"
        case .header(let error): return "\(error)"
        case .notALineFormat(let format): return "\(format) is a folder format, not a line format"
        }
    }
}

/// The fields of one split line.
struct LineFields {
    let line: UnsafeBufferPointer<UInt8>
    let spans: UnsafeBufferPointer<FieldSpan>
    let trimming: Bool

    @inline(__always)
    func bytes(_ column: Int) -> UnsafeBufferPointer<UInt8> {
        let span = spans[column]
        let raw = UnsafeBufferPointer(rebasing: line[span.start..<span.end])
        return trimming ? TextScanning.trimmed(raw) : raw
    }

    func isEmpty(_ column: Int) -> Bool { bytes(column).isEmpty }

    func string(_ column: Int) -> String? { FieldSplitter.string(line, spans[column], trimming: trimming) }

    func requiredString(_ column: Int, name: String) -> Result<String, ImportIssue.Reason> {
        guard !isEmpty(column) else { return .failure(.emptyField(name)) }
        guard let value = string(column) else { return .failure(.invalidUTF8(field: name)) }
        return .success(value)
    }

    func coordinate(_ column: Int, name: String, limit: Double) -> Result<Double, ImportIssue.Reason> {
        let bytes = bytes(column)
        guard !bytes.isEmpty else { return .failure(.emptyField(name)) }
        guard let value = TextScanning.double(bytes) else {
            return .failure(.invalidNumber(field: name, text: ImportIssue.excerpt(bytes)))
        }
        guard value.isFinite, abs(value) <= limit else { return .failure(.coordinateOutOfRange(field: name, value: value)) }
        return .success(value)
    }

    /// The latitude and longitude in these columns, in range and not both zero (a null-island
    /// placeholder, not a place).
    func position(latitude latitudeColumn: Int, longitude longitudeColumn: Int) -> Result<(latitude: Double, longitude: Double), ImportIssue.Reason> {
        let latitude: Double
        let longitude: Double
        switch coordinate(latitudeColumn, name: "latitude", limit: 90) {
        case .success(let value): latitude = value
        case .failure(let reason): return .failure(reason)
        }
        switch coordinate(longitudeColumn, name: "longitude", limit: 180) {
        case .success(let value): longitude = value
        case .failure(let reason): return .failure(reason)
        }
        if latitude == 0, longitude == 0 { return .failure(.nullIsland) }
        return .success((latitude, longitude))
    }
}
