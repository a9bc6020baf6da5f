import Foundation
@testable import MPIPlug
import MPIPlugProtos
import MPIPlugTesting
import Testing

/// The last minute of `GetClusterStatus`: rates over a sliding window of 5-second slots, and
/// latency percentiles from quarter-octave buckets that merge across doors.
struct RecentActivityTests {
    private static let origin = ContinuousClock.now

    private static func at(_ seconds: Double) -> ContinuousClock.Instant { origin + .milliseconds(Int64(seconds * 1000)) }

    @Test func ratesCoverTheServiceLifeUntilTheWindowIsFull() {
        let activity = RecentActivity(origin: Self.origin)
        for index in 0..<20 { activity.recordRound(at: Self.at(Double(index) * 0.5)) }
        for _ in 0..<30 { activity.recordRequest(seconds: 0.002, at: Self.at(3)) }
        let young = activity.summary(at: Self.at(10))
        #expect(young.windowSeconds == 10)
        #expect(young.roundsPerSecond == 2)
        #expect(young.requestsPerSecond == 3)
        #expect(young.requestLatency.count == 30)
    }

    @Test func oldSlotsLeaveTheWindow() {
        let activity = RecentActivity(origin: Self.origin)
        activity.recordRequest(seconds: 0.5, at: Self.at(1))
        activity.recordRound(at: Self.at(1))
        for _ in 0..<4 { activity.recordRequest(seconds: 0.001, at: Self.at(59)) }
        // At 62 s the window is slots 1 ... 12 (5 s to 62 s): the calls at 1 s are out of it.
        let later = activity.summary(at: Self.at(62))
        #expect(abs(later.windowSeconds - 57) < 1e-9)
        #expect(later.requestLatency.count == 4)
        #expect(later.roundsPerSecond == 0)
        #expect(later.requestLatency.maxSeconds == 0.001, "the slow call left with its slot")
        // A slot reused by the ring (slot 13 takes slot 1's place) starts empty.
        activity.recordRequest(seconds: 0.003, at: Self.at(66))
        #expect(activity.summary(at: Self.at(66)).requestLatency.count == 5)
        #expect(activity.summary(at: Self.at(200)).requestLatency.count == 0)
    }

    @Test func percentilesAreBucketBoundsAtMostAQuarterOctaveAbove() {
        var histogram = LatencyHistogram()
        // 1 ms ... 100 ms in 1 ms steps: the true p50 is 50 ms, p90 90 ms, p99 99 ms.
        for milliseconds in 1...100 { histogram.record(Double(milliseconds) / 1000) }
        let summary = histogram.summary
        for (value, truth) in [(summary.p50Seconds, 0.050), (summary.p90Seconds, 0.090), (summary.p99Seconds, 0.099)] {
            #expect(value >= truth && value <= truth * pow(2, 0.25), "\(value) for \(truth)")
        }
        #expect(summary.maxSeconds == 0.1 && summary.count == 100)
        #expect(summary.p99Seconds <= summary.maxSeconds)
        #expect(summary.histogram.reduce(0, +) == 100)
        #expect(summary.histogram.last != 0, "trailing empty buckets are left out")
        #expect(LatencyHistogram().summary.p50Seconds == 0)
    }

    @Test func bucketsHaveTheDocumentedBounds() {
        #expect(LatencyHistogram.bucket(ofSeconds: 0) == 0)
        #expect(LatencyHistogram.bucket(ofSeconds: -1) == 0)
        #expect(LatencyHistogram.bucket(ofSeconds: .nan) == 0)
        #expect(LatencyHistogram.bucket(ofSeconds: 0.9e-6) == 0)
        #expect(LatencyHistogram.bucket(ofSeconds: 1.05e-6) == 1)
        #expect(LatencyHistogram.bucket(ofSeconds: 2.1e-6) == 5)
        #expect(LatencyHistogram.bucket(ofSeconds: 1e-3) == Int((4 * log2(1000.0)).rounded(.down)) + 1)
        #expect(LatencyHistogram.bucket(ofSeconds: 1e9) == LatencyHistogram.bucketCount - 1)
        #expect(LatencyHistogram.bucket(ofSeconds: .infinity) == LatencyHistogram.bucketCount - 1)
        for index in 1..<(LatencyHistogram.bucketCount - 1) {
            let upper = LatencyHistogram.upperBoundSeconds(ofBucket: index)
            #expect(LatencyHistogram.bucket(ofSeconds: upper * 0.999) == index)
        }
    }

    @Test func doorsMergeByAddingHistograms() {
        var fast = LatencyHistogram(), slow = LatencyHistogram(), both = LatencyHistogram()
        for _ in 0..<90 { fast.record(0.001); both.record(0.001) }
        for _ in 0..<10 { slow.record(0.2); both.record(0.2) }
        let rounds = Mpiplug_V1_RecentActivity.with { $0.windowSeconds = 30; $0.roundsPerSecond = 4 }
        let doors = [(fast, 3.0), (slow, 0.5)].map { histogram, rate in
            Mpiplug_V1_RecentActivity.with { $0.requestsPerSecond = rate; $0.requestLatency = histogram.summary }
        }
        let merged = RecentActivity.merged(rounds: rounds, calls: doors)
        #expect(merged.windowSeconds == 30 && merged.roundsPerSecond == 4)
        #expect(merged.requestsPerSecond == 3.5)
        #expect(merged.requestLatency == both.summary)
        #expect(merged.requestLatency.p50Seconds < 0.002 && merged.requestLatency.p99Seconds >= 0.2)
    }

    @Test func getClusterStatusReportsTheDoorsCalls() async throws {
        let harness = try FrontDoorHarness()
        try await harness.service.test { client in
            for value in 0..<5 {
                _ = try await client.callSucceeding(
                    Mpiplug_V1_DiagnosticsService.echo, Mpiplug_V1_EchoRequest.with { $0.value = Int64(value) },
                    returning: Mpiplug_V1_EchoResponse.self)
            }
            let status = try await client.callSucceeding(
                Mpiplug_V1_ClusterService.getClusterStatus, Mpiplug_V1_GetClusterStatusRequest(),
                returning: Mpiplug_V1_GetClusterStatusResponse.self)
            let recent = status.recent
            // The five Echo calls (the status call itself is counted once answered).
            #expect(recent.requestLatency.count == 5)
            #expect(recent.requestsPerSecond > 0 && recent.roundsPerSecond > 0)
            #expect(recent.windowSeconds > 0 && recent.windowSeconds <= 60)
            #expect(recent.requestLatency.p50Seconds > 0 && recent.requestLatency.p50Seconds <= recent.requestLatency.maxSeconds)
            // One rank, one door: the job's figures are its own.
            #expect(status.ranks.first?.recent.requestLatency == recent.requestLatency)
            let again = try await client.callSucceeding(
                Mpiplug_V1_ClusterService.getClusterStatus, Mpiplug_V1_GetClusterStatusRequest(),
                returning: Mpiplug_V1_GetClusterStatusResponse.self)
            #expect(again.recent.requestLatency.count == 6)
        }
    }
}
