/// One test trajectory turned into a next-visit query: predict its last check-in from the earlier ones.
public struct EvaluationQuery: Sendable, Equatable {
    /// The trajectory id (GETNext's `trajectory_id`, or `user#k` for sessions cut by time).
    public var trajectoryID: String
    public var userID: String
    /// The user's shard partition (with ``userID``, the key of its rows in this rank's logs).
    public var userPartition: Int
    /// The user's position in the training ``VisitLog`` of this rank.
    public var trainingUser: Int
    /// The trajectory's check-ins before the target, in time order.
    public var prefix: VisitSequence
    /// The store of the last check-in: what is predicted. Never given to the model.
    public var target: Int
    /// The time of the last check-in (Unix seconds): the query time under ``EvaluationQueryTime/target``,
    /// the only thing about the target the model may see.
    public var targetTime: Int64
}

/// When each evaluation query is asked.
public enum EvaluationQueryTime: String, CaseIterable, Sendable {
    /// At the last earlier check-in's time (GETNext's protocol, and ROTAN's without the target time).
    case last
    /// At the target check-in's time: the time only, never its place (ROTAN's and LLM4POI's protocol;
    /// the service's `at_unix_seconds`).
    case target
}

/// How many test trajectories were scored and why the others were not.
public struct EvaluationCounts: Sendable, Equatable {
    /// Trajectories with at least one check-in at a known store.
    public var trajectories = 0
    /// Skipped: the user has no training visit.
    public var unknownUser = 0
    /// Skipped: fewer than 2 known check-ins before the last one.
    public var tooShort = 0
    /// Scored.
    public var scored: Int { trajectories - unknownUser - tooShort }

    public init() {}

    /// The counts as integers, for reductions.
    var values: [Int64] { [Int64(trajectories), Int64(unknownUser), Int64(tooShort)] }

    init(values: [Int64]) {
        trajectories = Int(values[0])
        unknownUser = Int(values[1])
        tooShort = Int(values[2])
    }
}

/// Builds the evaluation queries of one rank, GETNext style: a trajectory is skipped if its user is
/// unseen in training; venues unseen in training were already dropped by the loader (the test file is
/// loaded against the training catalogue); at least 2 known check-ins must precede the target.
public enum EvaluationQueries {
    /// - Parameters:
    ///   - test: this rank's users' test check-ins (loaded with the training catalogue).
    ///   - attributes: their trajectory ids; without any, each user's check-ins are cut into sessions at
    ///     gaps longer than `sessionGapSeconds`.
    ///   - training: this rank's training visits (the same shard map, so the same users).
    /// - Returns: the queries ordered by trajectory id, and the counts.
    public static func build(
        test: VisitLog, attributes: VisitAttributes, training: VisitLog, sessionGapSeconds: Int64
    ) -> (queries: [EvaluationQuery], counts: EvaluationCounts) {
        var queries: [EvaluationQuery] = []
        var counts = EvaluationCounts()
        for user in 0..<test.userCount {
            let range = test.visitRange(ofUser: user)
            var trajectories: [String: [Int]] = [:]
            if attributes.trajectories.isEmpty {
                var session = 0
                for visit in range {
                    if visit > range.lowerBound, test.timestamps[visit] - test.timestamps[visit - 1] > sessionGapSeconds { session += 1 }
                    trajectories["\(test.userIDs[user])#\(session)", default: []].append(visit)
                }
            } else {
                for visit in range {
                    let name = attributes.trajectoryID(ofVisit: visit) ?? "\(test.userIDs[user])#"
                    trajectories[name, default: []].append(visit)
                }
            }
            let trainingUser = training.userIndex(of: test.userIDs[user], partition: Int(test.userPartitions[user]))
            for (name, visits) in trajectories {
                counts.trajectories += 1
                guard let trainingUser, training.visitRange(ofUser: trainingUser).count > 0 else {
                    counts.unknownUser += 1
                    continue
                }
                guard visits.count >= 3 else {
                    counts.tooShort += 1
                    continue
                }
                let prefix = visits.dropLast()
                queries.append(EvaluationQuery(
                    trajectoryID: name, userID: test.userIDs[user], userPartition: Int(test.userPartitions[user]),
                    trainingUser: trainingUser,
                    prefix: VisitSequence(stores: prefix.map { test.stores[$0] }, timestamps: prefix.map { test.timestamps[$0] }),
                    target: Int(test.stores[visits[visits.count - 1]]), targetTime: test.timestamps[visits[visits.count - 1]]))
            }
        }
        queries.sort { $0.trajectoryID.utf8.lexicographicallyPrecedes($1.trajectoryID.utf8) }
        return (queries, counts)
    }
}
