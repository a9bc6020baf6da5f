@testable import GeoPredict
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct GeoLifeReaderTests {
    static let header = """
        Geolife trajectory
        WGS 84
        Altitude is in Feet
        Reserved 3
        0,2,255,My Track,0,0,2,8421376
        0

        """

    func parse(_ text: String, timeSource: GeoLifeTimeSource = .dateAndTime) -> GeoLifeTrajectory {
        GeoLifeReader.parseTrajectory(Array(text.utf8), userID: "000", trajectoryID: "t", file: "t.plt", timeSource: timeSource)
    }

    @Test func goodLinesBecomeFixesInUTC() throws {
        let text = Self.header + """
            39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04
            39.984683,116.31845,0,492,39744.1202546296,2008-10-23,02:53:10\r
            """
        let trajectory = parse(text)
        #expect(trajectory.issues.isEmpty)
        #expect(trajectory.fixes == [
            GPSFix(latitude: 39.984702, longitude: 116.318417, timestampUnixSeconds: 1_224_730_384),
            GPSFix(latitude: 39.984683, longitude: 116.31845, timestampUnixSeconds: 1_224_730_390),
        ])
        #expect(parse(text, timeSource: .days).fixes == trajectory.fixes)
        let checkIn = try #require(trajectory.checkIns.first)
        #expect(checkIn.isRawFix && checkIn.userID == "000" && checkIn.trajectoryID == "t")
    }

    @Test func badLinesAreReportedWithTheirNumberAndReason() {
        let text = Self.header + """
            39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04

            39.98,116.31,0,492,39744.12
            north,116.31,0,492,39744.12,2008-10-23,02:53:04
            95.0,116.31,0,492,39744.12,2008-10-23,02:53:04
            39.98,nan,0,492,39744.12,2008-10-23,02:53:04
            39.98,116.31,0,492,39744.12,2008-02-30,02:53:04
            39.98,116.31,0,492,39744.12,2008-10-23,24:00:00
            39.98,116.31,0,492,39744.12,2008-10-23,2:53:04
            39.984683,116.31845,0,492,39744.1202546296,2008-10-23,02:53:10
            """
        let trajectory = parse(text)
        #expect(trajectory.fixes.count == 2)
        #expect(trajectory.issues.map(\.line) == [9, 10, 11, 12, 13, 14, 15])
        #expect(trajectory.issues.map(\.reason) == [
            .wrongFieldCount(5), .invalidLatitude("north"), .invalidLatitude("95.0"), .invalidLongitude("nan"),
            .invalidDate("2008-02-30"), .invalidTime("24:00:00"), .invalidTime("2:53:04"),
        ])
        #expect(trajectory.issues.first?.description == "t.plt:9: wrongFieldCount(5)")
    }

    @Test func shortFilesAndTheDaysColumn() {
        #expect(parse("Geolife trajectory\nWGS 84\n").issues.map(\.reason) == [.truncatedHeader(linesFound: 2)])
        #expect(parse("").issues.map(\.reason) == [.truncatedHeader(linesFound: 0)])
        #expect(parse(Self.header).issues.isEmpty)
        let days = parse(Self.header + "39.98,116.31,0,492,x,2008-10-23,02:53:04\n", timeSource: .days)
        #expect(days.issues.map(\.reason) == [.invalidDays("x")])
        #expect(GeoLifeTime.daysSinceEpoch(date: ArraySlice("1970-01-01".utf8)) == 0)
        #expect(GeoLifeTime.daysSinceEpoch(date: ArraySlice("2000-02-29".utf8)) == 11_016)
        #expect(GeoLifeTime.daysSinceEpoch(date: ArraySlice("1900-02-29".utf8)) == nil)
        #expect(GeoLifeTime.unixSeconds(daysSince1899: 25_569) == 0)
    }

    @Test func foldersAreReadPerUserInTimeOrder() throws {
        let root = FileManager.default.temporaryDirectory.path + "/geolife-test-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ lines: [String]) throws {
            let directory = String(path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/"))
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: path, contents: Data((Self.header + lines.joined(separator: "\n") + "\n").utf8)))
        }
        try write(root + "/001/Trajectory/20081024.plt", [
            "40.0,116.0,0,1,0,2008-10-24,10:00:00", "40.0,116.0,0,1,0,2008-10-24,10:00:05",
        ])
        try write(root + "/001/Trajectory/20081023.plt", ["40.0,116.0,0,1,0,2008-10-23,10:00:00", "bad"])
        try write(root + "/000/Trajectory/20081023.plt", ["41.0,117.0,0,1,0,2008-10-23,11:00:00"])
        try write(root + "/notes/readme.txt", ["not a user"])
        let folders = try GeoLifeReader.userFolders(in: root)
        #expect(folders.map(\.userID) == ["000", "001"])
        #expect(folders[1].trajectoryPaths.map { $0.hasSuffix("20081023.plt") } == [true, false])
        let track = try GeoLifeReader.readUser(folders[1])
        #expect(track.trajectoryCount == 2)
        #expect(track.fixes.map(\.timestampUnixSeconds) == track.fixes.map(\.timestampUnixSeconds).sorted())
        #expect(track.fixes.count == 3)
        #expect(track.issues.count == 1 && track.issues.first?.line == 8 && track.issues.first?.file.hasSuffix("20081023.plt") == true)

        #expect(throws: GeoLifeError.notADirectory(root + "/missing")) { try GeoLifeReader.userFolders(in: root + "/missing") }
        #expect(throws: GeoLifeError.noUserFolders(root + "/notes")) { try GeoLifeReader.userFolders(in: root + "/notes") }
        #expect(throws: GeoLifeError.self) { try GeoLifeReader.readTrajectory(atPath: root + "/none.plt", userID: "x") }
    }

    @Test func theLoaderAdapterSpeaksImportIssues() throws {
        let format = GeoLifeFolderFormat()
        #expect(format.headerLineCount == 6)
        func parse(_ line: String) -> Result<CheckIn, ImportIssue> {
            Array(line.utf8).withUnsafeBufferPointer { format.parse($0, lineNumber: 9, userID: "004") }
        }
        let good = try parse("39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\r").get()
        #expect(good == CheckIn(userID: "004", venueID: "", latitude: 39.984702, longitude: 116.318417, timestampUnixSeconds: 1_224_730_384))
        let cases: [(String, ImportIssue.Reason)] = [
            ("1,2,3", .wrongFieldCount(expected: 7, found: 3)),
            ("x,116.3,0,1,0,2008-10-23,02:53:04", .invalidNumber(field: "latitude", text: "x")),
            ("39.9,181,0,1,0,2008-10-23,02:53:04", .coordinateOutOfRange(field: "longitude", value: 181)),
            (",116.3,0,1,0,2008-10-23,02:53:04", .emptyField("latitude")),
            ("39.9,116.3,0,1,0,2008-13-23,02:53:04", .invalidTimestamp("2008-13-23")),
        ]
        for (line, reason) in cases {
            #expect(parse(line) == .failure(ImportIssue(lineNumber: 9, reason: reason)), "\(line)")
        }
    }
}
