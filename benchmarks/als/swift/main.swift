// bench-als: times GeoPredict's distributed implicit-feedback ALS on a triplet file, under mpirun.
// Rank 0 prints `name: value` lines that benchmarks/als/run collects; see benchmarks/README.md.
import GeoPredict
import MPI
#if canImport(Glibc)
import Glibc
#endif

let status = MPI.run { environment -> Int32 in
    let world = environment.world
    let options: Options
    do {
        options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
    } catch {
        if world.rank == 0 { writeError("\(error)\n") }
        return 2
    }
    let shards = ShardMap(rankCount: world.size)
    if options.polling { world.waitMode = .polling(Backoff(spins: 256, initialSleepMicroseconds: 5, maximumSleepMicroseconds: 200)) }

    let loadStart = MPIEnvironment.wallTime
    let file = try TripletFile(path: options.dataPath)
    let catalogue = file.catalogue()
    let (counts, globalUsers) = try file.counts(shards: shards, rank: world.rank)
    try world.barrier()
    let loadSeconds = MPIEnvironment.wallTime - loadStart
    let rssBeforeFit = ProcessMemory.kibibytes("VmRSS")
    // The peak so far is the loading's; reset it so that VmHWM after training is the fit's peak.
    let loadPeak = ProcessMemory.kibibytes("VmHWM")
    ProcessMemory.resetPeak()

    let configuration = ALSConfiguration(
        factorCount: options.factors, iterations: options.iterations, regularization: options.regularization,
        confidence: .linear(alpha: options.alpha),
        solver: options.solver == "cholesky" ? .cholesky : .conjugateGradient(steps: options.conjugateGradientSteps),
        computesLoss: options.computesLoss
    )
    var fitSeconds = [Double]()
    let cpuBefore = ProcessMemory.cpuSeconds()
    var model: ALSModel?
    // Counts time and bytes per collective; the phases of the last repeat are reported.
    let measured = MeasuredCollectives(world)
    var iterations = [ALSProgress]()
    for _ in 0..<options.repeats {
        model = nil
        measured.reset()
        iterations = []
        try world.barrier()
        let start = MPIEnvironment.wallTime
        model = try ImplicitALS.train(counts, catalogue: catalogue, shards: shards, configuration: configuration, on: measured) { progress in
            iterations.append(progress)
            if world.rank == 0 {
                let loss = progress.loss.map { " loss \($0)" } ?? ""
                writeError("iteration \(progress.iteration) elapsed \(progress.elapsedSeconds) s\(loss)\n")
            }
        }
        try world.barrier()
        fitSeconds.append(try world.allReduce(MPIEnvironment.wallTime - start, .maximum))
    }
    try PhaseReport(iterations: iterations, tallies: measured.tallies).print(on: world)
    let fitCPU = try world.allReduce(ProcessMemory.cpuSeconds() - cpuBefore, .sum)
    let fitPeak = ProcessMemory.kibibytes("VmHWM")
    let peaks = try world.gather([Int64(max(fitPeak, loadPeak))], root: 0)
    let fitPeaks = try world.gather([Int64(fitPeak)], root: 0)
    let befores = try world.gather([Int64(rssBeforeFit)], root: 0)
    let localUsers = try world.gather([Int64(counts.userCount)], root: 0)
    let totalTriplets = try world.allReduce(Int64(counts.entryCount), .sum)
    if world.rank == 0, let peaks, let fitPeaks, let befores, let localUsers {
        let mib = { (kib: Int64) in String(format3(Double(kib) / 1024)) }
        print("ranks: \(world.size)")
        print("users: \(file.userCount)")
        print("stores: \(file.storeCount)")
        print("triplets: \(totalTriplets)")
        print("users_per_rank: \(localUsers.map(String.init).joined(separator: ","))")
        print("load_seconds: \(format3(loadSeconds))")
        print("fit_seconds: \(fitSeconds.map(format3).joined(separator: ","))")
        print("fit_cpu_seconds: \(format3(fitCPU))")
        print("rss_before_fit_mib_per_rank: \(befores.map(mib).joined(separator: ","))")
        print("fit_peak_rss_mib_per_rank: \(fitPeaks.map(mib).joined(separator: ","))")
        print("fit_peak_rss_mib_total: \(mib(fitPeaks.reduce(0, +)))")
        // What training adds on top of the loaded data, summed over ranks (the peers report the same).
        print("fit_memory_mib: \(mib(zip(fitPeaks, befores).map { $0 - $1 }.reduce(0, +)))")
        print("peak_rss_mib_per_rank: \(peaks.map(mib).joined(separator: ","))")
        print("peak_rss_mib_total: \(mib(peaks.reduce(0, +)))")
        fflush(nil)
    }
    // Serving-side costs: one fold-in (a new visit arrives) and one top-10 over every store.
    if let model {
        let table = try model.replicatedStoreFactors(on: world)
        if world.rank == 0, model.userFactors.rowCount > 0 {
            let matrix = counts.counts
            let users = Array(0..<min(2_000, matrix.rowCount))
            var checksum: Float = 0
            let foldStart = MPIEnvironment.wallTime
            for user in users {
                let visits = matrix.entryRange(ofRow: user).map { (store: matrix.columns[$0], count: matrix.values[$0]) }
                checksum += try table.foldIn(visits: visits, configuration: configuration)[0]
            }
            let foldSeconds = MPIEnvironment.wallTime - foldStart
            let topStart = MPIEnvironment.wallTime
            for user in users { checksum += table.topStores(for: model.userFactors.row(user), count: 10)[0].score }
            let topSeconds = MPIEnvironment.wallTime - topStart
            print("fold_in_microseconds: \(format3(foldSeconds / Double(users.count) * 1e6))")
            print("top10_all_stores_microseconds: \(format3(topSeconds / Double(users.count) * 1e6))")
            if !checksum.isFinite { writeError("non-finite fold-in or scores\n") }
        }
    }
    if let path = options.dumpPath, let model {
        try FactorDump.write(model: model, globalUsers: globalUsers, userCount: file.userCount, path: path, on: world)
    }
    return 0
}
exit(status)

