import Foundation
import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf

/// Rank 0's MPI thread: takes what the front door queued; sends keyed requests to their owners, and
/// broadcasts the others as one round, which it runs like every other rank; and answers the waiting
/// requests.
struct RoundLeader {
    let executor: RoundExecutor
    let channel: RoundChannel
    let queue: RoundQueue
    let health: ServiceHealth
    let metrics: PlugMetrics
    let maximumBatchSize: Int
    /// The most bytes one serialised round may have (``MPIPlugConfiguration/maximumRoundBytes``).
    let maximumRoundBytes: Int
    /// Keyed jobs: sent to their owners, answered when the owners reply.
    let keyed: KeyedTraffic
    /// Whether other ranks run front doors too: their keyed requests for rank 0's users and their
    /// forwarded calls arrive by message, so rank 0 must look for messages often even when idle.
    let hasOtherDoors: Bool
    private var nextRoundID: UInt64 = 1

    /// What a round adds to its jobs' ``Job/roundBytes``: its id, time, kind and flags, framed.
    static let roundOverheadBytes = 64

    init(
        executor: RoundExecutor, channel: RoundChannel, queue: RoundQueue, health: ServiceHealth,
        metrics: PlugMetrics, keyed: KeyedTraffic, maximumBatchSize: Int, maximumRoundBytes: Int = .max,
        hasOtherDoors: Bool = false
    ) {
        self.keyed = keyed
        self.hasOtherDoors = hasOtherDoors
        self.executor = executor
        self.channel = channel
        self.queue = queue
        self.health = health
        self.metrics = metrics
        self.maximumBatchSize = maximumBatchSize
        self.maximumRoundBytes = maximumRoundBytes
        // This rank's background thread asks for its steps through the queue, like any request.
        executor.background.announce = { [queue] in queue.wake() }
    }

    /// Serves rounds and keyed requests until the queue is closed and empty and every keyed request
    /// is answered, then tells every rank to stop.
    ///
    /// - Parameter finishingBackgroundJobs: after the queue closed, go on running the steps of a
    ///   background job still going until it ends.
    mutating func run(finishingBackgroundJobs: Bool = false) throws(MPIError) {
        do {
            try serve(finishingBackgroundJobs: finishingBackgroundJobs)
        } catch {
            keyed.abandonAll(ConnectError(.unavailable, "a rank failed while serving the request"))
            throw error
        }
        var shutdown = Mpiplug_V1_Round()
        shutdown.id = nextRoundID
        shutdown.kind = .shutdown
        guard let bytes = try? shutdown.serializedBytes() as [UInt8] else {
            throw MPIError.invalidArgument(function: "RoundLeader", message: "the shutdown round could not be serialised")
        }
        try channel.send(bytes)
    }

    private mutating func serve(finishingBackgroundJobs: Bool) throws(MPIError) {
        // While keyed requests wait for their owners (or other doors may send messages), look for
        // messages often (the pacer's spins, then sleeps up to a millisecond); while the other ranks'
        // background jobs catch up with a step, every millisecond; otherwise sleep until work comes.
        var pacer = (hasOtherDoors ? Self.otherDoorsPacing : Self.keyedPacing).makePacer()
        let keyedWaitCap: Duration = .microseconds(Self.keyedPacing.maximumSleepMicroseconds)
        while true {
            let timeout: Duration =
                keyed.isWaiting ? min(pacer.nextPause(), keyedWaitCap)
                : hasOtherDoors ? pacer.nextPause()
                : executor.background.isWaitingForReadiness ? .milliseconds(1) : .milliseconds(250)
            guard let jobs = queue.take(limit: maximumBatchSize, byteBudget: jobByteBudget, timeout: timeout) else {
                if keyed.isWaiting {
                    if try keyed.poll() { pacer.reset() }
                    continue
                }
                guard finishingBackgroundJobs, executor.background.job != nil else { return }
                if try executor.background.pollReadiness() { try runRound([], backgroundStep: true) } else { Thread.sleep(forTimeInterval: 0.001) }
                continue
            }
            if !jobs.isEmpty {
                metrics.queueDepth.record(queue.depth)
                pacer.reset()
            }
            let live = answerExpired(jobs, metrics: metrics)
            keyed.dispatch(live.filter(\.isKeyed))
            let roundJobs = live.filter { !$0.isKeyed }
            let backgroundStep = try executor.background.pollReadiness()
            if !roundJobs.isEmpty || backgroundStep { try runRound(roundJobs, backgroundStep: backgroundStep) }
            if try keyed.poll() { pacer.reset() }
        }
    }

