@testable import GeoPredict
import Testing

struct SyntheticCityTests {
    private let city = SyntheticCity(configuration: .init(userCount: 300, storeCount: 120, meanVisitsPerUser: 15, days: 60))

    @Test func theSameSeedGivesTheSameCity() {
        let again = SyntheticCity(configuration: city.configuration)
        #expect(again.stores == city.stores)
        #expect((0..<50).allSatisfy { again.visits(ofUser: $0).map(\.store) == city.visits(ofUser: $0).map(\.store) })
        var other = city.configuration
        other.seed += 1
        #expect(SyntheticCity(configuration: other).stores != city.stores)
    }

    @Test func storeIdsSortInGenerationOrderSoIndicesMatchTheCatalogue() {
        let catalogue = city.catalogue
        #expect(catalogue.count == 120)
        #expect(catalogue.ids == city.stores.map(\.id))
        #expect(catalogue.index(of: "s000001") == 0)
    }

    @Test func everyUserIsGeneratedByExactlyOneRank() {
        for ranks in 1...4 {
            let shards = ShardMap(rankCount: ranks)
            let perRank = (0..<ranks).map { city.visits(ownedBy: $0, shards: shards) }
            let users = perRank.flatMap { Set($0.map(\.userID)) }
            #expect(users.count == Set(users).count, "a user appears on two ranks")
            let shardedVisitCount: Int = perRank.reduce(0) { $0 + $1.count }
            var generatedVisitCount = 0
            for user in 0..<300 { generatedVisitCount += city.visits(ofUser: user).count }
            #expect(shardedVisitCount == generatedVisitCount)
        }
    }

    @Test func visitsAreTimeOrderedWithinThePeriodAndHabitual() {
        let end = city.configuration.endUnixSeconds
        let start = end - Int64(city.configuration.days) * Seconds.perDay
        var repeatShare = 0.0
        for user in 0..<300 {
            let visits = city.visits(ofUser: user)
            #expect(!visits.isEmpty)
            #expect(zip(visits, visits.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
            #expect(visits.allSatisfy { (start..<end).contains($0.timestamp) && (0..<120).contains(Int($0.store)) })
            repeatShare += 1 - Double(Set(visits.map(\.store)).count) / Double(visits.count)
        }
        // People return to their favourite stores: most visits are repeats.
        #expect(repeatShare / 300 > 0.4)
    }

    @Test func aliasTableSamplesInProportion() {
        let table = AliasTable(weights: [1, 0, 3])
        var random = SplitMix64(seed: 7)
        var counts = [0, 0, 0]
        for _ in 0..<40_000 { counts[table.sample(using: &random)] += 1 }
        #expect(counts[1] == 0)
        #expect(abs(Double(counts[2]) / Double(counts[0]) - 3) < 0.15)
    }
}
