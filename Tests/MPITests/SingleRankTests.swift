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
