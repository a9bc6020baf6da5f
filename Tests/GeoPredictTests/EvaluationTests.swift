import Foundation
@testable import GeoPredict
import Testing

struct EvaluationTests {
    @Test func metricsMatchASlowReference() {
        var random = ScoringRandom(seed: 17)
        var metrics = RankingMetrics()
        var positions: [Int?] = []
        for _ in 0..<500 {
            let position: Int? = random.uniform() < 0.2 ? nil : random.below(15)
            positions.append(position)
            metrics.add(position: position)
        }
        func accuracy(_ k: Int) -> Double {
            Double(positions.filter { $0 != nil && $0! < k }.count) / Double(positions.count)
        }
        var reciprocal = 0.0
        for position in positions { if let position, position < 10 { reciprocal += 1.0 / Double(position + 1) } }
        #expect(metrics.count == 500)
        #expect(metrics.accuracyAt1 == accuracy(1))
        #expect(metrics.accuracyAt5 == accuracy(5))
        #expect(metrics.accuracyAt10 == accuracy(10))
        #expect(abs(metrics.meanReciprocalRankAt10 - reciprocal / 500) < 1e-15)
        #expect(RankingMetrics().accuracyAt1 == 0)
        #expect(RankingMetrics.position(of: 7, in: [3, 7, 9]) == 1)
        #expect(RankingMetrics.position(of: 8, in: [3, 7, 9]) == nil)
    }

    @Test func baselinesOnAHandMadeExample() {
        let catalogue = ScoringFeatureTests.tiny
        // Everyone: A 10, B 5, C 5; transitions A→B 4, A→C 2.
        let statistics = ScoringFeatureTests.tinyStatistics
        #expect(NextVisitBaselines.mostPopular(statistics, limit: 2) == [0, 1])
        #expect(catalogue.count == 3)
        let visits = VisitSequence(stores: [2, 0, 2, 1, 0, 2], timestamps: [1, 2, 3, 4, 5, 6])
        #expect(NextVisitBaselines.userMostFrequent(visits, limit: 3) == [2, 0, 1])
        let tied = VisitSequence(stores: [2, 1], timestamps: [1, 2])
        #expect(NextVisitBaselines.userMostFrequent(tied, limit: 5) == [1, 2], "ties go to the lower index")
        #expect(NextVisitBaselines.lastStoreTransitions(last: 0, userVisits: tied, statistics: statistics, limit: 3) == [1, 2, 0])
        // From C nobody moved on: back off to the user's most frequent, then the most popular.
        #expect(NextVisitBaselines.lastStoreTransitions(last: 2, userVisits: tied, statistics: statistics, limit: 3) == [1, 2, 0])
        #expect(NextVisitBaselines.lastStoreTransitions(last: nil, userVisits: .empty, statistics: statistics, limit: 2) == [0, 1])
    }

    @Test func queriesFollowTheGETNextFilter() {
        let shards = ShardMap(rankCount: 1)
        let training = VisitLog(visits: [("u1", 0, 10), ("u1", 1, 20), ("u2", 2, 30)], shards: shards)
        // u1: trajectory "u1_1" with 4 known check-ins, "u1_2" with 2; u3: unknown user.
        let testVisits: [(userID: String, store: Int32, timestamp: Int64)] = [
            ("u1", 0, 100), ("u1", 1, 110), ("u1", 2, 120), ("u1", 1, 130), ("u1", 0, 500_000), ("u1", 2, 500_100),
            ("u3", 0, 100), ("u3", 1, 200), ("u3", 2, 300),
        ]
        let test = VisitLog(visits: testVisits, shards: shards)
        var names: [Int32] = []
        for user in 0..<test.userCount {
            for visit in test.visitRange(ofUser: user) {
                let id = test.userIDs[user]
                names.append(id == "u3" ? 2 : (test.timestamps[visit] < 1_000 ? 0 : 1))
            }
        }
        let attributes = VisitAttributes(trajectoryNames: ["u1_1", "u1_2", "u3_1"], trajectories: names)
        let (queries, counts) = EvaluationQueries.build(test: test, attributes: attributes, training: training, sessionGapSeconds: 86_400)
        #expect(counts.trajectories == 3 && counts.unknownUser == 1 && counts.tooShort == 1 && counts.scored == 1)
        #expect(queries.count == 1)
        #expect(queries[0].trajectoryID == "u1_1")
        #expect(Array(queries[0].prefix.stores) == [0, 1, 2])
        #expect(queries[0].target == 1)
        // Without trajectory ids, sessions are cut at 24-h gaps: the same split here.
        let (bySession, sessionCounts) = EvaluationQueries.build(
            test: test, attributes: VisitAttributes(), training: training, sessionGapSeconds: 86_400)
        #expect(bySession.count == 1 && sessionCounts.trajectories == 3)
        #expect(bySession[0].trajectoryID == "u1#0")
    }

