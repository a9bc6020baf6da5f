import MPI

/// The timings of one case at one message size.
struct Measurement: Encodable {
    let operation: String
    let variant: String
    let api: String
    let bytes: Int
    let iterations: Int
    let warmup: Int
    /// One value per repetition: the slowest rank's wall time divided by `iterations`.
    let secondsPerCall: [Double]
}

/// Times `Case` at every size of the schedule.
func measure<Case: CollectiveCase>(
    _: Case.Type, schedule: [ScheduleEntry], repetitions: Int, world: Communicator
) throws -> [Measurement] {
    try schedule.map { entry in
        var benchmarkCase = try Case(world: world, bytes: entry.bytes)
        try repeatCalls(&benchmarkCase, times: entry.warmup)
        let seconds = try (0..<repetitions).map { _ in
            try secondsPerCall(&benchmarkCase, iterations: entry.iterations, world: world)
        }
        return Measurement(
            operation: Case.operation, variant: Case.variant, api: Case.api, bytes: entry.bytes,
            iterations: entry.iterations, warmup: entry.warmup, secondsPerCall: seconds
        )
    }
}

/// Barrier, then `iterations` calls timed with `MPI_Wtime`; returns the slowest rank's time per call.
func secondsPerCall<Case: CollectiveCase>(
    _ benchmarkCase: inout Case, iterations: Int, world: Communicator
) throws(MPIError) -> Double {
    try world.barrier()
    let start = MPIEnvironment.wallTime
    try repeatCalls(&benchmarkCase, times: iterations)
    let elapsed = MPIEnvironment.wallTime - start
    return try world.allReduce(elapsed, .maximum) / Double(iterations)
}

@inline(__always)
private func repeatCalls<Case: CollectiveCase>(_ benchmarkCase: inout Case, times: Int) throws(MPIError) {
    for _ in 0..<times { try benchmarkCase.call() }
}
