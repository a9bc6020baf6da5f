import Foundation
import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf

/// Rank 0's MPI thread: takes what the front door queued, broadcasts it as one round, runs it like
/// every other rank, and answers the waiting requests.
struct RoundLeader {
    let executor: RoundExecutor
    let channel: RoundChannel
    let queue: RoundQueue
    let health: ServiceHealth
    let metrics: PlugMetrics
    let maximumBatchSize: Int
    private var nextRoundID: UInt64 = 1

    init(
        executor: RoundExecutor, channel: RoundChannel, queue: RoundQueue, health: ServiceHealth,
        metrics: PlugMetrics, maximumBatchSize: Int
    ) {
        self.executor = executor
        self.channel = channel
        self.queue = queue
        self.health = health
        self.metrics = metrics
        self.maximumBatchSize = maximumBatchSize
        // This rank's background thread asks for its steps through the queue, like any request.
        executor.background.announce = { [queue] in queue.wakeForBackgroundStep() }
    }

    /// Serves rounds until the queue is closed and empty, then tells every rank to stop.
    ///
    /// - Parameter finishingBackgroundJobs: after the queue closed, go on running the steps of a
    ///   background job still going until it ends.
    mutating func run(finishingBackgroundJobs: Bool = false) throws(MPIError) {
        // While the other ranks' background jobs catch up with a step, check every millisecond.
        var timeout: Duration { executor.background.isWaitingForReadiness ? .milliseconds(1) : .milliseconds(250) }
        while true {
            guard let jobs = queue.take(limit: maximumBatchSize, timeout: timeout) else {
                guard finishingBackgroundJobs, executor.background.job != nil else { break }
                if try executor.background.pollReadiness() { try runRound([], backgroundStep: true) } else { Thread.sleep(forTimeInterval: 0.001) }
                continue
            }
            metrics.queueDepth.record(queue.depth)
            let backgroundStep = try executor.background.pollReadiness()
            guard !jobs.isEmpty || backgroundStep else { continue }
            try runRound(jobs, backgroundStep: backgroundStep)
        }
        var shutdown = Mpiplug_V1_Round()
        shutdown.id = nextRoundID
        shutdown.kind = .shutdown
        try send(shutdown)
    }

    private mutating func runRound(_ jobs: [Job], backgroundStep: Bool) throws(MPIError) {
        let live = dropExpired(jobs)
        guard !live.isEmpty || backgroundStep else { return }
        var round = Mpiplug_V1_Round()
        round.id = nextRoundID
        round.issuedUnixMilliseconds = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        nextRoundID += 1
        var positions = [(batch: Int, index: Int)?]()  // per live job, where its request sits
        var batchIndex = [String: Int]()
        for job in live {
            guard case .request(let path, let body) = job.kind else {
                positions.append(nil)
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

        health.roundStarted(replies: live.map(\.reply))
        defer { health.roundEnded() }
        let started = ContinuousClock.now
        let outcomes: [[Outcome]]
        do {
            try send(round)
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

    /// Answers jobs whose client already gave up, and returns the rest.
    private func dropExpired(_ jobs: [Job]) -> [Job] {
        let now = ContinuousClock.now
        return jobs.filter { job in
            if job.reply.isAnswered { return false }
            if let deadline = job.deadline, deadline <= now {
                job.reply.resume(.failure(ConnectError(.deadlineExceeded, "the deadline passed while the request was queued")))
                return false
            }
            return true
        }
    }

    private func send(_ round: Mpiplug_V1_Round) throws(MPIError) {
        // A Round has only strings, bytes and numbers: serialising it cannot fail.
        let bytes: [UInt8] = (try? round.serializedBytes()) ?? []
        try channel.send(bytes)
        if round.kind == .work { executor.statistics.recordRound(bytes: bytes.count) }
    }
}

/// The MPI thread of every rank but 0: waits (sleeping) for rounds and runs them until told to stop.
struct RoundFollower {
    let executor: RoundExecutor
    let channel: RoundChannel

    func run() throws(MPIError) {
        while true {
            // Between rounds, enter and drive the readiness barrier of this rank's background job.
            let bytes = try channel.receive { () throws(MPIError) in _ = try executor.background.pollReadiness() }
            guard let round = try? Mpiplug_V1_Round(serializedBytes: bytes) else {
                // Rank 0 serialised it; a failure means memory corruption or a version mix-up.
                executor.logger.critical("received an undecodable round; stopping")
                throw MPIError.invalidArgument(function: "RoundFollower", message: "undecodable round")
            }
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
