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
                    on: ALSSingleProcess()
                )
                suite.expectEqual(local, model, "ALSSingleProcess differs from MPI at one rank")
            }

            // Each rank's checkpoint reads back to the same model.
            var writer = ByteWriter()
            model.write(to: &writer)
            var reader = ByteReader(writer.bytes)
            suite.expectEqual(try ALSModel(from: &reader), model)
        }
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
                    visits.append((id, Int32(store), Int64(1_700_000_000 + visit * 3_600)))
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
