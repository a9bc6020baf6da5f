/// Check-ins that arrived after the model was trained, as the running service sees them: it ingests
/// each one at once into the user's history (counts, recency, fold-in factors) without retraining.
/// They may come from several logs: the training file's later check-ins (the service's view), or the
/// evaluation files' own trajectories (STHGCN's protocol, which links each trajectory to the same
/// user's trajectories that ended before it starts, in every split).
///
/// An evaluation given these adds, to each query's history, its user's check-ins from
/// ``trainedBefore`` up to (not including) the minute of the trajectory's first check-in. Whole
/// minutes, because some sources record only minutes (TSMC2014) while the trajectory files keep
/// seconds: the same check-in must not appear both as history and in the trajectory, and the target
/// (the trajectory's last check-in) is never seen.
public struct RecentCheckIns: Sendable {
    /// This rank's users' check-ins, each log loaded against the training catalogue (earlier ones may
    /// be included; they are skipped). A check-in held by two logs counts twice: give disjoint sources.
    public var logs: [VisitLog]
    /// The training cut-off: check-ins before it are already in the training history.
    public var trainedBefore: Int64

    public init(logs: [VisitLog], trainedBefore: Int64) {
        self.logs = logs
        self.trainedBefore = trainedBefore
    }

    public init(log: VisitLog, trainedBefore: Int64) {
        self.init(logs: [log], trainedBefore: trainedBefore)
    }

    /// The check-ins of `query`'s user after training and before the minute its trajectory starts,
    /// in time order across the logs.
    public func visits(before query: EvaluationQuery) -> VisitSequence {
        guard let start = query.prefix.timestamps.first else { return .empty }
        let end = Self.startOfMinute(start)
        return logs.reduce(VisitSequence.empty) { merged, log in
            guard let user = log.userIndex(of: query.userID, partition: query.userPartition) else { return merged }
            return merged.appending(VisitSequence(user: user, in: log).between(trainedBefore, end))
        }
    }

    /// The start of the minute holding `unixSeconds` (also before 1970). Cut-offs between training and
    /// evaluation data fall on whole minutes for the same reason as above.
    public static func startOfMinute(_ unixSeconds: Int64) -> Int64 {
        unixSeconds - ((unixSeconds % 60) + 60) % 60
    }
}
