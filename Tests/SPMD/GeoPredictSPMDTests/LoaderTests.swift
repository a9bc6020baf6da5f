// SPMD tests of the collective load (DatasetLoader): rank 0 writes synthetic files with known bad
// lines, every rank loads them, and the results are checked against expectations computed
// independently from the generator. The invariant lines must read the same at 1-4 ranks.
import Foundation
import GeoPredict
import MPI
import SPMDTesting

func runLoaderTests(_ suite: SPMDSuite, _ world: Communicator) {
    let shards = ShardMap(rankCount: world.size)
    // A fixed plausibility window so that the outcome does not depend on today's date.
    let plausible: ClosedRange<Int64> = CheckInParser.earliestPlausibleTimestamp...1_700_000_000
    let directory: String
    do {
        directory = try sharedTemporaryDirectory(world)
    } catch {
        suite.test("loader: temporary directory") { throw error }
        return
    }
    defer {
        _ = try? world.barrier()
        if world.rank == 0 { try? FileManager.default.removeItem(atPath: directory) }
    }
    let synthetic = SyntheticTSMC(seed: 7)
    let tsmcPath = directory + "/checkins.tsv"
    let gzipPath = directory + "/checkins.tsv.gz"

    suite.test("loader: rank 0 writes the synthetic files") {
        if world.rank == 0 {
            try Data(synthetic.fileBytes).write(to: URL(fileURLWithPath: tsmcPath))
            try runShell("gzip -c '\(tsmcPath)' > '\(gzipPath)'")
        }
        try world.barrier()
        suite.expect(FileManager.default.fileExists(atPath: gzipPath))
    }

    var plainDigest = ""
    suite.test("loader: TSMC by byte ranges puts every user on its owner with all its events") {
        var options = LoadOptions(format: .tsmc)
        options.plausibleTimestamps = plausible
        options.maximumReportedIssues = 1_000
        options.exchangeBytesPerRound = 4_096  // many rounds, to exercise the round protocol
        let loaded = try DatasetLoader.load(path: tsmcPath, options: options, shards: shards, on: world, progress: nil)
        plainDigest = try checkAgainstExpectation(loaded, synthetic, shards: shards, world: world, suite: suite)
        let report = loaded.report
        suite.expectEqual(report.mode, "byte ranges")
        // 4 KiB is the loader's smallest round; past four ranks a rank's share of the small synthetic
        // file fits in two of them (the Slurm cluster test runs six ranks).
        let leastRounds = world.size <= 4 ? 3 : 2
        suite.expect(report.exchangeRounds >= leastRounds, "rounds \(report.exchangeRounds), at least \(leastRounds) expected")
        suite.expectEqual(report.perRank.count, world.size)
        suite.expectEqual(report.perRank.reduce(0) { $0 + $1.linesRead }, report.linesRead)
        suite.expectEqual(report.perRank.reduce(0) { $0 + $1.bytes }, Int64(synthetic.fileBytes.count))
        let shuffled: Int64 = report.perRank.reduce(0) { $0 + $1.shuffleBytesSent }
        if world.size == 1 {
            suite.expectEqual(shuffled, 0, "one rank re-shards nothing to others")
        } else {
            suite.expect(shuffled > 0, "no event bytes re-sharded between \(world.size) ranks")
        }
        suite.expect(report.perRank.allSatisfy { $0.shuffleSeconds <= $0.readSeconds }, "re-shard time exceeds the read phase")
        if world.rank == 0 {
            print("geopredict-spmd-tests: invariant loader-tsmc=\(plainDigest)")
            print("geopredict-spmd-tests: invariant loader-tsmc-issues=\(report.issues.map { "\($0.lineNumber):\($0.reason.kind.rawValue)" }.joined(separator: ","))")
        }
    }

    suite.test("loader: a .gz file (decompressor on every rank) loads the same as the plain file") {
        var options = LoadOptions(format: .tsmc)
        options.plausibleTimestamps = plausible
        options.maximumReportedIssues = 1_000
        let loaded = try DatasetLoader.load(path: gzipPath, options: options, shards: shards, on: world, progress: nil)
        let digest = try checkAgainstExpectation(loaded, synthetic, shards: shards, world: world, suite: suite)
        suite.expectEqual(loaded.report.mode, "decompressor on every rank")
        suite.expectEqual(digest, plainDigest)
    }

    suite.test("loader: an overlong line is reported with its line number at every rank count") {
        let path = directory + "/long.tsv"
        if world.rank == 0 {
            var bytes: [UInt8] = []
            let good = Array("u1\tv1\tcat\tMall\t40.7\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 2012\n".utf8)
            for _ in 0..<300 { bytes += good }
            bytes += [UInt8](repeating: 0x78, count: (1 << 20) + 10) + [0x0a]
            for _ in 0..<300 { bytes += good }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        try world.barrier()
        var options = LoadOptions(format: .tsmc)
        options.plausibleTimestamps = plausible
        let loaded = try DatasetLoader.load(path: path, options: options, shards: shards, on: world, progress: nil)
        suite.expectEqual(loaded.report.issues, [ImportIssue(lineNumber: 301, reason: .lineTooLong(bytes: (1 << 20) + 10))])
        suite.expectEqual(loaded.report.checkInsKept, 600)
        suite.expectEqual(loaded.report.linesRead, 601)
    }

    suite.test("loader: time and shopping filters") {
        var options = LoadOptions(format: .tsmc)
        options.plausibleTimestamps = plausible
        options.keepBefore = synthetic.cutoff
        options.categories = .shopping
        let loaded = try DatasetLoader.load(path: tsmcPath, options: options, shards: shards, on: world, progress: nil)
        let expected = synthetic.good.filter { $0.checkIn.timestampUnixSeconds < synthetic.cutoff }
        let shopping = expected.filter { ShoppingCategories.contains($0.checkIn.category) }
        suite.expectEqual(loaded.report.checkInsKept, Int64(shopping.count))
        suite.expectEqual(loaded.report.droppedByTime, Int64(synthetic.good.count - expected.count))
        suite.expectEqual(loaded.report.droppedByCategory, Int64(expected.count - shopping.count))
        suite.expect(loaded.stores.ids.allSatisfy { id in
            ShoppingCategories.contains(loaded.stores.category(of: loaded.stores.index(of: id) ?? 0))
        })
        suite.expectEqual(Set(loaded.stores.ids), Set(shopping.map(\.checkIn.venueID)))
        let triples = try gatheredTriples(loaded, world: world)
        if world.rank == 0 {
            print("geopredict-spmd-tests: invariant loader-filtered=\(triples.count):\(StableHash.hash(triples.joined(separator: "\n")))")
        }
    }

    suite.test("loader: plain CSV with a store file, raw fixes, trajectories and unknown venues") {
        let csvPath = directory + "/events.csv"
        let storePath = directory + "/stores.csv"
        if world.rank == 0 {
            var csv = "user_id,venue_id,latitude,longitude,timestamp,trajectory_id,utc_offset_minutes\n"
            var stores = "store_id,latitude,longitude,category\n"
            for store in 0..<6 { stores += "s\(store),\(40 + Double(store) / 100),-73.9,\(store % 2 == 0 ? "Shoe Store" : "Bar")\n" }
            stores += "s1,1,1,Duplicate\n"
            for index in 0..<300 {
                let user = "user\(index % 23)"
                let time = 1_334_000_000 + index * 61
                if index % 10 == 3 {
                    csv += "\(user),,\(39.9 + Double(index) / 1e4),116.3,\(time),,\n"  // raw GPS fix
                } else if index % 50 == 7 {
                    csv += "\(user),unknown\(index),40.7,-73.9,\(time),t\(index % 7),-240\n"
                } else {
                    csv += "\(user),s\(index % 6),40.7,-73.9,\(time),t\(index % 7),-240\n"
                }
            }
            try Data(csv.utf8).write(to: URL(fileURLWithPath: csvPath))
            try Data(stores.utf8).write(to: URL(fileURLWithPath: storePath))
        }
        try world.barrier()
        var options = LoadOptions(format: .csv)
        options.plausibleTimestamps = plausible
        options.stores = .file(storePath)
        options.unknownVenues = .keepAsRawFix
        let loaded = try DatasetLoader.load(path: csvPath, options: options, shards: shards, on: world, progress: nil)
        let report = loaded.report
        suite.expectEqual(loaded.stores.ids, ["s0", "s1", "s2", "s3", "s4", "s5"])
        suite.expectEqual(report.checkInsKept, 300 - 30 - 6)
        suite.expectEqual(report.rawFixesKept, 30 + 6)
        suite.expectEqual(report.issueCounts[.unknownVenue], 6)
        suite.expectEqual(report.issueCounts[.duplicateStore], 1)
        suite.expectEqual(report.issues.first?.reason, .unknownVenue("unknown7"))
        suite.expectEqual(report.issues.first?.lineNumber, 9)
        suite.expectEqual(report.issues.last?.lineNumber, 8)  // the store file's line, sorted after the input's
        for user in 0..<loaded.visits.userCount {
            suite.expectEqual(shards.owner(of: loaded.visits.userIDs[user]), world.rank)
        }
        for user in 0..<loaded.rawFixes.userCount {
            suite.expectEqual(shards.owner(of: loaded.rawFixes.userIDs[user]), world.rank)
        }
        suite.expectEqual(loaded.visitAttributes.trajectories.count, loaded.visits.visitCount)
        suite.expect(loaded.visitAttributes.utcOffsetMinutes.allSatisfy { $0 == -240 })
        suite.expect((0..<loaded.visits.visitCount).allSatisfy { loaded.visitAttributes.trajectoryID(ofVisit: $0) != nil })
        let fixes = try world.allReduce(Int64(loaded.rawFixes.fixCount), .sum)
        suite.expectEqual(fixes, 36)
        // With the shopping filter, visits to the "Bar" stores are dropped, not reported.
        options.categories = .shopping
        options.unknownVenues = .drop
        let shopping = try DatasetLoader.load(path: csvPath, options: options, shards: shards, on: world, progress: nil)
        suite.expectEqual(shopping.stores.ids, ["s0", "s2", "s4"])
        suite.expectEqual(shopping.report.droppedByCategory, 114)  // known check-ins at s1, s3, s5
        suite.expectEqual(shopping.report.rawFixesKept, 30)
        if world.rank == 0 {
            print("geopredict-spmd-tests: invariant loader-csv=\(report.checkInsKept),\(report.rawFixesKept),\(report.issueCount),\(shopping.report.checkInsKept)")
        }
    }

    suite.test("loader: a folder source deals user folders to their owners") {
        let root = directory + "/folders"
        if world.rank == 0 {
            for user in 0..<9 {
                let folder = root + "/Data/\(100 + user)/Trajectory"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for file in 0..<(1 + user % 3) {
                    var text = "header line\n"
                    for fix in 0..<(5 + file) { text += "\(39.9 + Double(fix) / 1000),116.3,\(1_220_000_000 + user * 10_000 + file * 100 + fix)\n" }
                    if user == 4 { text += "garbage\n" }
                    try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/f\(file).plt"))
                }
            }
        }
        try world.barrier()
        var options = LoadOptions(format: .geolife)
        options.plausibleTimestamps = plausible
        options.folderFormat = FakeFixFolder()
        let loaded = try DatasetLoader.load(path: root, options: options, shards: shards, on: world, progress: nil)
        suite.expectEqual(loaded.report.mode, "folder")
        let expectedFixes = (0..<9).reduce(0) { total, user in total + (0..<(1 + user % 3)).reduce(0) { $0 + 5 + $1 } }
        suite.expectEqual(loaded.report.rawFixesKept, Int64(expectedFixes))
        suite.expectEqual(loaded.report.issueCount, 2)
        suite.expectEqual(loaded.report.issues.map(\.file), ["104/Trajectory/f0.plt", "104/Trajectory/f1.plt"])
        suite.expectEqual(loaded.report.issues.map(\.lineNumber), [7, 8])
        for user in 0..<loaded.rawFixes.userCount {
            suite.expectEqual(shards.owner(of: loaded.rawFixes.userIDs[user]), world.rank)
            let times = loaded.rawFixes.fixRange(ofUser: user).map { loaded.rawFixes.timestamps[$0] }
            suite.expectEqual(times, times.sorted())
        }
        let users = try world.allReduce(Int64(loaded.rawFixes.userCount), .sum)
        suite.expectEqual(users, 9)
        // The built-in GeoLife reader (GeoLifeFolderFormat) on a small tree in the .plt layout.
        let geolife = directory + "/geolife"
        if world.rank == 0 {
            let header = "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
            for user in ["000", "001", "002"] {
                let folder = geolife + "/" + user + "/Trajectory"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                var text = header
                for second in 0..<4 { text += "39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:0\(second)\r\n" }
                if user == "001" { text += "39.98,not-a-number,0,492,39744.12,2008-10-23,02:53:09\r\n" }
                try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/20081023025304.plt"))
            }
        }
        try world.barrier()
        options.folderFormat = nil
        let plt = try DatasetLoader.load(path: geolife, options: options, shards: shards, on: world, progress: nil)
        suite.expectEqual(plt.report.rawFixesKept, 12)
        suite.expectEqual(plt.report.issues.map(\.file), ["001/Trajectory/20081023025304.plt"])
        suite.expectEqual(plt.report.issues.map(\.lineNumber), [11])
        for user in 0..<plt.rawFixes.userCount {
            suite.expectEqual(shards.owner(of: plt.rawFixes.userIDs[user]), world.rank)
            suite.expectEqual(plt.rawFixes.fixRange(ofUser: user).map { plt.rawFixes.timestamps[$0] },
                              [1_224_730_380, 1_224_730_381, 1_224_730_382, 1_224_730_383])
        }
    }

    suite.test("loader: a missing file fails on every rank together") {
        let options = LoadOptions(format: .tsmc)
        suite.expectThrows(LoadError.self, { () throws(LoadError) in
            _ = try DatasetLoader.load(path: directory + "/missing.tsv", options: options, shards: shards, on: world, progress: nil)
        }, matches: { if case .cannotOpen = $0 { return true } else { return false } })
        // A header the format cannot use is also a collective error.
        let badHeader = directory + "/bad-header.csv"
        if world.rank == 0 { try? Data("a,b,c\n1,2,3\n".utf8).write(to: URL(fileURLWithPath: badHeader)) }
        _ = try? world.barrier()
        suite.expectThrows(LoadError.self, { () throws(LoadError) in
            _ = try DatasetLoader.load(path: badHeader, options: LoadOptions(format: .csv), shards: shards, on: world, progress: nil)
        }, matches: { if case .setup = $0 { return true } else { return false } })
    }
}

/// Checks a load of ``SyntheticTSMC`` against the generator's own expectations; returns a digest of
/// everything loaded (the same at any rank count).
private func checkAgainstExpectation(
    _ loaded: LoadedDataset, _ synthetic: SyntheticTSMC, shards: ShardMap, world: Communicator, suite: SPMDSuite
) throws -> String {
    let report = loaded.report
    suite.expectEqual(report.issues.map(\.lineNumber), synthetic.bad.map(\.line))
    suite.expectEqual(report.issues.map(\.reason.kind), synthetic.bad.map(\.kind))
    suite.expectEqual(report.issueCount, Int64(synthetic.bad.count))
    suite.expectEqual(report.linesRead, Int64(synthetic.lineCount))
    suite.expectEqual(report.blankLines, Int64(synthetic.blankLines))
    suite.expectEqual(report.checkInsKept, Int64(synthetic.good.count))
    suite.expectEqual(loaded.stores, synthetic.expectedCatalogue)

    // Every local user is owned here and has exactly its events, in order.
    var expectedByUser: [String: [(String, Int64)]] = [:]
    for event in synthetic.good { expectedByUser[event.checkIn.userID, default: []].append((event.checkIn.venueID, event.checkIn.timestampUnixSeconds)) }
    let visits = loaded.visits
    for user in 0..<visits.userCount {
        let id = visits.userIDs[user]
        suite.expectEqual(shards.owner(of: id), world.rank, "user \(id)")
        let got = visits.visitRange(ofUser: user).map { (loaded.stores.ids[Int(visits.stores[$0])], visits.timestamps[$0]) }
        let want = (expectedByUser[id] ?? []).sorted { $0.1 != $1.1 ? $0.1 < $1.1 : loaded.stores.index(of: $0.0)! < loaded.stores.index(of: $1.0)! }
        suite.expect(got.elementsEqual(want, by: { $0 == $1 }), "events of user \(id)")
        let offsets = visits.visitRange(ofUser: user).map { loaded.visitAttributes.utcOffsetMinutes(ofVisit: $0) }
        suite.expect(offsets.allSatisfy { $0 == -240 || $0 == -300 }, "offsets of \(id)")
    }
    suite.expectEqual(visits.userCount, expectedByUser.keys.filter { shards.owner(of: $0) == world.rank }.count)
    let triples = try gatheredTriples(loaded, world: world)
    return "\(triples.count):\(StableHash.hash(triples.joined(separator: "\n"))):stores=\(loaded.stores.count)"
}

/// Every rank's `user|store|time` triples, gathered and sorted.
private func gatheredTriples(_ loaded: LoadedDataset, world: Communicator) throws -> [String] {
    var writer = ByteWriter()
    let visits = loaded.visits
    for user in 0..<visits.userCount {
        for visit in visits.visitRange(ofUser: user) {
            writer.write("\(visits.userIDs[user])|\(loaded.stores.ids[Int(visits.stores[visit])])|\(visits.timestamps[visit])")
        }
    }
    let gathered = try world.allGatherVarying(writer.bytes)
    var reader = ByteReader(gathered.values)
    var triples: [String] = []
    while !reader.isAtEnd { triples.append(try reader.readString()) }
    return triples.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}

/// A temporary directory made by rank 0, its path broadcast to every rank.
private func sharedTemporaryDirectory(_ world: Communicator) throws -> String {
    var path: [UInt8] = []
    if world.rank == 0 {
        let directory = NSTemporaryDirectory() + "geopredict-loader-spmd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = Array(directory.utf8)
    }
    return String(decoding: try world.broadcast(path, from: 0), as: UTF8.self)
}

private func runShell(_ command: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw LoadError.decompressorFailed(command: command, status: process.terminationStatus) }
}