    /// How often the door looks for owners' answers while it waits for them.
    private static let keyedPacing = Backoff(spins: 16, initialSleepMicroseconds: 10, maximumSleepMicroseconds: 1_000)
    /// How often rank 0 looks for other doors' messages when it has nothing else to do: the same
    /// spins, then sleeps doubling up to 4 ms. Any work starts the schedule again, so only the first
    /// message after a quiet spell waits that long; an idle rank 0 wakes 250 times a second instead
    /// of a thousand (idle CPU ≤ 5 % of a core, which 1 ms only just met).
    private static let otherDoorsPacing = Backoff(spins: 16, initialSleepMicroseconds: 10, maximumSleepMicroseconds: 4_000)

    /// The bytes the jobs of one round may add up to (``Job/roundBytes``).
    private var jobByteBudget: Int { max(0, maximumRoundBytes - Self.roundOverheadBytes) }

    private mutating func runRound(_ jobs: [Job], backgroundStep: Bool) throws(MPIError) {
        let live = refuseOversized(jobs)
        guard !live.isEmpty || backgroundStep else { return }
        var round = Mpiplug_V1_Round()
        round.id = nextRoundID
        round.issuedUnixMilliseconds = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        var positions = [(batch: Int, index: Int)?]()  // per live job, where its request sits
        var batchIndex = [String: Int]()
        for job in live {
            guard case .request(let path, let body) = job.kind else {
                positions.append(nil)  // a ping (keyed jobs never come here)
                continue
            }
            let batch = batchIndex[path] ?? {
                round.batches.append(.with { $0.path = path })
                batchIndex[path] = round.batches.count - 1
                return round.batches.count - 1
            }()
            positions.append((batch, round.batches[batch].requests.count))
            round.batches[batch].requests.append(Data(body))
        }
        round.backgroundStep = backgroundStep
        round.kind = round.batches.isEmpty && !backgroundStep ? .ping : .work
        guard let bytes = serialize(round, answering: live) else {
            // Nothing was sent, so every rank is still in step; a background step still runs alone.
            if backgroundStep && !live.isEmpty { try runRound([], backgroundStep: true) }
            return
        }
        nextRoundID += 1

        health.roundStarted(replies: live.map(\.reply))
        defer { health.roundEnded() }
        let started = ContinuousClock.now
        let outcomes: [[Outcome]]
        do {
            try channel.send(bytes)
            if round.kind == .work { executor.statistics.recordRound(bytes: bytes.count) }
            if round.kind == .ping {
                try executor.communicator.barrier()
                outcomes = []
            } else {
                outcomes = try executor.run(round)
            }
        } catch {
            health.markBroken("a collective failed (\(error))")
            for job in live { job.reply.resume(.failure(ConnectError(.unavailable, "a rank failed while serving the request"))) }
            throw error
        }
        for (job, position) in zip(live, positions) {
            guard let position else {
                job.reply.resume(.success(Mpiplug_V1_GetClusterStatusRequest()))  // a ping: any success will do
                continue
            }
            job.reply.resume(outcomes[position.batch][position.index])
        }
        metrics.recordRound(requests: live.count, seconds: (ContinuousClock.now - started).seconds)
    }

    /// Answers `resource_exhausted` to jobs that can never fit in a round, and returns the rest.
    private func refuseOversized(_ jobs: [Job]) -> [Job] {
        jobs.filter { job in
            guard job.roundBytes > jobByteBudget else { return true }
            metrics.recordShed(reason: .overRoundBudget)
            job.reply.resume(.failure(ConnectError(
                .resourceExhausted,
                "the request is \(job.roundBytes) bytes once encoded; a round carries at most \(maximumRoundBytes)",
                httpStatus: 413)))
            return false
        }
    }

    /// The round's bytes for the channel, or nil when it cannot be serialised within the budget;
    /// then its requests are answered with the error instead, and nothing is sent: a round that other
    /// ranks would see empty while rank 0 runs its handlers would put the ranks' collectives out of
    /// step.
    private func serialize(_ round: Mpiplug_V1_Round, answering jobs: [Job]) -> [UInt8]? {
        let failure: ConnectError
        do {
            let bytes: [UInt8] = try round.serializedBytes()
            if bytes.count <= maximumRoundBytes { return bytes }
            failure = ConnectError(
                .resourceExhausted, "the round came to \(bytes.count) bytes, over its budget of \(maximumRoundBytes)")
        } catch {
            executor.logger.error("a round could not be serialised", metadata: ["error": "\(error)", "requests": "\(jobs.count)"])
            failure = .internalError
        }
        metrics.recordRoundRefused(requests: jobs.count)
        for job in jobs { job.reply.resume(.failure(failure)) }
        return nil
    }
}

