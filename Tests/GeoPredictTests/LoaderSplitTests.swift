import Foundation
@testable import GeoPredict
import SPMDTesting
import Testing

/// Byte-range splitting, line reading, and the building blocks of the collective load that run in
/// one process (the collective load itself is tested under mpirun in LoaderTests.swift).
struct LoaderSplitTests {
    /// A unique temporary file holding `bytes`.
    static func temporaryFile(_ bytes: [UInt8], suffix: String = ".txt") throws -> String {
        let path = NSTemporaryDirectory() + "geopredict-loader-\(UUID().uuidString)\(suffix)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The lines of `bytes` by the obvious rule: split at `\n`, drop one `\r` at the end of each
    /// line (also of a last line without newline); each with its first byte's offset.
    static func referenceLines(_ bytes: [UInt8]) -> [(offset: Int64, text: [UInt8])] {
        var lines: [(Int64, [UInt8])] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0a {
            var line = Array(bytes[start..<index])
            if line.last == 0x0d { line.removeLast() }
            lines.append((Int64(start), line))
            start = index + 1
        }
        if start < bytes.count {
            var line = Array(bytes[start...])
            if line.last == 0x0d { line.removeLast() }
            lines.append((Int64(start), line))
        }
        return lines
    }

    static func read(_ path: String, range: Range<Int64>, chunkBytes: Int) throws -> [(offset: Int64, text: [UInt8])] {
        let reader = try LineReader.forRange(of: path, range: range, chunkBytes: chunkBytes)
        var lines: [(Int64, [UInt8])] = []
        while let line = try reader.next() { lines.append((line.startOffset, Array(line.bytes))) }
        return lines
    }

    @Test func byteRangesGiveEveryLineExactlyOnce() throws {
        var generator = SplitMix(seed: 42)
        for trial in 0..<60 {
            // Random lines: empty ones, CRLF endings, and sometimes no final newline.
            var bytes: [UInt8] = []
            for _ in 0..<Int(generator.next() % 40) {
                let length = Int(generator.next() % 30)
                bytes += (0..<length).map { _ in UInt8(97 + generator.next() % 26) }
                bytes += generator.next() % 3 == 0 ? [0x0d, 0x0a] : [0x0a]
            }
            if trial % 3 == 0, !bytes.isEmpty { bytes.removeLast() }
            if trial % 7 == 0 { bytes += [0x0a, 0x0a] }
            let path = try Self.temporaryFile(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let size = Int64(bytes.count)
            // Random cut points, including cuts right after a newline and at 0 / the end.
            let pieces = 1 + Int(generator.next() % 6)
            let cuts = ([0, size] + (1..<pieces).map { _ in size == 0 ? 0 : Int64(generator.next() % UInt64(size + 1)) }).sorted()
            var lines: [(offset: Int64, text: [UInt8])] = []
            var counts: [Int] = []
            for (lower, upper) in zip(cuts, cuts.dropFirst()) {
                let part = try Self.read(path, range: lower..<upper, chunkBytes: 1 + Int(generator.next() % 9))
                #expect(part.allSatisfy { (lower..<upper).contains($0.offset) }, "trial \(trial)")
                lines += part
                counts.append(part.count)
            }
            let reference = Self.referenceLines(bytes)
            #expect(lines.map(\.offset) == reference.map(\.offset), "trial \(trial) cuts \(cuts)")
            #expect(lines.map(\.text) == reference.map(\.text), "trial \(trial) cuts \(cuts)")
            // Global line numbers: a range's first line is 1 + the lines of the ranges before it.
            var before = 0
            for count in counts {
                for local in 0..<count {
                    #expect(reference[before + local].offset == lines[before + local].offset)
                }
                before += count
            }
        }
    }

    @Test func evenRankRangesCoverTheFile() throws {
        let text = (1...1_000).map { "line \($0) " + String(repeating: "x", count: $0 % 17) }.joined(separator: "\r\n")
        let bytes = Array(text.utf8)
        let path = try Self.temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for size in 1...7 {
            var all: [[UInt8]] = []
            for rank in 0..<size {
                let lower = Int64(bytes.count) * Int64(rank) / Int64(size)
                let upper = Int64(bytes.count) * Int64(rank + 1) / Int64(size)
                all += try Self.read(path, range: lower..<upper, chunkBytes: 64).map(\.text)
            }
            #expect(all.count == 1_000)
            #expect(all == Self.referenceLines(bytes).map(\.text))
        }
    }

    @Test func overlongLinesAreSkippedAndMeasured() throws {
        let long = [UInt8](repeating: 0x41, count: LineReader.maximumLineBytes + 5)
        let bytes = Array("first\n".utf8) + long + [0x0a] + Array("last".utf8)
        let path = try Self.temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try LineReader.forRange(of: path, range: 0..<Int64(bytes.count), chunkBytes: 1 << 16)
        #expect(try reader.next().map { Array($0.bytes) } == Array("first".utf8))
        let skipped = try reader.next()
        #expect(skipped?.tooLongBytes == long.count && skipped?.startOffset == 6)
        #expect(try reader.next().map { Array($0.bytes) } == Array("last".utf8))
        #expect(try reader.next() == nil)
    }

    @Test func compressedFilesReadThroughTheDecompressor() throws {
        let text = "user_id,venue_id,latitude,longitude,timestamp\nu1,v1,40.7,-73.9,1334944800\nu2,v2,40.8,-73.8,bad\n"
        let plain = try Self.temporaryFile(Array(text.utf8), suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let gzPath = plain + ".gz"
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -c '\(plain)' > '\(gzPath)'"]
        try gzip.run()
        #expect(gzip.waitForExitStatus() == 0)
        defer { try? FileManager.default.removeItem(atPath: gzPath) }
        let contents = try CheckInFile.read(path: gzPath, format: .csv)
        #expect(contents.checkIns.map(\.userID) == ["u1"])
        #expect(contents.lineNumbers == [2])
        #expect(contents.issues == [ImportIssue(lineNumber: 3, reason: .invalidTimestamp("bad"))])
        // A corrupt compressed file is a load error, not a silent empty read.
        let corrupt = try Self.temporaryFile(Array("not gzip at all".utf8), suffix: ".gz")
        defer { try? FileManager.default.removeItem(atPath: corrupt) }
        #expect(throws: LoadError.self) { try CheckInFile.read(path: corrupt, format: .csv) }
        #expect(throws: LoadError.cannotOpen(path: "/nonexistent/x.csv", errno: ENOENT)) {
            try CheckInFile.read(path: "/nonexistent/x.csv", format: .csv)
        }
    }

    @Test func collectorOrderDoesNotDependOnArrival() throws {
        let shards = ShardMap(rankCount: 1)
        let events: [(CheckIn, Int16?)] = [
            (CheckIn(userID: "b", venueID: "s2", latitude: 1, longitude: 1, timestampUnixSeconds: 100, trajectoryID: "t1"), -240),
            (CheckIn(userID: "a", venueID: "s1", latitude: 1, longitude: 1, timestampUnixSeconds: 50), nil),
            (CheckIn(userID: "b", venueID: "s1", latitude: 1, longitude: 1, timestampUnixSeconds: 100, trajectoryID: "t0"), -300),
            (CheckIn(userID: "a", venueID: "", latitude: 2, longitude: 3, timestampUnixSeconds: 70), nil),
            (CheckIn(userID: "c", venueID: "", latitude: 5, longitude: 6, timestampUnixSeconds: 10), nil),
            (CheckIn(userID: "b", venueID: "s1", latitude: 1, longitude: 1, timestampUnixSeconds: 90), nil),
        ]
        let catalogue = StoreCatalogue(stores: [Store(id: "s1", latitude: 1, longitude: 1), Store(id: "s2", latitude: 1, longitude: 1)])
        func build(_ order: [Int]) throws -> (VisitLog, VisitAttributes, RawFixLog) {
            var collector = EventCollector()
            var writer = ByteWriter()
            for index in order { EventWire.write(events[index].0, utcOffsetMinutes: events[index].1, to: &writer) }
            try collector.receive(writer.bytes[...])
            let built = collector.build(catalogue: catalogue, shards: shards)
            #expect(built.unmatched == 0)
            return (built.visits, built.attributes, built.fixes)
        }
        let forward = try build(Array(0..<6))
        let backward = try build(Array((0..<6).reversed()))
        #expect(forward.0 == backward.0 && forward.1 == backward.1 && forward.2 == backward.2)
        let visits = forward.0
        let reference = VisitLog(
            visits: [("b", 1, 100), ("a", 0, 50), ("b", 0, 100), ("b", 0, 90)], shards: shards)
        #expect(visits == reference)
        #expect(forward.2.userIDs.sorted() == ["a", "c"] && forward.2.fixCount == 2)
        // Attributes follow the visits' order.
        let b = try #require(visits.userIndex(of: "b", partition: shards.partition(of: "b")))
        let range = visits.visitRange(ofUser: b)
        #expect(range.map { forward.1.trajectoryID(ofVisit: $0) } == [nil, "t0", "t1"])
        #expect(range.map { forward.1.utcOffsetMinutes(ofVisit: $0) } == [nil, -300, -240])
    }

    @Test func venueTalliesChooseTheMostFrequentThenTheSmallest() {
        var first = VenueTallies.Tally()
        first.add(latitude: 2, longitude: 2, category: "Mall")
        first.add(latitude: 1, longitude: 5, category: "Market")
        var second = VenueTallies.Tally()
        second.add(latitude: 1, longitude: 5, category: "Mall")
        second.add(latitude: 2, longitude: 2, category: "Market")
        var merged = first
        merged.merge(second)
        var mergedOtherWay = second
        mergedOtherWay.merge(first)
        // A tie (2 and 2) goes to the smaller latitude and the byte-wise smaller name, either way.
        #expect(merged.resolved(id: "v") == Store(id: "v", latitude: 1, longitude: 5, category: "Mall"))
        #expect(mergedOtherWay.resolved(id: "v") == merged.resolved(id: "v"))
        merged.add(latitude: 2, longitude: 2, category: "Market")
        #expect(merged.resolved(id: "v") == Store(id: "v", latitude: 2, longitude: 2, category: "Market"))
    }

    @Test func storeFilesDefineTheCatalogue() throws {
        let text = "store_id,latitude,longitude,category\ns1,40.7,-73.9,Mall\ns2,40.8,-73.8,Bar\ns1,1,1,Mall\ns3,95,1,Mall\n\ns4,40.1,-73.1,\n"
        let path = try Self.temporaryFile(Array(text.utf8), suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let contents = try StoreFile.read(path: path)
        #expect(contents.stores.map(\.id) == ["s1", "s2", "s4"])
        #expect(contents.issues == [
            ImportIssue(lineNumber: 4, file: path, reason: .duplicateStore("s1")),
            ImportIssue(lineNumber: 5, file: path, reason: .coordinateOutOfRange(field: "latitude", value: 95)),
        ])
        let (shopping, excluded) = DatasetLoader.filtered(contents.stores, by: .shopping)
        #expect(shopping.ids == ["s1"] && excluded == ["s2", "s4"])
        let bad = try Self.temporaryFile(Array("id,x,y\n".utf8), suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(throws: LoadError.self) { try StoreFile.read(path: bad) }
    }

    @Test func trajectoryFoldersListPerUserFiles() throws {
        let root = NSTemporaryDirectory() + "geopredict-folder-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (user, file) in [("010", "b.plt"), ("010", "a.plt"), ("003", "x.plt"), ("003", "notes.txt")] {
            let folder = root + "/Data/" + user + "/Trajectory"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data("1\n".utf8).write(to: URL(fileURLWithPath: folder + "/" + file))
        }
        let files = try TrajectoryFolder.files(under: root)
        #expect(files.map(\.name) == ["003/Trajectory/x.plt", "010/Trajectory/a.plt", "010/Trajectory/b.plt"])
        #expect(files.map(\.userID) == ["003", "010", "010"])
        #expect(try TrajectoryFolder.files(under: root + "/Data") == files)
    }

    @Test func roundBudgetsStayWithinInt32AtAnyRankCount() {
        let options = LoadOptions(format: .tsmc)
        for ranks in [1, 2, 4, 16, 64, 1_024] {
            let budget = options.roundBudget(rankCount: ranks)
            // Worst case: every rank sends its whole budget to one rank, plus one record each.
            #expect((budget + LineReader.maximumLineBytes + 64) * ranks <= Int(Int32.max), "\(ranks)")
        }
    }
}

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state)
    }
}
