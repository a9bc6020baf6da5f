import Foundation
import MPIPlugProtos
import Synchronization

/// What one rank did lately, over a sliding window of 5-second slots: its rounds, and the calls its
/// front door answered with their latencies. For `GetClusterStatus`, whose other figures are totals
/// since start (a page polling it wants the job as it is now). Written by the MPI thread (rounds) and
/// the HTTP threads (calls), read by anyone; each record is a few additions under a lock.
final class RecentActivity: Sendable {
    /// The seconds one slot covers, and the slots kept (the current one included).
    static let slotSeconds = 5
    static let slotCount = 12

    private struct Slot {
        /// Which slot since ``origin`` this is (slot n covers [5n, 5n + 5) seconds); -1 when unused.
        var number = -1
        var rounds: UInt64 = 0
        var latencies = LatencyHistogram()
    }

    private let origin: ContinuousClock.Instant
    private let slots = Mutex([Slot](repeating: Slot(), count: RecentActivity.slotCount))

    /// - Parameter origin: when the window's time starts (the service's start).
    init(origin: ContinuousClock.Instant = .now) {
        self.origin = origin
    }

    /// Counts a round run (or taken part in) at `instant`.
    func recordRound(at instant: ContinuousClock.Instant = .now) {
        let number = slotNumber(at: instant)
        slots.withLock { slots in Self.slot(number, in: &slots) { $0.rounds += 1 } }
    }

    /// Counts a call answered by this rank's front door at `instant`, which took `seconds`.
    func recordRequest(seconds: Double, at instant: ContinuousClock.Instant = .now) {
        let number = slotNumber(at: instant)
        slots.withLock { slots in Self.slot(number, in: &slots) { $0.latencies.record(seconds) } }
    }

    /// The window ending at `instant`: rates per second and the calls' latencies.
    func summary(at instant: ContinuousClock.Instant = .now) -> Mpiplug_V1_RecentActivity {
        let elapsed = max(0, (instant - origin).seconds)
        let current = slotNumber(at: instant)
        let oldest = current - Self.slotCount + 1
        var rounds: UInt64 = 0
        var latencies = LatencyHistogram()
        slots.withLock { slots in
            for slot in slots where slot.number >= oldest && slot.number <= current {
                rounds += slot.rounds
                latencies.add(slot.latencies)
            }
        }
        // From the oldest slot's start (or the origin, while younger than the window) to now.
        let window = min(elapsed, elapsed - Double(oldest * Self.slotSeconds))
        return .with {
            $0.windowSeconds = window
            $0.roundsPerSecond = window > 0 ? Double(rounds) / window : 0
            $0.requestsPerSecond = window > 0 ? Double(latencies.count) / window : 0
            $0.requestLatency = latencies.summary
        }
    }

    private func slotNumber(at instant: ContinuousClock.Instant) -> Int {
        Int(max(0, (instant - origin).seconds) / Double(Self.slotSeconds))
    }

    /// Changes slot `number`, emptying the ring position first when it still holds an older slot.
    /// A record for a slot older than the one there (a thread that read the clock late) is dropped.
    private static func slot(_ number: Int, in slots: inout [Slot], _ change: (inout Slot) -> Void) {
        let index = number % slotCount
        if slots[index].number < number { slots[index] = Slot(number: number) }
        if slots[index].number == number { change(&slots[index]) }
    }

    /// Several ranks' windows as one: the rounds of `rounds` (every rank takes part in every round, so
    /// one rank's count is the job's), the calls of all of them (rates added, histograms merged).
    static func merged(rounds: Mpiplug_V1_RecentActivity, calls: [Mpiplug_V1_RecentActivity]) -> Mpiplug_V1_RecentActivity {
        var latencies = LatencyHistogram()
        for activity in calls { latencies.add(activity.requestLatency) }
        return .with {
            $0.windowSeconds = rounds.windowSeconds
            $0.roundsPerSecond = rounds.roundsPerSecond
            $0.requestsPerSecond = calls.reduce(0) { $0 + $1.requestsPerSecond }
            $0.requestLatency = latencies.summary
        }
    }
}

/// Latencies in quarter-octave buckets: bucket 0 holds those under 1 µs, bucket i > 0 those in
/// [2^((i-1)/4), 2^(i/4)) µs, the last one everything longer. A percentile read from it is at most
/// 2^(1/4) − 1 ≈ 19 % above the true value; histograms of several doors merge by addition.
struct LatencyHistogram: Equatable {
    static let bucketCount = 112

    private(set) var buckets = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
    private(set) var count: UInt64 = 0
    private(set) var maximumSeconds = 0.0

    /// The bucket of a latency of `seconds`.
    static func bucket(ofSeconds seconds: Double) -> Int {
        let microseconds = seconds * 1e6
        // NaN and negative durations (a clock that went back) count as the fastest.
        guard microseconds >= 1 else { return 0 }
        guard microseconds.isFinite else { return bucketCount - 1 }
        return min(bucketCount - 1, Int((4 * log2(microseconds)).rounded(.down)) + 1)
    }

    /// The largest latency bucket `index` holds, in seconds (the last bucket's has no bound: infinity).
    static func upperBoundSeconds(ofBucket index: Int) -> Double {
        index >= bucketCount - 1 ? .infinity : pow(2, Double(index) / 4) * 1e-6
    }

    mutating func record(_ seconds: Double) {
        buckets[Self.bucket(ofSeconds: seconds)] += 1
        count += 1
        if seconds.isFinite { maximumSeconds = max(maximumSeconds, seconds) }
    }

    mutating func add(_ other: LatencyHistogram) {
        for index in buckets.indices { buckets[index] += other.buckets[index] }
        count += other.count
        maximumSeconds = max(maximumSeconds, other.maximumSeconds)
    }

    /// Adds a summary's histogram (another rank's), ignoring buckets beyond this histogram's.
    mutating func add(_ summary: Mpiplug_V1_LatencySummary) {
        for (index, value) in summary.histogram.prefix(Self.bucketCount).enumerated() {
            buckets[index] += value
            count += value
        }
        if summary.maxSeconds.isFinite { maximumSeconds = max(maximumSeconds, summary.maxSeconds) }
    }

    /// The latency at or below which a `fraction` (0 to 1) of the calls fall, per the buckets: the
    /// upper bound of the bucket the call of that rank is in, capped by the slowest call. 0 when empty.
    func percentile(_ fraction: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = max(1, UInt64((fraction * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, value) in buckets.enumerated() {
            seen += value
            if seen >= rank { return min(Self.upperBoundSeconds(ofBucket: index), maximumSeconds) }
        }
        return maximumSeconds
    }

    var summary: Mpiplug_V1_LatencySummary {
        .with {
            $0.count = count
            $0.p50Seconds = percentile(0.5)
            $0.p90Seconds = percentile(0.9)
            $0.p99Seconds = percentile(0.99)
            $0.maxSeconds = maximumSeconds
            let used = (buckets.lastIndex { $0 > 0 } ?? -1) + 1
            $0.histogram = Array(buckets.prefix(used))
        }
    }
}
