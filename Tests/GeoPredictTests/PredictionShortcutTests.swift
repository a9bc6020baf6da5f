@testable import GeoPredict
import MPI
import Testing

/// The serving shortcuts must not change a single answer: the precomputed nearby stores, the
/// sort-free candidate set and the fold-in memo are each checked against the plain computation.
struct PredictionShortcutTests {
    static let start: Int64 = 1_333_324_800

    static func model() throws -> (model: NextVisitModel, log: VisitLog) {
        let catalogue = ScoringTestData.catalogue()
        let shards = ShardMap(rankCount: 1)
        let log = VisitLog(visits: ScoringTestData.visits(userCount: 40, days: 40, seed: 5), shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 20
        parameters.nearbyCandidates = 7
        let trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: ALSCollaborativeTraining(configuration: ALSConfiguration(factorCount: 4, iterations: 3, confidence: .linear(alpha: 10))))
        let model = try trainer.train(visits: log, catalogue: catalogue, shards: shards, on: SingleProcessCollectives()).model
        return (model, log)
    }

    @Test func unorderedCandidatesAreTheSortedOnesAndLeaveNoMarks() throws {
        let (model, log) = try Self.model()
        let generator = model.candidateGenerator
        let catalogue = model.catalogue
        var marks = [Bool](repeating: false, count: catalogue.count)
        let bars: (Int) -> Bool = { catalogue.category(of: $0) == "Bar" }
        for user in 0..<log.userCount {
            let history = VisitSequence(user: user, in: log)
            let query = NextVisitQuery(history: history, ownVisits: history, sessionStart: history.stores.endIndex, time: Self.start + 50 * Seconds.perDay)
            let sorted: [Int32] = generator.candidates(for: query)
            let unordered: [Int32] = generator.unorderedCandidates(for: query, filter: nil, minimumCount: 0, marks: &marks)
            #expect(unordered.sorted() == sorted)
            let sortedBars: [Int32] = generator.candidates(for: query, filter: bars, minimumCount: 9)
            let unorderedBars: [Int32] = generator.unorderedCandidates(for: query, filter: bars, minimumCount: 9, marks: &marks)
            #expect(unorderedBars.sorted() == sortedBars)
            let leftMarks: Bool = marks.contains(true)
            #expect(!leftMarks)
        }
    }

    /// Without a position the nearby candidates come from a table; they must be what a search from the
    /// last store's own coordinates finds.
    @Test func precomputedNearbyStoresMatchASearchFromTheLastStore() throws {
        let (model, log) = try Self.model()
        let generator = model.candidateGenerator
        let catalogue = model.catalogue
        for user in 0..<log.userCount {
            let history = VisitSequence(user: user, in: log)
            guard let last = history.stores.last.map(Int.init) else { continue }
            let here = GeoPoint(latitude: catalogue.latitudes[last], longitude: catalogue.longitudes[last])
            let time = Self.start + 50 * Seconds.perDay
            let withoutPosition = NextVisitQuery(history: history, ownVisits: history, sessionStart: 0, time: time)
            let withPosition = NextVisitQuery(history: history, ownVisits: history, sessionStart: 0, time: time, position: here)
            let fromTable: [Int32] = generator.candidates(for: withoutPosition)
            let fromSearch: [Int32] = generator.candidates(for: withPosition)
            #expect(fromTable == fromSearch)
        }
    }

    @Test func theFoldInMemoGivesTheSameAnswersAndCountsItsHits() throws {
        let (model, log) = try Self.model()
        var plain = model.makeScratch()
        var memoized = model.makeScratch(foldInMemoCapacity: 1_000)
        let request = NextVisitRequest(time: Self.start + 50 * Seconds.perDay, limit: 10)
        for round in 0..<2 {
            for user in 0..<log.userCount {
                let history = VisitSequence(user: user, in: log)
                let expected = model.predict(trainingVisits: history, recentVisits: .empty, request: request, scratch: &plain)
                let got = model.predict(trainingVisits: history, recentVisits: .empty, request: request, scratch: &memoized)
                #expect(got.stores == expected.stores, "user \(user), pass \(round)")
            }
        }
        // Every user's history is distinct in this data: the second pass answers each from the memo.
        let users = log.userCount
        #expect(memoized.foldInMemo.lookups == 2 * users)
        #expect(memoized.foldInMemo.hits == users)
        #expect(plain.foldInMemo.lookups == 0)
    }

    @Test func aNewVisitChangesTheKeyAndAFullMemoStartsOver() throws {
        let (model, log) = try Self.model()
        var memoized = model.makeScratch(foldInMemoCapacity: 3)
        var plain = model.makeScratch()
        let time = Self.start + 50 * Seconds.perDay
        let request = NextVisitRequest(time: time, limit: 10)
        let history = VisitSequence(user: 0, in: log)
        _ = model.predict(trainingVisits: history, recentVisits: .empty, request: request, scratch: &memoized)
        // A visit since: a different history, so a fresh fold-in, not the remembered one.
        let recent = VisitSequence(stores: [Int32(7)], timestamps: [time - 60])
        let expected = model.predict(trainingVisits: history, recentVisits: recent, request: request, scratch: &plain)
        let got = model.predict(trainingVisits: history, recentVisits: recent, request: request, scratch: &memoized)
        #expect(got.stores == expected.stores)
        #expect(memoized.foldInMemo.hits == 0)
        for user in 1..<6 {
            _ = model.predict(trainingVisits: VisitSequence(user: user, in: log), recentVisits: .empty, request: request, scratch: &memoized)
            #expect(memoized.foldInMemo.count <= 3)
        }
    }
}