    @Test func betweenMatchesAFilter() {
        let visits = VisitSequence(stores: [0, 1, 2, 1, 0, 2, 2], timestamps: [5, 10, 10, 20, 30, 30, 41])
        for start in Int64(0)...45 {
            for end in start...46 {
                let expected = visits.timestamps.indices.filter { start <= visits.timestamps[$0] && visits.timestamps[$0] < end }
                let between = visits.between(start, end)
                let stores: [Int32] = expected.map { visits.stores[$0] }
                #expect(Array(between.stores) == stores)
                #expect(Array(between.timestamps) == expected.map { visits.timestamps[$0] })
            }
        }
    }

    /// A query for `userID`'s trajectory of stores 0, 1 at `times` (target store 2), with the user's
    /// partition as `log` holds it (the user must be there).
    static func trajectory(of userID: String, in log: VisitLog, at times: [Int64]) -> EvaluationQuery {
        let partition = log.userIDs.firstIndex(of: userID).map { Int(log.userPartitions[$0]) }
        #expect(partition != nil, "\(userID) is missing from the log")
        return EvaluationQuery(
            trajectoryID: "\(userID)_1", userID: userID, userPartition: partition ?? -1, trainingUser: 0,
            prefix: VisitSequence(stores: [0, 1], timestamps: times), target: 2, targetTime: (times.last ?? 0) + 3_600)
    }