/// A stand-in folder format (`lat,lon,unix seconds` per line after one header line) that exercises
/// the folder plumbing without the GeoLife reader.
private struct FakeFixFolder: TrajectoryFolderFormat {
    var headerLineCount: Int { 1 }

    func files(under root: String) throws(LoadError) -> [TrajectoryFile] { try TrajectoryFolder.files(under: root) }

    func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int64, userID: String) -> Result<CheckIn, ImportIssue> {
        let fields = String(decoding: line, as: UTF8.self).split(separator: ",")
        guard fields.count == 3, let latitude = Double(fields[0]), let longitude = Double(fields[1]), let time = Int64(fields[2]) else {
            return .failure(ImportIssue(lineNumber: lineNumber, reason: .wrongFieldCount(expected: 3, found: fields.count)))
        }
        return .success(CheckIn(userID: userID, venueID: "", latitude: latitude, longitude: longitude, timestampUnixSeconds: time))
    }
}

/// A synthetic TSMC2014 file: users, venues (one with conflicting positions and categories), CRLF
/// and LF endings, blank lines, no final newline, and bad lines of each kind at known numbers.
private struct SyntheticTSMC {
    struct Event {
        var checkIn: CheckIn
        var offset: Int16
    }

    var fileBytes: [UInt8] = []
    var good: [Event] = []
    var bad: [(line: Int64, kind: ImportIssue.Kind)] = []
    var lineCount = 0
    var blankLines = 0
    let cutoff: Int64 = 1_334_000_000
    var expectedCatalogue = StoreCatalogue(stores: [])

