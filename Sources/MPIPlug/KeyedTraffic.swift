import Foundation
import Logging
import MPI
import MPIPlugProtos
import SwiftProtobuf
import Synchronization

/// The point-to-point side of keyed routes, on one rank's MPI thread.
///
/// As an *owner* (every rank) it answers the keyed requests front doors send it, running the route's
/// handler on them alone. As a *door* it sends each queued keyed job's parts to their owners (running
/// its own share at once), and answers the job once every part's answer is back. A keyed request
/// therefore reaches its owner and no other rank, and no rank waits for any other but the owner.
///
/// A door other than rank 0 also *forwards* the calls of collective routes (and its health pings) to
/// rank 0, which queues them for a round as if they had come to its own door and sends the answers
/// back when the round has run.
///
/// Messages travel on a communicator of their own, so they never match a round's collectives; MPI
/// keeps the messages between two ranks in order, so an owner sees one door's requests in the order
/// the door sent them.
final class KeyedTraffic {
    static let requestTag = 1
    static let answerTag = 2
    /// The messages a door keeps in flight to one owner. More parts wait in the owner's backlog on
    /// the door, so a stopped owner holds a few messages, not the whole stream of its users' requests.
    static let messagesInFlightPerOwner = 4

    private let communicator: Communicator
    private let routes: [String: KeyedHandling]
    /// How a door reads rank 0's answers to the calls it forwarded, by path ("" for a ping).
    private let forwardedAnswerDecoders: [String: AnswerDecoder]
    /// Rank 0 only: queues a forwarded call for a round (nil elsewhere: no other rank runs rounds).
    private let roundIntake: (@Sendable (Job) -> ConnectError?)?
    /// Forwarded calls rank 0 has answered, waiting for their message back to the door.
    private let forwardedAnswers: ForwardedAnswers
    private let logger: Logger
    private let statistics: RoundStatistics
    /// The door's health, told which messages are in flight (nil on ranks without a door).
    private let health: ServiceHealth?
    /// The most requests and bytes one message carries (the round limits).
    private let maximumBatchSize: Int
    private let maximumMessageBytes: Int
    /// The most parts waiting on the door for one owner; beyond it, `resource_exhausted`.
    private let maximumBacklog: Int

    /// Sends MPI still reads the buffers of.
    private var sends: [PendingOperation<UInt8>] = []
    private var nextMessageID: UInt64 = 1
    private var inFlight: [UInt64: SentMessage] = [:]
    private var inFlightCount: [Int]
    private var backlog: [[PendingPart]]

    /// - Parameters:
    ///   - forwardedAnswerDecoders: for a door other than rank 0, how to read the answers to the calls
    ///     it forwards (every collective route's, by path).
    ///   - roundIntake: on rank 0, puts a forwarded call in the round queue (returns why not);
    ///     `wake` wakes the MPI thread when a forwarded call has been answered from another thread.
    init(
        communicator: Communicator, routes: [String: KeyedHandling], logger: Logger, statistics: RoundStatistics,
        health: ServiceHealth?, maximumBatchSize: Int, maximumMessageBytes: Int, maximumBacklog: Int,
        forwardedAnswerDecoders: [String: AnswerDecoder] = [:],
        roundIntake: (@Sendable (Job) -> ConnectError?)? = nil, wake: @escaping @Sendable () -> Void = {}
    ) {
        self.communicator = communicator
        self.routes = routes
        var decoders = forwardedAnswerDecoders
        decoders[Self.pingPath] = { answer in answer.result(as: Mpiplug_V1_GetClusterStatusRequest.self).map { $0 as any Message } }
        self.forwardedAnswerDecoders = decoders
        self.roundIntake = roundIntake
        forwardedAnswers = ForwardedAnswers(wake: wake)
        self.logger = logger
        self.statistics = statistics
        self.health = health
        self.maximumBatchSize = max(1, maximumBatchSize)
        self.maximumMessageBytes = maximumMessageBytes
        self.maximumBacklog = max(1, maximumBacklog)
        inFlightCount = Array(repeating: 0, count: communicator.size)
        backlog = Array(repeating: [], count: communicator.size)
    }

