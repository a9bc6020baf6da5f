/// bench-load: throughput and memory of the collective load (`DatasetLoader`).
///
///     bench-load generate --lines N [--users U] [--venues V] [--seed S] --output FILE
///         writes a synthetic TSMC2014-format file (one process; about 130 bytes a line)
///     mpirun -np R bench-load load FILE [--format tsmc] [--keep-before UNIX] [--categories all|shopping]
///                                       [--repeat K] [--output JSON]
///         loads FILE collectively K times; rank 0 prints the load report and one JSON line per run
///         with events/s, seconds and every rank's peak resident memory (VmHWM)
import Foundation
import GeoPredict
import MPI

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    var description: String {
        switch self { case .usage(let message): return message }
    }
}

struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]

    init(_ arguments: ArraySlice<String>) throws {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            if argument.hasPrefix("--") {
                guard let value = iterator.next() else { throw BenchError.usage("\(argument) needs a value") }
                options[String(argument.dropFirst(2))] = value
            } else {
                positional.append(argument)
            }
        }
    }

    func integer(_ name: String, default value: Int) throws -> Int {
        guard let text = options[name] else { return value }
        guard let number = Int(text.replacingOccurrences(of: "_", with: "")) else { throw BenchError.usage("--\(name) \(text) is not a number") }
        return number
    }
}

