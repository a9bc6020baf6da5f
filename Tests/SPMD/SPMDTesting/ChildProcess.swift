import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// Waits for the child to exit and returns its exit status (128 + the signal if a signal ended
    /// it), by polling `waitpid` rather than with `waitUntilExit()`.
    ///
    /// Foundation learns of the exit when a socket it shares with the child reaches end of file. A
    /// process forked at that moment by another thread — OpenMPI's singleton `orted`, started by an
    /// in-process `MPI_Init` in a test running beside — inherits the socket and holds it open for as
    /// long as it lives, and `waitUntilExit()` then waits beside a zombie until the run times out.
    public func waitForExitStatus() -> Int32 {
        var status: Int32 = 0
        while true {
            let result = waitpid(processIdentifier, &status, WNOHANG)
            if result == processIdentifier { break }
            if result == -1 && errno != EINTR {
                // Foundation reaped it first (its socket was not held open): it has the status.
                waitUntilExit()
                return terminationStatus
            }
            usleep(2_000)
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
