@testable import GeoPredict
#if canImport(Glibc)
import Glibc
#endif

/// A deterministic generator for test data (SplitMix64).
struct ScoringRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Synthetic check-ins with routines: each user has a few favourite stores visited in a habitual order,
/// at habitual hours, with some exploration; sessions are days.
enum ScoringTestData {
    static let categories = ["Home (private)", "Office", "Clothing Store", "Coffee Shop", "Bar", "Food & Drink Shop"]

    static func catalogue(storeCount: Int = 40) -> StoreCatalogue {
        StoreCatalogue(stores: (0..<storeCount).map { index in
            Store(
                id: "v" + String(1_000 + index), latitude: 40.70 + Double(index % 8) * 0.004,
                longitude: -74.00 + Double(index / 8) * 0.005, category: categories[index % categories.count])
        })
    }

    /// `(user, store, time)` visits of `userCount` users over `days` days from 2012-04-02 (a Monday).
    static func visits(userCount: Int, storeCount: Int = 40, days: Int = 60, seed: UInt64 = 7)
        -> [(userID: String, store: Int32, timestamp: Int64)]
    {
        var random = ScoringRandom(seed: seed)
        var visits: [(userID: String, store: Int32, timestamp: Int64)] = []
        let start: Int64 = 1_333_324_800 + 5 * Seconds.perHour  // 2012-04-02 05:00 UTC = midnight in New York
        for user in 0..<userCount {
            let favourites = (0..<4).map { _ in Int32(random.below(storeCount)) }
            for day in 0..<days where random.uniform() < 0.7 {
                var time = start + Int64(day) * Seconds.perDay + 7 * Seconds.perHour + Int64(random.below(Int(Seconds.perHour)))
                let length = 3 + random.below(3)
                var position = random.below(2)
                for _ in 0..<length {
                    let store = random.uniform() < 0.15 ? Int32(random.below(storeCount)) : favourites[position % favourites.count]
                    visits.append(("u\(user)", store, time))
                    position += 1
                    time += Seconds.perHour / 2 + Int64(random.below(3 * Int(Seconds.perHour)))
                }
            }
        }
        return visits
    }
}

