import Foundation
import GeoPredict
import GeoPredictProtos
import Logging
import MPI
import MPIPlug

/// Where the service's data comes from.
public enum DataSource: Sendable {
    /// The embedded synthetic city (its configuration is kept in the state folder on first start, so
    /// later starts serve the same city).
    case synthetic(SyntheticCity.Configuration)
    /// A file (or GeoLife folder) in one of the importer formats; `stores` optionally names a store file.
    case file(path: String, format: ImportFormat, stores: String?)
}

/// Everything `geopredict serve` needs.
public struct GeoPredictServerOptions: Sendable {
    public var data: DataSource
    /// Holds the write-ahead logs, the model checkpoints and the synthetic city's configuration.
    public var stateDirectory: String
    public var plug: MPIPlugConfiguration
    /// Train the first model even when a usable model checkpoint exists.
    public var ignoresCheckpoints: Bool
    /// Per rank, how many users' folded-in factors to keep between their predictions (``FoldInMemo``);
    /// about 350 bytes each at k = 32. 0 solves every prediction afresh.
    public var foldInMemoCapacity: Int
    /// Per user, how many of the most recent event ids the owner remembers to recognise retried
    /// events (``EventIDMemory``); 0 turns the check off.
    public var eventIDsPerUser: Int
    /// How many users and events per user ingest may add to each rank (``IngestLimits``).
    public var ingestLimits: IngestLimits
    /// The boosted ranker every training run adds (``NextVisitTrainer/booster``; needs libxgboost);
    /// `nil` serves the linear model alone.
    public var booster: BoostedRankerParameters?

    public init(
        data: DataSource, stateDirectory: String, plug: MPIPlugConfiguration, ignoresCheckpoints: Bool = false,
        foldInMemoCapacity: Int = 100_000, eventIDsPerUser: Int = 10_000,
        ingestLimits: IngestLimits = IngestLimits(), booster: BoostedRankerParameters? = nil
    ) {
        self.data = data
        self.stateDirectory = stateDirectory
        self.plug = plug
        self.ignoresCheckpoints = ignoresCheckpoints
        self.foldInMemoCapacity = foldInMemoCapacity
        self.eventIDsPerUser = eventIDsPerUser
        self.ingestLimits = ingestLimits
        self.booster = booster
    }
}

/// Starts GeoPredict on every rank: load the data, load the last model checkpoint (or train), replay
/// the write-ahead logs, serve.
public enum GeoPredictServer {
    /// What rank 0 knows once requests are answered.
    public struct Ready: Sendable {
        /// Where the service listens.
        public let address: ServiceAddress
        /// One line: ranks, users, stores, visits, model and start-up time.
        public let summary: String
        /// A user the data holds (rank 0's with the most visits), for an example call; `nil` when
        /// no user of rank 0 has a visit.
        public let exampleUserID: String?
    }

    /// Runs until SIGTERM to rank 0: ``GeoPredictApplication`` built, then served. Collective: every
    /// rank calls it.
    ///
    /// - Parameter onReady: called on rank 0 once requests are answered.
    public static func run(
        environment: MPIEnvironment, options: GeoPredictServerOptions, logger: Logger,
        onReady: @escaping @Sendable (Ready) -> Void
    ) throws {
        let application = try GeoPredictApplication(environment: environment, options: options, logger: logger)
        try application.serve(onReady: onReady)
    }

    /// The user of `log` with the most visits (the first of equals), so that the example call shows a
    /// real history whatever the data.
    static func exampleUser(in log: VisitLog) -> String? {
        var best: (user: Int, visits: Int)?
        for user in 0..<log.userCount {
            let visits = log.visitRange(ofUser: user).count
            if visits > (best?.visits ?? 0) { best = (user, visits) }
        }
        return best.map { log.userIDs[$0.user] }
    }

    // MARK: Data

    struct LoadedData {
        var visits: VisitLog
        var fixCounts: [String: Int]
        var catalogue: StoreCatalogue
        var userCount: Int
        var visitCount: Int
        /// What the data is, for model checkpoints (``DataFingerprint``).
        var fingerprint: String
    }

