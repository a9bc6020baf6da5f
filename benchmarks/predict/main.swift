// bench-predict: the model's own cost per prediction, without HTTP or MPI rounds.
//
//   bench-predict [--users N] [--stores N] [--queries N] [--repeat N] [--position] [--memo CAPACITY]
//
// Builds the service's synthetic city on one rank, trains the serving model as `geopredict serve`
// does, then times `NextVisitModel.predict` for `--queries` random users (each query `--repeat`
// times), in thread CPU time so that other processes on the machine do not inflate it. Prints
// `name: value` lines and a checksum of every answer, so that a faster version can be checked to
// give the same predictions (same top-10 stores; scores to 1e-9).
import Foundation
import GeoPredict
import MPI
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var users = 100_000
    var stores = 2_000
    var queries = 20_000
    var repetitions = 1
    var withPosition = false
    var memoCapacity = 0

    init(arguments: [String]) {
        var index = 1
        func value() -> Int {
            index += 1
            guard index < arguments.count, let number = Int(arguments[index]) else {
                FileHandle.standardError.write(Data("bench-predict: \(arguments[index - 1]) needs a number\n".utf8))
                exit(2)
            }
            return number
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--users": users = value()
            case "--stores": stores = value()
            case "--queries": queries = value()
            case "--repeat": repetitions = max(1, value())
            case "--position": withPosition = true
            case "--memo": memoCapacity = value()
            default:
                FileHandle.standardError.write(Data("bench-predict: unknown argument \(arguments[index])\n".utf8))
                exit(2)
            }
            index += 1
        }
    }
}

/// CPU seconds used by the calling thread.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

let options = Options(arguments: CommandLine.arguments)
let status = MPI.run { environment -> Int32 in
    let world = environment.world
    let shards = ShardMap(rankCount: world.size)
    let configuration = SyntheticCity.Configuration(userCount: options.users, storeCount: options.stores)
    let city = SyntheticCity(configuration: configuration)
    let log = city.visitLog(ownedBy: world.rank, shards: shards)
    let catalogue = city.catalogue
    let trainingStarted = ContinuousClock.now
    let model: NextVisitModel
    do {
        model = try NextVisitTrainer().train(visits: log, catalogue: catalogue, shards: shards, on: world).model
    } catch {
        print("bench-predict: training failed: \(error)")
        return 1
    }
    print("train_seconds: \(ContinuousClock.now - trainingStarted)")
    guard world.rank == 0 else { return 0 }

    var random = SplitMix64(seed: 99)
    let users = (0..<options.queries).map { _ in Int(random.next() % UInt64(log.userCount)) }
    let now = configuration.endUnixSeconds + Seconds.perHour
    var scratch = model.makeScratch(foldInMemoCapacity: options.memoCapacity)
    var checksum = 0.0
    var storeChecksum = 0
    var returned = 0
    let started = threadCPUSeconds()
    for user in users {
        let visits = VisitSequence(user: user, in: log)
        var position: GeoPoint?
        if options.withPosition, let last = visits.stores.last {
            // Near the last visit, as an app would report it.
            position = GeoPoint(latitude: catalogue.latitudes[Int(last)] + 0.001, longitude: catalogue.longitudes[Int(last)] - 0.001)
        }
        let request = NextVisitRequest(time: now, position: position, limit: 10)
        for _ in 0..<options.repetitions {
            let prediction = model.predict(trainingVisits: visits, recentVisits: .empty, request: request, scratch: &scratch)
            returned += prediction.stores.count
            for (rank, ranked) in prediction.stores.enumerated() {
                checksum += ranked.score * Double(rank + 1)
                storeChecksum = storeChecksum &* 31 &+ ranked.store
            }
            checksum += prediction.nextTrip?.probabilityWithinHorizon ?? 0
        }
    }
    let seconds = threadCPUSeconds() - started
    let predictions = options.queries * options.repetitions
    print("predictions: \(predictions)")
    print("stores_returned: \(returned)")
    print("cpu_microseconds_per_prediction: \(String(format: "%.2f", seconds / Double(predictions) * 1e6))")
    print("fold_in_memo_hits: \(scratch.foldInMemo.hits) of \(scratch.foldInMemo.lookups)")
    print("score_checksum: \(String(format: "%.9f", checksum))")
    print("store_checksum: \(storeChecksum)")
    return 0
}
exit(status)
