import Foundation
import MPI
import NIOCore
import NIOPosix
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
    /// Takes the answer: resumes an HTTP request's continuation, or (for a call another front door
    /// forwarded to rank 0) records it for the message back.
    typealias Answer = @Sendable (Outcome) -> Void

    private let state: Mutex<(continuation: Answer?, timer: DeadlineTimer?)>
    private let abandoned = Atomic(false)

    init(_ continuation: CheckedContinuation<Outcome, Never>) {
        state = Mutex(({ continuation.resume(returning: $0) }, nil))
    }

    /// A reply whose answer goes to `answer`, called once, on whichever thread answers.
    init(answer: @escaping Answer) {
        state = Mutex((answer, nil))
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
        continuation?(outcome)
    }

    /// Whether ``abandon()`` answered it: its client hung up before it was answered otherwise.
    var wasAbandoned: Bool { abandoned.load(ordering: .acquiring) }

    /// Answers `canceled` for a client that hung up, unless answered before.
    func abandon() {
        let continuation = state.withLock { state -> Answer? in
            // Marked under the lock, so whoever sees the reply answered also sees why.
            if state.continuation != nil { abandoned.store(true, ordering: .relaxed) }
            defer { state.continuation = nil }
            return state.continuation
        }
        guard let continuation else { return }
        let timer = state.withLock { state in
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
        continuation(.failure(ConnectError(.canceled, "the client closed the connection")))
    }

    /// Answers `deadline_exceeded` at `deadline` unless answered before.
    func expire(at deadline: ContinuousClock.Instant) {
        // On an event loop of NIO's shared group, not a sleeping Task: the loops are threads of their
        // own, so a deadline fires even while every thread of the cooperative pool (and of Dispatch,
        // which the pool runs on) is blocked — two on a 2-core node. The timer holds the reply
        // strongly: a reply nobody else keeps (a job dropped by a failed round) must still be
        // answered. Answering cancels the timer, which releases its closure and so the reply.
        let remaining = max(.zero, deadline - .now)
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(remaining.nanoseconds)) { [self] in
            self.resume(.failure(ConnectError(.deadlineExceeded, "the deadline passed before the request completed")))
        }
        let timer = DeadlineTimer(scheduled)
        let alreadyAnswered = state.withLock { state -> Bool in
            guard state.continuation != nil else { return true }
            state.timer = timer
            return false
        }
        if alreadyAnswered { timer.cancel() }
    }
}

/// A scheduled deadline, cancellable from any thread.
private final class DeadlineTimer: Sendable {
    private let scheduled: Scheduled<Void>

    init(_ scheduled: Scheduled<Void>) { self.scheduled = scheduled }

    func cancel() { scheduled.cancel() }
}

/// One unit of work waiting on rank 0 for a round.
struct Job: Sendable {
    enum Kind: Sendable {
        /// A request for `path`, already decoded, validated and re-encoded as binary protobuf.
        case request(path: String, body: [UInt8])
        /// A request for a keyed route's `path`, split by owner (one part when it goes whole); each part
        /// travels only to its owner.
        case keyed(path: String, parts: [KeyedJobPart])
        /// A liveness check: a barrier over every rank.
        case ping
    }

    let kind: Kind
    let reply: Reply
    /// When the client stops waiting; the round skips the job after it.
    let deadline: ContinuousClock.Instant?
    let enqueued: ContinuousClock.Instant

    /// An upper bound of what the job adds to a serialised round: its body and path with their
    /// protobuf framing (a tag and a length of at most 10 bytes each, for the request and for a batch
    /// of its own). The queue's byte limit and the round byte budget both count this.
    var roundBytes: Int {
        switch kind {
        case .request(let path, let body): return body.count + path.utf8.count + Self.framingBytes
        case .keyed(let path, let parts):
            return parts.reduce(path.utf8.count + Self.framingBytes) { $0 + $1.body.count + Self.framingBytes }
        case .ping: return 0
        }
    }

    static let framingBytes = 40

    /// Whether the job goes to owners by point-to-point messages rather than in a round.
    var isKeyed: Bool {
        if case .keyed = kind { return true }
        return false
    }
}

/// The queue between rank 0's HTTP threads and its MPI thread.
///
/// HTTP threads ``submit(_:)``; the MPI thread takes everything waiting, up to a batch size and a byte
/// budget, each time it starts a round, so batches grow by themselves under load and stay single
/// under light load.
///
/// The queue is bounded by count and by bytes (``Job/roundBytes``): beyond either, ``submit(_:)``
/// refuses with `resource_exhausted` and a retry hint, so that overload pushes back on clients instead
/// of growing rank 0's memory and every request's wait. A job is always admitted into an empty queue,
/// so that no single valid request is refused for ever. Taken jobs are released at once.
final class RoundQueue: @unchecked Sendable {
    /// The most jobs waiting at once.
    let maximumJobs: Int
    /// The most ``Job/roundBytes`` waiting at once.
    let maximumBytes: Int

