// SPMD tests of the GeoPredict engine: sharding, exact reductions, loading, training. Run under
// mpirun at 1, 2, 3 and 4 ranks; results must not depend on the rank count.
import GeoPredict
import MPI
import SPMDTesting
#if canImport(Glibc)
import Glibc
#endif

let status = MPI.run { environment -> Int32 in
    let world = environment.world
    let suite = SPMDSuite(name: "geopredict", world: world)
    let shards = ShardMap(rankCount: world.size)

    suite.test("partitioned sums are identical at every rank count") {
        // Every rank adds the contributions of the partitions it owns; the total is compared with the
        // value computed by rank-independent arithmetic on a single rank.
        var sum = PartitionedSum(length: 3, partitionCount: shards.partitionCount)
        var reference = [Double](repeating: 0, count: 3)
        for partition in 0..<shards.partitionCount {
            let values = [1.0 / Double(partition + 3), Double(partition) * 1e10, -0.1 * Double(partition % 7)]
            if shards.owner(ofPartition: partition) == world.rank { sum.add(values, partition: partition) }
            for index in 0..<3 { reference[index] += values[index] }
        }
        let total = try world.exactTotal(of: sum)
        // The same bits on every rank, and close to the naive serial sum.
        let fromRankZero = try world.broadcast(total, from: 0)
        suite.expectEqual(total, fromRankZero)
        for index in 0..<3 {
            suite.expect(abs(total[index] - reference[index]) <= 1e-12 * max(1, abs(reference[index])), "index \(index)")
        }
        // Printed so hpc/test can compare the bits across rank counts.
        if world.rank == 0 {
            print("geopredict-spmd-tests: invariant partitioned-sum-bits=\(total.map { String($0.bitPattern, radix: 16) }.joined(separator: ","))")
        }
    }

    runLoaderTests(suite, world)
    runALSTests(suite, world)
    runModelTests(suite, world)
    return suite.finish()
}
exit(status)