    /// Whether the door waits for any owner's answer or holds parts not yet sent, or rank 0 holds
    /// answers to forwarded calls not yet sent back.
    var isWaiting: Bool { !inFlight.isEmpty || backlog.contains { !$0.isEmpty } || !forwardedAnswers.isEmpty }

    /// The path a forwarded ping travels under (no route has it).
    static let pingPath = ""

    // MARK: Door

    /// Sends every part of `jobs` (all `.keyed`) to its owner, or runs it here when this rank owns it.
    func dispatch(_ jobs: [Job]) {
        var local = [String: [PendingPart]]()
        var localOrder = [String]()
        for job in jobs {
            guard case .keyed(let path, let parts) = job.kind, routes[path] != nil else {
                job.reply.resume(.failure(ConnectError(.internal, "not a keyed route")))
                continue
            }
            let call = KeyedCall(job: job, path: path, positions: parts.map(\.positions))
            for (index, part) in parts.enumerated() {
                let pending = PendingPart(call: call, index: index, body: part.body)
                if part.owner == communicator.rank {
                    if local[path] == nil { localOrder.append(path) }
                    local[path, default: []].append(pending)
                } else if backlog[part.owner].count >= maximumBacklog {
                    pending.deliver(.failure(Self.backlogFull(owner: part.owner, limit: maximumBacklog)), routes: routes)
                } else {
                    backlog[part.owner].append(pending)
                }
            }
        }
        for path in localOrder { runHere(local[path] ?? [], path: path) }
        sendBacklogs()
    }

    private static func backlogFull(owner: Int, limit: Int) -> ConnectError {
        var error = ConnectError(
            .resourceExhausted, "rank \(owner) is behind: \(limit) requests for its users are already waiting; retry later")
        error.retryAfterSeconds = RoundQueue.retryAfterSeconds
        return error
    }

    /// Sends `jobs` (calls of collective routes, and pings) to rank 0 to be run in a round there; each
    /// is answered when rank 0's answer comes back. On a door other than rank 0.
    func forward(_ jobs: [Job]) {
        for job in jobs {
            let path: String
            let body: [UInt8]
            switch job.kind {
            case .request(let requestPath, let requestBody): (path, body) = (requestPath, requestBody)
            case .ping: (path, body) = (Self.pingPath, [])
            case .keyed: dispatch([job]); continue
            }
            let part = PendingPart(call: KeyedCall(job: job, path: path, positions: [nil]), index: 0, body: body)
            // Not counted against rank 0's window for its own users' keyed requests: a forwarded call
            // waits for a round, and the door's and rank 0's queues already bound how many there are.
            send((path, [part]), to: 0, forwarding: Forwarding(deadline: job.deadline))
        }
    }

    /// Runs parts this rank owns, on this thread.
    private func runHere(_ parts: [PendingPart], path: String) {
        guard let route = routes[path], !parts.isEmpty else { return }
        let started = ContinuousClock.now
        let results = execute(route, parts.map(\.body), path: path, issuedUnixMilliseconds: Self.nowUnixMilliseconds)
        statistics.recordKeyed(requests: parts.count, bytes: 0, seconds: (ContinuousClock.now - started).seconds)
        for (part, result) in zip(parts, results) { part.deliver(result, routes: routes) }
    }

    /// Sends what waits for each owner, up to ``messagesInFlightPerOwner`` messages each.
    private func sendBacklogs() {
        for owner in backlog.indices where !backlog[owner].isEmpty {
            // Parts whose client stopped waiting are dropped here rather than sent.
            backlog[owner].removeAll { $0.call.job.reply.isAnswered }
            while inFlightCount[owner] < Self.messagesInFlightPerOwner, !backlog[owner].isEmpty {
                send(takeMessage(for: owner), to: owner)
            }
        }
    }

    /// Takes from `owner`'s backlog the parts of one message: of the first part's route, in order,
    /// up to the batch size and byte budget (always at least one part).
    private func takeMessage(for owner: Int) -> (path: String, parts: [PendingPart]) {
        let path = backlog[owner][0].call.path
        var taken = [PendingPart]()
        var kept = [PendingPart]()
        var bytes = 0
        for part in backlog[owner] {
            let fits = taken.isEmpty || (taken.count < maximumBatchSize && bytes + part.body.count + Job.framingBytes <= maximumMessageBytes)
            if part.call.path == path, fits {
                taken.append(part)
                bytes += part.body.count + Job.framingBytes
            } else {
                kept.append(part)
            }
        }
        backlog[owner] = kept
        return (path, taken)
    }

