@testable import GeoPredict
import Testing

/// The line parsers on good lines and on every kind of bad line.
struct ImportParserTests {
    static let plausible = CheckInParser.defaultPlausibleTimestamps(now: 1_700_000_000)
    let tsmc = CheckInParser(format: .tsmc, plausibleTimestamps: plausible)
    let snap = CheckInParser(format: .snap, plausibleTimestamps: plausible)

    static let tsmcLine = "470\t49bbd6c0f964a520f4531fe3\t4bf58dd8d48988d127951735\tArts & Crafts Store\t40.71981037548853\t-74.00258103213994\t-240\tTue Apr 03 18:00:00 +0000 2012"

    static let getnextHeader = "User_id,POI_id,POI_catid,POI_catid_code,POI_catname,latitude,longitude,timezone,UTC_time,local_time,day_of_week,norm_in_day_time,trajectory_id,norm_day_shift,norm_relative_time"

    static let getnextLine = "349,4fc7f3dfe4b0896b9f093264,4f2a23984b9023bd5841ed2c,368,Moving Target,40.8130989074707,-74.00180053710938,-300,2012-12-21 13:29:31+00:00,2012-12-21 08:29:31+00:00,4,0.3333333333333333,349_52,0,0.3333333333333333"

    func reason(_ result: Result<CheckIn, ImportIssue>) -> ImportIssue.Reason? {
        if case .failure(let issue) = result { return issue.reason }
        return nil
    }