    static let categories = ["Clothing Store", "Bar", "Coffee Shop", "Mall", "Department Store", "Office", "Food & Drink Shop"]

    init(seed: UInt64) {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            return StableHash.mix(state)
        }
        var lines: [[UInt8]] = []
        let badTemplates: [(String, ImportIssue.Kind)] = [
            ("u1\tv1\tcat\tBar\t40.7\t-73.9\t-240", .wrongFieldCount),
            ("\tv1\tcat\tBar\t40.7\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 2012", .emptyField),
            ("u1\tv1\tcat\tBar\tforty\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 2012", .invalidNumber),
            ("u1\tv1\tcat\tBar\t40.7\t-273.9\t-240\tTue Apr 03 18:00:00 +0000 2012", .coordinateOutOfRange),
            ("u1\tv1\tcat\tBar\t0\t0\t-240\tTue Apr 03 18:00:00 +0000 2012", .nullIsland),
            ("u1\tv1\tcat\tBar\t40.7\t-73.9\t-240\tTue Apr 33 18:00:00 +0000 2012", .invalidTimestamp),
            ("u1\tv1\tcat\tBar\t40.7\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 1970", .implausibleTimestamp),
            ("u1\tv1\tcat\tBar\t40.7\t-73.9\t-9999\tTue Apr 03 18:00:00 +0000 2012", .invalidUTCOffset),
        ]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var badIndex = 0
        for index in 0..<2_400 {
            let lineNumber = Int64(lines.count + 1)
            if index % 97 == 50 {
                // Bad lines of every kind, spread over the whole file (so that every rank's range
                // holds some at 2-4 ranks), with blank lines between the rounds of kinds.
                let slot = badIndex % (badTemplates.count + 2)
                if slot < badTemplates.count {
                    lines.append(Array(badTemplates[slot].0.utf8))
                    bad.append((lineNumber, badTemplates[slot].1))
                } else if slot == badTemplates.count {
                    // Invalid UTF-8 in the user id.
                    lines.append([0x75, 0xFF] + Array("\tv1\tcat\tBar\t40.7\t-73.9\t-240\tTue Apr 03 18:00:00 +0000 2012".utf8))
                    bad.append((lineNumber, .invalidUTF8))
                } else {
                    lines.append([])
                    blankLines += 1
                }
                badIndex += 1
                continue
            }
            let user = "u\(next() % 60)"
            let venueNumber = Int(next() % 30)
            let venue = "v\(venueNumber)"
            var latitude = 40.6 + Double(venueNumber) / 100
            let longitude = -74.0 + Double(venueNumber) / 200
            var category = Self.categories[venueNumber % Self.categories.count]
            if venueNumber == 7, next() % 3 == 0 {
                // The conflicting venue: a third of its check-ins elsewhere and in another category.
                latitude += 0.001
                category = "Market"
            }
            let time = 1_330_000_000 + Int64(index) * 3_017 + Int64(next() % 600)
            let offset: Int16 = time < 1_331_445_600 ? -300 : -240
            good.append(Event(
                checkIn: CheckIn(userID: user, venueID: venue, latitude: latitude, longitude: longitude,
                                 timestampUnixSeconds: time, category: category),
                offset: offset))
            lines.append(Array("\(user)\t\(venue)\tcat\(venueNumber)\t\(category)\t\(latitude)\t\(longitude)\t\(offset)\t\(Self.tsmcTime(time, months))".utf8))
        }
        lineCount = lines.count
        for (index, line) in lines.enumerated() {
            fileBytes += line
            if index < lines.count - 1 { fileBytes += index % 5 == 0 ? [0x0d, 0x0a] : [0x0a] }
        }
        expectedCatalogue = Self.referenceCatalogue(good.map(\.checkIn))
    }

    /// `Tue Apr 03 18:00:09 +0000 2012` for a Unix time (a civil-from-days conversion, independent
    /// of the parser's days-from-civil).
    static func tsmcTime(_ time: Int64, _ months: [String]) -> String {
        let days = time / Seconds.perDay
        let seconds = time % Seconds.perDay
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(days % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday) \(months[Int(month - 1)]) \(two(day)) \(two(seconds / Seconds.perHour)):\(two(seconds / Seconds.perMinute % 60)):\(two(seconds % 60)) +0000 \(year)"
    }

    /// The catalogue by the documented rule, computed naively: per venue the most frequent
    /// position and category, ties to the smaller value.
    static func referenceCatalogue(_ events: [CheckIn]) -> StoreCatalogue {
        var positions: [String: [String: Int]] = [:]
        var categories: [String: [String: Int]] = [:]
        var coordinates: [String: (Double, Double)] = [:]
        for event in events {
            let key = "\(event.latitude)|\(event.longitude)"
            coordinates[key] = (event.latitude, event.longitude)
            positions[event.venueID, default: [:]][key, default: 0] += 1
            categories[event.venueID, default: [:]][event.category, default: 0] += 1
        }
        let stores = positions.keys.map { venue -> Store in
            let position = positions[venue]!.max { lhs, rhs in
                let (a, b) = (coordinates[lhs.key]!, coordinates[rhs.key]!)
                return lhs.value != rhs.value ? lhs.value < rhs.value : (a.0 != b.0 ? a.0 > b.0 : a.1 > b.1)
            }!
            let category = categories[venue]!.max { lhs, rhs in
                lhs.value != rhs.value ? lhs.value < rhs.value : rhs.key.utf8.lexicographicallyPrecedes(lhs.key.utf8)
            }!
            let (latitude, longitude) = coordinates[position.key]!
            return Store(id: venue, latitude: latitude, longitude: longitude, category: category.key)
        }
        return StoreCatalogue(stores: stores)
    }
}
