import CoreMetrics
import GeoPredictProtos
import MPIPlug

/// Why a good event was not stored by its owner rank. Only the owner knows, so each rank sends rank 0
/// its own refusals and rank 0 reports them per event (``Geopredict_V1_IngestEventsResponse/withRefusals(_:)``).
enum EventRefusal: Int32, Sendable, CaseIterable {
    /// The owner could not write its log durably (disk full, I/O error): send the event again later.
    case unavailable = 1
    /// The event is a new user's and the owner already holds `--max-users-per-rank` users.
    case tooManyUsers = 2
    /// The user already has `--max-events-per-user` events.
    case tooManyEvents = 3

    var code: ConnectCode { self == .unavailable ? .unavailable : .resourceExhausted }

    /// Its `reason` label on `geopredict_ingest_events_refused_total`.
    var metricLabel: String {
        switch self {
        case .unavailable: return "log_write_failed"
        case .tooManyUsers: return "users_per_rank_limit"
        case .tooManyEvents: return "events_per_user_limit"
        }
    }

    var message: String {
        switch self {
        case .unavailable:
            return "not stored: the rank that owns user_id could not write it durably (disk full or an I/O error); send it again"
        case .tooManyUsers:
            return "not stored: the rank that would own this new user_id holds as many users as it may (--max-users-per-rank)"
        case .tooManyEvents:
            return "not stored: user_id has as many events as a user may have (--max-events-per-user)"
        }
    }
}

/// One good event an owner did not store: its request's position in the round, its position in the
/// request, and why.
struct RefusedEvent: Equatable, Sendable {
    var request: Int
    var index: Int
    var reason: EventRefusal

    /// Three 32-bit words per event, for the gather to rank 0 (a round holds at most 512 requests of
    /// at most 10,000 events).
    static func encode(_ refused: [RefusedEvent]) -> [Int32] {
        refused.flatMap { [Int32($0.request), Int32($0.index), $0.reason.rawValue] }
    }

    static func decode(_ words: some Collection<Int32>) -> [RefusedEvent] {
        let words = Array(words)
        return stride(from: 0, to: words.count - 2, by: 3).compactMap { start in
            guard let reason = EventRefusal(rawValue: words[start + 2]) else { return nil }
            return RefusedEvent(request: Int(words[start]), index: Int(words[start + 1]), reason: reason)
        }
    }
}

/// The per-rank bounds on what ingest may add, so that a flood of new users or of one user's events
/// ends in a clear `resource_exhausted` for the events beyond them instead of a rank out of memory.
public struct IngestLimits: Sendable, Equatable {
    /// The default of `--max-users-per-rank`.
    public static let defaultUsersPerRank = 5_000_000
    /// The default of `--max-events-per-user`.
    public static let defaultEventsPerUser = 1_000_000

    /// Users one rank may hold (those of the data and the new ones ingest adds).
    public var usersPerRank: Int
    /// Events (check-ins and GPS fixes) one user may have.
    public var eventsPerUser: Int

    public init(usersPerRank: Int = defaultUsersPerRank, eventsPerUser: Int = defaultEventsPerUser) {
        self.usersPerRank = usersPerRank
        self.eventsPerUser = eventsPerUser
    }
}

extension Geopredict_V1_IngestEventsResponse {
    /// This answer with the `refused` good events (by index in the request) moved from accepted to
    /// errors, in index order, each with its refusal's code; a whole-call `unavailable` when none of
    /// the good events was stored and a storage failure was among the reasons, so that a client that
    /// reads only the status retries the request.
    func withRefusals(_ refused: [(index: Int, reason: EventRefusal)]) -> RouteResult<Self> {
        guard !refused.isEmpty else { return .success(self) }
        if refused.count >= accepted, refused.contains(where: { $0.reason == .unavailable }) {
            return .failure(ConnectError(.unavailable, "no event could be stored durably; retry the request"))
        }
        var answer = self
        answer.accepted -= UInt32(min(refused.count, Int(accepted)))
        let added = refused.map { refusal in
            Geopredict_V1_EventError.with {
                $0.index = UInt32(refusal.index)
                $0.code = refusal.reason.code.rawValue
                $0.message = refusal.reason.message
            }
        }
        answer.errors = (errors + added).sorted { $0.index < $1.index }
        answer.rejected = UInt32(answer.errors.count)
        return .success(answer)
    }
}

/// What an ingest round tells rank 0's `/healthz`: "ingest degraded" while owners fail to write their
/// logs (a full disk, an I/O error), healthy again once a round stores its good events.
enum IngestHealth {
    static let part = "ingest"
    static let storageFailure = "a rank could not write its log durably (disk full or an I/O error)"

    /// `refused`: every rank's refused events of the round; `goodEvents`: the round's good events.
    static func update(_ health: ServiceHealth, refused: [RefusedEvent], goodEvents: Int) {
        if refused.contains(where: { $0.reason == .unavailable }) {
            health.setDegraded(part, reason: storageFailure)
        } else if goodEvents > refused.count {
            // Some good event was stored durably: the logs take writes again. (Refusals for limits say
            // nothing about the disk.)
            health.setDegraded(part, reason: nil)
        }
    }
}

/// `geopredict_ingest_events_refused_total{reason}` on rank 0's `/metrics`: good events an owner did
/// not store, by why (a failed log write, such as a full disk, or a limit).
struct IngestRefusalMetrics {
    private let counters: [EventRefusal: CoreMetrics.Counter]

    init(factory: any MetricsFactory) {
        counters = Dictionary(uniqueKeysWithValues: EventRefusal.allCases.map { reason in
            (reason, CoreMetrics.Counter(
                label: "geopredict_ingest_events_refused_total", dimensions: [("reason", reason.metricLabel)], factory: factory))
        })
    }

    func record(_ refused: [RefusedEvent]) {
        for (reason, events) in Dictionary(grouping: refused, by: \.reason) {
            counters[reason]?.increment(by: events.count)
        }
    }
}
