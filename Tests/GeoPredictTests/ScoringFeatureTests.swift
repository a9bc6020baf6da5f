@testable import GeoPredict
import MPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct ScoringFeatureTests {
    /// Three stores on the equator, 0.01° (1.112 km) apart; two categories.
    static let tiny = StoreCatalogue(stores: [
        Store(id: "A", latitude: 0, longitude: 0, category: "Office"),
        Store(id: "B", latitude: 0, longitude: 0.01, category: "Bar"),
        Store(id: "C", latitude: 0, longitude: 0.02, category: "Bar"),
    ])

    /// Everyone else: A 10 visits, B 5, C 5; transitions A→B 4, A→C 2; all visits at 12:00 solar time.
    static let tinyStatistics: VisitStatistics = {
        var hours = [Int64](repeating: 0, count: 3 * 24)
        hours[0 * 24 + 12] = 10
        hours[1 * 24 + 12] = 5
        hours[2 * 24 + 12] = 5
        return VisitStatistics(
            catalogue: tiny, popularity: [10, 5, 5], hourCounts: hours, transitions: [(0, 1, 4), (0, 2, 2)])
    }()

    @Test func handComputedValuesOnATinyHistory() {
        let t0: Int64 = 1_350_000_000
        let history = VisitSequence(stores: [0, 1, 0], timestamps: [t0, t0 + Seconds.perHour, t0 + 2 * Seconds.perHour])
        let query = NextVisitQuery(history: history, ownVisits: .empty, sessionStart: 1, time: t0 + 2 * Seconds.perHour)
        let parameters = NextVisitParameters()
        let extractor = NextVisitFeatureExtractor(catalogue: Self.tiny, statistics: Self.tinyStatistics, parameters: parameters)
        var scratch = extractor.makeScratch()
        let rows = extractor.features(for: query, candidates: [0, 1, 2], collaborative: nil, scratch: &scratch)
        func value(_ store: Int, _ feature: NextVisitFeature) -> Double { rows[store * NextVisitFeature.count + feature.rawValue] }

        // log1p(n) may differ from log(1 + n) in the last bit.
        #expect(abs(value(0, .frequency) - log(3.0)) < 1e-15)
        #expect(abs(value(1, .frequency) - log(2.0)) < 1e-15)
        #expect(value(2, .frequency) == 0)
        #expect(value(2, .visited) == 0 && value(1, .visited) == 1)
        #expect(value(0, .isLast) == 1 && value(1, .isLast) == 0)
        #expect(value(1, .isSessionStart) == 1 && value(0, .isSessionStart) == 0)
        #expect(value(0, .session) == log(2.0) && value(1, .session) == log(2.0) && value(2, .session) == 0)
        #expect(value(1, .userNext) == log(2.0), "A → B once")
        #expect(value(0, .userNext) == 0 && value(2, .userNext) == 0)
        #expect(value(0, .userNextSecondOrder) == 0 && value(1, .userNextSecondOrder) == 0)
        #expect(abs(value(0, .recencyDay) - log(1 + 1 + exp(-2.0 / 24))) < 1e-12)
        #expect(abs(value(1, .hoursSinceVisit) - log(2.0)) < 1e-12)
        let kilometers = 6_371.0 * 0.01 * Double.pi / 180
        #expect(abs(value(1, .distance) - log(kilometers + 0.1)) < 1e-9)
        #expect(abs(value(0, .distance) - log(0.1)) < 1e-12)
        // Everyone else's transitions from A, backed off to popularity: (4 + 5 × 6/23) / (6 + 5).
        #expect(abs(value(1, .othersNext) - log((4 + 5 * 6.0 / 23) / 11)) < 1e-12)
        #expect(abs(value(2, .othersNext) - log((2 + 5 * 6.0 / 23) / 11)) < 1e-12)
        #expect(abs(value(0, .othersNext) - log((0 + 5 * 11.0 / 23) / 11)) < 1e-12)
        #expect(value(2, .popularity) == log(6.0))
        // Categories in the history: Office 2, Bar 1; 2 categories.
        #expect(abs(value(0, .categoryShare) - log(3.0 / 5)) < 1e-12)
        #expect(abs(value(2, .categoryShare) - log(2.0 / 5)) < 1e-12)
        #expect(value(0, .collaborative) == 0)
    }

    /// At the default cap, with none (the wall clock) and with a 6-hour cap that shortens most pauses;
    /// a third of the queries come up to 40 days after the history ends.
    @Test(arguments: [NextVisitParameters().recencyGapCapSeconds, Int64(0), 6 * Seconds.perHour])
    func featuresMatchTheSlowReference(recencyGapCapSeconds: Int64) {
        let catalogue = ScoringTestData.catalogue()
        let log = VisitLog(visits: ScoringTestData.visits(userCount: 12, days: 30), shards: ShardMap(rankCount: 1))
        var parameters = NextVisitParameters()
        parameters.recencyGapCapSeconds = recencyGapCapSeconds
        let statistics = try! VisitStatistics.build(
            from: log, catalogue: catalogue, sessionGapSeconds: parameters.sessionGapSeconds, on: SingleProcessCollectives())
        let extractor = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statistics, parameters: parameters)
        let generator = CandidateGenerator(catalogue: catalogue, statistics: statistics, parameters: parameters)
        var scratch = extractor.makeScratch()
        var random = ScoringRandom(seed: 3)
        var compared = 0
        for user in 0..<log.userCount {
            let all = VisitSequence(user: user, in: log)
            for _ in 0..<3 {
                let cut = all.stores.startIndex + 1 + random.below(all.count - 1)
                let history = all.prefix(cut - all.stores.startIndex)
                let sessionStart = cut - random.below(min(3, cut - all.stores.startIndex) + 1)
                let position = random.uniform() < 0.3 ? GeoPoint(latitude: 40.71, longitude: -73.99) : nil
                let query = NextVisitQuery(
                    history: history, ownVisits: random.uniform() < 0.5 ? all : .empty, sessionStart: sessionStart,
                    time: history.timestamps.last! + Int64(random.below(7_200))
                        + (random.uniform() < 0.3 ? Int64(random.below(40 * Int(Seconds.perDay))) : 0),
                    position: position)
                let candidates = generator.candidates(for: query)
                let rows = extractor.features(for: query, candidates: candidates, collaborative: nil, scratch: &scratch)
                for (slot, candidate) in candidates.enumerated() {
                    let expected = ReferenceFeatures.features(
                        query: query, candidate: Int(candidate), catalogue: catalogue, statistics: statistics, parameters: parameters)
                    for feature in NextVisitFeature.allCases {
                        let actual = rows[slot * NextVisitFeature.count + feature.rawValue]
                        let reference = expected[feature.rawValue]
                        #expect(abs(actual - reference) <= 1e-9 * max(1, abs(reference)), "\(feature) of store \(candidate)")
                        compared += 1
                    }
                }
            }
        }
        #expect(compared > 10_000)
        // The scratch is clean after use: every slot free again.
        #expect(scratch.slots.allSatisfy { $0 == -1 })
        #expect(scratch.categoryCounts.allSatisfy { $0 == 0 })
        #expect(scratch.ownCategoryHours.allSatisfy { $0 == 0 } && scratch.ownCategoryTotals.allSatisfy { $0 == 0 })
    }

    /// The activity clock: a 40-day pause before the query ages the history by the cap only, so the
    /// recency features equal those of a query one cap after the last visit; on the wall clock they fall.
    @Test func aLongPauseAgesTheHistoryByTheCapOnly() {
        var parameters = NextVisitParameters()
        parameters.recencyGapCapSeconds = Seconds.perWeek
        let history = VisitSequence(stores: [0, 1, 0, 2], timestamps: [0, Seconds.perHour, Seconds.perDay, 90_000])
        func features(at time: Int64, _ parameters: NextVisitParameters) -> [Double] {
            let extractor = NextVisitFeatureExtractor(catalogue: Self.tiny, statistics: Self.tinyStatistics, parameters: parameters)
            var scratch = extractor.makeScratch()
            let query = NextVisitQuery(history: history, ownVisits: .empty, sessionStart: 4, time: time)
            return extractor.features(for: query, candidates: [0, 1, 2], collaborative: nil, scratch: &scratch)
        }
        let recency: [NextVisitFeature] = [.recencyDay, .recencyWeek, .recencyMonth, .hoursSinceVisit]
        func values(_ rows: [Double]) -> [Double] {
            (0..<3).flatMap { store in recency.map { rows[store * NextVisitFeature.count + $0.rawValue] } }
        }
        let afterPause = values(features(at: 90_000 + 40 * Seconds.perDay, parameters))
        let afterCap = values(features(at: 90_000 + 7 * Seconds.perDay, parameters))
        #expect(zip(afterPause, afterCap).allSatisfy { abs($0 - $1) < 1e-12 })
        var wallClock = parameters
        wallClock.recencyGapCapSeconds = 0
        let store0Month = NextVisitFeature.recencyMonth.rawValue
        #expect(features(at: 90_000 + 40 * Seconds.perDay, wallClock)[store0Month] < afterCap[2] - 0.1)
    }

    /// Subtracting a user's own visits from everyone's counts gives exactly the counts without the user.
    @Test func ownVisitsAreSubtractedFromEveryonesCounts() {
        let catalogue = ScoringTestData.catalogue()
        let everyone = ScoringTestData.visits(userCount: 8, days: 20)
        let parameters = NextVisitParameters()
        let shards = ShardMap(rankCount: 1)
        let withUser = VisitLog(visits: everyone, shards: shards)
        let withoutUser = VisitLog(visits: everyone.filter { $0.userID != "u3" }, shards: shards)
        let single = SingleProcessCollectives()
        let statisticsWith = try! VisitStatistics.build(from: withUser, catalogue: catalogue, sessionGapSeconds: parameters.sessionGapSeconds, on: single)
        let statisticsWithout = try! VisitStatistics.build(from: withoutUser, catalogue: catalogue, sessionGapSeconds: parameters.sessionGapSeconds, on: single)
        let user = withUser.userIndex(of: "u3", partition: shards.partition(of: "u3"))!
        let own = VisitSequence(user: user, in: withUser)
        let history = own.prefix(own.count - 1)
        let query = NextVisitQuery(history: history, ownVisits: own, sessionStart: history.stores.endIndex - 1, time: history.timestamps.last!)
        let candidates = Array(0..<Int32(catalogue.count))
        var scratch = NextVisitScratch(storeCount: catalogue.count, categoryCount: catalogue.categoryNames.count)
        let subtracted = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statisticsWith, parameters: parameters)
            .features(for: query, candidates: candidates, collaborative: nil, scratch: &scratch)
        var cleanQuery = query
        cleanQuery.ownVisits = .empty
        let clean = NextVisitFeatureExtractor(catalogue: catalogue, statistics: statisticsWithout, parameters: parameters)
            .features(for: cleanQuery, candidates: candidates, collaborative: nil, scratch: &scratch)
        for slot in candidates.indices {
            for feature in [NextVisitFeature.popularity, .othersNext, .storeHour] {
                let index = slot * NextVisitFeature.count + feature.rawValue
                #expect(abs(subtracted[index] - clean[index]) < 1e-9, "\(feature) of store \(slot)")
            }
        }
    }

    /// Own visits that the statistics did not count (here: more visits and transitions than everyone
    /// made) must not turn "everyone else's" counts negative and a feature into NaN.
    @Test func ownVisitsBeyondTheStatisticsKeepFeaturesFinite() {
        let t0: Int64 = 1_350_000_000
        let own = VisitSequence(
            stores: Array(repeating: [0, 2], count: 12).flatMap { $0 },
            timestamps: (0..<24).map { t0 + Int64($0) * 600 })
        let query = NextVisitQuery(history: own.prefix(23), ownVisits: own, sessionStart: 20, time: t0 + 23 * 600)
        let extractor = NextVisitFeatureExtractor(catalogue: Self.tiny, statistics: Self.tinyStatistics, parameters: NextVisitParameters())
        var scratch = extractor.makeScratch()
        let rows = extractor.features(for: query, candidates: [0, 1, 2], collaborative: nil, scratch: &scratch)
        for (index, value) in rows.enumerated() {
            #expect(value.isFinite, "\(NextVisitFeature.allCases[index % NextVisitFeature.count]) of store \(index / NextVisitFeature.count)")
        }
    }

    @Test func statisticsCountTransitionsWithinTheSessionGap() {
        let t0: Int64 = 1_350_000_000
        let log = VisitLog(visits: [
            ("x", 0, t0), ("x", 1, t0 + Seconds.perHour), ("x", 2, t0 + Seconds.perHour + 90_000), ("y", 0, t0), ("y", 1, t0 + 60),
        ], shards: ShardMap(rankCount: 1))
        let statistics = try! VisitStatistics.build(from: log, catalogue: Self.tiny, sessionGapSeconds: Seconds.perDay, on: SingleProcessCollectives())
        #expect(statistics.popularity == [2, 2, 1])
        #expect(statistics.transitionCount(from: 0, to: 1) == 2)
        #expect(statistics.transitionCount(from: 1, to: 2) == 0, "more than a session gap apart")
        #expect(statistics.transitionTotals == [2, 0, 0])
        #expect(statistics.topSuccessors(of: 0, count: 5) == [1])
        #expect(statistics.storesByPopularity == [0, 1, 2])
        #expect(statistics.hourCounts.reduce(0, +) == 5)
    }

    @Test func solarTimeFollowsLongitude() {
        // 2012-11-09 12:00 UTC is 07:04 solar time in New York (-74°) and a Friday.
        let noon: Int64 = 1_352_462_400
        #expect(abs(SolarTime.hour(at: noon, longitude: -74) - (12 - 74.0 / 15)) < 1e-9)
        #expect(SolarTime.hourBin(at: noon, longitude: 0) == 12)
        #expect(!SolarTime.isWeekend(at: noon, longitude: -74))
        #expect(SolarTime.isWeekend(at: noon + Seconds.perDay, longitude: -74))
        // West of Greenwich, just after midnight UTC on Saturday is still Friday evening.
        #expect(!SolarTime.isWeekend(at: noon + 12 * Seconds.perHour + 60, longitude: -74))
        #expect(SolarTime.hour(at: -1, longitude: 0) < 24)
    }

    @Test func candidatesCoverHistorySuccessorsNearbyAndPopular() {
        let catalogue = ScoringTestData.catalogue()
        let log = VisitLog(visits: ScoringTestData.visits(userCount: 10, days: 20), shards: ShardMap(rankCount: 1))
        var parameters = NextVisitParameters()
        parameters.nearbyCandidates = 5
        parameters.popularCandidates = 3
        parameters.successorCandidates = 2
        let statistics = try! VisitStatistics.build(from: log, catalogue: catalogue, sessionGapSeconds: Seconds.perDay, on: SingleProcessCollectives())
        let generator = CandidateGenerator(catalogue: catalogue, statistics: statistics, parameters: parameters)
        let history = VisitSequence(stores: [4, 9], timestamps: [1, 2])
        let query = NextVisitQuery(history: history, ownVisits: .empty, sessionStart: 0, time: 3)
        let candidates = generator.candidates(for: query)
        #expect(candidates == candidates.sorted() && Set(candidates).count == candidates.count)
        #expect(candidates.contains(4) && candidates.contains(9))
        for store in statistics.topSuccessors(of: 9, count: 2) { #expect(candidates.contains(store)) }
        for store in statistics.storesByPopularity.prefix(3) { #expect(candidates.contains(store)) }
        let origin = GeoPoint(latitude: catalogue.latitudes[9], longitude: catalogue.longitudes[9])
        let nearest = generator.nearest(to: origin, count: 5)
        let slow = (0..<catalogue.count).sorted {
            let a = origin.distance(to: GeoPoint(latitude: catalogue.latitudes[$0], longitude: catalogue.longitudes[$0]))
            let b = origin.distance(to: GeoPoint(latitude: catalogue.latitudes[$1], longitude: catalogue.longitudes[$1]))
            return a != b ? a < b : $0 < $1
        }
        #expect(nearest == Array(slow.prefix(5)))
        for store in nearest { #expect(candidates.contains(Int32(store))) }
        let bars = generator.candidates(for: query, filter: { catalogue.category(of: $0) == "Bar" }, minimumCount: 6)
        #expect(bars.count >= 6 && bars.allSatisfy { catalogue.category(of: Int($0)) == "Bar" })
    }

    /// The grid catalogue is full of exact ties (stores symmetric about the query); the index must rank
    /// them as the haversine reference does, from every store and from points between them.
    @Test func nearestStoresMatchTheHaversineReference() {
        let catalogue = ScoringTestData.catalogue()
        let index = NearestStoreIndex(catalogue: catalogue)
        var origins = (0..<catalogue.count).map { GeoPoint(latitude: catalogue.latitudes[$0], longitude: catalogue.longitudes[$0]) }
        origins += [GeoPoint(latitude: 40.706, longitude: -73.9925), GeoPoint(latitude: 40.69, longitude: -74.01)]
        for origin in origins {
            let slow = (0..<catalogue.count).sorted {
                let a = origin.distance(to: GeoPoint(latitude: catalogue.latitudes[$0], longitude: catalogue.longitudes[$0]))
                let b = origin.distance(to: GeoPoint(latitude: catalogue.latitudes[$1], longitude: catalogue.longitudes[$1]))
                return a != b ? a < b : $0 < $1
            }
            for count in [1, 5, 12, catalogue.count] {
                #expect(index.nearest(to: origin, count: count) == Array(slow.prefix(count)), "\(origin) k=\(count)")
            }
        }
    }

    @Test func featureSetsParseGroupsAndNames() throws {
        let set = try NextVisitFeatureSet.all.disabling(["cf", " geo", "user-next"])
        #expect(!set.contains(.collaborative) && !set.contains(.distance) && !set.contains(.userNext))
        #expect(set.contains(.othersNext) && set.features.count == NextVisitFeature.count - 3)
        #expect(throws: NextVisitModelError.unknownFeature("nope")) { try NextVisitFeatureSet.all.disabling(["nope"]) }
        #expect(NextVisitFeatureGroup.allCases.flatMap(\.features).count == NextVisitFeature.count)
    }
}
