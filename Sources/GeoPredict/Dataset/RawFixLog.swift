/// The raw GPS fixes (events without a venue) of the users one rank owns, in compressed-sparse-row
/// form, waiting for visit detection.
///
/// Users are ordered by (partition, id) as in ``VisitLog``, though the two hold different user sets
/// (a user may have only check-ins, only fixes, or both); each user's fixes are ordered by (time,
/// latitude, longitude).
public struct RawFixLog: Sendable, Equatable {
    /// User ids, ordered by (partition, id).
    public let userIDs: [String]
    /// Per user, its virtual partition (``ShardMap/partition(of:)``).
    public let userPartitions: [Int32]
    /// Per user, where its fixes start; `count == userIDs.count + 1`.
    public let offsets: [Int]
    /// Per fix, degrees.
    public let latitudes: [Double]
    /// Per fix, degrees.
    public let longitudes: [Double]
    /// Per fix, seconds since 1970-01-01 UTC.
    public let timestamps: [Int64]

    /// An empty log.
    public init() {
        self.init(userIDs: [], userPartitions: [], offsets: [0], latitudes: [], longitudes: [], timestamps: [])
    }

    /// Builds the log from columns already in its order.
    ///
    /// - Precondition: the columns have consistent lengths (offsets from 0 to the fix count).
    public init(
        userIDs: [String], userPartitions: [Int32], offsets: [Int], latitudes: [Double], longitudes: [Double],
        timestamps: [Int64]
    ) {
        precondition(userPartitions.count == userIDs.count && offsets.count == userIDs.count + 1,
                     "RawFixLog: one partition per user and one offset more than users")
        precondition(offsets.first == 0 && offsets.last == timestamps.count
                     && latitudes.count == timestamps.count && longitudes.count == timestamps.count,
                     "RawFixLog: offsets must span the fix columns")
        self.userIDs = userIDs
        self.userPartitions = userPartitions
        self.offsets = offsets
        self.latitudes = latitudes
        self.longitudes = longitudes
        self.timestamps = timestamps
    }

    /// The number of users with fixes.
    public var userCount: Int { userIDs.count }

    /// The number of fixes.
    public var fixCount: Int { timestamps.count }

    /// The fix positions of the user at `user`.
    public func fixRange(ofUser user: Int) -> Range<Int> { offsets[user]..<offsets[user + 1] }

    /// The fixes of the user at `user` as ``CheckIn``s with an empty venue (for visit detection
    /// code written against events).
    public func checkIns(ofUser user: Int) -> [CheckIn] {
        fixRange(ofUser: user).map { fix in
            CheckIn(userID: userIDs[user], venueID: "", latitude: latitudes[fix], longitude: longitudes[fix],
                    timestampUnixSeconds: timestamps[fix])
        }
    }
}
