import MPI
import Testing

/// MPI can be initialised once per process, so every test shares one singleton world (size 1).
/// `.multiple` because Swift Testing may run the serialized tests on different threads, and
/// `nonisolated(unsafe)` because the suite is `.serialized`: no two tests touch MPI at once.
nonisolated(unsafe) private let environment: MPIEnvironment? = try? MPI.shared(threadLevel: .multiple)

@Suite(.serialized)
struct SingleRankTests {
    var world: Communicator {
        get throws {
            guard let environment else { throw MPIError.notInitialized(function: "test set-up") }
            return environment.world
        }
    }

    @Test func singletonWorldHasOneRank() throws {
        let world = try world
        #expect(world.size == 1)
        #expect(world.rank == 0)
        #expect(world.isRoot)
        #expect(MPI.isInitialized)
        #expect(environment?.providedThreadLevel == .multiple)
    }

    @Test func initialisingTwiceIsATypedError() {
        #expect(throws: MPIError.alreadyInitialized) { _ = try MPIEnvironment() }
    }

    @Test func collectivesOnOneRankReturnTheirInput() throws {
        let world = try world
        #expect(try world.allReduce([1.5, -2.0], .sum) == [1.5, -2.0])
        #expect(try world.allReduce(Int32(7), .maximum) == 7)
        #expect(try world.broadcast([UInt8]("hello".utf8), from: 0) == Array("hello".utf8))
        #expect(try world.allGatherVarying([Int64(1), 2, 3]).values == [1, 2, 3])
        #expect(try world.gatherVarying([Float](), root: 0)?.counts == [0])
        let exchanged = try world.allToAllVarying([Int64(4), 5], sendCounts: [2])
        #expect(exchanged.values == [4, 5])
        #expect(try world.exclusiveScan(Int64(9), .sum, identity: 0) == 0)
    }

    @Test func singleProcessCollectivesMatchMPIAtOneRank() throws {
        #expect(try Self.everyCollective(on: world) == Self.everyCollective(on: SingleProcessCollectives()))
    }

    /// The outcome of each ``Collectives`` operation, the exact sum's bits included.
    static func everyCollective(on collectives: some Collectives) throws -> [[Int64]] {
        var sum = PartitionedSum(length: 2, partitionCount: 8)
        sum.add([0.1, -3e9], partition: 5)
        sum.add([1e-7, .nan], partition: 2)
        var broadcast: [Int32] = [8, 9]
        try collectives.broadcast(&broadcast, root: 0)
        return [
            [Int64(collectives.rank), Int64(collectives.size)],
            try collectives.allToAll([Int64(1), 2], sendCounts: [2], receiveCounts: [2]).values,
            try collectives.allToAllVarying([Int64(3)], sendCounts: [1]).values,
            try collectives.allReduce([Int64(4), -5], .sum),
            [try collectives.allReduce(Int64(6), .maximum)],
            try collectives.allGatherVarying([Int64(7)]).values,
            broadcast.map(Int64.init),
            try collectives.broadcast([Int64(10), 11], from: 0),
            [try collectives.broadcast(Int64(12), from: 0)],
            [try collectives.exclusiveScan(Int64(13), .sum, identity: 0)],
            [try collectives.agree(failed: true) ? 1 : 0, try collectives.agree(failed: false) ? 1 : 0],
            try collectives.exactTotal(of: sum).map { Int64(bitPattern: $0.bitPattern) },
        ]
    }

    @Test func pollingWaitModeGivesTheSameResults() throws {
        let duplicate = try world.duplicate()
        duplicate.waitMode = .polling(Backoff(spins: 1, initialSleepMicroseconds: 1, maximumSleepMicroseconds: 10))
        #expect(try duplicate.allReduce([Int64(3)], .sum) == [3])
        #expect(try duplicate.allToAll([Float(1)]) == [1])
        try duplicate.barrier()
    }

    @Test(arguments: [-1, 1, 5])
    func rootOutsideTheCommunicatorIsRefusedBeforeMPI(root: Int) throws {
        let world = try world
        #expect(throws: MPIError.self) { _ = try world.broadcast([1.0], from: root) }
        do {
            _ = try world.gather([Int32(1)], root: root)
            Issue.record("gather with root \(root) did not throw")
        } catch {
            guard case let .invalidArgument(function, message) = error else {
                Issue.record("expected invalidArgument, got \(error)")
                return
            }
            #expect(function == "MPI_Gather")
            #expect(message.contains("root \(root)"))
        }
    }

    @Test func countChecksNameTheProblem() throws {
        let world = try world
        do {
            _ = try world.allToAllVarying([Int32](repeating: 0, count: 3), sendCounts: [2])
            Issue.record("mismatched send counts were accepted")
        } catch {
            #expect(error.description.contains("send counts add up to 2 but 3 values were given"))
        }
        do {
            _ = try world.allToAllVarying([Int32](), sendCounts: [0, 0])
            Issue.record("two counts for one rank were accepted")
        } catch {
            #expect(error.description.contains("one send count per rank (1) but got 2"))
        }
        var result = [Double](repeating: 0, count: 3)
        #expect(throws: MPIError.self) { try world.allReduce([1.0], into: &result, .sum) }
        #expect(throws: MPIError.self) { _ = try world.allGather([Int32(1)], counts: [-1]) }
        #expect(throws: MPIError.self) { _ = try world.gather([Int32(1)], counts: [2], root: 0) }
    }

    @Test func splitWithNoColourLeavesTheRankOut() throws {
        let world = try world
        #expect(try world.split(color: nil) == nil)
        let alone = try #require(try world.split(color: 3))
        #expect(alone.size == 1)
    }

    @Test func nonblockingOperationsCompleteAndKeepTheirData() throws {
        let world = try world
        let pending = try world.startBroadcast([Int64(1), 2, 3], root: 0)
        #expect(try pending.wait() == [1, 2, 3])
        #expect(pending.isComplete)
        let barrier = try world.startBarrier()
        try barrier.wait()
        #expect(try barrier.test())
    }

    @Test func rankBlocksSliceByRank() {
        let blocks = RankBlocks(values: [1, 2, 3, 4, 5, 6], counts: [0, 2, 4])
        #expect(blocks.offsets == [0, 0, 2])
        #expect(Array(blocks[0]) == [])
        #expect(Array(blocks[1]) == [1, 2])
        #expect(Array(blocks[2]) == [3, 4, 5, 6])
        #expect(blocks.arrays == [[], [1, 2], [3, 4, 5, 6]])
    }

    @Test func backoffWaitsUntilDone() {
        var calls = 0
        Backoff(spins: 2, initialSleepMicroseconds: 1, maximumSleepMicroseconds: 4).wait { () -> Bool in
            calls += 1
            return calls == 6
        }
        #expect(calls == 6)
    }
}
