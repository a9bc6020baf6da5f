import ArgumentParser
import Foundation
import GeoPredict
import GeoPredictService
import Logging
import MPI
import MPIPlug
import MPIPlugCommandLine

/// `geopredict serve`: the GeoPredict service. Every rank loads its share of the users, loads the last
/// model checkpoint (or trains), replays the write-ahead logs, and serves; rank 0 answers HTTP.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the GeoPredict v1 API from this MPI job (run it under mpirun; rank 0 listens)."
    )

    @Option(help: "Folder for the write-ahead logs, the model checkpoints and the synthetic city's settings.") var state = "state"
    @Option(help: "A data file (or GeoLife folder) to serve instead of the synthetic city.") var data: String?
    @Option(help: "The format of --data: tsmc, snap, getnext, csv or geolife.") var format: String?
    @Option(help: "A store file (CSV: store_id,latitude,longitude,category) that defines the stores.") var stores: String?
    @Option(help: "Users in the synthetic city (first start only).") var users = 50_000
    @Option(help: "Stores in the synthetic city (first start only).") var storeCount = 2_000
    @Flag(help: "Train the first model from the data and the logs even if --state holds a usable model checkpoint.")
    var retrain = false
    @Option(help: ArgumentHelp(
        "Per rank, how many users' folded-in factors to keep between their predictions (0: none).",
        discussion: "About 350 bytes each; a user asking again with the same visits skips the fold-in's solve."))
    var foldInMemo = 100_000
    @Option(name: .customLong("event-ids-per-user"), help: ArgumentHelp(
        "Per user, how many recent event ids to remember to recognise retried events (0: no check).",
        discussion: "The default, 10,000, is the most events one request may carry, so a whole request sent "
            + "again is always recognised; users who send no event_id cost nothing."))
    var eventIDsPerUser = 10_000
    @Option(help: ArgumentHelp(
        "Per rank, how many users it may hold; events of new users beyond it get resource_exhausted.",
        discussion: "The default, 5,000,000, keeps a rank's users within a few GiB (see README: limits)."))
    var maxUsersPerRank = IngestLimits.defaultUsersPerRank
    @Option(help: ArgumentHelp(
        "How many events one user may have; events beyond it get resource_exhausted.",
        discussion: "The default, 1,000,000, is a GPS fix every 10 s for four months."))
    var maxEventsPerUser = IngestLimits.defaultEventsPerUser
    @Option(help: ArgumentHelp(
        "The ranker every training run fits: linear, or xgboost (also: boosted) to add boosted trees that re-rank the linear score's best 20 candidates.",
        discussion: "xgboost needs XGBoost's shared library (Debian: libxgboost-dev) to train; the trees are evaluated natively and kept in the model checkpoint."))
    var ranker: RankerKind = .linear
    @OptionGroup var server: ServerOptions

    func validate() throws {
        if ranker == .xgboost, case .failure(let error) = XGBoostLibrary.shared {
            throw ValidationError("--ranker xgboost: \(error)")
        }
    }

    func run() throws {
        StandardErrorLogHandler.bootstrap()
        let options = GeoPredictServerOptions(
            data: try dataSource(), stateDirectory: state, plug: try server.makeConfiguration(), ignoresCheckpoints: retrain,
            foldInMemoCapacity: max(0, foldInMemo), eventIDsPerUser: max(0, eventIDsPerUser),
            ingestLimits: IngestLimits(usersPerRank: max(0, maxUsersPerRank), eventsPerUser: max(0, maxEventsPerUser)),
            booster: ranker == .xgboost ? BoostedRankerParameters() : nil
        )
        var logger = Logger(label: "geopredict")
        logger.logLevel = .info
        MPI.run(threadLevel: .funneled) { environment in
            try GeoPredictServer.run(environment: environment, options: options, logger: logger) { ready in
                print("geopredict: serving on \(ready.address.url) (\(ready.summary))")
                if let user = ready.exampleUserID {
                    // The id goes into a JSON string inside single quotes: escape what either would break on.
                    let id = user.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                        .replacingOccurrences(of: "'", with: #"'\''"#)
                    print("geopredict: try  curl -s -X POST -H 'Content-Type: application/json' "
                        + #"-d '{"userId":"\#(id)","limit":5}' "#
                        + "\(ready.address.url)/geopredict.v1.GeoPredictService/PredictNextVisits")
                }
                fflush(nil)
            }
        }
    }

    private func dataSource() throws -> DataSource {
        guard let data else {
            guard format == nil else { throw ValidationError("--format needs --data") }
            // The city's history ends at the start of today (UTC), so that predictions for "now" follow
            // straight on from it; the state folder keeps this date, so restarts serve the same city.
            let today = Int64(Date().timeIntervalSince1970) / Seconds.perDay * Seconds.perDay
            return .synthetic(SyntheticCity.Configuration(userCount: users, storeCount: storeCount, endUnixSeconds: today))
        }
        guard let name = format else { throw ValidationError("--data needs --format (tsmc, snap, getnext, csv or geolife)") }
        guard let format = ImportFormat(rawValue: name) else {
            throw ValidationError("unknown --format \(name); use tsmc, snap, getnext, csv or geolife")
        }
        return .file(path: data, format: format, stores: stores)
    }
}