/// Answers the jobs whose client already gave up or whose deadline passed, and returns the rest.
func answerExpired(_ jobs: [Job], metrics: PlugMetrics) -> [Job] {
    let now = ContinuousClock.now
    return jobs.filter { job in
        if job.reply.isAnswered {
            if job.reply.wasAbandoned { metrics.recordShed(reason: .clientGone) }
            return false
        }
        if let deadline = job.deadline, deadline <= now {
            job.reply.resume(.failure(ConnectError(.deadlineExceeded, "the deadline passed while the request was queued")))
            return false
        }
        return true
    }
}

/// The MPI thread of every rank but 0: waits (sleeping) for rounds and runs them until told to stop,
/// answering keyed requests for its users meanwhile, and serving its own front door if it has one.
struct RoundFollower {
    let executor: RoundExecutor
    let channel: RoundChannel
    /// Keyed requests for this rank's users, answered between rounds (and its door's, sent).
    let keyed: KeyedTraffic
    /// This rank's front door, when it runs one (``MPIPlugConfiguration/frontDoors``).
    var door: FollowerDoor?

    func run() throws(MPIError) {
        defer {
            if let door {
                door.stop()
                keyed.abandonAll(ConnectError(.unavailable, "the service is shutting down"))
            }
        }
        while true {
            // Between rounds, answer keyed requests, and enter and drive the readiness barrier of this
            // rank's background job; take what this rank's door queued.
            let bytes = try channel.receive(
                pacing: door.map { _ in FollowerDoor.pacing }, idle: door.map { door in { door.queue.waitForWork(timeout: $0) } }
            ) { () throws(MPIError) -> Bool in
                _ = try executor.background.pollReadiness()
                let tookJobs = door?.takeQueued(into: keyed) ?? false
                return try keyed.poll() || tookJobs
            }
            guard let round = try? Mpiplug_V1_Round(serializedBytes: bytes) else {
                // Rank 0 serialised it; a failure means memory corruption or a version mix-up.
                executor.logger.critical("received an undecodable round; stopping")
                throw MPIError.invalidArgument(function: "RoundFollower", message: "undecodable round")
            }
            door?.health.roundStarted(replies: [])
            defer { door?.health.roundEnded() }
            switch round.kind {
            case .shutdown: return
            case .ping: try executor.communicator.barrier()
            case .work:
                executor.statistics.recordRound(bytes: bytes.count)
                _ = try executor.run(round)
            case .unspecified, .UNRECOGNIZED: continue
            }
        }
    }
}

/// The front door of a rank other than 0, as its MPI thread sees it: the queue its HTTP threads fill.
/// Keyed calls go to their owners like rank 0's; the others are forwarded to rank 0, the only rank
/// that starts rounds.
struct FollowerDoor {
    /// How the door's MPI thread waits between looks for messages and rounds: sleeps doubling up to
    /// 4 ms, on its queue, so that its own HTTP calls end the wait at once and only other ranks'
    /// messages after a quiet spell wait that long (any work starts the schedule again). An idle
    /// door then wakes 250 times a second (idle CPU well under 5 % of a core; 1 ms only just met it).
    static let pacing = Backoff(spins: 256, initialSleepMicroseconds: 20, maximumSleepMicroseconds: 4_000)

    let queue: RoundQueue
    let health: ServiceHealth
    let metrics: PlugMetrics
    let maximumBatchSize: Int
    let maximumMessageBytes: Int

    /// Takes what waits in the queue, without waiting, and sends it on. Returns whether there was any.
    func takeQueued(into keyed: KeyedTraffic) -> Bool {
        guard let jobs = queue.take(limit: maximumBatchSize, byteBudget: maximumMessageBytes, timeout: .zero), !jobs.isEmpty else {
            return false
        }
        metrics.queueDepth.record(queue.depth)
        let live = answerExpired(jobs, metrics: metrics)
        keyed.dispatch(live.filter(\.isKeyed))
        keyed.forward(live.filter { !$0.isKeyed })
        return true
    }

    /// The job is ending: refuses new calls and answers the waiting ones.
    func stop() {
        let stopping = ConnectError(.unavailable, "the service is shutting down")
        health.startDraining()
        for job in queue.closeAndDrain(reason: stopping) { job.reply.resume(.failure(stopping)) }
    }
}