    static func loadData(
        _ options: GeoPredictServerOptions, shards: ShardMap, world: Communicator, say: (String) -> Void
    ) throws -> LoadedData {
        switch options.data {
        case .synthetic(let requested):
            let configuration = try syntheticConfiguration(requested, options: options, world: world)
            let city = SyntheticCity(configuration: configuration)
            let visits = city.visitLog(ownedBy: world.rank, shards: shards)
            let totals = try world.allReduce([Int64(visits.userCount), Int64(visits.visitCount)], .sum)
            say("synthetic city: \(configuration.userCount) users, \(configuration.storeCount) stores, \(totals[1]) visits")
            return LoadedData(
                visits: visits, fixCounts: [:], catalogue: city.catalogue,
                userCount: Int(totals[0]), visitCount: Int(totals[1]), fingerprint: DataFingerprint.synthetic(configuration)
            )
        case let .file(path, format, stores):
            var loadOptions = LoadOptions(format: format)
            if let stores { loadOptions.stores = .file(stores) }
            let loaded = try DatasetLoader.load(
                path: path, options: loadOptions, shards: shards, on: world,
                progress: world.rank == 0 ? LoadProgress.printToStandardError : nil
            )
            say("loaded \(path): \(loaded.report.checkInsKept) check-ins, \(loaded.report.rawFixesKept) GPS fixes, "
                + "\(loaded.report.issueCount) bad lines")
            // Bad lines never stop the load; the operator sees why and where (the first few).
            loaded.report.issueSummary().forEach(say)
            let detected = try RawVisitDetection.visits(
                from: loaded.rawFixes, checkIns: loaded.visits, catalogue: loaded.stores, shards: shards, on: world
            )
            let totals = try world.allReduce([Int64(detected.visits.userCount), Int64(detected.visits.visitCount)], .sum)
            // Rank 0's view, so that every rank stores and compares the same description.
            let fingerprint = try world.broadcast(
                Array(DataFingerprint.file(path: path, format: format, stores: stores).utf8), from: 0
            )
            return LoadedData(
                visits: detected.visits, fixCounts: detected.fixCounts, catalogue: detected.catalogue,
                userCount: Int(totals[0]), visitCount: Int(totals[1]), fingerprint: String(decoding: fingerprint, as: UTF8.self)
            )
        }
    }

