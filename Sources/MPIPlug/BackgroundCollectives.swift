import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MPI

/// Collective work that runs beside serving: a long SPMD job (a training run) on a thread of its own
/// on every rank, whose collectives the MPI thread performs between requests.
///
/// MPI is called from one thread per process (`MPI_THREAD_FUNNELED`), so the background thread never
/// calls it. Each collective it needs goes through ``perform(_:)``: the thread queues the operation
/// and sleeps; once every rank's thread has queued its operation (see ``BackgroundHost``), rank 0's
/// MPI thread puts a *background step* into its next round; every rank then runs, after that
/// round's requests, the operation its own background thread queued. The ranks run the
/// same program, so they queue the same operations in the same order, and the steps line up. Between
/// steps the background threads compute while the MPI threads keep answering requests.
///
/// Start a job with ``RoundContext/startBackgroundJob(_:)`` from a route handler (on every rank, in
/// the same round).
public final class BackgroundCollectives: @unchecked Sendable {
    /// This rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int

    // `condition` guards `queued` and `threadEnded`.
    private let condition = NSCondition()
    private var queued: ((Communicator) -> Void)?
    private var threadEnded = false
    /// Rank 0: tells the round leader that a step is waiting. Elsewhere: nothing.
    private let announce: @Sendable () -> Void

    init(rank: Int, size: Int, announce: @escaping @Sendable () -> Void) {
        self.rank = rank
        self.size = size
        self.announce = announce
    }

    /// Runs `operation` with the service communicator on the MPI thread, in the same round as the
    /// other ranks run theirs, and returns its result. Called from the background thread, which waits.
    ///
    /// `operation` may also change state that the MPI thread owns (installing a trained model): it
    /// runs on that thread, between rounds' requests.
    public func perform<Value>(_ operation: @escaping (Communicator) throws(MPIError) -> Value) throws(MPIError) -> Value {
        let outcome = OneShot<Result<Value, MPIError>>()
        condition.lock()
        queued = { communicator in
            do throws(MPIError) {
                outcome.set(.success(try operation(communicator)))
            } catch {
                outcome.set(.failure(error))
            }
        }
        condition.broadcast()
        condition.unlock()
        announce()
        return try outcome.wait().get()
    }

    /// Whether the background thread has queued an operation that has not run yet.
    var hasQueuedOperation: Bool {
        condition.lock()
        defer { condition.unlock() }
        return queued != nil
    }

    /// MPI thread: waits for the operation this rank's background thread queued, and runs it.
    func runStep(on communicator: Communicator) throws(MPIError) {
        condition.lock()
        while queued == nil && !threadEnded { condition.wait() }
        let operation = queued
        queued = nil
        condition.unlock()
        guard let operation else {
            // The other ranks run a collective this rank's job will never join: the ranks are out of
            // step, which only a bug can cause.
            throw MPIError.invalidArgument(function: "background step", message: "this rank's background job ended before the others'")
        }
        operation(communicator)
    }

    /// The background thread has returned: a step still expected from it will never come.
    func markThreadEnded() {
        condition.lock()
        threadEnded = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Where a rank keeps its background job (at most one at a time). MPI thread only.
///
/// A step is put into a round only once every rank's job has queued it: each rank's MPI thread, on
/// seeing its job's operation queued, enters a nonblocking barrier on a communicator of its own
/// (rank 0 in its round loop, the others while they wait for rounds), and rank 0 asks for the step
/// when that barrier completes. So no rank's MPI thread waits, in a round, for its trainer to catch
/// up, and the requests in that round are not held back by it.
final class BackgroundHost: @unchecked Sendable {
    var job: BackgroundCollectives?
    /// Rank 0: wakes the round leader when its job queues an operation.
    var announce: @Sendable () -> Void = {}
    /// The readiness barriers' communicator (nil: a step runs as soon as rank 0's job asks).
    private let readinessCommunicator: Communicator?
    /// The readiness barrier of the operation this rank's job has queued, once entered.
    private var readiness: PendingOperation<UInt8>?

    init(readiness: Communicator?) {
        readinessCommunicator = readiness
    }

    /// Whether this rank waits for the other ranks to be ready for a step.
    var isWaitingForReadiness: Bool { readiness != nil }

    /// Enters the readiness barrier once this rank's job has queued an operation, and tests it.
    /// Returns true when every rank's job has queued its operation: the step can run.
    func pollReadiness() throws(MPIError) -> Bool {
        guard let job else { return false }
        guard let readinessCommunicator else { return job.hasQueuedOperation }
        if readiness == nil {
            guard job.hasQueuedOperation else { return false }
            readiness = try readinessCommunicator.startBarrier()
        }
        return try readiness?.test() ?? false
    }

    /// Runs the step the current job queued; a round with a background step and no job means the
    /// ranks are out of step.
    func runStep(on communicator: Communicator) throws(MPIError) {
        guard let job else {
            throw MPIError.invalidArgument(function: "background step", message: "no background job on this rank")
        }
        // Every rank entered the barrier (rank 0 saw it complete), so this returns at once.
        if let readiness { try readiness.wait() }
        readiness = nil
        try job.runStep(on: communicator)
    }
}

extension RoundContext {
    /// The background thread's `nice` value: above the serving threads', so that on a busy node the
    /// job slows down rather than the requests.
    static let backgroundNiceness: Int32 = 10

    /// Whether a background job runs on this rank (and so, the ranks being in step, on every rank):
    /// from the round that started it to the step in which it ended.
    public var hasBackgroundJob: Bool { background?.job != nil }

    /// Starts `body` on a new thread of this rank, with collectives that the MPI thread performs
    /// between requests (see ``BackgroundCollectives``), and returns at once. Call it on every rank in
    /// the same round, as handlers run; at most one job runs at a time.
    ///
    /// - Returns: `false` — on every rank alike — while an earlier job is still running.
    public func startBackgroundJob(_ body: @escaping @Sendable (BackgroundCollectives) -> Void) -> Bool {
        guard let host = background, host.job == nil else { return false }
        let collectives = BackgroundCollectives(rank: rank, size: size, announce: host.announce)
        host.job = collectives
        let thread = Thread {
            // Requests come first: the job computes with what the serving threads leave over. (On
            // Linux the nice value is per thread, and `who` 0 is the calling thread.)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.backgroundNiceness)
            body(collectives)
            // The job ends in a step of its own, so that every rank forgets it in the same round and
            // the next start is accepted or refused alike everywhere.
            try? collectives.perform { _ in host.job = nil }
            collectives.markThreadEnded()
        }
        thread.name = "mpiplug-background"
        thread.stackSize = 8 << 20
        thread.start()
        return true
    }
}

/// A value handed from one thread to one waiting thread, once.
private final class OneShot<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    func set(_ newValue: Value) {
        condition.lock()
        value = newValue
        condition.signal()
        condition.unlock()
    }

    func wait() -> Value {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value { return value }
            condition.wait()
        }
    }
}
