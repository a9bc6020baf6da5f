/// Why a load failed as a whole (bad *lines* are not errors: they become ``ImportIssue``s).
///
/// A collective load throws on every rank together: a rank that fails tells the others at the next
/// exchange, and they throw ``failedOnAnotherRank(rank:message:)``.
public enum LoadError: Error, Equatable, CustomStringConvertible {
    /// The file or folder could not be opened or listed (`errno` from the system).
    case cannotOpen(path: String, errno: Int32)
    /// Reading failed part-way (`errno` from the system).
    case readFailed(path: String, errno: Int32)
    /// The decompressor could not be started, or exited with an error.
    case decompressorFailed(command: String, status: Int32)
    /// The header or the options do not fit the format.
    case setup(ImportSetupError)
    /// A folder format whose reader is not linked into this build.
    case formatNotAvailable(ImportFormat)
    /// The store file has no usable header.
    case storeFileHeader(String)
    /// An MPI call failed.
    case communication(String)
    /// Another rank failed; its message.
    case failedOnAnotherRank(rank: Int, message: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code): return "cannot open \(path): \(systemMessage(code))"
        case let .readFailed(path, code): return "reading \(path) failed: \(systemMessage(code))"
        case let .decompressorFailed(command, status): return "\(command) failed (exit status \(status))"
        case let .setup(error): return "\(error)"
        case let .formatNotAvailable(format): return "the \(format) reader is not available in this build"
        case let .storeFileHeader(message): return "store file: \(message)"
        case let .communication(message): return "MPI: \(message)"
        case let .failedOnAnotherRank(rank, message): return "rank \(rank) failed: \(message)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func systemMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}
