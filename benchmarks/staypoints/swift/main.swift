// bench-staypoints: GeoLife folder → stay points (batch and incremental) → places, with timings.
// Written for benchmarks/staypoints/compare-trackintel, which compares the stay points with trackintel's.
//
//   bench-staypoints --geolife DIR [--distance-m 100] [--time-s 300] [--gap-s 900] [--include-last]
//                    [--epsilon-m 100] [--out stays.csv] [--places-out places.csv] [--repeat 3] [--mpi]
//
// With --mpi (under mpirun), users are sharded over the ranks with ShardMap, places are clustered with
// PlaceClustering.clustersAcrossRanks, and rank 0 prints a checksum of the places that must be the
// same at every rank count.
import GeoPredict
import MPI

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var geolife = ""
    var parameters = StayPointParameters()
    var epsilonMeters = 100.0
    var out: String?
    var placesOut: String?
    var repeats = 3
    var mpi = false

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            func value() -> String? { iterator.next() }
            switch flag {
            case "--geolife": options.geolife = value() ?? ""
            case "--distance-m": options.parameters.distanceThresholdMeters = value().flatMap(Double.init) ?? .nan
            case "--time-s": options.parameters.timeThresholdSeconds = value().flatMap { Int64($0) } ?? -1
            case "--gap-s": options.parameters.gapThresholdSeconds = value().flatMap { Int64($0) } ?? -1
            case "--include-last": options.parameters.includeLast = true
            case "--epsilon-m": options.epsilonMeters = value().flatMap(Double.init) ?? .nan
            case "--out": options.out = value()
            case "--places-out": options.placesOut = value()
            case "--repeat": options.repeats = value().flatMap { Int($0) } ?? 0
            case "--mpi": options.mpi = true
            default: return nil
            }
        }
        let p = options.parameters
        guard !options.geolife.isEmpty, p.distanceThresholdMeters > 0, p.timeThresholdSeconds >= 0,
            p.gapThresholdSeconds >= 0, options.epsilonMeters >= 0, options.repeats >= 1
        else { return nil }
        return options
    }
}

func seconds(since start: timespec) -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
}

func clockNow() -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// Writes to standard error unbuffered (the C `stderr` global is not concurrency-safe in Swift 6).
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    printError("bench-staypoints: \(message)")
    exit(2)
}

func writeFile(_ text: String, to path: String) {
    guard let file = fopen(path, "w") else { fail("cannot write \(path)") }
    fputs(text, file)
    fclose(file)
}

/// Reads every user (timed), detects stay points in batch and incrementally (timed, compared).
func detect(_ options: Options, users folders: [GeoLifeUserFolder]) -> (tracks: [GeoLifeUserTrack], stays: [UserStayPoint], timings: [String: Double]) {
    var readTimes = [Double](), batchTimes = [Double](), incrementalTimes = [Double]()
    var tracks = [GeoLifeUserTrack]()
    var stays = [UserStayPoint]()
    for _ in 0..<options.repeats {
        let readStart = clockNow()
        do {
            tracks = try folders.map { folder throws(GeoLifeError) in try GeoLifeReader.readUser(folder) }
        } catch {
            fail("\(error)")
        }
        readTimes.append(seconds(since: readStart))

        let batchStart = clockNow()
        stays = tracks.flatMap { track in
            StayPointDetection.stayPoints(in: track.fixes, parameters: options.parameters)
                .map { UserStayPoint(userID: track.userID, stayPoint: $0) }
        }
        batchTimes.append(seconds(since: batchStart))

        let incrementalStart = clockNow()
        var tracker = StayPointTracker(parameters: options.parameters)
        var incremental = [UserStayPoint]()
        do {
            for track in tracks {
                for fix in track.fixes {
                    if let stay = try tracker.add(fix, userID: track.userID) {
                        incremental.append(UserStayPoint(userID: track.userID, stayPoint: stay))
                    }
                }
                if let last = tracker.finish(userID: track.userID) {
                    incremental.append(UserStayPoint(userID: track.userID, stayPoint: last))
                }
            }
        } catch {
            fail("incremental detector rejected a fix: \(error)")
        }
        incrementalTimes.append(seconds(since: incrementalStart))
        guard incremental == stays else { fail("incremental stay points differ from batch") }
    }
    return (tracks, stays, ["read_s": median(readTimes), "batch_s": median(batchTimes), "incremental_s": median(incrementalTimes)])
}

