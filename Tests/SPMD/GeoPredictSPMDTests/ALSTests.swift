// SPMD tests of distributed implicit-feedback ALS: the model must have the same bits at 1, 2, 3 and
// 4 ranks. Every rank generates the same synthetic visits and keeps the users it owns.
import GeoPredict
import MPI
import SPMDTesting
#if canImport(Glibc)
import Glibc
#endif

func runALSTests(_ suite: SPMDSuite, _ world: Communicator) {
    let shards = ShardMap(rankCount: world.size)
    let data = ALSSPMDData(userCount: 3_000, storeCount: 400, shards: shards, rank: world.rank)

    for (name, configuration) in [
        ("cg", ALSConfiguration(factorCount: 16, iterations: 6, regularization: 0.1, computesLoss: true)),
        ("cholesky", ALSConfiguration(factorCount: 12, iterations: 4, regularization: 0.5, solver: .cholesky, computesLoss: true)),
    ] {
        suite.test("ALS (\(name)) trains the same model at every rank count") {
            var losses = [Double]()
            let model = try ImplicitALS.train(
                data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration, on: world
            ) { progress in
                if let loss = progress.loss { losses.append(loss) }
            }
            suite.expectEqual(losses.count, configuration.iterations)
            suite.expect(losses.last! < losses.first!, "loss did not decrease: \(losses)")
            suite.expectEqual(model.userIDs, data.counts.userIDs)
            // The loss is computed exactly across ranks: every rank has the same bits.
            suite.expectEqual(try world.broadcast(losses, from: 0), losses)

            let table = try model.replicatedStoreFactors(on: world)
            let tableHash = ALSSPMDData.hash(table.factors.rowMajorValues) ^ ALSSPMDData.hash(table.gram.map { Float($0) })
            suite.expectEqual(try world.broadcast(tableHash, from: 0), tableHash, "replicated tables differ between ranks")

            // Users: an order-independent sum of per-user hashes of (id, factor bits).
            var userHash: UInt64 = 0
            for (row, id) in model.userIDs.enumerated() {
                userHash &+= StableHash.mix(StableHash.hash(id) ^ ALSSPMDData.hash(Array(model.userFactors.row(row))))
            }
            let allUsers = try world.allReduce(userHash, .sum)

            // Top-10 lists of a few users, gathered on rank 0 in id order.
            var lines = ""
            for (row, id) in model.userIDs.enumerated() where ALSSPMDData.sampledUsers.contains(id) {
                let top = table.topStores(for: model.userFactors.row(row), count: 10)
                lines += "\(id)=" + top.map { String($0.store) }.joined(separator: ",") + "\n"
            }
            let gathered = try world.gatherVarying(Array(lines.utf8), root: 0)
            if let gathered {
                let sorted = String(decoding: gathered.values, as: UTF8.self).split(separator: "\n").sorted()
                suite.expectEqual(sorted.count, ALSSPMDData.sampledUsers.count)
                print("geopredict-spmd-tests: invariant als-\(name)-checksum=\(String(allUsers, radix: 16))-\(String(tableHash, radix: 16))")
                print("geopredict-spmd-tests: invariant als-\(name)-loss=\(losses.map { String($0.bitPattern, radix: 16) }.joined(separator: ","))")
                for line in sorted { print("geopredict-spmd-tests: invariant als-\(name)-top10 \(line)") }
            }

            // Fold-in from the replicated table reproduces the trained users closely (the trained
            // factors were solved against the previous sweep's stores, so not exactly): mean top-10
            // overlap over the sampled users.
            var overlap: Int64 = 0
            for (row, id) in model.userIDs.enumerated() where ALSSPMDData.sampledUsers.contains(id) {
                let visits = data.counts.counts.entryRange(ofRow: row).map {
                    (store: data.counts.counts.columns[$0], count: data.counts.counts.values[$0])
                }
                let folded = try table.foldIn(visits: visits, configuration: configuration)
                let foldedTop = Set(table.topStores(for: folded, count: 10).map(\.store))
                let trainedTop = Set(table.topStores(for: model.userFactors.row(row), count: 10).map(\.store))
                overlap += Int64(foldedTop.intersection(trainedTop).count)
            }
            let meanOverlap = Double(try world.allReduce(overlap, .sum)) / Double(ALSSPMDData.sampledUsers.count)
            suite.expect(meanOverlap >= 7, "fold-in mean top-10 overlap \(meanOverlap)")

            // At one rank, the MPI-free single-process path trains the very same bits.
            if world.size == 1 {
                let local = try ImplicitALS.train(
                    data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration,
                    on: SingleProcessCollectives()
                )
                suite.expectEqual(local, model, "SingleProcessCollectives differs from MPI at one rank")
            }

            // Each rank's checkpoint reads back to the same model.
            var writer = ByteWriter()
            model.write(to: &writer)
            var reader = ByteReader(writer.bytes)
            suite.expectEqual(try ALSModel(from: &reader), model)
        }
    }

    suite.test("ALS through MeasuredCollectives: same model, bytes sent = bytes received, phases add up") {
        let configuration = ALSConfiguration(factorCount: 8, iterations: 3, regularization: 0.1)
        let plain = try ImplicitALS.train(data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration, on: world)
        let measured = MeasuredCollectives(world)
        var reports = [ALSProgress]()
        let model = try ImplicitALS.train(
            data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration, on: measured
        ) { progress in reports.append(progress) }
        suite.expectEqual(model, plain, "counting collectives changed the model")
        suite.expectEqual(reports.count, configuration.iterations)
        for report in reports {
            let phases: [Double] = report.phases.named.map(\.seconds)
            suite.expect(phases.allSatisfy { $0 >= 0 }, "negative phase: \(phases)")
            let sum: Double = phases.reduce(0, +)
            // The phases tile the iteration; elapsed time also covers set-up and earlier iterations.
            suite.expect(sum <= report.elapsedSeconds, "phases \(sum) s exceed elapsed \(report.elapsedSeconds) s")
            suite.expectEqual(report.phases.userHalf + report.phases.storeHalf + report.phases.loss, sum)
        }
        let exchange: CollectiveTally = measured.tallies[.allToAllV] ?? CollectiveTally()
        // Two factor exchanges per iteration, plus the plan's exchanges before the first.
        suite.expect(exchange.calls >= 2 * configuration.iterations, "alltoallv calls \(exchange.calls)")
        let sent: [Int64] = try world.allReduce([Int64(exchange.bytesSent), Int64(exchange.bytesReceived)], .sum)
        suite.expectEqual(sent[0], sent[1], "alltoallv bytes sent and received over all ranks differ")
        if world.size == 1 {
            suite.expectEqual(sent[0], 0, "one rank sends nothing to others")
        } else {
            suite.expect(sent[0] > 0, "no factor bytes moved between \(world.size) ranks")
        }
        let sums: CollectiveTally = measured.tallies[.exactSum] ?? CollectiveTally()
        // The plan's confidence total (1 value), one Gram sum before the first iteration and two per
        // iteration (k(k+1)/2 values); each moves 3 vectors of 8-byte values.
        let gramSums = 1 + 2 * configuration.iterations
        suite.expectEqual(sums.calls, 1 + gramSums)
        let expectedSumBytes: Int = world.size > 1 ? (1 + gramSums * (8 * 9 / 2)) * 3 * 8 : 0
        suite.expectEqual(sums.bytesSent, expectedSumBytes)
        measured.reset()
        suite.expect(measured.tallies.isEmpty, "reset left tallies")
    }

    suite.test("ALS with the factor exchanges cut into many small rounds trains the same model") {
        let configuration = ALSConfiguration(factorCount: 8, iterations: 3, regularization: 0.1)
        let oneRound = MeasuredCollectives(world)
        let plain = try ImplicitALS.train(
            data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration, on: oneRound)
        let rounds = MeasuredCollectives(world)
        // 4 KiB per round: a few dozen rows of 8 factors per block, so every exchange takes many rounds.
        let model = try ImplicitALS.train(
            data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration,
            exchangeBytesPerRound: 4_096, on: rounds)
        suite.expectEqual(model, plain, "exchanging in rounds changed the model")
        let calls = [oneRound, rounds].map { ($0.tallies[.allToAllV] ?? CollectiveTally()).calls }
        let bytes = [oneRound, rounds].map { ($0.tallies[.allToAllV] ?? CollectiveTally()).bytesSent }
        suite.expectEqual(bytes[1], bytes[0], "the rounds moved different bytes")
        // Even at one rank the store fetch moves rows (a rank asks itself for its own stores).
        suite.expect(calls[1] > calls[0], "alltoallv calls: \(calls[0]) in one round, \(calls[1]) in rounds")
    }

    suite.test("ALS refuses a shard map for another rank count") {
        let wrong = ShardMap(rankCount: world.size + 1)
        suite.expectThrows(ALSError.self, { () throws(ALSError) in
            _ = try ImplicitALS.train(data.counts, catalogue: data.catalogue, shards: wrong, on: world)
        }, matches: { $0 == .shardMismatch(shardRanks: world.size + 1, communicatorRanks: world.size) })
    }
}

