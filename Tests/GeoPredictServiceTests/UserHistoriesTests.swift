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

    // MARK: Out-of-order uploads

    /// The obvious reference the fast histories must match: each part a plain array kept in time
    /// order by inserting every visit at its place (after the visits at the same second), as
    /// ``UserHistories`` did before out-of-order arrivals were merged lazily.
    private struct ReferenceUser {
        var trained: [(time: Int64, store: Int32)]
        var training: [(time: Int64, store: Int32)] = []
        var recent: [(time: Int64, store: Int32)] = []
        var events: Int
        var lastEvent: Int64

        static func inserting(_ visit: (time: Int64, store: Int32), into part: [(time: Int64, store: Int32)]) -> [(time: Int64, store: Int32)] {
            var part = part
            let position = part.lastIndex { $0.time <= visit.time }.map { $0 + 1 } ?? 0
            part.insert(visit, at: position)
            return part
        }

        /// `second`'s visits inserted one by one into `first`: same-second visits of `first` go first.
        static func merging(_ first: [(time: Int64, store: Int32)], _ second: [(time: Int64, store: Int32)]) -> [(time: Int64, store: Int32)] {
            second.reduce(first) { inserting($1, into: $0) }
        }

        /// Training's order: by time, then by store.
        static func trainingOrder(_ parts: [(time: Int64, store: Int32)]...) -> [(time: Int64, store: Int32)] {
            parts.flatMap { $0 }.sorted { ($0.time, $0.store) < ($1.time, $1.store) }
        }

        mutating func checkIn(_ store: Int32?, at time: Int64) {
            events += 1
            lastEvent = max(lastEvent, time)
            if let store { recent = Self.inserting((time, store), into: recent) }
        }

        var all: [(time: Int64, store: Int32)] { Self.merging(trained, Self.merging(training, recent)) }
    }

    private static func expectSame(_ histories: UserHistories, _ reference: [String: ReferenceUser], _ note: String) {
        for (user, expected) in reference {
            let parts = [
                ("trained", histories.trainedVisits(of: user), expected.trained),
                ("recent", histories.recentVisits(of: user), Self.ReferenceUser.merging(expected.training, expected.recent)),
                ("all", histories.visits(of: user), expected.all),
            ]
            for (name, actual, wanted) in parts {
                #expect(Array(actual.timestamps) == wanted.map(\.time), "\(user) \(name) times, \(note)")
                #expect(Array(actual.stores) == wanted.map(\.store), "\(user) \(name) stores, \(note)")
            }
            let summary = histories.summary(of: user)
            #expect(summary?.events == expected.events, "\(user) events, \(note)")
            #expect(summary?.visits == expected.all.count, "\(user) visits, \(note)")
            #expect(summary?.lastEventUnixSeconds == expected.lastEvent, "\(user) last event, \(note)")
        }
    }

    /// Random interleavings of in-order, out-of-order and same-second check-ins, reads, training runs
    /// (installed or failed) and "mark all trained", against the reference.
    @Test func randomInterleavingsMatchTheInsertingReference() {
        for seed: UInt64 in 1...8 {
            var random = SplitMix64(seed: seed)
            let histories = Self.histories()
            // u1 and u2 have loaded visits; u5 is new.
            var reference: [String: ReferenceUser] = [
                "u1": ReferenceUser(trained: [(1_000, 0), (2_000, 1)], events: 2, lastEvent: 2_000),
                "u2": ReferenceUser(trained: [(1_500, 2)], events: 1, lastEvent: 1_500),
            ]
            var inTraining = false
            var clock: Int64 = 2_000
            for step in 0..<1_000 {
                let user = ["u1", "u2", "u5"][Int(random.next() % 3)]
                let roll = random.next() % 100
                if roll < 75 {
                    // Mostly forward in time, often back by up to a day, sometimes at the same second.
                    let back = random.next() % 4 == 0 ? Int64(random.next() % UInt64(Seconds.perDay)) : 0
                    clock += Int64(random.next() % 3)
                    let time = max(0, clock - back)
                    let store: Int32? = random.next() % 10 == 0 ? nil : Int32(random.next() % 3)
                    let kind: UserHistories.EventKind = store.map { .checkIn(store: $0) } ?? .checkInAtUnknownStore
                    _ = Self.apply(histories, user, at: time, kind)
                    reference[user, default: ReferenceUser(trained: [], events: 0, lastEvent: .min)].checkIn(store, at: time)
                } else if roll < 88 {
                    Self.expectSame(histories, reference, "seed \(seed) step \(step) read")
                } else if roll < 94, !inTraining {
                    _ = histories.beginTraining()
                    for (id, user) in reference {
                        reference[id]?.training = ReferenceUser.merging(user.training, user.recent)
                        reference[id]?.recent = []
                    }
                    inTraining = true
                } else if roll < 99, inTraining {
                    let installed = random.next() % 3 != 0
                    histories.finishTraining(installed: installed)
                    for (id, user) in reference {
                        if installed {
                            reference[id]?.trained = ReferenceUser.trainingOrder(user.trained, user.training)
                        } else {
                            reference[id]?.recent = ReferenceUser.merging(user.training, user.recent)
                        }
                        reference[id]?.training = []
                    }
                    inTraining = false
                } else if !inTraining {
                    histories.markAllTrained()
                    for (id, user) in reference {
                        reference[id]?.trained = ReferenceUser.trainingOrder(user.trained, user.training, user.recent)
                        reference[id]?.training = []
                        reference[id]?.recent = []
                    }
                }
            }
            Self.expectSame(histories, reference, "seed \(seed) end")
            #expect(histories.snapshot().visitCount == reference.values.reduce(0) { $0 + $1.all.count }, "seed \(seed)")
        }
    }

    /// One user's history costs time in proportion to its length, uploaded in time order or newest
    /// first: ten times the events take about ten times as long (bound: 30x + 5 s), and newest first
    /// about what in order takes (bound: 5x + 5 s). Both were quadratic: an out-of-order insert shifted
    /// the whole array, and every event copied the user's arrays on write (in order too). Uploads go
    /// in batches of 10,000 with a read after each, as ingest and predictions interleave.
    @Test func uploadCostGrowsLinearlyInEitherOrder() {
        let eventCount = 200_000
        let batch = 10_000
        let start: Int64 = 1_700_000_000
        func upload(_ times: [Int64], within limit: Duration) -> (seconds: Duration, finished: Bool, histories: UserHistories) {
            let histories = Self.histories()
            let started = ContinuousClock.now
            for (offset, time) in times.enumerated() {
                _ = Self.apply(histories, "u7", at: time, .checkIn(store: Int32(time % 3)))
                guard (offset + 1) % batch == 0 || offset + 1 == times.count else { continue }
                _ = histories.recentVisits(of: "u7")
                // Quadratic code would run for minutes: give up once it is clearly over the bound.
                if ContinuousClock.now - started > limit { return (ContinuousClock.now - started, false, histories) }
            }
            return (ContinuousClock.now - started, true, histories)
        }
        let times = (0..<Int64(eventCount)).map { start + $0 * 30 }
        let tenth = upload(Array(times.prefix(eventCount / 10)), within: .seconds(600))
        let inOrder = upload(times, within: tenth.seconds * 30 + .seconds(5))
        let reversed = upload(times.reversed(), within: inOrder.seconds * 5 + .seconds(5))
        print("one user in batches of \(batch): \(eventCount / 10) events in order \(tenth.seconds); \(eventCount) in order "
            + "\(inOrder.seconds)\(inOrder.finished ? "" : " (gave up)"), newest first \(reversed.seconds)\(reversed.finished ? "" : " (gave up)")")
        #expect(inOrder.finished, "\(eventCount) in order \(inOrder.seconds), a tenth of them \(tenth.seconds)")
        #expect(reversed.finished, "newest first \(reversed.seconds), in order \(inOrder.seconds)")
        for result in [inOrder, reversed] where result.finished {
            #expect(Array(result.histories.recentVisits(of: "u7").timestamps) == times)
            #expect(result.histories.summary(of: "u7")?.events == eventCount)
        }
    }
}
