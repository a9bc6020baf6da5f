internal import CMPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An initialised MPI library: created once per process, finalised exactly once.
///
/// Prefer ``MPI/run(threadLevel:_:)``, which finalises when its closure returns and aborts the whole
/// job when the closure throws, so that no rank is left waiting in a collective.
///
/// ```swift
/// MPI.run(threadLevel: .funneled) { environment in
///     let world = environment.world
///     let total = try world.allReduce(Int64(world.rank), .sum)
/// }
/// ```
///
/// MPI must be called only from the thread that created the environment (``ThreadLevel/funneled``);
/// the type is deliberately not `Sendable`.
public final class MPIEnvironment {
    /// The thread level MPI granted, which may be lower than the one requested.
    public let providedThreadLevel: ThreadLevel
    /// All processes of the job (`MPI_COMM_WORLD`).
    public let world: Communicator
    private var finalized = false
    /// False for the shared environment, which lives until the process ends.
    fileprivate var finalizesOnDeinit = true

    /// Initialises MPI with `MPI_Init_thread`.
    ///
    /// - Throws: ``MPIError/alreadyInitialized`` when MPI was initialised before in this process.
    public init(threadLevel: ThreadLevel = .funneled) throws(MPIError) {
        var initialized: Int32 = 0
        try checkCall(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized != 0 { throw .alreadyInitialized }
        var provided: Int32 = 0
        try checkCall(MPI_Init_thread(nil, nil, threadLevel.rawLevel, &provided), "MPI_Init_thread")
        providedThreadLevel = ThreadLevel(rawLevel: provided)
        // Errors come back as return codes (and from there as `MPIError`), not as an abort inside MPI.
        try checkCall(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        world = try Communicator(predefined: cmpi_comm_world())
    }

    deinit {
        if finalizesOnDeinit { try? finalize() }
    }

    /// The name of the node this process runs on (`MPI_Get_processor_name`).
    public var processorName: String {
        get throws(MPIError) {
            var buffer = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
            var length: Int32 = 0
            try checkCall(MPI_Get_processor_name(&buffer, &length), "MPI_Get_processor_name")
            return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Wall-clock time in seconds from an arbitrary origin (`MPI_Wtime`).
    public static var wallTime: Double { MPI_Wtime() }

    /// Whether MPI has been finalised in this process.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        return MPI_Finalized(&flag) == MPI_SUCCESS && flag != 0
    }

    /// Finalises MPI. Only the first call does anything; later calls return at once.
    public func finalize() throws(MPIError) {
        if finalized { return }
        finalized = true
        if Self.isFinalized { return }
        try checkCall(MPI_Finalize(), "MPI_Finalize")
    }
}

/// Entry points that do not belong to a communicator.
public enum MPI {
    /// Runs `body` with MPI initialised and finalises MPI when it returns.
    ///
    /// An error thrown by `body` (on any rank) is printed with the rank that threw it, and the whole
    /// job is aborted with exit code 1: the other ranks are stopped instead of hanging in a
    /// collective that this rank will never enter.
    public static func run<Result>(
        threadLevel: ThreadLevel = .funneled,
        _ body: (MPIEnvironment) throws -> Result
    ) -> Result {
        let environment: MPIEnvironment
        do {
            environment = try MPIEnvironment(threadLevel: threadLevel)
        } catch {
            writeToStandardError("MPI initialisation failed: \(error)\n")
            exit(1)
        }
        do {
            let result = try body(environment)
            try environment.finalize()
            return result
        } catch {
            let rank = environment.world.rank
            writeToStandardError("rank \(rank): unhandled error, aborting the job: \(error)\n")
            environment.world.abort(errorCode: 1)
        }
    }

    /// The process's one environment, initialised on first use with `threadLevel` and never finalised.
    ///
    /// For code that cannot own `main` — test bundles, where several test suites share one process and
    /// MPI can be initialised only once. Programs should use ``run(threadLevel:_:)`` instead.
    public static func shared(threadLevel: ThreadLevel = .multiple) throws(MPIError) -> MPIEnvironment {
        try sharedEnvironment.get(threadLevel: threadLevel)
    }

    /// Whether `MPI_Init` or `MPI_Init_thread` has been called in this process.
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        return MPI_Initialized(&flag) == MPI_SUCCESS && flag != 0
    }
}

func writeToStandardError(_ text: String) {
    var text = text
    // write(2) rather than stdio: unbuffered, and free of the global FILE* that Swift 6 rejects.
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// Holds ``MPI/shared(threadLevel:)``'s environment.
private final class SharedEnvironment: @unchecked Sendable {
    // The lock guards `environment`; once set it is never replaced or finalised.
    private let lock = NSLock()
    private var environment: MPIEnvironment?
    private var failure: MPIError?

    func get(threadLevel: ThreadLevel) throws(MPIError) -> MPIEnvironment {
        lock.lock()
        defer { lock.unlock() }
        if let environment { return environment }
        if let failure { throw failure }
        do {
            let created = try MPIEnvironment(threadLevel: threadLevel)
            created.finalizesOnDeinit = false
            environment = created
            return created
        } catch {
            failure = error
            throw error
        }
    }
}

private let sharedEnvironment = SharedEnvironment()
