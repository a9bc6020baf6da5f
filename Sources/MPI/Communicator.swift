internal import CMPI

/// A group of ranks that run collectives together (`MPI_Comm`).
///
/// Created by ``MPIEnvironment/world``, ``duplicate()`` or ``split(color:key:)``; communicators made
/// by this binding are freed when the last reference goes. Not `Sendable`: MPI is called from one
/// thread only.
public final class Communicator {
    let handle: MPI_Comm
    private let ownsHandle: Bool
    /// This process's rank in the communicator, `0..<size`.
    public let rank: Int
    /// The number of ranks in the communicator.
    public let size: Int
    /// How collectives wait; the same on every rank. Defaults to ``WaitMode/blocking``.
    public var waitMode: WaitMode = .blocking

    init(predefined handle: MPI_Comm) throws(MPIError) {
        self.handle = handle
        self.ownsHandle = false
        (rank, size) = try Self.rankAndSize(handle)
    }

    private init(owned handle: MPI_Comm, waitMode: WaitMode) throws(MPIError) {
        self.handle = handle
        self.ownsHandle = true
        self.waitMode = waitMode
        (rank, size) = try Self.rankAndSize(handle)
    }

    private static func rankAndSize(_ handle: MPI_Comm) throws(MPIError) -> (Int, Int) {
        var rank: Int32 = 0
        var size: Int32 = 0
        try checkCall(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try checkCall(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        return (Int(rank), Int(size))
    }

    deinit {
        if ownsHandle, !MPIEnvironment.isFinalized {
            var handle: WrittenCommunicator = self.handle
            _ = MPI_Comm_free(&handle)
        }
    }

    /// Whether this rank is rank 0.
    public var isRoot: Bool { rank == 0 }

    /// A new communicator with the same ranks and a separate message space (`MPI_Comm_dup`).
    /// Collective: every rank must call it.
    public func duplicate() throws(MPIError) -> Communicator {
        var written: WrittenCommunicator = cmpi_comm_null()
        try checkCall(MPI_Comm_dup(handle, &written), "MPI_Comm_dup")
        guard let newHandle = writtenCommunicator(written) else { throw .invalidArgument(function: "MPI_Comm_dup", message: "returned no communicator") }
        return try Communicator(owned: newHandle, waitMode: waitMode)
    }

    /// Splits the ranks into one communicator per `color`, ordered by `key` then by old rank
    /// (`MPI_Comm_split`). Collective.
    ///
    /// - Parameter color: a non-negative group number, or `nil` to take part in no new communicator.
    /// - Returns: this rank's new communicator, or `nil` when `color` is `nil`.
    public func split(color: Int?, key: Int = 0) throws(MPIError) -> Communicator? {
        if let color { try require(color >= 0, "MPI_Comm_split", "color \(color) must be non-negative") }
        let rawColor = try color.map { (color: Int) throws(MPIError) in try mpiCount(color, "MPI_Comm_split", "color") }
            ?? cmpi_undefined()
        guard let rawKey = Int32(exactly: key) else {
            throw .invalidArgument(function: "MPI_Comm_split", message: "key \(key) does not fit in Int32")
        }
        var written: WrittenCommunicator = cmpi_comm_null()
        try checkCall(MPI_Comm_split(handle, rawColor, rawKey, &written), "MPI_Comm_split")
        guard let newHandle = writtenCommunicator(written) else { return nil }
        return try Communicator(owned: newHandle, waitMode: waitMode)
    }

    /// Stops every process of the job with `errorCode` (`MPI_Abort`). Does not return.
    public func abort(errorCode: Int32 = 1) -> Never {
        MPI_Abort(handle, errorCode)
        // MPI_Abort should not return; if it does, the process must still end.
        fatalError("MPI_Abort returned")
    }

    func requireRoot(_ root: Int, _ function: StaticString) throws(MPIError) {
        try require((0..<size).contains(root), function, "root \(root) is not a rank of a communicator of size \(size)")
    }

    /// Runs a collective in the communicator's ``waitMode``: the blocking call, or the nonblocking call
    /// followed by a polite wait. Returns the outcome instead of throwing, so that it can run inside
    /// the (untyped, rethrowing) closures that pin Swift arrays; callers check it once outside.
    func collective(
        _ function: StaticString,
        blocking: () -> Int32,
        nonblocking: (UnsafeMutablePointer<WrittenRequest>) -> Int32
    ) -> CallOutcome {
        switch waitMode {
        case .blocking:
            return CallOutcome(code: blocking(), function: function)
        case .polling(let backoff):
            var request: WrittenRequest = cmpi_request_null()
            let started = nonblocking(&request)
            if started != MPI_SUCCESS { return CallOutcome(code: started, function: function) }
            var tested = Int32(MPI_SUCCESS)
            backoff.wait { () -> Bool in
                var flag: Int32 = 0
                tested = MPI_Test(&request, &flag, cmpi_status_ignore())
                return tested != MPI_SUCCESS || flag != 0
            }
            return CallOutcome(code: tested, function: tested == MPI_SUCCESS ? function : "MPI_Test")
        }
    }
}

/// The return code of one MPI call, checked later through the one error path.
struct CallOutcome {
    let code: Int32
    let function: StaticString

    func check() throws(MPIError) {
        try checkCall(code, function)
    }
}