    /// A message's being a forwarded call for a round on rank 0, with its client's deadline.
    private struct Forwarding {
        let deadline: ContinuousClock.Instant?
    }

    /// Sends one message: keyed requests for the owner's users, or with `forwarding` a forwarded call.
    private func send(_ message: (path: String, parts: [PendingPart]), to owner: Int, forwarding: Forwarding? = nil) {
        let id = nextMessageID
        nextMessageID += 1
        var requests = Mpiplug_V1_KeyedRequests()
        requests.id = id
        requests.path = message.path
        requests.issuedUnixMilliseconds = Self.nowUnixMilliseconds
        requests.requests = message.parts.map { Data($0.body) }
        let isForwarded = forwarding != nil
        if let forwarding {
            requests.forwarded = true
            if let deadline = forwarding.deadline {
                requests.timeoutMilliseconds = UInt32(clamping: max(1, (deadline - .now).nanoseconds / 1_000_000))
            }
        }
        do {
            let bytes: [UInt8] = try requests.serializedBytes()
            sends.append(try communicator.startSend(bytes, to: owner, tag: Self.requestTag))
        } catch {
            logger.error("could not send keyed requests", metadata: ["owner": "\(owner)", "error": "\(error)"])
            for part in message.parts { part.deliver(.failure(ConnectError(.unavailable, "rank \(owner) could not be reached")), routes: routes) }
            return
        }
        inFlight[id] = SentMessage(owner: owner, parts: message.parts, isForwarded: isForwarded)
        if !isForwarded { inFlightCount[owner] += 1 }
        health?.keyedMessageSent(id: id, replies: message.parts.map(\.call.job.reply))
    }

    // MARK: Polling

    /// Answers the keyed requests that arrived (as an owner), takes in the answers that arrived (as a
    /// door), and sends what waited for their owners. Never blocks. Returns whether there was any.
    @discardableResult
    func poll() throws(MPIError) -> Bool {
        var didWork = sendForwardedAnswers()
        sends.removeAll { (try? $0.test()) ?? true }
        // A bounded number of each per call, so that a flood of one kind cannot starve the other.
        for _ in 0..<64 {
            guard let probed = try communicator.probe(tag: Self.requestTag) else { break }
            answer(try communicator.receive(probed, tag: Self.requestTag), from: probed.source)
            didWork = true
        }
        for _ in 0..<64 {
            guard let probed = try communicator.probe(tag: Self.answerTag) else { break }
            takeAnswers(try communicator.receive(probed, tag: Self.answerTag), from: probed.source)
            didWork = true
        }
        if didWork { sendBacklogs() }
        return didWork
    }

    // MARK: Owner

    /// Runs a door's requests and sends the answers back.
    private func answer(_ bytes: [UInt8], from door: Int) {
        let started = ContinuousClock.now
        var answers = Mpiplug_V1_KeyedAnswers()
        let decoded = try? Mpiplug_V1_KeyedRequests(serializedBytes: bytes)
        if let requests = decoded, requests.forwarded {
            queueForRound(requests, from: door)
            return
        }
        if let requests = decoded {
            answers.id = requests.id
            let results: [RouteResult<any Message>]
            if let route = routes[requests.path] {
                results = execute(route, requests.requests.map { Array($0) }, path: requests.path, issuedUnixMilliseconds: requests.issuedUnixMilliseconds)
            } else {
                results = Array(repeating: .failure(ConnectError(.unimplemented, "no keyed route \(requests.path)")), count: requests.requests.count)
            }
            answers.answers = results.enumerated().map { index, result in
                (try? Mpiplug_V1_Answer(index: index, result: result)) ?? .with { $0.index = UInt32(index) }
            }
            statistics.recordKeyed(requests: requests.requests.count, bytes: bytes.count, seconds: (ContinuousClock.now - started).seconds)
        } else {
            // A door serialised it; a failure means a version mix-up. Answered empty, so the door's
            // requests fail with `internal` instead of waiting for ever.
            logger.error("received undecodable keyed requests", metadata: ["door": "\(door)"])
        }
        send(answers, to: door)
    }

