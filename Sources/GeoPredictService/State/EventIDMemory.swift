/// The client-chosen ids (`LocationEvent.event_id`) of the events this rank has stored, per user, so
/// that a retried event is acknowledged again instead of being stored twice.
///
/// Memory is bounded per user: the ids of the user's most recent `idsPerUser` events that carry one
/// (oldest forgotten first). A retry of a request is recognised as long as the user has not sent more
/// than `idsPerUser` newer events with ids in between; the default, 10,000, is the most events one
/// request may carry, so a whole request sent again is always recognised. Users who never send ids
/// cost nothing. The memory is rebuilt from the write-ahead logs at start, in log order, so it makes
/// the same decisions after a restart (at any rank count) as before it. Lives on the MPI thread only.
final class EventIDMemory {
    /// The default of `geopredict serve --event-ids-per-user` (and of ``GeoPredictServerOptions``).
    static let defaultIDsPerUser = 10_000

    let idsPerUser: Int
    private var users: [String: RecentIDs] = [:]

    /// - Parameter idsPerUser: how many ids to remember per user (0: none, so ids are not checked).
    init(idsPerUser: Int = EventIDMemory.defaultIDsPerUser) {
        self.idsPerUser = max(0, idsPerUser)
    }

    /// Whether `eventID` of `userID` was remembered (stored before and not yet forgotten).
    func contains(_ eventID: String, of userID: String) -> Bool {
        users[userID]?.members.contains(eventID) ?? false
    }

    /// Remembers that `eventID` of `userID` is stored, forgetting the user's oldest id when full.
    func remember(_ eventID: String, of userID: String) {
        guard idsPerUser > 0 else { return }
        users[userID, default: RecentIDs()].insert(eventID, capacity: idsPerUser)
    }

    /// How many ids are remembered, over all users.
    var count: Int { users.values.reduce(0) { $0 + $1.members.count } }

    /// One user's ids: a set to look them up and a ring in arrival order to forget the oldest.
    private struct RecentIDs {
        var members: Set<String> = []
        var ring: [String] = []
        var oldest = 0

        mutating func insert(_ id: String, capacity: Int) {
            guard members.insert(id).inserted else { return }
            if ring.count < capacity {
                ring.append(id)
                return
            }
            members.remove(ring[oldest])
            ring[oldest] = id
            oldest = (oldest + 1) % capacity
        }
    }
}

extension EventIDMemory {
    /// The events among `events` that are not yet stored: those without an id, and the first of each
    /// id not remembered (a request may repeat an id too). Does not remember them; call
    /// ``remember(_:of:)`` once they are durable.
    func unseen<Event>(
        _ events: [Event], userID: (Event) -> String, eventID: (Event) -> String?
    ) -> [Event] {
        guard idsPerUser > 0 else { return events }
        var inThisBatch = Set<UserEvent>()
        return events.filter { event in
            guard let id = eventID(event) else { return true }
            let user = userID(event)
            guard !contains(id, of: user) else { return false }
            return inThisBatch.insert(UserEvent(userID: user, eventID: id)).inserted
        }
    }

    private struct UserEvent: Hashable {
        let userID: String
        let eventID: String
    }
}