    /// `--query-time target` asks at the target check-in's time, and nothing else of the target reaches
    /// the scorer: the scoring query is the same whatever the target store is, and holds no visit at it.
    @Test func targetQueryTimeUsesTheTargetsTimeOnly() {
        let shards = ShardMap(rankCount: 1)
        // u1 trained at stores 0 and 1 only; the target (store 2) is 5 h after the last earlier check-in.
        let training = VisitLog(visits: [("u1", 0, 100), ("u1", 1, 200)], shards: shards)
        var query = Self.trajectory(of: "u1", in: training, at: [1_000, 1_100])
        query.targetTime = 1_100 + 5 * 3_600
        let recent = RecentCheckIns(log: training, trainedBefore: 150)
        for history in [nil, recent] {
            let last = NextVisitEvaluation.scoringQuery(
                for: query, training: training, recent: history, queryTime: .last, sessionGapSeconds: 86_400)
            let target = NextVisitEvaluation.scoringQuery(
                for: query, training: training, recent: history, queryTime: .target, sessionGapSeconds: 86_400)
            #expect(last.time == 1_100)
            #expect(target.time == 1_100 + 5 * 3_600)
            // Same history either way: only the time differs.
            #expect(target.history == last.history && target.ownVisits == last.ownVisits)
            #expect(!target.history.stores.contains(2), "the target store is not in the history")
            #expect(target.position == nil, "distances are measured from the last earlier check-in")
            for other in [0, 1, 3] {
                var moved = query
                moved.target = other
                #expect(NextVisitEvaluation.scoringQuery(
                    for: moved, training: training, recent: history, queryTime: .target, sessionGapSeconds: 86_400) == target,
                    "the target store reaches the scorer")
            }
        }
        // A gap past the session gap ends the session as served (recent check-ins given).
        let served = NextVisitEvaluation.scoringQuery(
            for: query, training: training, recent: recent, queryTime: .target, sessionGapSeconds: 3_600)
        #expect(served.sessionStart == served.history.stores.endIndex)
    }

    @Test func recentCheckInsStopBeforeTheTrajectorysMinute() {
        let shards = ShardMap(rankCount: 1)
        // u1 trained before 1,000; after training: 1,100 and 1,190 (the trajectory's minute is 1,200,
        // recorded without seconds), then the trajectory itself at 1,230 and later.
        let log = VisitLog(
            visits: [("u1", 0, 900), ("u1", 1, 1_100), ("u1", 2, 1_190), ("u1", 0, 1_200), ("u1", 1, 1_230), ("u2", 2, 1_100)],
            shards: shards)
        let recent = RecentCheckIns(log: log, trainedBefore: 1_000)
        let query = Self.trajectory(of: "u1", in: log, at: [1_230, 1_300])
        let visits = recent.visits(before: query)
        #expect(Array(visits.stores) == [1, 2])
        #expect(Array(visits.timestamps) == [1_100, 1_190])
        var stranger = query
        stranger.userID = "u9"
        #expect(recent.visits(before: stranger).isEmpty)
    }

    /// STHGCN's protocol: the earlier trajectories come from two files (validation and test). Their
    /// times may interleave (they do for u1 here); the history is one time-ordered sequence cut at the
    /// query trajectory's minute, and a user missing from one file still gets the other's.
    @Test func recentCheckInsFromSeveralLogsMergeInTimeOrder() {
        let shards = ShardMap(rankCount: 1)
        let validation = VisitLog(visits: [("u1", 0, 1_100), ("u1", 2, 1_500), ("u2", 1, 1_150)], shards: shards)
        let test = VisitLog(
            visits: [("u1", 1, 1_300), ("u1", 3, 2_000), ("u1", 4, 2_050), ("u1", 0, 2_130), ("u3", 2, 2_000)], shards: shards)
        let recent = RecentCheckIns(logs: [test, validation], trainedBefore: 1_000)
        // The query trajectory starts at 2,130 (minute 2,100): 2,000 and 2,050 are an earlier trajectory.
        let query = Self.trajectory(of: "u1", in: test, at: [2_130, 2_200])
        let visits = recent.visits(before: query)
        #expect(Array(visits.timestamps) == [1_100, 1_300, 1_500, 2_000, 2_050])
        #expect(Array(visits.stores) == [0, 1, 2, 3, 4])
        let onlyInValidation = Self.trajectory(of: "u2", in: validation, at: [2_130, 2_200])
        #expect(Array(recent.visits(before: onlyInValidation).stores) == [1])
        #expect(RecentCheckIns(logs: [], trainedBefore: 1_000).visits(before: query).isEmpty)
    }

    @Test func reportTableCSVAndRoundTrip() throws {
        let trajectory = EvaluatedTrajectory(
            trajectoryID: "t,1", userID: "u", target: 1, targetIsShopping: true,
            predictions: [RankedStore(store: 1, score: 0.5), RankedStore(store: 0, score: -1.25)], baselinePositions: [nil, 0, 3])
        var writer = ByteWriter()
        trajectory.write(to: &writer)
        var reader = ByteReader(writer.bytes)
        #expect(try EvaluatedTrajectory(from: &reader) == trajectory)
        var counts = EvaluationCounts()
        counts.trajectories = 2
        counts.tooShort = 1
        let report = NextVisitEvaluationReport(trajectories: [trajectory], counts: counts)
        #expect(report.metrics(.model).accuracyAt1 == 1)
        #expect(report.metrics(.mostPopular).accuracyAt10 == 0)
        #expect(report.metrics(.lastStoreTransitions).meanReciprocalRankAt10 == 0.25)
        #expect(report.metrics(.model, shoppingOnly: true).count == 1)
        let csv = report.predictionsCSV(top: 1, catalogue: ScoringFeatureTests.tiny)
        #expect(csv == "trajectory_id,rank,venue_id,score\n\"t,1\",1,B,0.500000\n")
        let table = report.table(title: "test")
        #expect(table.contains("1 trajectories scored of 2") && table.contains("GeoPredict model") && table.contains("1.0000"))
        #expect(fixed(-1.25, digits: 3) == "-1.250" && fixed(0.00004) == "0.0000" && fixed(2.5) == "2.5000")
    }
    /// The JSON of `evaluate --json-out` comes from Codable types; its keys are the ones the scripts read.
    @Test func tableSummaryEncodesTheReportsKeys() throws {
        let trajectory = EvaluatedTrajectory(
            trajectoryID: "t1", userID: "u", target: 1, targetIsShopping: false,
            predictions: [RankedStore(store: 0, score: 1), RankedStore(store: 1, score: 0.5)], baselinePositions: [nil, 0, nil])
        var counts = EvaluationCounts()
        counts.trajectories = 3
        counts.unknownUser = 1
        counts.tooShort = 1
        let summary = NextVisitEvaluationReport(trajectories: [trajectory], counts: counts).summary
        #expect(summary.model == MetricsSummary(NextVisitEvaluationReport(trajectories: [trajectory], counts: counts).metrics(.model)))
        #expect(summary.model?.acc1 == 0 && summary.model?.acc5 == 1 && summary.model?.mrr10 == 0.5 && summary.model?.n == 1)
        #expect(summary.all["user's most frequent"]?.acc1 == 1)
        #expect(summary.shopping[NextVisitPredictor.model.description]?.n == 0)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(summary)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["all", "shopping", "trajectories", "unknown_user", "too_short"])
        #expect(object["unknown_user"] as? Int == 1 && object["too_short"] as? Int == 1)
        let model = try #require((object["all"] as? [String: Any])?["GeoPredict model"] as? [String: Any])
        #expect(Set(model.keys) == ["n", "acc1", "acc5", "acc10", "mrr10"])
        #expect(try JSONDecoder().decode(EvaluationTableSummary.self, from: data) == summary)
        #expect(summary.model?.compact == "0.0000 / 1.0000 / 1.0000 / 0.5000")
    }
}
