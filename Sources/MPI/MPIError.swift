/// The one error type of the MPI bindings.
///
/// Every MPI return code goes through ``checkCall(_:_:)``, and every argument problem that Swift can see
/// before the C call (a count array of the wrong length, a root out of range) is reported as
/// ``invalidArgument(function:message:)`` without calling MPI at all.
public enum MPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An MPI function returned an error code.
    ///
    /// - Parameters:
    ///   - function: the MPI function, such as `MPI_Allreduce`.
    ///   - code: the raw return code.
    ///   - errorClass: the MPI error class of `code` (`MPI_ERR_ROOT`, `MPI_ERR_COUNT`, ...).
    ///   - message: the text MPI gives for `code`.
    case callFailed(function: String, code: Int32, errorClass: Int32, message: String)

    /// An argument failed a check made in Swift before any MPI call.
    case invalidArgument(function: String, message: String)

    /// MPI is not initialised (or is already finalised) where it must be.
    case notInitialized(function: String)

    /// `MPI_Init_thread` was called a second time in this process.
    case alreadyInitialized

    public var description: String {
        switch self {
        case let .callFailed(function, code, errorClass, message):
            return "\(function) failed with code \(code) (class \(errorClass)): \(message)"
        case let .invalidArgument(function, message):
            return "\(function): invalid argument: \(message)"
        case let .notInitialized(function):
            return "\(function): MPI is not initialised or is already finalised"
        case .alreadyInitialized:
            return "MPI is already initialised in this process"
        }
    }
}
