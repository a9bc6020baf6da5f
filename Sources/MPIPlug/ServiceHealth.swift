import Foundation
import Synchronization

/// Whether the front door should take work, shared between rank 0's HTTP threads, its MPI thread and
/// its watchdog; and what `GET /healthz` reports, read without a round (see ``report(rankCount:)``).
public final class ServiceHealth: Sendable {
    enum State: Sendable, Equatable {
        case serving
        /// SIGTERM arrived: queued work finishes, new work is refused.
        case draining
        /// A rank failed or stopped answering; every request gets `unavailable`.
        case broken(reason: String)
    }

    private let state = Mutex(State.serving)
    /// When the round now running started and whom it will answer; nil between rounds.
    private let running = Mutex<(started: ContinuousClock.Instant, replies: [Reply])?>(nil)
    private let drainStart = Mutex<ContinuousClock.Instant?>(nil)
    /// When the last round (a ping included) ended: a round proves every rank answered.
    private let lastRoundEnd = Mutex<ContinuousClock.Instant?>(nil)
    /// Parts of the service that work less than fully, by name, with the reason.
    private let degradedParts = Mutex<[String: String]>([:])
    private let heartbeatInFlight = Mutex(false)
    /// The keyed messages the front door has sent and not had answered, by id: when each went and whom
    /// it will answer.
    private let keyedInFlight = Mutex<[UInt64: (sent: ContinuousClock.Instant, replies: [Reply])]>([:])
    /// When an owner last answered a keyed message: a sign of life that makes heartbeats unnecessary.
    private let lastKeyedAnswer = Mutex<ContinuousClock.Instant?>(nil)

    /// Without traffic, `/healthz` asks for one ping round (a barrier over every rank) at most this
    /// often, whatever the probe rate, so that a hung rank is noticed but probes cannot load the job.
    static let heartbeatInterval: Duration = .seconds(10)
    /// A round running longer than this makes the service not ready: normal rounds take milliseconds
    /// (a 10,000-event ingest about 0.1 s), and a load balancer should stop sending well before the
    /// round timeout marks the job broken.
    static let stalledRoundAge: Duration = .seconds(5)

    init() {}

    var current: State { state.withLock { $0 } }

    func startDraining() {
        state.withLock { if $0 == .serving { $0 = .draining } }
        drainStart.withLock { if $0 == nil { $0 = .now } }
    }

    /// How long ago draining started, or nil when not draining.
    var drainAge: Duration? { drainStart.withLock { $0.map { .now - $0 } } }

    func markBroken(_ reason: String) {
        state.withLock { state in
            if case .broken = state { return }
            state = .broken(reason: reason)
        }
    }

    /// The error new requests get, or nil while serving.
    var refusal: ConnectError? {
        switch current {
        case .serving: return nil
        case .draining: return ConnectError(.unavailable, "the service is shutting down")
        case .broken(let reason): return ConnectError(.unavailable, "the service is unavailable: \(reason)")
        }
    }

    func roundStarted(replies: [Reply]) { running.withLock { $0 = (.now, replies) } }
    func roundEnded() {
        running.withLock { $0 = nil }
        lastRoundEnd.withLock { $0 = .now }
    }

    /// How long the running round has taken so far, or nil between rounds.
    var currentRoundAge: Duration? { running.withLock { $0.map { .now - $0.started } } }

    /// Answers the requests of the running round and of the keyed messages in flight with `error`
    /// (they stay unanswered otherwise when a rank never answers).
    func abandonRunningRound(_ error: ConnectError) {
        let replies = running.withLock { $0?.replies ?? [] } + keyedInFlight.withLock { $0.values.flatMap(\.replies) }
        for reply in replies { reply.resume(.failure(error)) }
    }

    /// A keyed message went to its owner, to answer `replies`.
    func keyedMessageSent(id: UInt64, replies: [Reply]) { keyedInFlight.withLock { $0[id] = (.now, replies) } }

    /// The owner answered keyed message `id`.
    func keyedMessageAnswered(id: UInt64) {
        keyedInFlight.withLock { _ = $0.removeValue(forKey: id) }
        lastKeyedAnswer.withLock { $0 = .now }
    }

    /// How long the oldest keyed message in flight has waited for its owner, or nil when none is.
    var oldestKeyedMessageAge: Duration? {
        keyedInFlight.withLock { $0.values.map(\.sent).min() }.map { .now - $0 }
    }

    /// How long the oldest wait for a rank has lasted: the running round or the oldest keyed message.
    var longestWaitForARank: Duration? {
        switch (currentRoundAge, oldestKeyedMessageAge) {
        case (let round?, let keyed?): return max(round, keyed)
        case (let round, let keyed): return round ?? keyed
        }
    }
}

// MARK: Degraded parts and /healthz

extension ServiceHealth {
    /// Marks `part` of the service degraded for `reason` ("disk full"), or healthy again with nil.
    ///
    /// A degraded service stays ready (other calls go on); `/healthz` lists the reason as
    /// `"<part> degraded: <reason>"`. Only rank 0's health is reported: set it there.
    public func setDegraded(_ part: String, reason: String?) {
        degradedParts.withLock { $0[part] = reason }
    }

