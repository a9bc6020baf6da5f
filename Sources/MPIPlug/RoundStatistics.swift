import Synchronization

/// What one rank has done so far, for `GetClusterStatus` and `/metrics`. Written by the MPI thread,
/// read by anyone.
final class RoundStatistics: Sendable {
    struct Snapshot: Sendable {
        var rounds: UInt64 = 0
        var requests: UInt64 = 0
        var largestRound: UInt64 = 0
        var busySeconds: Double = 0
        /// Serialised rounds broadcast (rank 0) or received (other ranks), in bytes.
        var roundBytes: UInt64 = 0
        /// The largest serialised round, in bytes.
        var largestRoundBytes: UInt64 = 0
        /// Answers this rank contributed to rank 0's gathers, in bytes, and the time inside them.
        var answerBytes: UInt64 = 0
        var gatherSeconds: Double = 0
        /// Keyed requests this rank ran as their owner, the bytes of the messages that brought them
        /// (zero for its own door's), and the seconds spent running them.
        var keyedRequests: UInt64 = 0
        var keyedBytes: UInt64 = 0
        var keyedSeconds: Double = 0
        /// Rounds by size: bucket i counts sizes in (2^(i-1), 2^i]; bucket 0 counts size 1.
        var histogram = [UInt64](repeating: 0, count: 16)
    }

    private let state = Mutex(Snapshot())
    /// The last minute: rounds (counted by ``record(requests:seconds:)``) and the front door's calls.
    let recent = RecentActivity()

    func record(requests: Int, seconds: Double) {
        recent.recordRound()
        state.withLock { state in
            state.rounds += 1
            state.requests += UInt64(requests)
            state.largestRound = max(state.largestRound, UInt64(requests))
            state.busySeconds += seconds
            let bucket = requests <= 1 ? 0 : min(15, Int.bitWidth - (requests - 1).leadingZeroBitCount)
            state.histogram[bucket] += 1
        }
    }

    /// Counts a round's serialised bytes (sent by rank 0, received elsewhere).
    func recordRound(bytes: Int) {
        state.withLock { state in
            state.roundBytes += UInt64(bytes)
            state.largestRoundBytes = max(state.largestRoundBytes, UInt64(bytes))
        }
    }

    /// Counts one answer gather: the bytes this rank contributed and the seconds it took.
    func recordGather(bytes: Int, seconds: Double) {
        state.withLock { state in
            state.answerBytes += UInt64(bytes)
            state.gatherSeconds += seconds
        }
    }

    /// Counts keyed requests run on their owner: how many, the bytes that brought them, and the time.
    func recordKeyed(requests: Int, bytes: Int, seconds: Double) {
        state.withLock { state in
            state.keyedRequests += UInt64(requests)
            state.keyedBytes += UInt64(bytes)
            state.keyedSeconds += seconds
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }
}
