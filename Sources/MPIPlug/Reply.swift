import Foundation
import SwiftProtobuf
import Synchronization

/// What the MPI thread hands back to a waiting HTTP request.
typealias Outcome = RouteResult<any Message>

/// A one-shot answer slot between an HTTP request and the MPI thread.
///
/// Whoever answers first wins — the round that ran the request, the request's deadline, or the front
/// door giving up on a broken job — and later answers are dropped, so a continuation is resumed
/// exactly once.
final class Reply: Sendable {
    private let state: Mutex<(continuation: CheckedContinuation<Outcome, Never>?, timer: Task<Void, Never>?)>

    init(_ continuation: CheckedContinuation<Outcome, Never>) {
        state = Mutex((continuation, nil))
    }

    /// Whether an answer has already been given.
    var isAnswered: Bool { state.withLock { $0.continuation == nil } }

    /// Answers with `outcome` unless someone answered before.
    func resume(_ outcome: Outcome) {
        let (continuation, timer) = state.withLock { state in
            defer { state = (nil, nil) }
            return state
        }
        timer?.cancel()
        continuation?.resume(returning: outcome)
    }

    /// Answers `deadline_exceeded` at `deadline` unless answered before.
    func expire(at deadline: ContinuousClock.Instant) {
        // The timer holds the reply strongly: a reply nobody else keeps (a job dropped by a failed
        // round) must still be answered. Answering cancels the timer, which releases it.
        let timer = Task { [self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            guard !Task.isCancelled else { return }
            self.resume(.failure(ConnectError(.deadlineExceeded, "the deadline passed before the request completed")))
        }
        let alreadyAnswered = state.withLock { state -> Bool in
            guard state.continuation != nil else { return true }
            state.timer = timer
            return false
        }
        if alreadyAnswered { timer.cancel() }
    }
}

/// One unit of work waiting on rank 0 for a round.
struct Job: Sendable {
    enum Kind: Sendable {
        /// A request for `path`, already decoded, validated and re-encoded as binary protobuf.
        case request(path: String, body: [UInt8])
        /// A liveness check: a barrier over every rank.
        case ping
    }

    let kind: Kind
    let reply: Reply
    /// When the client stops waiting; the round skips the job after it.
    let deadline: ContinuousClock.Instant?
    let enqueued: ContinuousClock.Instant
}

/// The queue between rank 0's HTTP threads and its MPI thread.
///
/// HTTP threads ``submit(_:)``; the MPI thread takes everything waiting, up to a batch size, each time
/// it starts a round, so batches grow by themselves under load and stay single under light load.
final class RoundQueue: @unchecked Sendable {
    // NSCondition guards every stored property below; it is what lets the MPI thread sleep (no CPU)
    // until work arrives.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var closedReason: ConnectError?
    /// Set when rank 0's background job has queued a collective: wakes the MPI thread to check
    /// whether every rank is ready for the step.
    private var backgroundWakeUp = false

    /// Queues `job`; returns the reason instead when the queue no longer accepts work.
    func submit(_ job: Job) -> ConnectError? {
        condition.lock()
        defer { condition.unlock() }
        if let closedReason { return closedReason }
        jobs.append(job)
        condition.signal()
        return nil
    }

    /// The jobs waiting now.
    var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// Wakes the MPI thread (from ``take(limit:timeout:)``) for a background step.
    func wakeForBackgroundStep() {
        condition.lock()
        backgroundWakeUp = true
        condition.signal()
        condition.unlock()
    }

    /// Waits up to `timeout` for work (or a background wake-up) and takes up to `limit` jobs; an empty
    /// array on timeout or for a wake-up alone; `nil` once the queue is closed and empty.
    func take(limit: Int, timeout: Duration) -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        defer { backgroundWakeUp = false }
        if jobs.count == head && !backgroundWakeUp {
            if closedReason != nil { return nil }
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
            _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
            if jobs.count == head { return closedReason == nil ? [] : nil }
        }
        let end = min(jobs.count, head + limit)
        let batch = Array(jobs[head..<end])
        head = end
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        }
        return batch
    }

    /// Stops accepting work; jobs already queued are still taken.
    func close(reason: ConnectError) {
        condition.lock()
        if closedReason == nil { closedReason = reason }
        condition.broadcast()
        condition.unlock()
    }

    /// Stops accepting work and returns the jobs that were waiting, for the caller to answer.
    func closeAndDrain(reason: ConnectError) -> [Job] {
        condition.lock()
        defer { condition.unlock() }
        if closedReason == nil { closedReason = reason }
        let remaining = Array(jobs[head...])
        jobs.removeAll()
        head = 0
        condition.broadcast()
        return remaining
    }
}
