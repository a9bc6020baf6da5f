/// The timestamp layouts of the supported sources, parsed from UTF-8 bytes to Unix seconds.
///
/// - TSMC2014: `Tue Apr 03 18:00:09 +0000 2012` (weekday, month name, day, time, `±HHMM` offset,
///   year; the offset is applied, so the result is UTC).
/// - ISO-8601 (SNAP, GETNext, plain CSV): `2010-10-19T23:55:27Z`, `2012-12-21 13:29:31+00:00`;
///   `T`, `t` or a space between date and time; seconds optional; a fraction of a second is
///   truncated; zone `Z`, `±HH:MM`, `±HHMM` or `±HH`, and **no zone means UTC**. A bare date is
///   midnight UTC.
/// - Plain CSV also takes whole or decimal Unix seconds (`1334944800`, `1334944800.5`, truncated
///   to the second). Milliseconds are not guessed: a 13-digit value is implausible and reported.
public enum TimestampParsing {
    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
    @inlinable
    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let shiftedMonth = (month + 9) % 12
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The number of days in `month` of `year`.
    @inlinable
    public static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Unix seconds for a UTC calendar time, or `nil` when a field is out of range (seconds may be 60,
    /// a leap second, which lands on the next minute as POSIX time does).
    static func unixSeconds(
        year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64
    ) -> Int64? {
        guard (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        return daysSinceEpoch(year: year, month: month, day: day) * Seconds.perDay + hour * Seconds.perHour + minute * Seconds.perMinute + second
    }

    /// Parses the TSMC2014 layout `Tue Apr 03 18:00:09 +0000 2012`.
    public static func tsmc(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var scanner = ByteScanner(bytes)
        guard scanner.skipName(in: weekdayNames) != nil, scanner.skipSpaces() else { return nil }
        guard let month = scanner.skipName(in: monthNames), scanner.skipSpaces() else { return nil }
        guard let day = scanner.digits(1...2), scanner.skipSpaces() else { return nil }
        guard let hour = scanner.digits(2...2), scanner.skip(UInt8(ascii: ":")),
            let minute = scanner.digits(2...2), scanner.skip(UInt8(ascii: ":")),
            let second = scanner.digits(2...2), scanner.skipSpaces()
        else { return nil }
        guard let offset = scanner.zoneOffsetSeconds(), scanner.skipSpaces() else { return nil }
        guard let year = scanner.digits(4...4), scanner.isAtEnd else { return nil }
        guard let utc = unixSeconds(
            year: year, month: Int64(month + 1), day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return utc - offset
    }

    /// Parses an ISO-8601 date-time (see the type's documentation for the accepted forms).
    public static func iso8601(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var scanner = ByteScanner(bytes)
        guard let year = scanner.digits(4...4), scanner.skip(UInt8(ascii: "-")),
            let month = scanner.digits(2...2), scanner.skip(UInt8(ascii: "-")),
            let day = scanner.digits(2...2)
        else { return nil }
        if scanner.isAtEnd {
            return unixSeconds(year: year, month: month, day: day, hour: 0, minute: 0, second: 0)
        }
        guard scanner.skip(UInt8(ascii: "T")) || scanner.skip(UInt8(ascii: "t")) || scanner.skip(UInt8(ascii: " "))
        else { return nil }
        guard let hour = scanner.digits(2...2), scanner.skip(UInt8(ascii: ":")), let minute = scanner.digits(2...2)
        else { return nil }
        var second: Int64 = 0
        if scanner.skip(UInt8(ascii: ":")) {
            guard let value = scanner.digits(2...2) else { return nil }
            second = value
            if scanner.skip(UInt8(ascii: ".")) || scanner.skip(UInt8(ascii: ",")) {
                guard scanner.digits(1...18) != nil else { return nil }
            }
        }
        var offset: Int64 = 0
        if !scanner.isAtEnd {
            if scanner.skip(UInt8(ascii: "Z")) || scanner.skip(UInt8(ascii: "z")) {
                offset = 0
            } else {
                guard let value = scanner.zoneOffsetSeconds() else { return nil }
                offset = value
            }
        }
        guard scanner.isAtEnd,
            let utc = unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return utc - offset
    }

    /// Parses whole or decimal Unix seconds, or else ISO-8601 (the plain CSV rule).
    public static func unixOrISO8601(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        if let whole = TextScanning.integer(bytes) { return whole }
        if bytes.count > 4, bytes[4] == UInt8(ascii: "-") { return iso8601(bytes) }
        guard TextScanning.isDecimalSyntax(bytes), let value = TextScanning.double(bytes), value.isFinite,
            abs(value) < 9e15
        else { return nil }
        return Int64(value.rounded(.down))
    }

    static let weekdayNames: [[UInt8]] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map { Array($0.utf8) }
    static let monthNames: [[UInt8]] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .map { Array($0.utf8) }
}

/// A cursor over bytes for the fixed layouts of timestamps.
struct ByteScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { index >= bytes.count }

    /// Consumes `byte` if it is next.
    mutating func skip(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Consumes one or more spaces.
    mutating func skipSpaces() -> Bool {
        let start = index
        while index < bytes.count, bytes[index] == 0x20 { index += 1 }
        return index > start
    }

    /// Consumes a decimal number whose digit count is in `lengths` (and no more digits follow).
    mutating func digits(_ lengths: ClosedRange<Int>) -> Int64? {
        var value: Int64 = 0
        var count = 0
        while index < bytes.count, count < lengths.upperBound {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            value = value * 10 + Int64(digit)
            count += 1
            index += 1
        }
        guard lengths.contains(count) else { return nil }
        if index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { return nil }
        return value
    }

    /// Consumes exactly two digits, or nothing.
    mutating func twoDigits() -> Int64? {
        guard bytes.count - index >= 2 else { return nil }
        let high = bytes[index] &- UInt8(ascii: "0")
        let low = bytes[index + 1] &- UInt8(ascii: "0")
        guard high < 10, low < 10 else { return nil }
        index += 2
        return Int64(high) * 10 + Int64(low)
    }

    /// Consumes a three-letter name from `names` (ASCII case-insensitive) and returns its position.
    mutating func skipName(in names: [[UInt8]]) -> Int? {
        guard bytes.count - index >= 3 else { return nil }
        for (position, name) in names.enumerated()
        where (0..<3).allSatisfy({ bytes[index + $0] | 0x20 == name[$0] | 0x20 }) {
            index += 3
            return position
        }
        return nil
    }

    /// Consumes `±HH:MM`, `±HHMM` or `±HH` and returns the offset east of UTC in seconds.
    mutating func zoneOffsetSeconds() -> Int64? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return nil }
        let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
        index += 1
        guard let hours = twoDigits() else { return nil }
        var minutes: Int64 = 0
        if skip(UInt8(ascii: ":")) {
            guard let value = twoDigits() else { return nil }
            minutes = value
        } else if let value = twoDigits() {
            minutes = value  // `HHMM` without a colon, as TSMC writes `+0000`
        }
        if index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { return nil }
        guard hours <= 18, minutes < 60 else { return nil }
        return sign * (hours * Seconds.perHour + minutes * Seconds.perMinute)
    }
}
