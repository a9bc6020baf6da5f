import Synchronization

/// Whether the front door should take work, shared between rank 0's HTTP threads, its MPI thread and
/// its watchdog.
final class ServiceHealth: Sendable {
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
    func roundEnded() { running.withLock { $0 = nil } }

    /// How long the running round has taken so far, or nil between rounds.
    var currentRoundAge: Duration? { running.withLock { $0.map { .now - $0.started } } }

    /// Answers the requests of the running round with `error` (they stay unanswered otherwise when a
    /// round never finishes).
    func abandonRunningRound(_ error: ConnectError) {
        let replies = running.withLock { $0?.replies ?? [] }
        for reply in replies { reply.resume(.failure(error)) }
    }
}