    private func send(_ answers: Mpiplug_V1_KeyedAnswers, to door: Int) {
        do {
            let encoded: [UInt8] = try answers.serializedBytes()
            sends.append(try communicator.startSend(encoded, to: door, tag: Self.answerTag))
        } catch {
            logger.error("could not send keyed answers", metadata: ["door": "\(door)", "error": "\(error)"])
        }
    }

    // MARK: Rank 0, forwarded calls

    /// Queues a door's forwarded call for a round on rank 0; its answer goes back once the round ran
    /// it (or the queue refused it, or its deadline passed).
    private func queueForRound(_ requests: Mpiplug_V1_KeyedRequests, from door: Int) {
        let call = ForwardedCall(id: requests.id, door: door, count: requests.requests.count, outbox: forwardedAnswers)
        guard let roundIntake else {
            for index in requests.requests.indices {
                call.record(.failure(ConnectError(.internal, "rank \(communicator.rank) runs no rounds")), at: index)
            }
            return
        }
        let deadline = requests.timeoutMilliseconds == 0 ? nil : ContinuousClock.now + .milliseconds(Int64(requests.timeoutMilliseconds))
        for (index, body) in requests.requests.enumerated() {
            let reply = Reply { outcome in call.record(outcome, at: index) }
            let kind: Job.Kind = requests.path == Self.pingPath ? .ping : .request(path: requests.path, body: Array(body))
            if let refusal = roundIntake(Job(kind: kind, reply: reply, deadline: deadline, enqueued: .now)) {
                reply.resume(.failure(refusal))
            }
        }
    }

    /// Sends the doors the answers of the forwarded calls that are complete. Returns whether any.
    private func sendForwardedAnswers() -> Bool {
        let complete = forwardedAnswers.takeAll()
        for call in complete {
            var answers = Mpiplug_V1_KeyedAnswers()
            answers.id = call.id
            answers.answers = call.results.enumerated().map { index, result in
                (try? Mpiplug_V1_Answer(index: index, result: result)) ?? .with { $0.index = UInt32(index) }
            }
            send(answers, to: call.door)
        }
        return !complete.isEmpty
    }

    /// Runs `route`'s handler; `internal` for every request when it throws (it is not collective, so
    /// no other rank is out of step).
    private func execute(
        _ route: KeyedHandling, _ requests: [[UInt8]], path: String, issuedUnixMilliseconds: Int64
    ) -> [RouteResult<any Message>] {
        let context = KeyedContext(
            rank: communicator.rank, size: communicator.size, issuedUnixMilliseconds: issuedUnixMilliseconds, logger: logger)
        do {
            return try route.execute(requests, context)
        } catch {
            logger.error("keyed route handler threw", metadata: ["route": "\(path)", "error": "\(error)"])
            return Array(repeating: .failure(.internalError), count: requests.count)
        }
    }

    // MARK: Door, answers

    private func takeAnswers(_ bytes: [UInt8], from owner: Int) {
        guard let answers = try? Mpiplug_V1_KeyedAnswers(serializedBytes: bytes),
            let message = inFlight.removeValue(forKey: answers.id)
        else {
            logger.error("received keyed answers for no message in flight", metadata: ["owner": "\(owner)"])
            return
        }
        if !message.isForwarded { inFlightCount[message.owner] -= 1 }
        health?.keyedMessageAnswered(id: answers.id)
        var byIndex = [Int: Mpiplug_V1_Answer]()
        for answer in answers.answers { byIndex[Int(answer.index)] = answer }
        for (index, part) in message.parts.enumerated() {
            let decode: AnswerDecoder? =
                message.isForwarded ? forwardedAnswerDecoders[part.call.path] : routes[part.call.path]?.decodeAnswer
            let result: Outcome = byIndex[index].flatMap { answer in decode.map { $0(answer) } } ?? .failure(.internalError)
            part.deliver(result, routes: routes)
        }
    }

