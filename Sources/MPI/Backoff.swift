#if canImport(Glibc)
import Glibc
#endif

/// How a rank waits for a nonblocking operation: a few busy tests, then sleeps that grow up to a cap.
///
/// OpenMPI's blocking calls busy-poll a core for as long as they wait. A rank that mostly waits
/// (a worker between service rounds) should instead test and sleep: with the default values an
/// idle rank costs about 1–2 % of a core and answers within a millisecond.
public struct Backoff: Sendable, Equatable {
    /// Tests made back to back before the first sleep.
    public var spins: Int
    /// The first sleep, in microseconds.
    public var initialSleepMicroseconds: Int
    /// The longest sleep, in microseconds; each sleep doubles until it reaches this.
    public var maximumSleepMicroseconds: Int

    public init(spins: Int = 64, initialSleepMicroseconds: Int = 10, maximumSleepMicroseconds: Int = 1_000) {
        self.spins = max(0, spins)
        self.initialSleepMicroseconds = max(1, initialSleepMicroseconds)
        self.maximumSleepMicroseconds = max(self.initialSleepMicroseconds, maximumSleepMicroseconds)
    }

    /// The default for ranks that wait for work.
    public static let idle = Backoff()

    /// Calls `isDone` until it returns `true`, spinning first and then sleeping with doubling pauses.
    public func wait<E: Error>(until isDone: () throws(E) -> Bool) throws(E) {
        var pacer = makePacer()
        while try !isDone() { pacer.pause() }
    }

    /// The pauses of a wait that may find work many times (a loop serving messages): ``Pacer/pause()``
    /// after a look that found nothing, ``Pacer/reset()`` after one that found work, so that a busy
    /// loop stays fast and an idle one sleeps.
    public func makePacer() -> Pacer { Pacer(self) }

    /// One wait's place in the ``Backoff`` schedule: spins, then sleeps that double up to the cap.
    public struct Pacer: Sendable {
        private let backoff: Backoff
        private var spinsLeft: Int
        private var sleepMicroseconds: Int

        init(_ backoff: Backoff) {
            self.backoff = backoff
            spinsLeft = backoff.spins
            sleepMicroseconds = backoff.initialSleepMicroseconds
        }

        /// Starts the schedule again: the next pauses are spins.
        public mutating func reset() { self = Pacer(backoff) }

        /// The next pause, and moves along the schedule: zero while spinning.
        public mutating func nextPause() -> Duration {
            if spinsLeft > 0 {
                spinsLeft -= 1
                return .zero
            }
            let pause = sleepMicroseconds
            sleepMicroseconds = min(sleepMicroseconds * 2, backoff.maximumSleepMicroseconds)
            return .microseconds(pause)
        }

        /// Sleeps for ``nextPause()`` (not at all while spinning).
        public mutating func pause() {
            let pause = nextPause()
            guard pause > .zero else { return }
            Backoff.sleep(microseconds: Int(pause.nanoseconds / 1_000))
        }
    }

    static func sleep(microseconds: Int) {
        var request = timespec(tv_sec: microseconds / 1_000_000, tv_nsec: (microseconds % 1_000_000) * 1_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// How a communicator's collectives wait for the other ranks.
///
/// All ranks of a communicator must use the same mode, because a blocking collective never matches
/// a nonblocking one; set it identically on every rank (it is copied by ``Communicator/duplicate()``).
public enum WaitMode: Sendable, Equatable {
    /// Call MPI's blocking collective (fastest; OpenMPI busy-polls a core while waiting).
    case blocking
    /// Start the nonblocking collective and test it with ``Backoff`` (slower to wake; idles politely).
    case polling(Backoff)
}