/// Writes a synthetic TSMC2014 file: users and venues drawn from skewed distributions, times over
/// one year, 24-hex-digit venue ids and full-precision coordinates like the NYC data, and some of
/// its categories (a third of venues are shops).
func generate(_ arguments: Arguments) throws {
    let lines = try arguments.integer("lines", default: 10_000_000)
    let users = try arguments.integer("users", default: max(1_000, lines / 135))
    let venues = try arguments.integer("venues", default: max(500, lines / 30))
    guard let output = arguments.options["output"] else { throw BenchError.usage("generate needs --output FILE") }
    var state = UInt64(try arguments.integer("seed", default: 1))
    func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state)
    }
    let categories = ["Clothing Store", "Bar", "Coffee Shop", "Office", "Department Store", "Subway", "Food & Drink Shop",
                      "Home (private)", "Gym / Fitness Center", "Mall", "Italian Restaurant", "Drugstore / Pharmacy"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    guard let file = fopen(output, "w") else { throw BenchError.usage("cannot write \(output)") }
    defer { fclose(file) }
    var buffer = ""
    buffer.reserveCapacity(1 << 22)
    let start: Int64 = 1_333_000_000
    for index in 0..<lines {
        // Squaring a uniform draw skews users and venues towards low ids (some are very active).
        let u = Double(next() % 1_000_000) / 1_000_000
        let user = Int(u * u * Double(users))
        let v = Double(next() % 1_000_000) / 1_000_000
        let venue = Int(v * v * Double(venues))
        // Venue positions with the 15-17 significant digits of the real data (which matter to strtod).
        let jitter = Double(StableHash.mix(UInt64(venue)) % 1_000_000_000_000) * 1e-16
        let latitude = 40.5 + Double(venue % 1_000) / 2_000 + Double(venue / 1_000) * 1e-6 + jitter
        let longitude = -74.2 + Double((venue * 7) % 1_000) / 2_000 - jitter
        let time = start + Int64(index) * 31_536_000 / Int64(lines) + Int64(next() % 60)
        let days = time / Seconds.perDay
        let (year, month, day) = civil(days: days)
        let seconds = time % Seconds.perDay
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(weekdays[Int(days % 7)]) \(months[Int(month - 1)]) \(two(day)) \(two(seconds / Seconds.perHour)):\(two(seconds / Seconds.perMinute % 60)):\(two(seconds % 60)) +0000 \(year)"
        let hex = String(venue, radix: 16)
        let venueID = String(repeating: "0", count: max(0, 12 - hex.count)) + hex + "a520f4531fe3"  // 24 hex digits
        buffer += "\(user)\t\(venueID)\tcat\(venue % categories.count)\t\(categories[venue % categories.count])\t\(latitude)\t\(longitude)\t-240\t\(stamp)\n"
        if buffer.utf8.count > 1 << 22 {
            buffer.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
            buffer.removeAll(keepingCapacity: true)
        }
    }
    buffer.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
    print("wrote \(lines) lines (\(users) users, \(venues) venues) to \(output)")
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
func civil(days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = z / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

/// This process's peak resident set size in kB (`VmHWM` in /proc/self/status), or -1.
func peakResidentKilobytes() -> Int64 {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int64(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// CPU seconds (user + system) this process has used so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

func load(_ arguments: Arguments, world: Communicator) throws {
    guard let path = arguments.positional.dropFirst().first else { throw BenchError.usage("load needs a FILE") }
    guard let format = ImportFormat(rawValue: arguments.options["format"] ?? "tsmc") else {
        throw BenchError.usage("unknown --format")
    }
    var options = LoadOptions(format: format)
    if let cutoff = arguments.options["keep-before"] { options.keepBefore = Int64(cutoff) }
    switch arguments.options["categories"] {
    case nil, "all": break
    case "shopping": options.categories = .shopping
    case let other?: throw BenchError.usage("--categories \(other): use all or shopping")
    }
    options.maximumReportedIssues = 20
    let shards = ShardMap(rankCount: world.size)
    let repeats = try arguments.integer("repeat", default: 1)
    var records: [String] = []
    for run in 0..<repeats {
        try world.barrier()
        let cpuBefore = cpuSeconds()
        let loaded = try DatasetLoader.load(path: path, options: options, shards: shards, on: world)
        let cpu = try world.gather([cpuSeconds() - cpuBefore], root: 0)
        let peaks = try world.gather([peakResidentKilobytes()], root: 0)
        let report = loaded.report
        if world.rank == 0 {
            if run == 0 { print(report) }
            let perRank = report.perRank.enumerated().map { rank, counts in
                "{\"rank\":\(rank),\"bytes\":\(counts.bytes),\"lines\":\(counts.linesRead),\"events_received\":\(counts.eventsReceived),"
                    + "\"users\":\(counts.users),\"seconds\":\(counts.seconds),\"read_seconds\":\(counts.readSeconds),"
                    + "\"catalogue_seconds\":\(counts.catalogueSeconds),\"build_seconds\":\(counts.buildSeconds),"
                    + "\"shuffle_seconds\":\(counts.shuffleSeconds),\"shuffle_bytes_sent\":\(counts.shuffleBytesSent),"
                    + "\"cpu_seconds\":\(cpu?[rank] ?? -1),\"vmhwm_kb\":\(peaks?[rank] ?? -1)}"
            }
            let record = "{\"path\":\"\(path)\",\"format\":\"\(format)\",\"mode\":\"\(report.mode)\",\"ranks\":\(world.size),\"run\":\(run),"
                + "\"events\":\(report.eventsKept),\"lines\":\(report.linesRead),\"issues\":\(report.issueCount),"
                + "\"stores\":\(report.storeCount),\"users\":\(report.userCount),\"rounds\":\(report.exchangeRounds),"
                + "\"seconds\":\(report.seconds),\"events_per_second\":\(report.eventsPerSecond),"
                + "\"events_per_second_per_rank\":\(report.eventsPerSecond / Double(world.size)),\"per_rank\":[\(perRank.joined(separator: ","))]}"
            print(record)
            records.append(record)
        }
    }
    if world.rank == 0, let output = arguments.options["output"] {
        try (records.joined(separator: "\n") + "\n").write(toFile: output, atomically: true, encoding: .utf8)
    }
}

let arguments: Arguments
do {
    arguments = try Arguments(CommandLine.arguments.dropFirst())
} catch {
    FileHandle.standardError.write(Data("bench-load: \(error)\n".utf8))
    exit(2)
}
switch arguments.positional.first {
case "generate":
    do {
        try generate(arguments)
    } catch {
        FileHandle.standardError.write(Data("bench-load: \(error)\n".utf8))
        exit(2)
    }
case "load":
    MPI.run { environment in try load(arguments, world: environment.world) }
default:
    FileHandle.standardError.write(Data("usage: bench-load generate --lines N --output FILE | bench-load load FILE [--format F]\n".utf8))
    exit(2)
}