func csv(_ stays: [UserStayPoint]) -> String {
    var text = "user_id,started_at,finished_at,latitude,longitude,fix_count\n"
    for stay in stays {
        let s = stay.stayPoint
        text += "\(stay.userID),\(s.arrivalUnixSeconds),\(s.departureUnixSeconds),\(s.latitude),\(s.longitude),\(s.fixCount)\n"
    }
    return text
}

/// A checksum of the places' ids, centres (bits) and sizes: equal at every rank count iff the places are.
func checksum(_ places: [Place]) -> UInt64 {
    var text = ""
    for place in places {
        text += "\(place.id)|\(place.latitude.bitPattern)|\(place.longitude.bitPattern)|\(place.stayPointCount)\n"
    }
    return StableHash.hash(text)
}

func runSingle(_ options: Options) {
    let folders: [GeoLifeUserFolder]
    do { folders = try GeoLifeReader.userFolders(in: options.geolife) } catch { fail("\(error)") }
    let (tracks, stays, timings) = detect(options, users: folders)
    var clusterTimes = [Double]()
    var clusters = PlaceClusters(places: [], placeOfPoint: [])
    for _ in 0..<options.repeats {
        let start = clockNow()
        clusters = PlaceClustering(epsilonMeters: options.epsilonMeters).clusters(of: stays)
        clusterTimes.append(seconds(since: start))
    }
    if let out = options.out { writeFile(csv(stays), to: out) }
    if let placesOut = options.placesOut {
        var text = "id,latitude,longitude,stay_points\n"
        for place in clusters.places { text += "\(place.id),\(place.latitude),\(place.longitude),\(place.stayPointCount)\n" }
        writeFile(text, to: placesOut)
    }
    let fixes = tracks.map(\.fixes.count).reduce(0, +)
    let issues = tracks.flatMap(\.issues)
    for issue in issues.prefix(5) { printError("issue: \(issue)") }
    print(
        """
        {"users": \(tracks.count), "files": \(tracks.map(\.trajectoryCount).reduce(0, +)), "fixes": \(fixes), \
        "bad_lines": \(issues.count), "stay_points": \(stays.count), "places": \(clusters.places.count), \
        "read_s": \(timings["read_s"] ?? .nan), "detect_batch_s": \(timings["batch_s"] ?? .nan), \
        "detect_incremental_s": \(timings["incremental_s"] ?? .nan), "cluster_s": \(median(clusterTimes)), \
        "incremental_equals_batch": true, "places_checksum": "\(String(checksum(clusters.places), radix: 16))"}
        """)
}

func runDistributed(_ options: Options) -> Int32 {
    MPI.run { environment -> Int32 in
        let world = environment.world
        let shards = ShardMap(rankCount: world.size)
        let folders: [GeoLifeUserFolder]
        do { folders = try GeoLifeReader.userFolders(in: options.geolife) } catch { fail("\(error)") }
        let mine = folders.filter { shards.owner(of: $0.userID) == world.rank }
        let (_, stays, _) = detect(Options(geolife: options.geolife, parameters: options.parameters, repeats: 1), users: mine)
        let clusters = try PlaceClustering(epsilonMeters: options.epsilonMeters)
            .clustersAcrossRanks(of: stays.map(\.stayPoint.point), on: world)
        let total = try world.allReduce(Int64(stays.count), .sum)
        if world.rank == 0 {
            print("bench-staypoints: ranks=\(world.size) stay_points=\(total) places=\(clusters.places.count) places_checksum=\(String(checksum(clusters.places), radix: 16))")
        }
        return 0
    }
}

guard let options = Options.parse(Array(CommandLine.arguments.dropFirst())) else {
    fail("usage: bench-staypoints --geolife DIR [--distance-m 100] [--time-s 300] [--gap-s 900] [--include-last] [--epsilon-m 100] [--out CSV] [--places-out CSV] [--repeat 3] [--mpi]")
}
if options.mpi {
    exit(runDistributed(options))
}
runSingle(options)