    /// Answers every job still waiting with `error` (the service is stopping or broken).
    func abandonAll(_ error: ConnectError) {
        for message in inFlight.values { for part in message.parts { part.call.job.reply.resume(.failure(error)) } }
        for parts in backlog { for part in parts { part.call.job.reply.resume(.failure(error)) } }
        inFlight.removeAll()
        backlog = backlog.map { _ in [] }
    }

    private static var nowUnixMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// Reads an answer another rank sent back into the route's response type.
typealias AnswerDecoder = @Sendable (Mpiplug_V1_Answer) -> RouteResult<any Message>

/// A keyed message a door sent and waits on.
private struct SentMessage {
    let owner: Int
    let parts: [PendingPart]
    /// A call forwarded to rank 0 for a round, not keyed requests.
    let isForwarded: Bool
}

/// A call a door forwarded to rank 0: its requests' outcomes, recorded from whichever thread answers
/// them (the MPI thread after the round, or the watchdog abandoning it), and put in the outbox once
/// complete.
private final class ForwardedCall: Sendable {
    let id: UInt64
    let door: Int
    private let outcomes: Mutex<(results: [Outcome?], remaining: Int)>
    private let outbox: ForwardedAnswers

    init(id: UInt64, door: Int, count: Int, outbox: ForwardedAnswers) {
        self.id = id
        self.door = door
        outcomes = Mutex((Array(repeating: nil, count: count), count))
        self.outbox = outbox
        if count == 0 { outbox.add(CompletedCall(id: id, door: door, results: [])) }
    }

    func record(_ outcome: Outcome, at index: Int) {
        let complete = outcomes.withLock { state -> [Outcome]? in
            guard state.results.indices.contains(index), state.results[index] == nil else { return nil }
            state.results[index] = outcome
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0 ?? .failure(.internalError) } : nil
        }
        if let complete { outbox.add(CompletedCall(id: id, door: door, results: complete)) }
    }
}

/// A forwarded call whose every request has its outcome.
private struct CompletedCall: Sendable {
    let id: UInt64
    let door: Int
    let results: [Outcome]
}

/// Forwarded calls answered and waiting for the MPI thread to send them back.
private final class ForwardedAnswers: Sendable {
    private let complete = Mutex<[CompletedCall]>([])
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void) { self.wake = wake }

    var isEmpty: Bool { complete.withLock { $0.isEmpty } }

    func add(_ call: CompletedCall) {
        complete.withLock { $0.append(call) }
        wake()
    }

    func takeAll() -> [CompletedCall] { complete.withLock { calls in defer { calls = [] }; return calls } }
}

/// One part of a keyed job, waiting on the door to be sent or answered.
private struct PendingPart {
    let call: KeyedCall
    /// The part's place among its job's parts.
    let index: Int
    let body: [UInt8]

    func deliver(_ result: RouteResult<any Message>, routes: [String: KeyedHandling]) {
        call.deliver(result, part: index, merge: routes[call.path]?.merge)
    }
}

/// One keyed job on its door: the answers of its parts so far.
private final class KeyedCall {
    let job: Job
    let path: String
    /// Each part's element positions (nil when the request went whole).
    let positions: [[Int]?]
    private var results: [RouteResult<any Message>?]
    private var remaining: Int

    init(job: Job, path: String, positions: [[Int]?]) {
        self.job = job
        self.path = path
        self.positions = positions
        results = Array(repeating: nil, count: positions.count)
        remaining = positions.count
    }

    /// Records a part's answer; with the last one, answers the job (merging a split request's parts).
    func deliver(_ result: RouteResult<any Message>, part: Int, merge: KeyedHandling.Merge?) {
        guard results.indices.contains(part), results[part] == nil else { return }
        results[part] = result
        remaining -= 1
        guard remaining == 0 else { return }
        let answered = results.map { $0 ?? .failure(.internalError) }
        guard let merge, positions.allSatisfy({ $0 != nil }) else {
            job.reply.resume(answered.first ?? .failure(.internalError))
            return
        }
        job.reply.resume(merge(zip(positions, answered).map { (positions: $0 ?? [], result: $1) }))
    }
}
