import Foundation

/// A deterministic synthetic city: stores in neighbourhoods, and users with homes, favourite stores,
/// daily rhythms and habits of moving between nearby stores.
///
/// It is GeoPredict's embedded default dataset (`hpc/serve` with no `--data`) and the common input of
/// the benchmarks. Every store and every user is generated from the seed alone, so any rank can
/// generate exactly the users it owns — the same city at any rank count — and a CSV written from it
/// feeds the peers in the benchmarks.
public struct SyntheticCity: Sendable {
    /// The size and shape of the city.
    public struct Configuration: Sendable, Equatable {
        public var userCount: Int
        public var storeCount: Int
        /// Mean visits per user over the whole period.
        public var meanVisitsPerUser: Double
        /// The period, in days, that ends at `endUnixSeconds`.
        public var days: Int
        public var endUnixSeconds: Int64
        public var seed: UInt64
        /// The city centre, in degrees.
        public var centerLatitude: Double
        public var centerLongitude: Double
        /// Neighbourhood centres fall within this distance of the centre, in meters.
        public var radiusMeters: Double
        public var neighbourhoodCount: Int

        public init(
            userCount: Int = 10_000, storeCount: Int = 1_000, meanVisitsPerUser: Double = 20, days: Int = 120,
            endUnixSeconds: Int64 = 1_767_225_600, seed: UInt64 = 2026,
            centerLatitude: Double = 40.7306, centerLongitude: Double = -73.9866, radiusMeters: Double = 12_000,
            neighbourhoodCount: Int = 40
        ) {
            self.userCount = userCount
            self.storeCount = storeCount
            self.meanVisitsPerUser = meanVisitsPerUser
            self.days = days
            self.endUnixSeconds = endUnixSeconds
            self.seed = seed
            self.centerLatitude = centerLatitude
            self.centerLongitude = centerLongitude
            self.radiusMeters = radiusMeters
            self.neighbourhoodCount = neighbourhoodCount
        }
    }

    /// Category names and whether a store of that kind is shopping; shopping names follow Foursquare's.
    static let categories: [(name: String, weight: Double)] = [
        ("Grocery Store", 8), ("Clothing Store", 6), ("Drugstore / Pharmacy", 5), ("Convenience Store", 6),
        ("Department Store", 2), ("Electronics Store", 2), ("Bookstore", 2), ("Mall", 1), ("Food & Drink Shop", 4),
        ("Furniture / Home Store", 2), ("Hardware Store", 2), ("Sporting Goods Shop", 1), ("Market", 2),
        ("Cosmetics Shop", 1), ("Gift Shop", 1), ("Coffee Shop", 7), ("Restaurant", 8), ("Gym", 3), ("Bar", 4),
        ("Park", 2), ("Office", 3),
    ]

    public let configuration: Configuration
    /// Every store, ids `s000001`, `s000002`, ... (so catalogue order is generation order).
    public let stores: [Store]
    private let storeNeighbourhood: [Int32]
    private let neighbourhoods: [(latitude: Double, longitude: Double)]
    private let neighbourhoodChoice: AliasTable
    /// Per neighbourhood, its stores and a popularity-weighted sampler over them.
    private let neighbourhoodStores: [[Int32]]
    private let neighbourhoodSampler: [AliasTable?]
    private let popularity: AliasTable