    /// The degraded parts, as `"<part> degraded: <reason>"`, sorted by part.
    public var degradedReasons: [String] {
        degradedParts.withLock { parts in parts.sorted { $0.key < $1.key }.map { "\($0.key) degraded: \($0.value)" } }
    }

    /// True when no round has ended for ``heartbeatInterval`` and no heartbeat is running: the caller
    /// then sends one ping round and calls ``heartbeatEnded()`` when it is answered.
    func claimHeartbeat() -> Bool {
        // Keyed answers prove that their owners are alive; a heartbeat is due when neither rounds nor
        // keyed answers have been seen for the interval (and before the first round, which proves
        // every rank started).
        let round = lastRoundEnd.withLock { $0 }
        let keyed = lastKeyedAnswer.withLock { $0 }
        let due = round.map { round in .now - max(round, keyed ?? round) >= Self.heartbeatInterval } ?? true
        guard due, currentRoundAge == nil else { return false }
        return heartbeatInFlight.withLock { inFlight in
            if inFlight { return false }
            inFlight = true
            return true
        }
    }

    func heartbeatEnded() { heartbeatInFlight.withLock { $0 = false } }

    /// Whether any round has ended yet.
    var hasCompletedARound: Bool { lastRoundEnd.withLock { $0 != nil } }

    /// How long a probe waits for the job's first round (a heartbeat's deadline too): a busy machine
    /// can take a second or two to start every rank's round loop.
    static let firstRoundWait: Duration = .seconds(5)

    /// Returns once a round has ended, or after ``firstRoundWait``; at once after the first round.
    func waitForFirstRound() async {
        let giveUp = ContinuousClock.now + Self.firstRoundWait
        while !hasCompletedARound, ContinuousClock.now < giveUp {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// What `/healthz` answers, from state alone (no round per probe).
    func report(rankCount: Int, frontDoors: [FrontDoorAddress] = []) -> HealthReport {
        let state = current
        let roundAge = longestWaitForARank
        let sinceLastRound = lastRoundEnd.withLock { $0.map { ContinuousClock.now - $0 } }
        var problems = [String]()
        if sinceLastRound == nil { problems.append("no round has completed yet: not every rank has answered") }
        if let roundAge, roundAge > Self.stalledRoundAge {
            problems.append("a rank has been waited for \(Int(roundAge.seconds)) s")
        }
        switch state {
        case .serving: break
        case .draining: problems.insert("shutting down", at: 0)
        case .broken(let reason): problems.insert(reason, at: 0)
        }
        let live: Bool
        if case .broken = state { live = false } else { live = true }
        return HealthReport(
            live: live, ready: problems.isEmpty, draining: state == .draining, problems: problems,
            degraded: degradedReasons, rankCount: rankCount, secondsSinceLastRound: sinceLastRound?.seconds,
            frontDoors: frontDoors
        )
    }
}

/// The body of `GET /healthz`: liveness (restart the job if false), readiness (send it work if
/// true), and what is degraded.
struct HealthReport: Equatable {
    /// False once the job is broken (a rank failed or stopped answering): only a restart helps.
    var live: Bool
    /// True while the service takes work promptly: live, not draining, no round stalled.
    var ready: Bool
    var draining: Bool
    /// Why it is not ready (empty when ready).
    var problems: [String]
    /// Parts that work less than fully while the service stays ready ("ingest degraded: disk full").
    var degraded: [String]
    var rankCount: Int
    /// Since the last round ended (a round proves every rank answered); nil before the first.
    var secondsSinceLastRound: Double?
    /// The job's front doors (empty when not known, as in-process).
    var frontDoors: [FrontDoorAddress] = []

    /// `serving`, `degraded`, `draining` or `unavailable`.
    var status: String {
        if !live { return "unavailable" }
        if draining { return "draining" }
        if !ready { return "unavailable" }
        return degraded.isEmpty ? "serving" : "degraded"
    }

    /// A short line for people: the first problem, the degraded parts, or the rank count.
    var detail: String {
        if let first = problems.first { return first }
        if !degraded.isEmpty { return degraded.joined(separator: "; ") }
        return "\(rankCount) ranks"
    }

    var json: String {
        let strings = { (values: [String]) in "[" + values.map(JSONString.quote).joined(separator: ",") + "]" }
        let doors = frontDoors.map { door in
            "{\"rank\":\(door.rank),\"host\":\(JSONString.quote(door.host)),\"port\":\(door.port)}"
        }.joined(separator: ",")
        let lastRound = secondsSinceLastRound.map { String(format: "%.3f", $0) } ?? "null"
        return "{\"status\":\"\(status)\",\"live\":\(live),\"ready\":\(ready),\"detail\":\(JSONString.quote(detail)),"
            + "\"problems\":\(strings(problems)),\"degraded\":\(strings(degraded)),\"ranks\":\(rankCount),"
            + "\"secondsSinceLastRound\":\(lastRound),\"frontDoors\":[\(doors)]}"
    }
}
