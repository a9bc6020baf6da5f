import Foundation
@testable import GeoPredict
import MPI
import Testing

/// The collective load in one process, through ``SingleProcessCollectives`` (the same load at 1-4
/// ranks under mpirun is in Tests/SPMD/GeoPredictSPMDTests/LoaderTests.swift).
struct DatasetLoaderTests {
    /// 1,000 check-ins of 5 users at 4 venues, with a bad latitude on line 51 and a blank line 102.
    static func checkInFile() -> String {
        var lines: [String] = []
        for index in 0..<1_000 {
            let venue = index % 4
            let time = String(format: "Tue Apr 03 %02d:%02d:00 +0000 2012", index / 60, index % 60)
            lines.append("u\(index % 5)\tv\(venue)\tc\(venue)\t\(venue % 2 == 0 ? "Mall" : "Bakery")\t40.7\(venue)\t-73.9\t-240\t\(time)")
            if index == 49 { lines.append("u1\tv1\tc1\tBakery\tnorth\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 2012") }
            if index == 99 { lines.append("") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func options() -> LoadOptions {
        var options = LoadOptions(format: .tsmc)
        options.plausibleTimestamps = CheckInParser.earliestPlausibleTimestamp...1_700_000_000
        options.exchangeBytesPerRound = 4_096  // several rounds, to run the round protocol
        return options
    }

    @Test func loadsInOneProcessWithoutMPI() throws {
        let path = try LoaderSplitTests.temporaryFile(Array(Self.checkInFile().utf8), suffix: ".tsv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let loaded = try DatasetLoader.load(
            path: path, options: Self.options(), shards: ShardMap(rankCount: 1), on: SingleProcessCollectives(), progress: nil)
        let report = loaded.report
        #expect(report.checkInsKept == 1_000)
        #expect(report.blankLines == 1)
        #expect(report.issues.map(\.lineNumber) == [51])
        #expect(report.issues.map(\.reason.kind) == [.invalidNumber])
        #expect(report.exchangeRounds >= 2, "rounds \(report.exchangeRounds)")
        #expect(report.perRank.count == 1)
        #expect(report.perRank[0].shuffleBytesSent == 0)
        #expect(loaded.visits.userCount == 5)
        #expect(loaded.visits.visitCount == 1_000)
        #expect(Set(loaded.stores.ids) == ["v0", "v1", "v2", "v3"])
        #expect(loaded.stores.index(of: "v1").map(loaded.stores.category(of:)) == "Bakery")
    }

    @Test func aMissingFileThrowsItsOwnError() {
        let path = "/nonexistent/geopredict-\(UUID().uuidString).tsv"
        #expect(throws: LoadError.cannotOpen(path: path, errno: ENOENT)) {
            try DatasetLoader.load(
                path: path, options: Self.options(), shards: ShardMap(rankCount: 1), on: SingleProcessCollectives(), progress: nil)
        }
    }
}
