/// Per-visit columns beside a ``VisitLog`` that only some sources have: the trajectory a check-in
/// belongs to (GETNext; its evaluation predicts each trajectory's last visit) and the local UTC
/// offset (TSMC2014, GETNext), for time-of-day features in local time.
///
/// Aligned with the log's visit positions: entry `v` describes `visits.stores[v]`. A column is empty
/// when no loaded event had it.
public struct VisitAttributes: Sendable, Equatable {
    /// The distinct trajectory ids on this rank, sorted byte-wise (local to the rank: use the names,
    /// not the indices, across ranks).
    public let trajectoryNames: [String]
    /// Per visit, an index into ``trajectoryNames``, or -1 for none; empty when no event had one.
    public let trajectories: [Int32]
    /// Per visit, minutes east of UTC, or ``unknownOffset``; empty when no event had one.
    public let utcOffsetMinutes: [Int16]

    /// Marks a visit whose source gave no UTC offset.
    public static let unknownOffset = Int16.min

    public init(trajectoryNames: [String] = [], trajectories: [Int32] = [], utcOffsetMinutes: [Int16] = []) {
        self.trajectoryNames = trajectoryNames
        self.trajectories = trajectories
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    /// The trajectory id of the visit at `visit`, or `nil`.
    public func trajectoryID(ofVisit visit: Int) -> String? {
        guard visit < trajectories.count, trajectories[visit] >= 0 else { return nil }
        return trajectoryNames[Int(trajectories[visit])]
    }

    /// The UTC offset in minutes of the visit at `visit`, or `nil`.
    public func utcOffsetMinutes(ofVisit visit: Int) -> Int? {
        guard visit < utcOffsetMinutes.count, utcOffsetMinutes[visit] != Self.unknownOffset else { return nil }
        return Int(utcOffsetMinutes[visit])
    }
}