/// Synthetic visits generated identically on every rank: users visit 3–30 stores drawn with a
/// Zipf-like popularity, 1–5 times each.
struct ALSSPMDData {
    static let sampledUsers: Set<String> = Set((0..<12).map { "u\($0 * 97)" })

    let catalogue: StoreCatalogue
    let counts: UserStoreCounts

    init(userCount: Int, storeCount: Int, shards: ShardMap, rank: Int) {
        catalogue = StoreCatalogue(stores: (0..<storeCount).map {
            Store(id: "store-\($0)", latitude: 48 + Double($0) * 1e-3, longitude: 2, category: "c\($0 % 5)")
        })
        // Cumulative Zipf(0.9) weights over stores, for inverse-transform sampling.
        var cumulative = [Double]()
        var total = 0.0
        for store in 0..<storeCount {
            total += 1 / pow(Double(store + 1), 0.9)
            cumulative.append(total)
        }
        var visits = [(userID: String, store: Int32, timestamp: Int64)]()
        for user in 0..<userCount {
            let id = "u\(user)"
            guard shards.owner(of: id) == rank else { continue }
            var state = StableHash.hash(id)
            func next() -> UInt64 {
                state &+= 0x9e37_79b9_7f4a_7c15
                return StableHash.mix(state)
            }
            let distinct = 3 + Int(next() % 28)
            var chosen = Set<Int>()
            while chosen.count < distinct {
                let target = Double(next() >> 11) * 0x1p-53 * total
                var low = 0
                var high = storeCount - 1
                while low < high {
                    let middle = (low + high) / 2
                    if cumulative[middle] < target { low = middle + 1 } else { high = middle }
                }
                chosen.insert(low)
            }
            for store in chosen.sorted() {
                for visit in 0..<(1 + Int(next() % 5)) {
                    visits.append((id, Int32(store), 1_700_000_000 + Int64(visit) * Seconds.perHour))
                }
            }
        }
        counts = UserStoreCounts(visitLog: VisitLog(visits: visits, shards: shards))
    }

    /// FNV-1a over the bit patterns, finished with the SplitMix mixer.
    static func hash(_ values: [Float]) -> UInt64 {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in values {
            state ^= UInt64(value.bitPattern)
            state &*= 0x0000_0100_0000_01b3
        }
        return StableHash.mix(state)
    }
}