func format3(_ value: Double) -> String {
    let scaled = (value * 1000).rounded()
    let whole = Int(scaled) / 1000
    let fraction = abs(Int(scaled) % 1000)
    let padded = String(fraction)
    return "\(whole).\(String(repeating: "0", count: 3 - padded.count))\(padded)"
}

func writeError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Fields of /proc/self/status, in KiB.
enum ProcessMemory {
    /// User plus system CPU time of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        return user + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    }

    /// Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs, Linux 4.0+).
    static func resetPeak() {
        guard let handle = fopen("/proc/self/clear_refs", "w") else { return }
        fputs("5", handle)
        fclose(handle)
    }

    static func kibibytes(_ field: String) -> Int {
        guard let handle = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(handle) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), handle) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(field + ":") {
                return Int(text.dropFirst(field.count + 1).filter { $0.isNumber }) ?? 0
            }
        }
        return 0
    }
}

/// Every factor of the trained model in one file on rank 0, for the quality comparison:
/// `GPALSFAC`, Int64 k, Int64 users, Int64 stores, then users × k floats by global user index,
/// then stores × k floats by store index.
enum FactorDump {
    static func write(model: ALSModel, globalUsers: [Int], userCount: Int, path: String, on world: Communicator) throws {
        let table = try model.replicatedStoreFactors(on: world)
        // globalUsers[i] is the file index of model row i (the order UserStoreCounts was built in).
        let indices = try world.gatherVarying(globalUsers.map { Int32($0) }, root: 0)
        let factors = try world.gatherVarying(model.userFactors.rowMajorValues, root: 0)
        guard world.rank == 0, let indices, let factors else { return }
        let k = model.factorCount
        var users = [Float](repeating: 0, count: userCount * k)
        for (position, index) in indices.values.enumerated() {
            for factor in 0..<k { users[Int(index) * k + factor] = factors.values[position * k + factor] }
        }
        guard let handle = fopen(path, "wb") else { throw BenchmarkError.data("cannot write \(path)") }
        defer { fclose(handle) }
        var header = Array("GPALSFAC".utf8)
        for value in [Int64(k), Int64(userCount), Int64(table.storeCount)] {
            withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) }
        }
        _ = header.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        _ = users.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        let stores = table.factors.rowMajorValues
        _ = stores.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
    }
}
