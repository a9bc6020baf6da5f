import MPI
#if canImport(Glibc)
import Glibc
#endif

/// A minimal harness for test programs that every rank runs together under `mpirun`.
///
/// Each ``test(_:_:)`` runs its body on every rank; afterwards the ranks agree (with an allreduce)
/// on whether any of them saw a failure, so all ranks count the same results. ``finish()`` prints one
/// line on rank 0, `spmd: ranks=N passed=X failed=Y`, and returns the exit status.
///
/// Test bodies must be collective: every rank calls the same collectives in the same order.
public final class SPMDSuite {
    /// The communicator every test runs on.
    public let world: Communicator
    private let name: String
    private var passed = 0
    private var failed = 0
    private var currentFailures: [String] = []
    private var currentTest = ""

    public init(name: String, world: Communicator) {
        self.name = name
        self.world = world
    }

    /// Runs `body` on every rank as one test; an error thrown by `body` counts as a failure.
    public func test(_ testName: String, _ body: () throws -> Void) {
        currentTest = testName
        currentFailures = []
        do {
            try body()
        } catch {
            currentFailures.append("threw \(error)")
        }
        for failure in currentFailures {
            report("FAIL [\(name)] \(testName) on rank \(world.rank)/\(world.size): \(failure)\n")
        }
        let anyFailed = (try? world.agree(failed: !currentFailures.isEmpty)) ?? true
        if anyFailed { failed += 1 } else { passed += 1 }
    }

    /// Records a failure of the current test unless `condition` holds.
    public func expect(
        _ condition: Bool, _ message: @autoclosure () -> String = "", line: Int = #line
    ) {
        if !condition { currentFailures.append("line \(line): expectation failed \(message())") }
    }

    /// Records a failure unless `actual == expected`.
    public func expectEqual<T: Equatable>(
        _ actual: T, _ expected: T, _ message: @autoclosure () -> String = "", line: Int = #line
    ) {
        if actual != expected {
            currentFailures.append("line \(line): \(actual) != \(expected) \(message())")
        }
    }

    /// Records a failure unless `body` throws an error that `matches` accepts.
    public func expectThrows<E: Error>(
        _ type: E.Type, line: Int = #line, _ body: () throws(E) -> Void, matches: (E) -> Bool = { _ in true }
    ) {
        do {
            try body()
            currentFailures.append("line \(line): expected an error, none was thrown")
        } catch {
            if !matches(error) { currentFailures.append("line \(line): unexpected error \(error)") }
        }
    }

    /// Prints the summary line on rank 0 and returns the process exit status (0 when all passed).
    public func finish() -> Int32 {
        if world.rank == 0 {
            print("spmd: ranks=\(world.size) passed=\(passed) failed=\(failed)")
            fflush(nil)
        }
        return failed == 0 ? 0 : 1
    }

    private func report(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
