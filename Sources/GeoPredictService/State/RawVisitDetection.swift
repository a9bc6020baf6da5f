import GeoPredict
import MPI

/// Turns the raw GPS fixes of a loaded dataset into visits: stay points per user, then the nearest
/// store within 100 m, or — with no store catalogue at all — places clustered from every rank's stay
/// points, which then become the catalogue.
enum RawVisitDetection {
    struct Result {
        var visits: VisitLog
        var catalogue: StoreCatalogue
        /// Raw fixes per user, which count as events.
        var fixCounts: [String: Int]
    }

    /// Collective: every rank passes its own users.
    static func visits(
        from fixes: RawFixLog, checkIns: VisitLog, catalogue: StoreCatalogue, shards: ShardMap, on world: Communicator
    ) throws -> Result {
        let totalFixes = try world.allReduce(Int64(fixes.fixCount), .sum)
        guard totalFixes > 0 else { return Result(visits: checkIns, catalogue: catalogue, fixCounts: [:]) }
        var stays = [UserStayPoint]()
        var fixCounts = [String: Int]()
        for user in 0..<fixes.userCount {
            let range = fixes.fixRange(ofUser: user)
            let track = range.map {
                GPSFix(latitude: fixes.latitudes[$0], longitude: fixes.longitudes[$0], timestampUnixSeconds: fixes.timestamps[$0])
            }
            fixCounts[fixes.userIDs[user]] = range.count
            for stay in StayPointDetection.stayPoints(in: track) {
                stays.append(UserStayPoint(userID: fixes.userIDs[user], stayPoint: stay))
            }
        }
        var finalCatalogue = catalogue
        let detected: [Visit]
        if try world.allReduce(Int64(catalogue.count), .maximum) > 0 {
            detected = StoreMatcher(catalogue: catalogue).visits(of: stays)
        } else {
            let clusters = try PlaceClustering().clustersAcrossRanks(of: stays.map(\.stayPoint.point), on: world)
            finalCatalogue = clusters.storeCatalogue()
            detected = clusters.visits(of: stays, in: finalCatalogue)
        }
        var entries = [(userID: String, store: Int32, timestamp: Int64)]()
        entries.reserveCapacity(checkIns.visitCount + detected.count)
        for user in 0..<checkIns.userCount {
            for visit in checkIns.visitRange(ofUser: user) {
                entries.append((checkIns.userIDs[user], checkIns.stores[visit], checkIns.timestamps[visit]))
            }
        }
        entries.append(contentsOf: detected.map(\.logEntry))
        return Result(visits: VisitLog(visits: entries, shards: shards), catalogue: finalCatalogue, fixCounts: fixCounts)
    }
}
