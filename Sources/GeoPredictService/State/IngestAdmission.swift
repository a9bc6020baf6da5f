import CoreMetrics
import GeoPredictProtos
import MPIPlug

/// Why a good event was not stored by its owner rank. Only the owner knows: it reports them per event
/// (``Geopredict_V1_IngestEventsResponse/withRefusals(_:)``), and the door reads them back from its
/// answer (``IngestMerge``).
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

/// One client's `IngestEvents` answer put together from its owners' answers to their parts, on the
/// front door: counts added, each event's error at its place in the client's request, and the
/// refusals among them (for `/healthz` and `/metrics`).
struct IngestMerge {
    private(set) var result: RouteResult<Geopredict_V1_IngestEventsResponse>
    /// The good events an owner did not store, by index in the client's request.
    private(set) var refused: [RefusedEvent] = []
    /// Good events: stored, or refused by their owner.
    private(set) var goodEvents = 0

    init(_ parts: [KeyedPart<Geopredict_V1_IngestEventsResponse>]) {
        // A request whose every part failed fails whole, with the first part's error: a client that
        // reads only the status then retries the request (its event ids make the retry safe).
        if let failure = Self.failureOfEveryPart(parts) {
            // Owners that could not write their logs refused all their good events (how many of
            // them were good is not known here: every event of the part counts).
            for part in parts {
                guard case .failure(let error) = part.result, error.code == .unavailable else { continue }
                refused += part.positions.map { RefusedEvent(request: 0, index: $0, reason: .unavailable) }
            }
            goodEvents = refused.count
            result = .failure(failure)
            return
        }
        var merged = Geopredict_V1_IngestEventsResponse()
        for part in parts {
            switch part.result {
            case .success(let response):
                merged.accepted += response.accepted
                for var error in response.errors {
                    guard let position = part.positions.element(at: Int(error.index)) else { continue }
                    error.index = UInt32(position)
                    if let reason = EventRefusal(error) { refused.append(RefusedEvent(request: 0, index: position, reason: reason)) }
                    merged.errors.append(error)
                }
            case .failure(let error):
                // The owner could not answer (it failed or the door could not reach it): its events
                // alone are reported, with its error; the others' stand.
                for position in part.positions {
                    if error.code == .unavailable { refused.append(RefusedEvent(request: 0, index: position, reason: .unavailable)) }
                    merged.errors.append(.with {
                        $0.index = UInt32(position)
                        $0.code = error.code.rawValue
                        $0.message = "not stored: \(error.message)"
                    })
                }
            }
        }
        merged.errors.sort { $0.index < $1.index }
        merged.rejected = UInt32(merged.errors.count)
        goodEvents = Int(merged.accepted) + refused.count
        if merged.accepted == 0, refused.contains(where: { $0.reason == .unavailable }) {
            result = .failure(ConnectError(.unavailable, "no event could be stored durably; retry the request"))
        } else {
            result = .success(merged)
        }
    }

    private static func failureOfEveryPart(_ parts: [KeyedPart<Geopredict_V1_IngestEventsResponse>]) -> ConnectError? {
        var first: ConnectError?
        for part in parts {
            guard case .failure(let error) = part.result else { return nil }
            first = first ?? error
        }
        return first
    }
}

extension EventRefusal {
    /// The refusal an owner wrote as `error` (``Geopredict_V1_IngestEventsResponse/withRefusals(_:)``),
    /// or nil for an event that was not good (a validation error).
    init?(_ error: Geopredict_V1_EventError) {
        guard let refusal = Self.allCases.first(where: { $0.code.rawValue == error.code && $0.message == error.message }) else {
            return nil
        }
        self = refusal
    }
}

extension Array {
    /// The element at `index`, or nil outside the array.
    fileprivate func element(at index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
