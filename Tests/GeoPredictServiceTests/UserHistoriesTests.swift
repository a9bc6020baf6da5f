import GeoPredict
@testable import GeoPredictService
import Testing

struct UserHistoriesTests {
    private static let catalogue = StoreCatalogue(stores: [
        Store(id: "a", latitude: 40.70, longitude: -74.00, category: "Grocery Store"),
        Store(id: "b", latitude: 40.71, longitude: -74.00, category: "Pharmacy"),
        Store(id: "c", latitude: 40.72, longitude: -74.00, category: "Bakery"),
    ])
    private static let shards = ShardMap(rankCount: 1)

    private static func histories() -> UserHistories {
        let base = VisitLog(visits: [("u1", 0, 1_000), ("u1", 1, 2_000), ("u2", 2, 1_500)], shards: shards)
        return UserHistories(base: base, catalogue: catalogue, shards: shards)
    }

    private static func apply(_ histories: UserHistories, _ user: String, at time: Int64, _ kind: UserHistories.EventKind) -> UserHistories.Applied {
        histories.apply(userID: user, timestamp: time, position: GeoPoint(latitude: 40.7, longitude: -74), kind: kind)
    }

    @Test func newVisitsAreRecentUntilATrainingCoversThem() {
        let histories = Self.histories()
        #expect(Self.apply(histories, "u1", at: 3_000, .checkIn(store: 2)) == .visit(store: 2))
        #expect(Array(histories.trainedVisits(of: "u1").stores) == [0, 1])
        #expect(Array(histories.recentVisits(of: "u1").stores) == [2])
        #expect(Array(histories.visits(of: "u1").stores) == [0, 1, 2])

        histories.markAllTrained()
        #expect(Array(histories.trainedVisits(of: "u1").stores) == [0, 1, 2])
        #expect(histories.recentVisits(of: "u1").isEmpty)
        #expect(histories.snapshot().visitCount == 4)
    }

    @Test func lateEventsKeepTimeOrder() {
        let histories = Self.histories()
        _ = Self.apply(histories, "u1", at: 1_500, .checkIn(store: 2))
        #expect(Array(histories.visits(of: "u1").timestamps) == [1_000, 1_500, 2_000])
        #expect(Array(histories.visits(of: "u1").stores) == [0, 2, 1])
        histories.markAllTrained()
        #expect(Array(histories.trainedVisits(of: "u1").timestamps) == [1_000, 1_500, 2_000])
    }

    /// Visits at the same second become trained in the order training saw them (time, then store), so
    /// that the user's own transitions subtracted at prediction time are the ones training counted.
    @Test func trainedVisitsAtTheSameSecondFollowTrainingsOrder() {
        for finish in ["training run", "mark all trained"] {
            let histories = Self.histories()
            for store: Int32 in [2, 0, 1, 0, 2] { _ = Self.apply(histories, "u2", at: 1_800, .checkIn(store: store)) }
            #expect(Array(histories.recentVisits(of: "u2").stores) == [2, 0, 1, 0, 2], "arrival order while recent")
            let snapshot: VisitLog
            if finish == "training run" {
                snapshot = histories.beginTraining()
                histories.finishTraining(installed: true)
            } else {
                snapshot = histories.snapshot()
                histories.markAllTrained()
            }
            let user = snapshot.userIndex(of: "u2", partition: Self.shards.partition(of: "u2"))
            let trainedOn = user.map { VisitSequence(user: $0, in: snapshot) }
            #expect(Array(histories.trainedVisits(of: "u2").stores) == [2, 0, 0, 1, 2, 2], "\(finish)")
            #expect(histories.trainedVisits(of: "u2").stores.elementsEqual(trainedOn?.stores ?? []), "\(finish)")
            #expect(histories.trainedVisits(of: "u2").timestamps.elementsEqual(trainedOn?.timestamps ?? []), "\(finish)")
        }
    }

    @Test func eventsWithoutVisitsStillCount() {
        let histories = Self.histories()
        #expect(Self.apply(histories, "u2", at: 1_600, .checkInAtUnknownStore) == .stored)
        #expect(Self.apply(histories, "u2", at: 1_700, .rawFix) == .stored)
        let summary = histories.summary(of: "u2")
        #expect(summary?.events == 3)
        #expect(summary?.visits == 1)
        #expect(summary?.lastEventUnixSeconds == 1_700)
        #expect(histories.summary(of: "nobody") == nil)
    }

    @Test func aNewUserStartsFromNothing() {
        let histories = Self.histories()
        #expect(histories.visits(of: "u9").isEmpty)
        _ = Self.apply(histories, "u9", at: 5_000, .checkIn(store: 1))
        #expect(histories.trainedVisits(of: "u9").isEmpty)
        #expect(Array(histories.recentVisits(of: "u9").stores) == [1])
        #expect(histories.userCount == 3)
    }
}
