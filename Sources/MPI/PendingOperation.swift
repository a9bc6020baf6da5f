internal import CMPI

/// A nonblocking collective in flight, owning the buffer MPI reads and writes until it completes.
///
/// Test it with ``test()`` between other work, or wait with ``wait(backoff:)``, which sleeps instead
/// of spinning. If it is dropped before completion, `deinit` waits for it, because MPI may still be
/// writing into its buffer.
public final class PendingOperation<Element: MPIScalar> {
    private var request: WrittenRequest
    private let buffer: UnsafeMutableBufferPointer<Element>
    private let function: StaticString
    /// Whether the operation has completed.
    public private(set) var isComplete = false

    init(
        copying values: [Element], function: StaticString,
        start: (UnsafeMutableRawPointer?, UnsafeMutablePointer<WrittenRequest>) -> Int32
    ) throws(MPIError) {
        buffer = .allocate(capacity: max(values.count, 1))
        _ = buffer.initialize(from: values)
        self.function = function
        request = cmpi_request_null()
        let code = start(UnsafeMutableRawPointer(buffer.baseAddress), &request)
        if code != MPI_SUCCESS {
            isComplete = true
            buffer.deallocate()
            try checkCall(code, function)
        }
    }

    deinit {
        if !isComplete, !MPIEnvironment.isFinalized { _ = MPI_Wait(&request, cmpi_status_ignore()) }
        buffer.deallocate()
    }

    /// Whether the operation has completed; never blocks (`MPI_Test`).
    public func test() throws(MPIError) -> Bool {
        if isComplete { return true }
        var flag: Int32 = 0
        try checkCall(MPI_Test(&request, &flag, cmpi_status_ignore()), "MPI_Test")
        isComplete = flag != 0
        return isComplete
    }

    /// Tests with `backoff` until the operation completes, then returns its values.
    @discardableResult
    public func wait(backoff: Backoff = .idle) throws(MPIError) -> [Element] {
        try backoff.wait { () throws(MPIError) -> Bool in try test() }
        return values
    }

    /// The values in the buffer: the received data once the operation has completed.
    public var values: [Element] { Array(buffer) }
}

extension Communicator {
    /// Starts a barrier that completes when every rank has started it (`MPI_Ibarrier`).
    public func startBarrier() throws(MPIError) -> PendingOperation<UInt8> {
        try PendingOperation(copying: [], function: "MPI_Ibarrier") { _, request in MPI_Ibarrier(handle, request) }
    }

    /// Starts broadcasting `root`'s `values` (`MPI_Ibcast`). Every rank passes an array of the same
    /// length; on other ranks its contents are ignored and replaced once the operation completes.
    public func startBroadcast<T: MPIScalar>(_ values: [T], root: Int) throws(MPIError) -> PendingOperation<T> {
        try requireRoot(root, "MPI_Ibcast")
        let count = try mpiCount(values.count, "MPI_Ibcast")
        let datatype = T.mpiDatatype.handle
        return try PendingOperation(copying: values, function: "MPI_Ibcast") { buffer, request in
            MPI_Ibcast(buffer, count, datatype, Int32(root), handle, request)
        }
    }
}