    public init(configuration: Configuration) {
        precondition(configuration.userCount >= 0 && configuration.storeCount > 0 && configuration.days > 0)
        self.configuration = configuration
        var random = SplitMix64(seed: configuration.seed)
        let metersPerDegreeLatitude = 111_320.0
        let metersPerDegreeLongitude = 111_320.0 * cos(configuration.centerLatitude * .pi / 180)
        neighbourhoods = (0..<max(1, configuration.neighbourhoodCount)).map { _ in
            let distance = configuration.radiusMeters * random.nextUnit().squareRoot()
            let angle = 2 * Double.pi * random.nextUnit()
            return (configuration.centerLatitude + distance * sin(angle) / metersPerDegreeLatitude,
                    configuration.centerLongitude + distance * cos(angle) / metersPerDegreeLongitude)
        }
        // Neighbourhood sizes and store popularity follow Zipf-like laws.
        neighbourhoodChoice = AliasTable(weights: neighbourhoods.indices.map { 1 / Double($0 + 1).squareRoot() })
        let categoryChoice = AliasTable(weights: Self.categories.map(\.weight))
        var stores = [Store]()
        var storeNeighbourhood = [Int32]()
        var weights = [Double]()
        var perNeighbourhood = [[Int32]](repeating: [], count: neighbourhoods.count)
        for index in 0..<configuration.storeCount {
            let neighbourhood = neighbourhoodChoice.sample(using: &random)
            let center = neighbourhoods[neighbourhood]
            let latitude = center.latitude + 500 * random.nextGaussian() / metersPerDegreeLatitude
            let longitude = center.longitude + 500 * random.nextGaussian() / metersPerDegreeLongitude
            let category = Self.categories[categoryChoice.sample(using: &random)].name
            stores.append(Store(id: String(format: "s%06d", index + 1), latitude: latitude, longitude: longitude, category: category))
            storeNeighbourhood.append(Int32(neighbourhood))
            perNeighbourhood[neighbourhood].append(Int32(index))
            weights.append(1 / pow(Double(1 + random.next() % UInt64(configuration.storeCount)), 0.9))
        }
        self.stores = stores
        self.storeNeighbourhood = storeNeighbourhood
        neighbourhoodStores = perNeighbourhood
        neighbourhoodSampler = perNeighbourhood.map { members in
            members.isEmpty ? nil : AliasTable(weights: members.map { weights[Int($0)] })
        }
        popularity = AliasTable(weights: weights)
    }

    /// The catalogue of every store (identical on every rank).
    public var catalogue: StoreCatalogue { StoreCatalogue(stores: stores) }

    /// The id of user `index` (`u0000001`, ...).
    public static func userID(_ index: Int) -> String { String(format: "u%07d", index + 1) }

    /// How many visits to reserve room for on one rank: a tenth more than the expected share.
    /// Outgrowing the reservation would double the arrays (and briefly hold both copies); pages
    /// reserved but never written cost no memory.
    private func reservedVisitCount(rankCount: Int) -> Int {
        let expected = Double(configuration.userCount) * configuration.meanVisitsPerUser / Double(rankCount)
        return Int(expected * 1.1) + 1024
    }

    /// The visits of every user that `rank` owns: `(user id, store index, unix seconds)`, each user's
    /// in time order. Store indices are catalogue indices.
    public func visits(ownedBy rank: Int, shards: ShardMap) -> [(userID: String, store: Int32, timestamp: Int64)] {
        var result = [(userID: String, store: Int32, timestamp: Int64)]()
        result.reserveCapacity(reservedVisitCount(rankCount: shards.rankCount))
        for user in 0..<configuration.userCount {
            let id = Self.userID(user)
            guard shards.owner(of: id) == rank else { continue }
            for visit in visits(ofUser: user) { result.append((id, visit.store, visit.timestamp)) }
        }
        return result
    }

