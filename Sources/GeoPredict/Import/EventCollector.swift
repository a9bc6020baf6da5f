/// The owning side of a load on one rank: interns the events it receives into compact columns, then
/// builds the rank's ``VisitLog``, ``VisitAttributes`` and ``RawFixLog`` in an order that depends
/// only on the data (users by (partition, id), events by time then content), never on arrival.
struct EventCollector {
    private var userIndex: [String: Int32] = [:]
    private var userNames: [String] = []
    private var venueIndex: [String: Int32] = [:]
    private var venueNames: [String] = []
    private var trajectoryIndex: [String: Int32] = [:]
    private var trajectoryNames: [String] = []

    private var visitUser: [Int32] = []
    private var visitVenue: [Int32] = []
    private var visitTime: [Int64] = []
    private var visitTrajectory: [Int32] = []
    private var visitOffset: [Int16] = []
    private var anyTrajectory = false
    private var anyOffset = false

    private var fixUser: [Int32] = []
    private var fixLatitude: [Double] = []
    private var fixLongitude: [Double] = []
    private var fixTime: [Int64] = []

    private(set) var received: Int64 = 0

    /// A block of records ended in the middle of one.
    struct TruncatedRecord: Error {
        let offset: Int
    }

    /// Decodes and stores a block of records from one rank.
    mutating func receive(_ bytes: ArraySlice<UInt8>) throws(TruncatedRecord) {
        let complete = bytes.withUnsafeBytes { raw in receive(raw) }
        if let offset = complete { throw TruncatedRecord(offset: offset) }
    }

    /// Returns the offset of a truncated record, or `nil` when the block was whole.
    private mutating func receive(_ raw: UnsafeRawBufferPointer) -> Int? {
        var cursor = WireCursor(raw)
        while !cursor.isAtEnd {
            guard let record = EventWire.read(from: &cursor) else { return cursor.offset }
            received += 1
            let user = Self.intern(record.userID, &userIndex, &userNames)
            if record.isRawFix {
                fixUser.append(user)
                fixLatitude.append(record.latitude)
                fixLongitude.append(record.longitude)
                fixTime.append(record.timestamp)
                continue
            }
            visitUser.append(user)
            visitVenue.append(Self.intern(record.venueID, &venueIndex, &venueNames))
            visitTime.append(record.timestamp)
            // The optional columns exist only once some event has them (most sources have neither).
            if !record.trajectoryID.isEmpty, !anyTrajectory {
                anyTrajectory = true
                visitTrajectory = [Int32](repeating: -1, count: visitTime.count - 1)
            }
            if anyTrajectory {
                visitTrajectory.append(
                    record.trajectoryID.isEmpty ? -1 : Self.intern(record.trajectoryID, &trajectoryIndex, &trajectoryNames))
            }
            if record.hasOffset, !anyOffset {
                anyOffset = true
                visitOffset = [Int16](repeating: VisitAttributes.unknownOffset, count: visitTime.count - 1)
            }
            if anyOffset { visitOffset.append(record.utcOffsetMinutes) }
        }
        return nil
    }

    private static func intern(_ name: String, _ index: inout [String: Int32], _ names: inout [String]) -> Int32 {
        if let known = index[name] { return known }
        let next = Int32(names.count)
        index[name] = next
        names.append(name)
        return next
    }

    /// The number of distinct users received.
    var userCount: Int { userNames.count }

