// SPMD tests of the next-visit model: trained at 1, 2, 3 or 4 ranks, the weights, the timing model and
// the top-10 lists must have the same bits. Every rank generates the same synthetic check-ins and keeps
// the users it owns.
import GeoPredict
import MPI
import SPMDTesting
#if canImport(Glibc)
import Glibc
#endif

/// Synthetic routines: users with favourite stores visited in order during day-long sessions.
struct ModelSPMDData {
    let catalogue: StoreCatalogue
    let visits: VisitLog
    let evaluation: VisitLog
    let cutoff: Int64

    init(userCount: Int, storeCount: Int, days: Int, shards: ShardMap, rank: Int) {
        let categories = ["Home (private)", "Office", "Clothing Store", "Coffee Shop", "Bar", "Department Store"]
        catalogue = StoreCatalogue(stores: (0..<storeCount).map { index in
            Store(id: "store\(index)", latitude: 40.6 + Double(index % 15) * 0.01, longitude: -74.05 + Double(index / 15) * 0.01,
                  category: categories[index % categories.count])
        })
        var state: UInt64 = 12_345
        func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            return StableHash.mix(state)
        }
        func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        let start: Int64 = 1_333_342_800
        cutoff = start + Int64(days - 10) * 86_400
        var kept: [(userID: String, store: Int32, timestamp: Int64)] = []
        for user in 0..<userCount {
            let id = "user\(user)"
            let favourites = (0..<4).map { _ in Int32(next() % UInt64(storeCount)) }
            var userVisits: [(userID: String, store: Int32, timestamp: Int64)] = []
            for day in 0..<days where uniform() < 0.6 {
                var time = start + Int64(day) * 86_400 + Int64(next() % 7_200)
                var position = Int(next() % 2)
                for _ in 0..<(3 + Int(next() % 3)) {
                    let store = uniform() < 0.2 ? Int32(next() % UInt64(storeCount)) : favourites[position % 4]
                    userVisits.append((id, store, time))
                    position += 1
                    time += 1_800 + Int64(next() % 10_800)
                }
            }
            if shards.owner(of: id) == rank { kept += userVisits }
        }
        let cutoff = cutoff
        visits = VisitLog(visits: kept.filter { $0.timestamp < cutoff }, shards: shards)
        evaluation = VisitLog(visits: kept.filter { $0.timestamp >= cutoff }, shards: shards)
    }

    static func hash(_ values: [UInt64]) -> UInt64 {
        var bytes: [UInt8] = []
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes.withUnsafeBufferPointer { StableHash.hash(bytes: $0) }
    }
}

func runModelTests(_ suite: SPMDSuite, _ world: Communicator) {
    let shards = ShardMap(rankCount: world.size)
    let data = ModelSPMDData(userCount: 200, storeCount: 120, days: 45, shards: shards, rank: world.rank)

    suite.test("the next-visit model is the same at every rank count") {
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 14
        let trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: ALSCollaborativeTraining(
                configuration: ALSConfiguration(factorCount: 8, iterations: 4, confidence: .linear(alpha: 10))))
        let (model, _) = try trainer.train(visits: data.visits, catalogue: data.catalogue, shards: shards, end: data.cutoff, on: world)
        let report = try model.fitReport.map { $0 } ?? { throw MPIError.invalidArgument(function: "fit", message: "no report") }()
        suite.expect(report.instanceCount > 200, "only \(report.instanceCount) instances")
        suite.expect(model.weights.allSatisfy(\.isFinite))
        let weightBits = model.weights.map(\.bitPattern)
        suite.expectEqual(try world.broadcast(weightBits, from: 0), weightBits, "weights differ between ranks")
        let timing = model.timing.map { [$0.meanProbability.bitPattern, $0.priorStrength.bitPattern] + $0.populationWaits.map(\.bitPattern) } ?? []
        suite.expectEqual(try world.broadcast(timing, from: 0), timing, "timing differs between ranks")

        // Top-10 lists of every user's first evaluation trajectory, scored on the owner rank.
        let evaluation = try NextVisitEvaluation.run(
            model: model, training: data.visits, test: data.evaluation, attributes: VisitAttributes(), listLength: 10, on: world)
        suite.expect(evaluation.trajectories.count > 100, "only \(evaluation.trajectories.count) trajectories")
        let metrics = evaluation.metrics(.model)
        let frequent = evaluation.metrics(.userMostFrequent)
        suite.expect(metrics.meanReciprocalRankAt10 > frequent.meanReciprocalRankAt10,
                     "model MRR \(metrics.meanReciprocalRankAt10) <= most frequent \(frequent.meanReciprocalRankAt10)")
        var listBits: [UInt64] = []
        for trajectory in evaluation.trajectories {
            listBits.append(StableHash.hash(trajectory.trajectoryID))
            for prediction in trajectory.predictions.prefix(10) {
                listBits.append(UInt64(prediction.store))
                listBits.append(prediction.score.bitPattern)
            }
        }
        let listHash = ModelSPMDData.hash(listBits)
        suite.expectEqual(try world.broadcast(listHash, from: 0), listHash, "gathered lists differ between ranks")
        if world.rank == 0 {
            let checksum = ModelSPMDData.hash(weightBits + timing) ^ listHash
            print("geopredict-spmd-tests: invariant model-checksum=\(String(checksum, radix: 16)) "
                + "trajectories=\(evaluation.trajectories.count) newton-iterations=\(report.iterations) "
                + "acc1-bits=\(String(metrics.accuracyAt1.bitPattern, radix: 16)) mrr-bits=\(String(metrics.meanReciprocalRankAt10.bitPattern, radix: 16))")
            fflush(nil)
        }
    }
}