    /// The synthetic city's configuration: the one kept in the state folder if there is one, else
    /// `requested`, which rank 0 then keeps there.
    private static func syntheticConfiguration(
        _ requested: SyntheticCity.Configuration, options: GeoPredictServerOptions, world: Communicator
    ) throws -> SyntheticCity.Configuration {
        let path = "\(options.stateDirectory)/synthetic-city.json"
        var configuration = requested
        if let data = FileManager.default.contents(atPath: path),
           let stored = try? JSONDecoder().decode(StoredCityConfiguration.self, from: data) {
            configuration = stored.configuration
        } else if world.rank == 0 {
            try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true)
            try JSONEncoder().encode(StoredCityConfiguration(requested)).write(to: URL(fileURLWithPath: path))
        }
        // Every rank must generate the same city: take rank 0's view.
        let fields = try world.broadcast(
            [Int64(configuration.userCount), Int64(configuration.storeCount), Int64(configuration.days),
             configuration.endUnixSeconds, Int64(bitPattern: configuration.seed),
             Int64(bitPattern: configuration.meanVisitsPerUser.bitPattern)],
            from: 0
        )
        configuration.userCount = Int(fields[0])
        configuration.storeCount = Int(fields[1])
        configuration.days = Int(fields[2])
        configuration.endUnixSeconds = fields[3]
        configuration.seed = UInt64(bitPattern: fields[4])
        configuration.meanVisitsPerUser = Double(bitPattern: UInt64(bitPattern: fields[5]))
        return configuration
    }

    // MARK: Model and recovery

    static func initialModel(
        histories: UserHistories, catalogue: StoreCatalogue, shards: ShardMap, world: Communicator,
        booster: BoostedRankerParameters? = nil, say: @escaping (String) -> Void
    ) throws -> NextVisitModel {
        let started = ContinuousClock.now
        var trainer = NextVisitTrainer()
        trainer.booster = booster
        let (model, _) = try trainer.train(
            visits: histories.snapshot(), catalogue: catalogue, shards: shards, on: world, progress: say
        )
        histories.markAllTrained()
        say("trained the first model in \(ContinuousClock.now - started)")
        return model
    }

    /// Serves a checkpoint's model: the logged events it was trained on are replayed and marked
    /// trained (as they were when it was trained), then the events after it are replayed as recent.
    ///
    /// - Parameter started: when loading the checkpoint began, to report the time it took.
    static func recover(
        from restored: ModelCheckpointing.Restored, started: ContinuousClock.Instant, logged: LoggedEvents,
        into histories: UserHistories, eventIDs: EventIDMemory, world: Communicator,
        say: (String) -> Void
    ) throws -> (model: NextVisitModel, version: String, sequence: Int, origin: String) {
        let covered = try replay(logged.trained, into: histories, eventIDs: eventIDs, world: world)
        histories.markAllTrained()
        let after = try replay(logged.recent, into: histories, eventIDs: eventIDs, world: world)
        let trainingSeconds = restored.metadata.trainingSeconds
        say("loaded model checkpoint \(restored.fileName): model \(restored.metadata.modelVersion), "
            + "\(covered) logged events covered by it, \(after) replayed after it; no training at start "
            + "(\(String(format: "%.1f", seconds(since: started))) s instead of the \(String(format: "%.1f", trainingSeconds)) s "
            + "the model took to train)")
        return (restored.model, restored.metadata.modelVersion, restored.metadata.sequence, "from checkpoint")
    }

    static func walDirectory(_ options: GeoPredictServerOptions) -> String { "\(options.stateDirectory)/wal" }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).seconds
    }

    /// Applies logged events of users this rank owns (`owned`, in log order), in time order, and
    /// returns how many there were on all ranks. Their event ids go into `eventIDs` in log order (the
    /// order they were stored in), so that retries are recognised after a restart as before it; an
    /// event whose id is already there is a duplicate and is not applied. Collective (a sum).
    static func replay(
        _ owned: [Geopredict_V1_LocationEvent], into histories: UserHistories, eventIDs: EventIDMemory, world: Communicator
    ) throws -> Int {
        let mine = eventIDs.unseen(owned, userID: \.userID, eventID: \.optionalEventID)
        for event in mine where event.hasEventID { eventIDs.remember(event.eventID, of: event.userID) }
        // Stable: events at the same second keep their log order.
        let ordered = mine.enumerated().sorted { lhs, rhs in
            (lhs.element.timestampUnixSeconds, lhs.offset) < (rhs.element.timestampUnixSeconds, rhs.offset)
        }
        for (_, event) in ordered {
            let kind = UserHistories.EventKind(of: event, in: histories.catalogue)
            _ = histories.apply(
                userID: event.userID, timestamp: event.timestampUnixSeconds,
                position: GeoPoint(latitude: event.latitude, longitude: event.longitude), kind: kind
            )
        }
        return Int(try world.allReduce(Int64(mine.count), .sum))
    }
}

/// The synthetic city's configuration as kept in the state folder.
private struct StoredCityConfiguration: Codable {
    var userCount: Int
    var storeCount: Int
    var meanVisitsPerUser: Double
    var days: Int
    var endUnixSeconds: Int64
    var seed: UInt64

    init(_ configuration: SyntheticCity.Configuration) {
        userCount = configuration.userCount
        storeCount = configuration.storeCount
        meanVisitsPerUser = configuration.meanVisitsPerUser
        days = configuration.days
        endUnixSeconds = configuration.endUnixSeconds
        seed = configuration.seed
    }

    var configuration: SyntheticCity.Configuration {
        SyntheticCity.Configuration(
            userCount: userCount, storeCount: storeCount, meanVisitsPerUser: meanVisitsPerUser, days: days,
            endUnixSeconds: endUnixSeconds, seed: seed
        )
    }
}