    /// The visits of every user that `rank` owns, straight into a ``VisitLog``: the same log as
    /// `VisitLog(visits: visits(ownedBy: rank, shards: shards), shards: shards)` without the array of
    /// every visit in between (32 bytes per visit, 3.2 GB per rank at 10 M users and 2 ranks).
    public func visitLog(ownedBy rank: Int, shards: ShardMap) -> VisitLog {
        var owned: [(partition: Int32, id: String, user: Int)] = []
        for user in 0..<configuration.userCount {
            let id = Self.userID(user)
            let partition = shards.partition(of: id)
            if shards.owner(ofPartition: partition) == rank { owned.append((Int32(partition), id, user)) }
        }
        owned.sort { $0.partition != $1.partition ? $0.partition < $1.partition : $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        let reserved = reservedVisitCount(rankCount: shards.rankCount)
        var offsets = [0]
        var stores: [Int32] = []
        var timestamps: [Int64] = []
        offsets.reserveCapacity(owned.count + 1)
        stores.reserveCapacity(reserved)
        timestamps.reserveCapacity(reserved)
        for entry in owned {
            // Visits come in time order; the log also orders visits at the same second by store.
            var visits = visits(ofUser: entry.user)
            if zip(visits, visits.dropFirst()).contains(where: { $0.timestamp == $1.timestamp }) {
                visits.sort { ($0.timestamp, $0.store) < ($1.timestamp, $1.store) }
            }
            for visit in visits {
                stores.append(visit.store)
                timestamps.append(visit.timestamp)
            }
            offsets.append(stores.count)
        }
        return VisitLog(
            userIDs: owned.map(\.id), userPartitions: owned.map(\.partition), offsets: offsets,
            stores: stores, timestamps: timestamps)
    }

    /// The visits of user `index`, in time order.
    public func visits(ofUser index: Int) -> [(store: Int32, timestamp: Int64)] {
        var random = SplitMix64(seed: StableHash.mix(configuration.seed ^ StableHash.mix(UInt64(index) &+ 1)))
        let home = neighbourhoodChoice.sample(using: &random)
        let work = neighbourhoodChoice.sample(using: &random)
        let favourites = chooseFavourites(home: home, work: work, random: &random)
        let favouriteChoice = AliasTable(weights: favourites.map { _ in random.nextExponential() + 0.05 })
        // Activity varies a lot between people: a gamma(2)-like multiplier of the mean.
        let activity = (random.nextExponential() + random.nextExponential()) / 2
        let count = max(1, Int((configuration.meanVisitsPerUser * activity).rounded()))
        let preferredHour = [9.0, 12.5, 18.5, 20.5][Int(random.next() % 4)] + random.nextGaussian()
        let weekendLover = random.nextUnit() < 0.3
        let start = configuration.endUnixSeconds - Int64(configuration.days) * Seconds.perDay
        var times = (0..<count).map { _ -> Int64 in
            var day = Int64(random.next() % UInt64(configuration.days))
            // Weekend lovers move most weekday visits to the nearest weekend day.
            let weekday = (day + (start / Seconds.perDay) + 4) % 7  // 0 = Sunday
            if weekendLover, (1...5).contains(weekday), random.nextUnit() < 0.6 {
                day = min(Int64(configuration.days - 1), day + (6 - weekday))
            }
            let hour = min(23.5, max(7, preferredHour + 1.5 * random.nextGaussian()))
            return start + day * Seconds.perDay + Int64(hour * Double(Seconds.perHour))
        }
        times.sort()
        var visits = [(store: Int32, timestamp: Int64)]()
        visits.reserveCapacity(count)
        var previous: Int32?
        for time in times {
            let draw = random.nextUnit()
            let store: Int32
            if draw < 0.65 || favourites.count == 1 {
                store = favourites[favouriteChoice.sample(using: &random)]
            } else if draw < 0.85, let previous {
                store = nearby(previous, random: &random)
            } else {
                store = sampleNeighbourhood(random.nextUnit() < 0.7 ? home : work, random: &random)
            }
            visits.append((store, time))
            previous = store
        }
        return visits
    }

    private func chooseFavourites(home: Int, work: Int, random: inout SplitMix64) -> [Int32] {
        let count = 3 + Int(random.next() % 10)
        var chosen = [Int32]()
        for _ in 0..<count {
            let draw = random.nextUnit()
            let store = draw < 0.6 ? sampleNeighbourhood(home, random: &random)
                : draw < 0.9 ? sampleNeighbourhood(work, random: &random)
                : Int32(popularity.sample(using: &random))
            if !chosen.contains(store) { chosen.append(store) }
        }
        return chosen
    }

    private func sampleNeighbourhood(_ neighbourhood: Int, random: inout SplitMix64) -> Int32 {
        guard let sampler = neighbourhoodSampler[neighbourhood] else { return Int32(popularity.sample(using: &random)) }
        return neighbourhoodStores[neighbourhood][sampler.sample(using: &random)]
    }

    /// A store in the same neighbourhood as `store` (people chain errands close by).
    private func nearby(_ store: Int32, random: inout SplitMix64) -> Int32 {
        sampleNeighbourhood(Int(storeNeighbourhood[Int(store)]), random: &random)
    }

    /// Writes every check-in as a plain CSV with a header
    /// (`user_id,venue_id,latitude,longitude,timestamp,category`), user by user.
    public func writeCSV(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var buffer = "user_id,venue_id,latitude,longitude,timestamp,category\n"
        for user in 0..<configuration.userCount {
            let id = Self.userID(user)
            for visit in visits(ofUser: user) {
                let store = stores[Int(visit.store)]
                buffer += "\(id),\(store.id),\(store.latitude),\(store.longitude),\(visit.timestamp),\(store.category)\n"
            }
            if buffer.utf8.count > 1 << 20 {
                try handle.write(contentsOf: Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: Data(buffer.utf8))
    }
}