/// The features by their definitions, one candidate at a time, with dictionaries and no reuse: slow
/// and obviously correct, for comparison with ``NextVisitFeatureExtractor``.
enum ReferenceFeatures {
    static func features(
        query: NextVisitQuery, candidate: Int, catalogue: StoreCatalogue, statistics: VisitStatistics,
        parameters: NextVisitParameters
    ) -> [Double] {
        let stores = Array(query.history.stores).map(Int.init)
        let times = Array(query.history.timestamps)
        let ownStores = Array(query.ownVisits.stores).map(Int.init)
        let ownTimes = Array(query.ownVisits.timestamps)
        let sessionStart = query.sessionStart - query.history.stores.startIndex
        let n = stores.count
        let last = stores.last
        let gap = parameters.sessionGapSeconds
        let kappa = parameters.hourKernelConcentration
        let t = query.time
        let longitude = query.position?.longitude ?? last.map { catalogue.longitudes[$0] } ?? 0
        let hourQ = SolarTime.hour(at: t, longitude: longitude)
        let weekendQ = SolarTime.isWeekend(at: t, longitude: longitude)
        var f = [Double](repeating: 0, count: NextVisitFeature.count)
        func set(_ feature: NextVisitFeature, _ value: Double) { f[feature.rawValue] = value }
        let visitsHere = (0..<n).filter { stores[$0] == candidate }
        let count = Double(visitsHere.count)
        set(.frequency, log(1 + count))
        // A visit's age on the activity clock: the pauses after it (to the next visit, ..., to the
        // query), each counted up to the cap.
        let cap = parameters.recencyGapCapSeconds
        func age(_ visit: Int) -> Double {
            let pauses = ((visit + 1)..<n).map { times[$0] - times[$0 - 1] } + [t - times[n - 1]]
            return Double(pauses.map { cap > 0 ? min($0, cap) : $0 }.reduce(0, +))
        }
        for (feature, tau) in [(NextVisitFeature.recencyDay, 1.0), (.recencyWeek, 7.0), (.recencyMonth, 30.0)] {
            set(feature, log(1 + visitsHere.map { (visit: Int) -> Double in exp(-age(visit) / (tau * Double(Seconds.perDay))) }.reduce(0.0, +)))
        }
        if let latest = visitsHere.max() {
            set(.visited, 1)
            set(.hoursSinceVisit, log(1 + age(latest) / Double(Seconds.perHour)))
        }
        func kernel(_ hour: Double) -> Double { exp(kappa * (cos(2 * Double.pi * (hour - hourQ) / 24) - 1)) }
        let kernelSum = visitsHere.map { (visit: Int) -> Double in kernel(SolarTime.hour(at: times[visit], longitude: catalogue.longitudes[candidate])) }.reduce(0.0, +)
        set(.userHour, log(1 + kernelSum))
        var uniform = 0.0
        for bin in 0..<24 {
            let angle = 2 * Double.pi * (Double(bin) + 0.5) / 24
            uniform += exp(kappa * (cos(angle) - 1)) / 24
        }
        set(.userHourShare, log((kernelSum + uniform) / (count + 1)))
        set(.userWeekPart, log(1 + Double(visitsHere.filter {
            SolarTime.isWeekend(at: times[$0], longitude: catalogue.longitudes[candidate]) == weekendQ
        }.count)))
        let next = (1..<max(n, 1)).filter { stores[$0] == candidate && stores[$0 - 1] == last && times[$0] - times[$0 - 1] <= gap }.count
        set(.userNext, log(1 + Double(next)))
        let next2 = n >= 2 ? (2..<max(n, 2)).filter {
            stores[$0] == candidate && stores[$0 - 1] == last && stores[$0 - 2] == stores[n - 2]
        }.count : 0
        set(.userNextSecondOrder, log(1 + Double(next2)))

        let ownHere = ownStores.filter { $0 == candidate }.count
        let othersVisits = Double(statistics.popularity[candidate] - Int64(ownHere))
        let othersTotal = Double(statistics.totalVisits - Int64(ownStores.count))
        let prior = (othersVisits + 1) / (othersTotal + Double(catalogue.count))
        var ownTransitions: [Int: Int] = [:]
        for index in 1..<max(ownStores.count, 1) where ownStores[index - 1] == last && ownTimes[index] - ownTimes[index - 1] <= gap {
            ownTransitions[ownStores[index], default: 0] += 1
        }
        var rowTotal = 0.0
        var transitions = 0.0
        if let last {
            rowTotal = Double(statistics.transitionTotals[last]) - Double(ownTransitions.values.reduce(0, +))
            transitions = Double(statistics.transitionCount(from: last, to: candidate)) - Double(ownTransitions[candidate] ?? 0)
        }
        let beta = parameters.transitionPrior
        set(.othersNext, log((transitions + beta * prior) / (rowTotal + beta)))
        let origin = query.position ?? last.map { GeoPoint(latitude: catalogue.latitudes[$0], longitude: catalogue.longitudes[$0]) }
        if let origin {
            let here = GeoPoint(latitude: catalogue.latitudes[candidate], longitude: catalogue.longitudes[candidate])
            set(.distance, log(origin.distance(to: here) / 1_000 + parameters.distanceOffsetKilometers))
        }
        set(.popularity, log(1 + othersVisits))
        let hourKernel = (0..<24).map { exp(kappa * cos(2 * Double.pi * (Double($0) + 0.5 - hourQ) / 24)) }
        let mean = hourKernel.reduce(0, +) / 24
        var othersKernel = (0..<24).map { (hour: Int) -> Double in Double(statistics.hourCounts[candidate * 24 + hour]) * hourKernel[hour] / mean }.reduce(0.0, +)
        for (index, store) in ownStores.enumerated() where store == candidate {
            othersKernel -= hourKernel[SolarTime.hourBin(at: ownTimes[index], longitude: catalogue.longitudes[store])] / mean
        }
        let category = Int(catalogue.categoryIDs[candidate])
        var categoryHours = (0..<24).map { Double(statistics.categoryHourCounts[category * 24 + $0]) }
        for (index, store) in ownStores.enumerated() where catalogue.categoryIDs[store] == catalogue.categoryIDs[candidate] {
            categoryHours[SolarTime.hourBin(at: ownTimes[index], longitude: catalogue.longitudes[store])] -= 1
        }
        let categoryTotal = categoryHours.reduce(0, +)
        let categoryKernel = (0..<24).map { (hour: Int) -> Double in (categoryHours[hour] + 1) / (categoryTotal + 24) * hourKernel[hour] / mean }.reduce(0.0, +)
        let m = parameters.storeHourPrior
        set(.storeHour, log((othersKernel + m * categoryKernel) / (othersVisits + m) / 24))
        set(.session, log(1 + Double((sessionStart..<max(n, sessionStart)).filter { $0 < n && stores[$0] == candidate }.count)))
        if candidate == last { set(.isLast, 1) }
        if sessionStart < n, stores[sessionStart] == candidate { set(.isSessionStart, 1) }
        let ends = (0..<max(n - 1, 0)).filter { stores[$0] == candidate && times[$0 + 1] - times[$0] > gap }.count
        set(.sessionEnd, log(1 + Double(ends)))
        let sameCategory = stores.filter { catalogue.categoryIDs[$0] == catalogue.categoryIDs[candidate] }.count
        set(.categoryShare, log(Double(sameCategory + 1) / Double(n + catalogue.categoryNames.count)))
        return f
    }
}