    /// Builds the rank's logs. Check-ins at venues missing from `catalogue` (which a load never
    /// produces) are left out and counted.
    func build(catalogue: StoreCatalogue, shards: ShardMap)
        -> (visits: VisitLog, attributes: VisitAttributes, fixes: RawFixLog, unmatched: Int)
    {
        let partitions = userNames.map { Int32(shards.partition(of: $0)) }
        let userOrder = userNames.indices.sorted { lhs, rhs in
            partitions[lhs] != partitions[rhs]
                ? partitions[lhs] < partitions[rhs]
                : userNames[lhs].utf8.lexicographicallyPrecedes(userNames[rhs].utf8)
        }
        var rankOfUser = [Int32](repeating: 0, count: userNames.count)
        for (position, user) in userOrder.enumerated() { rankOfUser[user] = Int32(position) }

        let storeOfVenue = venueNames.map { catalogue.index(of: $0).map(Int32.init) ?? -1 }
        let sortedTrajectories = trajectoryNames.indices.sorted {
            trajectoryNames[$0].utf8.lexicographicallyPrecedes(trajectoryNames[$1].utf8)
        }
        var trajectoryRank = [Int32](repeating: -1, count: trajectoryNames.count)
        for (position, index) in sortedTrajectories.enumerated() { trajectoryRank[index] = Int32(position) }

        // Visits: bucket by user position (dropping any at unknown venues), then order each user's.
        var unmatched = 0
        for venue in visitVenue where storeOfVenue[Int(venue)] < 0 { unmatched += 1 }
        let visitBuckets = Self.bucket(
            count: visitUser.count, user: { rankOfUser[Int(visitUser[$0])] }, keep: { storeOfVenue[Int(visitVenue[$0])] >= 0 },
            userCount: userNames.count)
        let keptCount = visitUser.count - unmatched
        var userIDs: [String] = []
        var userPartitions: [Int32] = []
        var offsets = [0]
        var stores: [Int32] = []
        var times: [Int64] = []
        var trajectories: [Int32] = []
        var utcOffsets: [Int16] = []
        stores.reserveCapacity(keptCount)
        times.reserveCapacity(keptCount)
        if anyTrajectory { trajectories.reserveCapacity(keptCount) }
        if anyOffset { utcOffsets.reserveCapacity(keptCount) }
        for position in 0..<userNames.count {
            var visits = Array(visitBuckets.items[visitBuckets.offsets[position]..<visitBuckets.offsets[position + 1]])
            guard !visits.isEmpty else { continue }
            visits.sort { lhs32, rhs32 in
                let (lhs, rhs) = (Int(lhs32), Int(rhs32))
                let lhsStore = storeOfVenue[Int(visitVenue[lhs])]
                let rhsStore = storeOfVenue[Int(visitVenue[rhs])]
                if visitTime[lhs] != visitTime[rhs] { return visitTime[lhs] < visitTime[rhs] }
                if lhsStore != rhsStore { return lhsStore < rhsStore }
                if anyTrajectory {
                    let lhsTrajectory = visitTrajectory[lhs] < 0 ? -1 : trajectoryRank[Int(visitTrajectory[lhs])]
                    let rhsTrajectory = visitTrajectory[rhs] < 0 ? -1 : trajectoryRank[Int(visitTrajectory[rhs])]
                    if lhsTrajectory != rhsTrajectory { return lhsTrajectory < rhsTrajectory }
                }
                return anyOffset && visitOffset[lhs] < visitOffset[rhs]
            }
            let user = userOrder[position]
            userIDs.append(userNames[user])
            userPartitions.append(partitions[user])
            for visit32 in visits {
                let visit = Int(visit32)
                stores.append(storeOfVenue[Int(visitVenue[visit])])
                times.append(visitTime[visit])
                if anyTrajectory {
                    trajectories.append(visitTrajectory[visit] < 0 ? -1 : trajectoryRank[Int(visitTrajectory[visit])])
                }
                if anyOffset { utcOffsets.append(visitOffset[visit]) }
            }
            offsets.append(stores.count)
        }
        let visits = VisitLog(
            userIDs: userIDs, userPartitions: userPartitions, offsets: offsets, stores: stores, timestamps: times)
        let attributes = VisitAttributes(
            trajectoryNames: anyTrajectory ? sortedTrajectories.map { trajectoryNames[$0] } : [],
            trajectories: trajectories, utcOffsetMinutes: utcOffsets)
        return (visits, attributes, buildFixes(userOrder: userOrder, rankOfUser: rankOfUser, partitions: partitions), unmatched)
    }

    private func buildFixes(userOrder: [Int], rankOfUser: [Int32], partitions: [Int32]) -> RawFixLog {
        let buckets = Self.bucket(
            count: fixUser.count, user: { rankOfUser[Int(fixUser[$0])] }, keep: { _ in true }, userCount: userNames.count)
        var userIDs: [String] = []
        var userPartitions: [Int32] = []
        var offsets = [0]
        var latitudes: [Double] = []
        var longitudes: [Double] = []
        var times: [Int64] = []
        latitudes.reserveCapacity(fixUser.count)
        longitudes.reserveCapacity(fixUser.count)
        times.reserveCapacity(fixUser.count)
        for position in 0..<userNames.count {
            var fixes = Array(buckets.items[buckets.offsets[position]..<buckets.offsets[position + 1]])
            guard !fixes.isEmpty else { continue }
            fixes.sort { lhs32, rhs32 in
                let (lhs, rhs) = (Int(lhs32), Int(rhs32))
                if fixTime[lhs] != fixTime[rhs] { return fixTime[lhs] < fixTime[rhs] }
                if fixLatitude[lhs] != fixLatitude[rhs] { return fixLatitude[lhs] < fixLatitude[rhs] }
                return fixLongitude[lhs] < fixLongitude[rhs]
            }
            let user = userOrder[position]
            userIDs.append(userNames[user])
            userPartitions.append(partitions[user])
            for fix32 in fixes {
                let fix = Int(fix32)
                latitudes.append(fixLatitude[fix])
                longitudes.append(fixLongitude[fix])
                times.append(fixTime[fix])
            }
            offsets.append(times.count)
        }
        return RawFixLog(
            userIDs: userIDs, userPartitions: userPartitions, offsets: offsets, latitudes: latitudes,
            longitudes: longitudes, timestamps: times)
    }

    /// A counting sort of the items `0..<count` that `keep` accepts into per-user buckets (user
    /// positions `0..<userCount`); `Int32` indices halve the memory of this, the load's peak.
    private static func bucket(
        count: Int, user: (Int) -> Int32, keep: (Int) -> Bool, userCount: Int
    ) -> (items: [Int32], offsets: [Int]) {
        var offsets = [Int](repeating: 0, count: userCount + 1)
        for item in 0..<count where keep(item) { offsets[Int(user(item)) + 1] += 1 }
        for index in 0..<userCount { offsets[index + 1] += offsets[index] }
        var next = offsets
        var sorted = [Int32](repeating: 0, count: offsets[userCount])
        for item in 0..<count where keep(item) {
            let position = Int(user(item))
            sorted[next[position]] = Int32(item)
            next[position] += 1
        }
        return (sorted, offsets)
    }
}
