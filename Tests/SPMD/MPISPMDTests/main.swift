// SPMD tests of the MPI bindings. Run under mpirun at 1, 2, 3 and 4 ranks; every rank runs every test.
import MPI
import SPMDTesting
#if canImport(Glibc)
import Glibc
#endif

let status = MPI.run(threadLevel: .funneled) { environment -> Int32 in
    let world = environment.world
    let suite = SPMDSuite(name: "mpi", world: world)
    let rank = world.rank
    let size = world.size

    suite.test("environment") {
        suite.expect(environment.providedThreadLevel >= .funneled, "granted \(environment.providedThreadLevel)")
        suite.expect(try !environment.processorName.isEmpty, "processor name is empty")
        suite.expect((0..<size).contains(rank))
        suite.expect(MPI.isInitialized)
    }

    for mode in [WaitMode.blocking, .polling(Backoff(spins: 4, initialSleepMicroseconds: 5, maximumSleepMicroseconds: 200))] {
        world.waitMode = mode
        let tag = mode == .blocking ? "blocking" : "polling"
        runCollectiveTests(suite, world, tag: tag)
    }
    world.waitMode = .blocking

    suite.test("nonblocking barrier and broadcast with backoff") {
        let barrier = try world.startBarrier()
        try barrier.wait()
        suite.expect(try barrier.test())
        for root in 0..<size {
            let payload = rank == root ? [Int64(root), 42, -7] : [0, 0, 0]
            let pending = try world.startBroadcast(payload, root: root)
            let received = try pending.wait(backoff: .idle)
            suite.expectEqual(received, [Int64(root), 42, -7])
        }
    }

    suite.test("duplicated communicator has its own message space") {
        let duplicate = try world.duplicate()
        suite.expectEqual(duplicate.size, size)
        suite.expectEqual(duplicate.rank, rank)
        // A broadcast pending on the world does not match a broadcast on the duplicate.
        let pending = try world.startBroadcast(rank == 0 ? [Int32(11)] : [Int32(0)], root: 0)
        let onDuplicate = try duplicate.broadcast(rank == size - 1 ? Int32(22) : 0, from: size - 1)
        suite.expectEqual(onDuplicate, 22)
        suite.expectEqual(try pending.wait(), [11])
        suite.expectEqual(try duplicate.allReduce(Int64(1), .sum), Int64(size))
        let copyOfCopy = try duplicate.duplicate()
        suite.expectEqual(try copyOfCopy.allReduce(Int32(rank), .maximum), Int32(size - 1))
    }

    suite.test("split into even and odd ranks") {
        guard let half = try world.split(color: rank % 2, key: -rank) else {
            suite.expect(false, "split returned nil for a colour")
            return
        }
        let expectedSize = (size + 1 - rank % 2) / 2
        suite.expectEqual(half.size, expectedSize)
        // key = -rank reverses the order inside each half.
        let members = try half.allGather([Int32(rank)])
        suite.expectEqual(members, members.sorted(by: >))
        suite.expect(members.allSatisfy { Int($0) % 2 == rank % 2 })
        let none = try world.split(color: rank == 0 ? nil : 0)
        suite.expectEqual(none == nil, rank == 0)
        if let none { suite.expectEqual(none.size, size - 1) }
    }

    suite.test("exclusive scan gives global offsets") {
        let offset = try world.exclusiveScan(Int64(rank + 1), .sum, identity: 0)
        suite.expectEqual(offset, Int64(rank * (rank + 1) / 2))
    }

    suite.test("large buffers: 32 MiB allreduce and alltoallv") {
        let count = 4 * 1024 * 1024
        let reduced = try world.allReduce([Double](repeating: Double(rank + 1), count: count), .sum)
        let expected = Double(size * (size + 1) / 2)
        suite.expect(reduced.allSatisfy { $0 == expected }, "large allreduce")
        let perRank = count / size
        var send = [Int64]()
        send.reserveCapacity(perRank * size)
        for destination in 0..<size { send += [Int64](repeating: Int64(rank * 100 + destination), count: perRank) }
        let received = try world.allToAllVarying(send, sendCounts: Array(repeating: perRank, count: size))
        for source in 0..<size {
            suite.expect(received[source].allSatisfy { $0 == Int64(source * 100 + rank) }, "block from \(source)")
        }
    }

    suite.test("arguments are checked in Swift before MPI is called") {
        let isInvalid: (MPIError) -> Bool = { if case .invalidArgument = $0 { return true } else { return false } }
        suite.expectThrows(MPIError.self, { () throws(MPIError) in _ = try world.broadcast([1.0], from: size) }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in _ = try world.gather([Int32(1)], root: -1) }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in
            _ = try world.allToAllVarying([Int32](repeating: 0, count: 3), sendCounts: [3] + [Int](repeating: 0, count: size))
        }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in
            _ = try world.allToAll([Int32](repeating: 0, count: size + 1), sendCounts: [Int](repeating: 1, count: size),
                                   receiveCounts: [Int](repeating: 1, count: size))
        }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in
            var into = [Float](repeating: 0, count: 2)
            try world.allReduce([Float(1)], into: &into, .sum)
        }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in
            _ = try world.allGather([Int32(1), 2], counts: [Int](repeating: 1, count: size))
        }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in
            _ = try world.allGather([Int32](), counts: [Int](repeating: -1, count: size))
        }, matches: isInvalid)
        suite.expectThrows(MPIError.self, { () throws(MPIError) in _ = try world.split(color: -2) }, matches: isInvalid)
        if size > 1 {
            suite.expectThrows(MPIError.self, { () throws(MPIError) in _ = try world.allToAll([Int32](repeating: 0, count: size + 1)) },
                               matches: isInvalid)
        }
    }

    return suite.finish()
}
exit(status)

