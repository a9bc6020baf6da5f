@testable import MPIPlug
import MPIPlugProtos
import Synchronization
import Testing

struct RoundQueueTests {
    @Test func takesUpToTheLimitInArrivalOrder() async {
        let queue = RoundQueue()
        let outcomes = await withTaskGroup(of: Int64.self) { group in
            for value in 0..<5 {
                group.addTask { await Self.submitEcho(value: Int64(value), to: queue) }
            }
            // Wait until all five are queued, then answer them in two rounds of at most three.
            while queue.depth < 5 { await Task.yield() }
            let first = queue.take(limit: 3, timeout: .milliseconds(10)) ?? []
            let second = queue.take(limit: 3, timeout: .milliseconds(10)) ?? []
            #expect(first.count == 3)
            #expect(second.count == 2)
            for job in first + second {
                guard case .request(_, let body) = job.kind,
                      let request = try? Mpiplug_V1_EchoRequest(serializedBytes: body)
                else { continue }
                job.reply.resume(.success(Mpiplug_V1_EchoResponse.with { $0.checksum = request.value * 10 }))
            }
            var values = [Int64]()
            for await value in group { values.append(value) }
            return values.sorted()
        }
        #expect(outcomes == [0, 10, 20, 30, 40])
    }

    @Test func emptyQueueTimesOutAndClosedQueueEnds() {
        let queue = RoundQueue()
        #expect(queue.take(limit: 10, timeout: .milliseconds(5))?.isEmpty == true)
        queue.close(reason: ConnectError(.unavailable, "closing"))
        #expect(queue.take(limit: 10, timeout: .milliseconds(5)) == nil)
    }

    @Test func closedQueueRefusesWorkWithTheReason() async {
        let queue = RoundQueue()
        queue.close(reason: ConnectError(.unavailable, "shutting down"))
        let outcome = await withCheckedContinuation { continuation in
            let reply = Reply(continuation)
            if let refusal = queue.submit(Job(kind: .ping, reply: reply, deadline: nil, enqueued: .now)) {
                reply.resume(.failure(refusal))
            }
        }
        guard case .failure(let error) = outcome else {
            Issue.record("a closed queue accepted work")
            return
        }
        #expect(error.code == .unavailable)
        #expect(error.message == "shutting down")
    }

    @Test func aReplyIsAnsweredOnlyOnceAndDeadlinesAnswerFirst() async {
        let outcome = await withCheckedContinuation { continuation in
            let reply = Reply(continuation)
            reply.expire(at: .now + .milliseconds(20))
            // Nobody else answers: the deadline must.
            #expect(!reply.isAnswered)
        }
        guard case .failure(let error) = outcome else {
            Issue.record("the deadline did not answer")
            return
        }
        #expect(error.code == .deadlineExceeded)

        let first = await withCheckedContinuation { continuation in
            let reply = Reply(continuation)
            reply.expire(at: .now + .seconds(60))
            reply.resume(.success(Mpiplug_V1_EchoResponse.with { $0.message = "first" }))
            reply.resume(.failure(.internalError))  // ignored
            #expect(reply.isAnswered)
        }
        #expect((try? first.get() as? Mpiplug_V1_EchoResponse)?.message == "first")
    }

    /// A reply seen without keeping it alive.
    private final class WeakReply: @unchecked Sendable {
        weak var reply: Reply?
        init(_ reply: Reply) { self.reply = reply }
    }

    @Test func takenJobsAreReleasedWhileOthersStillWait() async throws {
        // Sustained load: each round takes one batch while the next is already waiting, so the queue
        // never drains. Every answered job (its reply and its 64 KiB body) must be freed all the same.
        let queue = RoundQueue()
        let batchSize = 50, rounds = 20
        final class Tally: Sendable {
            let seen = Mutex<[WeakReply]>([])
            let finished = Mutex(0)
        }
        let tally = Tally()
        let body = [UInt8](repeating: 7, count: 64 * 1024)
        func submitBatch(_ group: inout TaskGroup<Void>) {
            for _ in 0..<batchSize {
                group.addTask {
                    _ = await withCheckedContinuation { continuation in
                        let reply = Reply(continuation)
                        tally.seen.withLock { $0.append(WeakReply(reply)) }
                        _ = queue.submit(Job(kind: .request(path: "/p", body: body), reply: reply, deadline: nil, enqueued: .now))
                    }
                    tally.finished.withLock { $0 += 1 }
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            submitBatch(&group)
            for round in 1...rounds {
                submitBatch(&group)
                while queue.depth < 2 * batchSize { await Task.yield() }
                let taken = queue.take(limit: batchSize, timeout: .milliseconds(10)) ?? []
                #expect(taken.count == batchSize)
                for job in taken { job.reply.resume(.success(Mpiplug_V1_EchoResponse())) }
                #expect(queue.depth == batchSize, "round \(round) left the next batch waiting")
            }
            let answered = rounds * batchSize
            for _ in 0..<2_000 where tally.finished.withLock({ $0 }) < answered { try? await Task.sleep(for: .milliseconds(1)) }
            let alive = tally.seen.withLock { $0.prefix(answered).filter { $0.reply != nil }.count }
            #expect(alive == 0, "\(alive) of \(answered) answered jobs are still held by the queue")
            for job in queue.take(limit: batchSize, timeout: .milliseconds(10)) ?? [] {
                job.reply.resume(.success(Mpiplug_V1_EchoResponse()))
            }
        }
    }

    private static func submitEcho(value: Int64, to queue: RoundQueue) async -> Int64 {
        let body: [UInt8] = (try? Mpiplug_V1_EchoRequest.with { $0.value = value }.serializedBytes()) ?? []
        let outcome = await withCheckedContinuation { continuation in
            let reply = Reply(continuation)
            _ = queue.submit(Job(kind: .request(path: "/echo", body: body), reply: reply, deadline: nil, enqueued: .now))
        }
        return (try? outcome.get() as? Mpiplug_V1_EchoResponse)?.checksum ?? -1
    }
}