    @Test func tsmcGoodLine() throws {
        var offset: Int16?
        var line = Self.tsmcLine
        let result = line.withUTF8 { tsmc.parse($0, lineNumber: 7, utcOffsetMinutes: &offset) }
        let checkIn = try result.get()
        #expect(checkIn == CheckIn(
            userID: "470", venueID: "49bbd6c0f964a520f4531fe3", latitude: 40.71981037548853,
            longitude: -74.00258103213994, timestampUnixSeconds: 1_333_476_000, category: "Arts & Crafts Store"))
        #expect(offset == -240)
        // A CRLF line ending is not part of the last field.
        #expect(try tsmc.parse(Self.tsmcLine + "\r", lineNumber: 1).get() == checkIn)
    }

    @Test func tsmcBadLinesSayWhy() {
        func line(replacing index: Int, with value: String) -> String {
            var fields = Self.tsmcLine.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            fields[index] = value
            return fields.joined(separator: "\t")
        }
        #expect(reason(tsmc.parse("470\tvenue\t3", lineNumber: 1)) == .wrongFieldCount(expected: 8, found: 3))
        #expect(reason(tsmc.parse(Self.tsmcLine + "\textra", lineNumber: 1)) == .wrongFieldCount(expected: 8, found: 9))
        #expect(reason(tsmc.parse(line(replacing: 0, with: ""), lineNumber: 1)) == .emptyField("user"))
        #expect(reason(tsmc.parse(line(replacing: 1, with: ""), lineNumber: 1)) == .emptyField("venue"))
        #expect(reason(tsmc.parse(line(replacing: 4, with: "north"), lineNumber: 1))
            == .invalidNumber(field: "latitude", text: "north"))
        #expect(reason(tsmc.parse(line(replacing: 4, with: "nan"), lineNumber: 1))
            == .invalidNumber(field: "latitude", text: "nan"))
        #expect(reason(tsmc.parse(line(replacing: 4, with: ""), lineNumber: 1)) == .emptyField("latitude"))
        #expect(reason(tsmc.parse(line(replacing: 4, with: "91.5"), lineNumber: 1))
            == .coordinateOutOfRange(field: "latitude", value: 91.5))
        #expect(reason(tsmc.parse(line(replacing: 5, with: "-180.01"), lineNumber: 1))
            == .coordinateOutOfRange(field: "longitude", value: -180.01))
        #expect(reason(tsmc.parse(line(replacing: 5, with: "1e999"), lineNumber: 1))
            == .coordinateOutOfRange(field: "longitude", value: .infinity))
        #expect(reason(tsmc.parse(line(replacing: 4, with: "0").replacingTab(5, with: "0.0"), lineNumber: 1)) == .nullIsland)
        #expect(reason(tsmc.parse(line(replacing: 6, with: "-2000"), lineNumber: 1)) == .invalidUTCOffset("-2000"))
        #expect(reason(tsmc.parse(line(replacing: 6, with: "x"), lineNumber: 1)) == .invalidUTCOffset("x"))
        #expect(reason(tsmc.parse(line(replacing: 7, with: "Tue Apr 31 18:00:00 +0000 2012"), lineNumber: 1))
            == .invalidTimestamp("Tue Apr 31 18:00:00 +0000 2012"))
        #expect(reason(tsmc.parse(line(replacing: 7, with: "2012-04-03"), lineNumber: 1)) == .invalidTimestamp("2012-04-03"))
        #expect(reason(tsmc.parse(line(replacing: 7, with: ""), lineNumber: 1)) == .emptyField("timestamp"))
        #expect(reason(tsmc.parse(line(replacing: 7, with: "Tue Apr 03 18:00:00 +0000 1985"), lineNumber: 1))
            == .implausibleTimestamp(481_399_200))
        #expect(reason(tsmc.parse(line(replacing: 7, with: "Tue Apr 03 18:00:00 +0000 2099"), lineNumber: 1))
            == .implausibleTimestamp(4_078_922_400))
        // Invalid UTF-8 in an id.
        var bytes = Array(Self.tsmcLine.utf8)
        bytes[1] = 0xFF
        let result = bytes.withUnsafeBufferPointer { tsmc.parse($0, lineNumber: 12) }
        #expect(reason(result) == .invalidUTF8(field: "user"))
        if case .failure(let issue) = result { #expect(issue.lineNumber == 12) }
    }

    @Test func snapLines() throws {
        let checkIn = try snap.parse("0\t2010-10-19T23:55:27Z\t30.2359091167\t-97.7951395833\t22847", lineNumber: 1).get()
        #expect(checkIn == CheckIn(
            userID: "0", venueID: "22847", latitude: 30.2359091167, longitude: -97.7951395833,
            timestampUnixSeconds: 1_287_532_527))
        #expect(reason(snap.parse("0\t2010-10-19T23:55:27Z\t0.0\t0.0\t22847", lineNumber: 1)) == .nullIsland)
        #expect(reason(snap.parse("0\t2010-10-19T23:55:27Z\t30.2\t-97.8\t", lineNumber: 1)) == .emptyField("location"))
        #expect(reason(snap.parse("0\t2010-10-19 23:55\t30.2\t-97.8\tx", lineNumber: 1)) == nil)
        #expect(reason(snap.parse("0\t10/19/2010\t30.2\t-97.8\tx", lineNumber: 1)) == .invalidTimestamp("10/19/2010"))
        #expect(reason(snap.parse("0\t2010-10-19T23:55:27Z\t30.2\t-97.8", lineNumber: 1)) == .wrongFieldCount(expected: 5, found: 4))
    }

    @Test func getnextLinesByHeader() throws {
        let parser = try CheckInParser(format: .getnext, header: Self.getnextHeader, plausibleTimestamps: Self.plausible)
        var offset: Int16?
        var line = Self.getnextLine
        let checkIn = try line.withUTF8 { parser.parse($0, lineNumber: 2, utcOffsetMinutes: &offset) }.get()
        #expect(checkIn == CheckIn(
            userID: "349", venueID: "4fc7f3dfe4b0896b9f093264", latitude: 40.8130989074707, longitude: -74.00180053710938,
            timestampUnixSeconds: 1_356_096_571, category: "Moving Target", trajectoryID: "349_52"))
        #expect(offset == -300)
        // The lower-case header of the published files maps the same way.
        let lower = try CheckInParser(format: .getnext, header: Self.getnextHeader.lowercased(), plausibleTimestamps: Self.plausible)
        #expect(try lower.parse(Self.getnextLine, lineNumber: 2).get() == checkIn)
        #expect(throws: ImportSetupError.self) {
            try CheckInParser(format: .getnext, header: "user_id,latitude,longitude,UTC_time")
        }
        #expect(throws: ImportSetupError.missingHeader(.getnext)) { try CheckInParser(format: .getnext, header: nil) }
    }

    @Test func plainCSVMapsColumnsByName() throws {
        let parser = try CheckInParser(
            format: .csv, header: "\u{FEFF}Timestamp, Longitude ,latitude,venue_id,user_id,\"category\"",
            plausibleTimestamps: Self.plausible)
        #expect(parser.columns.timestamp == 0 && parser.columns.longitude == 1 && parser.columns.user == 4)
        #expect(parser.columns.category == 5 && parser.columns.trajectory == nil)
        let unix = try parser.parse("1334944800,-73.9,40.7,v1,u1,\"Shoe Store, Outlet\"", lineNumber: 2).get()
        #expect(unix == CheckIn(
            userID: "u1", venueID: "v1", latitude: 40.7, longitude: -73.9, timestampUnixSeconds: 1_334_944_800,
            category: "Shoe Store, Outlet"))
        let iso = try parser.parse("2012-04-20T18:00:00Z, -73.9 , 40.7 ,v1,u1,\"say \"\"hi\"\"\"", lineNumber: 3).get()
        #expect(iso.timestampUnixSeconds == 1_334_944_800 && iso.category == "say \"hi\"")
        #expect(try parser.parse("1334944800.75,-73.9,40.7,v1,u1,", lineNumber: 4).get().timestampUnixSeconds == 1_334_944_800)
        // An empty venue is a raw GPS fix in the plain CSV.
        #expect(try parser.parse("1334944800,-73.9,40.7,,u1,", lineNumber: 5).get().isRawFix)
        #expect(reason(parser.parse("1334944800,-73.9,40.7,v1,u1,\"open", lineNumber: 6)) == .unterminatedQuote)
        #expect(reason(parser.parse("1334944800000,-73.9,40.7,v1,u1,", lineNumber: 7))
            == .implausibleTimestamp(1_334_944_800_000))
        #expect(reason(parser.parse("1334944800,-73.9,40.7,v1,u1", lineNumber: 8)) == .wrongFieldCount(expected: 6, found: 5))
        #expect(reason(parser.parse("yesterday,-73.9,40.7,v1,u1,", lineNumber: 9)) == .invalidTimestamp("yesterday"))
        // Without a venue column, every row is a raw fix.
        let gps = try CheckInParser(format: .csv, header: "user_id,lat,lng,time", plausibleTimestamps: Self.plausible)
        #expect(try gps.parse("u9,39.98,116.31,2008-10-23 02:53:04", lineNumber: 2).get().isRawFix)
        #expect(throws: ImportSetupError.header(.missingColumns(["latitude"], header: "user_id,lon,time"))) {
            try CheckInParser(format: .csv, header: "user_id,lon,time")
        }
    }

    @Test func fieldSplittingMatchesAReferenceSplit() {
        // A slow, obvious CSV splitter for lines without quotes: the fast one must agree.
        let lines = ["a,b,c", ",,", "a", "", "x,", ",y", "1,22,333,4444"]
        for line in lines {
            var text = line
            let fast: FieldSplitter.Outcome = text.withUTF8 { bytes in
                withUnsafeTemporaryAllocation(of: FieldSpan.self, capacity: 8) { FieldSplitter.splitCSV(bytes, separator: 44, into: $0) }
            }
            #expect(fast == .fields(line.split(separator: ",", omittingEmptySubsequences: false).count), "\(line)")
        }
    }

    @Test func issuesRoundTripThroughTheirCodec() throws {
        let reasons: [ImportIssue.Reason] = [
            .wrongFieldCount(expected: 8, found: 3), .emptyField("user"), .invalidNumber(field: "latitude", text: "x"),
            .coordinateOutOfRange(field: "longitude", value: 190), .nullIsland, .invalidTimestamp("t"),
            .implausibleTimestamp(5), .invalidUTCOffset("9999"), .invalidUTF8(field: "venue"), .unterminatedQuote,
            .lineTooLong(bytes: 2_000_000), .unknownVenue("v"), .duplicateStore("s"),
        ]
        #expect(Set(reasons.map(\.kind)) == Set(ImportIssue.Kind.allCases))
        var writer = ByteWriter()
        let issues = reasons.enumerated().map { ImportIssue(lineNumber: Int64($0.offset + 1), file: $0.offset % 2 == 0 ? "" : "f.csv", reason: $0.element) }
        for issue in issues { issue.write(to: &writer) }
        var reader = ByteReader(writer.bytes)
        var decoded: [ImportIssue] = []
        while !reader.isAtEnd { decoded.append(try ImportIssue(from: &reader)) }
        #expect(decoded == issues)
    }
}

extension String {
    /// This tab-separated line with field `index` replaced.
    fileprivate func replacingTab(_ index: Int, with value: String) -> String {
        var fields = split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        fields[index] = value
        return fields.joined(separator: "\t")
    }

    /// What `evaluate` and `serve` print about bad lines: the count, the reasons, the first few places.
    @Test func issueSummaryNamesCountReasonsAndPlaces() {
        var report = LoadReport(path: "checkins.tsv", format: .tsmc, mode: "byte ranges")
        #expect(report.issueSummary().isEmpty)
        report.issueCount = 7
        report.issueCounts = [.invalidNumber: 2, .wrongFieldCount: 5]
        report.issues = (1...3).map { ImportIssue(lineNumber: Int64($0 * 10), reason: .wrongFieldCount(expected: 8, found: 1)) }
        let lines = report.issueSummary(listing: 2)
        #expect(lines.first == "checkins.tsv: 7 bad line(s) skipped (wrong field count 5, invalid number 2)")
        #expect(lines.count == 4 && lines[1].contains("line 10") && lines[2].contains("line 20"))
        #expect(lines.last == "  ... and 5 more")
        #expect(report.issueSummary(listing: 10).last == "  ... and 4 more", "only 3 of the 7 were kept to list")
    }
}
