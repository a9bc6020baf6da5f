/// bench-collectives: latency of the Swift MPI bindings' allreduce and alltoallv, measured exactly as
/// `python/bench_collectives.py` measures mpi4py, so that `benchmarks/collectives/run` can compare them.
///
/// Cases: `allReduce(_:into:_:)` and `allReduce(inPlace:_:)` on `[Double]` (sum), and
/// `allToAll(_:sendCounts:receiveCounts:)` on `[UInt8]` split evenly over the ranks. For each case and
/// each size of `--schedule`: one checked call, the warm-up calls, then `--repetitions` times a barrier
/// and `iterations` calls timed with `MPI_Wtime`, keeping the slowest rank's time per call.
/// Rank 0 writes every repetition as JSON (`--output`, or standard output).
import Foundation
import MPI

let options: Options
do {
    options = try Options(arguments: CommandLine.arguments.dropFirst())
} catch {
    FileHandle.standardError.write(Data("bench-collectives: \(error)\n".utf8))
    exit(2)
}

MPI.run(threadLevel: .funneled) { environment in
    let world = environment.world
    let cases: [any CollectiveCase.Type] = [
        AllReduceIntoCase.self, AllReduceInPlaceCase.self, AllToAllKnownCountsCase.self,
    ]
    var measurements: [Measurement] = []
    for benchmarkCase in cases {
        measurements += try measure(
            benchmarkCase, schedule: options.schedule, repetitions: options.repetitions, world: world
        )
    }
    if world.isRoot {
        let report = RunReport(
            implementation: "swift", ranks: world.size, threadLevel: "\(environment.providedThreadLevel)",
            repetitions: options.repetitions, hugePageAdvice: adviseHugePages, measurements: measurements
        )
        try report.write(to: options.outputPath)
    }
}
