import MPI

/// Carries each round's description from rank 0 to every rank.
///
/// A fixed-size header goes out with a *nonblocking* broadcast that waiting ranks test and sleep on
/// (OpenMPI's blocking broadcast would spin a core per idle rank). Small rounds travel inside the
/// header — one collective per round — and larger ones follow in a second broadcast.
struct RoundChannel {
    /// Header size: an 8-byte length, then up to `headerSize - 8` bytes of inline round.
    static let headerSize = 8 * 1024

    let communicator: Communicator
    /// How waiting ranks test the header broadcast.
    let idleBackoff: Backoff

    /// Rank 0: sends `round` to every rank.
    func send(_ round: [UInt8]) throws(MPIError) {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        writeLength(round.count, into: &header)
        let inline = round.count <= Self.headerSize - 8
        if inline { header.replaceSubrange(8..<(8 + round.count), with: round) }
        try communicator.startBroadcast(header, root: 0).wait(backoff: idleBackoff)
        if !inline {
            var payload = round
            try communicator.broadcast(&payload, root: 0)
        }
    }

    /// Other ranks: waits (sleeping) for the next round and returns it, calling `whileWaiting` at
    /// every test; when it reports work done, the next tests come quickly again.
    ///
    /// - Parameter idle: how to wait, paced by `pacing` (default ``idleBackoff``), between tests: by
    ///   default a plain sleep; a rank with a front door waits on its queue instead, so that a call
    ///   arriving ends the wait at once.
    func receive(
        pacing: Backoff? = nil, idle: ((Duration) -> Void)? = nil, whileWaiting: () throws(MPIError) -> Bool = { false }
    ) throws(MPIError) -> [UInt8] {
        let pending = try communicator.startBroadcast([UInt8](repeating: 0, count: Self.headerSize), root: 0)
        var pacer = (pacing ?? idleBackoff).makePacer()
        while try !pending.test() {
            if try whileWaiting() {
                pacer.reset()
            } else if let idle {
                let pause = pacer.nextPause()
                if pause > .zero { idle(pause) }
            } else {
                pacer.pause()
            }
        }
        let header = pending.values
        let length = readLength(header)
        if length <= Self.headerSize - 8 { return Array(header[8..<(8 + length)]) }
        var payload = [UInt8](repeating: 0, count: length)
        try communicator.broadcast(&payload, root: 0)
        return payload
    }

    private func writeLength(_ length: Int, into header: inout [UInt8]) {
        LittleEndian.store(UInt64(length), into: &header, at: 0)
    }

    private func readLength(_ header: [UInt8]) -> Int { Int(LittleEndian.load(UInt64.self, from: header, at: 0)) }
}
