@testable import GeoPredict
import Testing

/// Timestamp layouts against known values and against a slow day-counting reference.
struct ImportTimestampTests {
    func parse(_ text: String, _ parser: (UnsafeBufferPointer<UInt8>) -> Int64?) -> Int64? {
        var text = text
        return text.withUTF8(parser)
    }

    /// Counts days one by one from 1970: obviously right, slow.
    func referenceDays(year: Int64, month: Int64, day: Int64) -> Int64 {
        var days: Int64 = 0
        if year >= 1970 {
            for y in 1970..<year { days += TimestampParsing.daysInMonth(year: y, month: 2) == 29 ? 366 : 365 }
        } else {
            for y in year..<1970 { days -= TimestampParsing.daysInMonth(year: y, month: 2) == 29 ? 366 : 365 }
        }
        for m in 1..<month { days += TimestampParsing.daysInMonth(year: year, month: m) }
        return days + day - 1
    }

    @Test func daysSinceEpochMatchesTheReference() {
        for year in Int64(1899)...2101 {
            for month in Int64(1)...12 {
                for day in [Int64(1), 15, TimestampParsing.daysInMonth(year: year, month: month)] {
                    #expect(TimestampParsing.daysSinceEpoch(year: year, month: month, day: day)
                        == referenceDays(year: year, month: month, day: day), "\(year)-\(month)-\(day)")
                }
            }
        }
    }

    @Test func tsmcLayout() {
        #expect(parse("Tue Apr 03 18:00:00 +0000 2012", TimestampParsing.tsmc) == 1_333_476_000)
        #expect(parse("Tue Apr 03 18:00:09 -0400 2012", TimestampParsing.tsmc) == 1_333_490_409)
        #expect(parse("tue apr 3 18:00:00 +0000 2012", TimestampParsing.tsmc) == 1_333_476_000)
        #expect(parse("Tue Apr 03 18:00:00 +0000 2012 ", TimestampParsing.tsmc) == nil)
        #expect(parse("Tue Abc 03 18:00:00 +0000 2012", TimestampParsing.tsmc) == nil)
        #expect(parse("Tue Feb 30 18:00:00 +0000 2012", TimestampParsing.tsmc) == nil)
        #expect(parse("Tue Apr 03 24:00:00 +0000 2012", TimestampParsing.tsmc) == nil)
        #expect(parse("Tue Apr 03 18:00:00 0000 2012", TimestampParsing.tsmc) == nil)
    }

    @Test func iso8601Forms() {
        #expect(parse("2010-10-19T23:55:27Z", TimestampParsing.iso8601) == 1_287_532_527)
        #expect(parse("2012-12-21 13:29:31+00:00", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21 08:29:31-05:00", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21T08:29:31-0500", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21T18:59:31+0530", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21T13:29:31.999Z", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21 13:29:31", TimestampParsing.iso8601) == 1_356_096_571)
        #expect(parse("2012-12-21T13:29", TimestampParsing.iso8601) == 1_356_096_540)
        #expect(parse("2000-02-29", TimestampParsing.iso8601) == 951_782_400)
        #expect(parse("2001-02-29", TimestampParsing.iso8601) == nil)
        #expect(parse("2012-13-01T00:00:00Z", TimestampParsing.iso8601) == nil)
        #expect(parse("2012-12-21T13:29:31+00:0", TimestampParsing.iso8601) == nil)
        #expect(parse("2012-12-21T13:29:31ZZ", TimestampParsing.iso8601) == nil)
        #expect(parse("12-12-21", TimestampParsing.iso8601) == nil)
    }

    @Test func unixSecondsOrISO() {
        #expect(parse("1334944800", TimestampParsing.unixOrISO8601) == 1_334_944_800)
        #expect(parse("1334944800.9", TimestampParsing.unixOrISO8601) == 1_334_944_800)
        #expect(parse("2012-04-20T18:00:00Z", TimestampParsing.unixOrISO8601) == 1_334_944_800)
        #expect(parse("1.3e9", TimestampParsing.unixOrISO8601) == 1_300_000_000)
        #expect(parse("soon", TimestampParsing.unixOrISO8601) == nil)
        #expect(parse("", TimestampParsing.unixOrISO8601) == nil)
    }
}
