#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one clock of the domain's timings (training phases, the loader's phases, collectives'
/// tallies, evaluation latency): seconds as `Double` from `CLOCK_MONOTONIC`, or from this thread's
/// CPU time, which leaves out time spent preempted on a busy machine. Timings only: nothing that is
/// computed depends on it.
struct Stopwatch {
    private let clock: clockid_t
    private let start: Double
    private var last: Double

    init(threadCPUTime: Bool = false) {
        clock = threadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
        start = Stopwatch.now(clock)
        last = start
    }

    /// The clock's reading in seconds (`CLOCK_MONOTONIC`: from an arbitrary point, so only
    /// differences mean anything).
    static func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> Double {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Seconds since creation.
    var elapsedSeconds: Double { Stopwatch.now(clock) - start }

    /// Seconds since the previous lap (or creation): consecutive phases, one reading per boundary.
    mutating func lap() -> Double {
        let now = Stopwatch.now(clock)
        defer { last = now }
        return now - last
    }
}