/// Every collective, with uneven and zero counts, in the communicator's current wait mode.
func runCollectiveTests(_ suite: SPMDSuite, _ world: Communicator, tag: String) {
    let rank = world.rank
    let size = world.size

    suite.test("\(tag): barrier") { try world.barrier() }

    suite.test("\(tag): broadcast typed arrays from every root") {
        for root in 0..<size {
            var floats: [Float] = rank == root ? [1.5, -2.25, Float(root)] : [0, 0, 0]
            try world.broadcast(&floats, root: root)
            suite.expectEqual(floats, [1.5, -2.25, Float(root)])
            var doubles: [Double] = rank == root ? [.pi, Double(root)] : [0, 0]
            try world.broadcast(&doubles, root: root)
            suite.expectEqual(doubles, [.pi, Double(root)])
            var int32s: [Int32] = rank == root ? [Int32.min, Int32(root)] : [0, 0]
            try world.broadcast(&int32s, root: root)
            suite.expectEqual(int32s, [Int32.min, Int32(root)])
            var int64s: [Int64] = rank == root ? [Int64.max, Int64(root)] : [0, 0]
            try world.broadcast(&int64s, root: root)
            suite.expectEqual(int64s, [Int64.max, Int64(root)])
        }
    }

    suite.test("\(tag): broadcast bytes of a length only the root knows") {
        for root in 0..<size {
            let message = Array("from rank \(root) of \(size)".utf8)
            let received = try world.broadcast(rank == root ? message : [], from: root)
            suite.expectEqual(received, message)
            let empty = try world.broadcast(rank == root ? [UInt8]() : [1, 2, 3], from: root)
            suite.expectEqual(empty, [])
            suite.expectEqual(try world.broadcast(rank == root ? 3.25 : 0.0, from: root), 3.25)
        }
    }

    suite.test("\(tag): allreduce sum, min, max over Float, Double, Int32, Int64") {
        let r = rank + 1
        let n = size
        let sum = n * (n + 1) / 2
        suite.expectEqual(try world.allReduce(Float(r), .sum), Float(sum))
        suite.expectEqual(try world.allReduce(Double(r), .minimum), 1)
        suite.expectEqual(try world.allReduce(Int32(r), .maximum), Int32(n))
        suite.expectEqual(try world.allReduce(Int64(r) << 40, .sum), Int64(sum) << 40)
        suite.expectEqual(try world.allReduce([Double(r), -Double(r)], .maximum), [Double(n), -1])
        suite.expectEqual(try world.allReduce([Int32(r), Int32(-r)], .minimum), [1, Int32(-n)])
        var inPlace: [Int64] = [Int64(r), 1, 0]
        try world.allReduce(inPlace: &inPlace, .sum)
        suite.expectEqual(inPlace, [Int64(sum), Int64(n), 0])
        var into = [Float](repeating: -1, count: 2)
        try world.allReduce([Float(r), 0.5], into: &into, .sum)
        suite.expectEqual(into, [Float(sum), 0.5 * Float(n)])
        var empty = [Double]()
        try world.allReduce(inPlace: &empty, .sum)
        suite.expectEqual(empty, [])
        let reduced = try world.reduce([Int32(r)], .sum, root: size - 1)
        suite.expectEqual(reduced, rank == size - 1 ? [Int32(sum)] : nil)
    }

    suite.test("\(tag): gather and gatherv with uneven and zero counts") {
        for root in 0..<size {
            let gathered = try world.gather([Int32(rank), Int32(rank * 10)], root: root)
            if rank == root {
                suite.expectEqual(gathered, (0..<size).flatMap { [Int32($0), Int32($0 * 10)] })
            } else {
                suite.expect(gathered == nil)
            }
            // Rank r sends r values: rank 0 sends none.
            let mine = (0..<rank).map { Double(rank * 100 + $0) }
            let varying = try world.gatherVarying(mine, root: root)
            if rank == root, let varying {
                suite.expectEqual(varying.counts, Array(0..<size))
                for source in 0..<size {
                    suite.expectEqual(Array(varying[source]), (0..<source).map { Double(source * 100 + $0) })
                }
            } else {
                suite.expect(varying == nil || rank == root)
            }
            let counts = rank == root ? (0..<size).map { $0 } : nil
            let known = try world.gather(mine, counts: counts, root: root)
            suite.expectEqual(known?.values, rank == root ? varying?.values : nil)
        }
    }

    suite.test("\(tag): allgather and allgatherv with uneven and zero counts") {
        suite.expectEqual(try world.allGather([Int64(rank)]), (0..<size).map(Int64.init))
        let mine = [Float](repeating: Float(rank), count: (rank * 2) % 3)
        let blocks = try world.allGatherVarying(mine)
        for source in 0..<size {
            suite.expectEqual(Array(blocks[source]), [Float](repeating: Float(source), count: (source * 2) % 3))
        }
        let noneAnywhere = try world.allGatherVarying([UInt8]())
        suite.expectEqual(noneAnywhere.values, [])
        suite.expectEqual(noneAnywhere.counts, [Int](repeating: 0, count: size))
    }

    suite.test("\(tag): alltoall and alltoallv with per-rank counts including zero") {
        let send = (0..<size).map { Int32(rank * 1000 + $0) }
        suite.expectEqual(try world.allToAll(send), (0..<size).map { Int32($0 * 1000 + rank) })
        // Rank r sends (r + d) % 3 values to rank d: some pairs exchange nothing.
        func count(from source: Int, to destination: Int) -> Int { (source + destination) % 3 }
        var values = [Int64]()
        var sendCounts = [Int]()
        for destination in 0..<size {
            let n = count(from: rank, to: destination)
            sendCounts.append(n)
            values += (0..<n).map { Int64(rank * 10_000 + destination * 100 + $0) }
        }
        let received = try world.allToAllVarying(values, sendCounts: sendCounts)
        for source in 0..<size {
            let expected = (0..<count(from: source, to: rank)).map { Int64(source * 10_000 + rank * 100 + $0) }
            suite.expectEqual(Array(received[source]), expected, "from rank \(source)")
        }
        let receiveCounts = (0..<size).map { count(from: $0, to: rank) }
        let known = try world.allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts)
        suite.expectEqual(known.values, received.values)
        // Into a kept buffer: the second exchange of the same shape reuses its storage.
        var buffer = [Int64](repeating: -1, count: 3)
        try world.allToAll(values, sendCounts: sendCounts, receiveCounts: receiveCounts, into: &buffer)
        suite.expectEqual(buffer, received.values)
        let storage = buffer.withUnsafeBufferPointer { $0.baseAddress }
        try world.allToAll(values.map { $0 + 1 }, sendCounts: sendCounts, receiveCounts: receiveCounts, into: &buffer)
        suite.expectEqual(buffer, received.values.map { $0 + 1 })
        suite.expectEqual(buffer.withUnsafeBufferPointer { $0.baseAddress } == storage, true, "storage reused")
        let nothing = try world.allToAllVarying([Double](), sendCounts: [Int](repeating: 0, count: size))
        suite.expectEqual(nothing.values, [])
    }
}