    // NSCondition guards every stored property below; it is what lets the MPI thread sleep (no CPU)
    // until work arrives.
    private let condition = NSCondition()
    /// Waiting jobs from `head` on; taken slots are set to nil at once (so their bodies and replies
    /// are freed while others still wait) and compacted away once they are the larger part.
    private var jobs: [Job?] = []
    private var head = 0
    private var queuedBytes = 0
    private var closedReason: ConnectError?
    /// Set by ``wake()``: the MPI thread has something to do besides jobs (a background job queued a
    /// collective; a forwarded call was answered and its message back waits to be sent).
    private var wakeUp = false
    /// Jobs ever admitted (for `GetClusterStatus`'s per-door figures).
    private var acceptedJobs: UInt64 = 0

    init(maximumJobs: Int = .max, maximumBytes: Int = .max) {
        self.maximumJobs = maximumJobs
        self.maximumBytes = maximumBytes
    }

    /// How long a shed client is told to wait before it retries (`Retry-After`). One second is
    /// several rounds at the usual round times, short enough that a retry finds room soon.
    static let retryAfterSeconds = 1

    /// Queues `job`; returns the reason instead when the queue no longer accepts work, or is full
    /// (`resource_exhausted` with ``ConnectError/retryAfterSeconds``).
    func submit(_ job: Job) -> ConnectError? {
        condition.lock()
        defer { condition.unlock() }
        if let closedReason { return closedReason }
        let waiting = jobs.count - head
        if waiting > 0 {
            if waiting >= maximumJobs {
                return Self.full("\(waiting) requests are already waiting (the limit is \(maximumJobs))")
            }
            if queuedBytes + job.roundBytes > maximumBytes {
                return Self.full("\(queuedBytes) bytes of requests are already waiting (the limit is \(maximumBytes))")
            }
        }
        jobs.append(job)
        queuedBytes += job.roundBytes
        acceptedJobs += 1
        condition.signal()
        return nil
    }

    private static func full(_ detail: String) -> ConnectError {
        var error = ConnectError(.resourceExhausted, "the service is overloaded: \(detail); retry later")
        error.retryAfterSeconds = retryAfterSeconds
        return error
    }

    /// The jobs waiting now.
    var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// The jobs admitted since the queue was made.
    var accepted: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return acceptedJobs
    }

    /// The slots the queue holds, waiting or not yet compacted away (for tests of its memory).
    var storedSlots: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count
    }

    /// Wakes the MPI thread from ``take(limit:byteBudget:timeout:)`` (which returns no jobs for it).
    func wake() {
        condition.lock()
        wakeUp = true
        condition.signal()
        condition.unlock()
    }

    /// Waits up to `timeout` for a job (or a ``wake()``, or the queue's closing) without taking it.
    func waitForWork(timeout: Duration) {
        condition.lock()
        defer { condition.unlock() }
        guard jobs.count == head, !wakeUp, closedReason == nil else { return }
        _ = condition.wait(until: Date(timeIntervalSinceNow: timeout.seconds))
    }

    /// Waits up to `timeout` for work (or a ``wake()``) and takes, in arrival order, up to
    /// `limit` jobs whose ``Job/roundBytes`` sum to at most `byteBudget` (the first job is taken
    /// whatever its size: the round refuses it if it can never fit). An empty array on timeout or
    /// for a wake-up alone; `nil` once the queue is closed and empty.
    func take(limit: Int, byteBudget: Int = .max, timeout: Duration) -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        defer { wakeUp = false }
        if jobs.count == head && !wakeUp {
            if closedReason != nil { return nil }
            _ = condition.wait(until: Date(timeIntervalSinceNow: timeout.seconds))
            if jobs.count == head { return closedReason == nil ? [] : nil }
        }
        var batch = [Job]()
        var bytes = 0
        while head < jobs.count, batch.count < limit, let job = jobs[head] {
            guard batch.isEmpty || bytes + job.roundBytes <= byteBudget else { break }
            bytes += job.roundBytes
            batch.append(job)
            jobs[head] = nil
            head += 1
        }
        queuedBytes -= bytes
        compact()
        return batch
    }

    /// Drops the taken slots once they outnumber the waiting ones (amortised O(1) per job).
    private func compact() {
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: jobs.count <= 4_096)
            head = 0
        } else if head >= 1_024 && head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
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
        let remaining = jobs[head...].compactMap { $0 }
        jobs.removeAll()
        head = 0
        queuedBytes = 0
        condition.broadcast()
        return remaining
    }
}
