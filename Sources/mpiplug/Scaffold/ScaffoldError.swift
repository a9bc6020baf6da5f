/// Why `mpiplug new` stopped.
enum ScaffoldError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case clashingName(String)
    case destinationNotEmpty(String)
    case mpiplugNotFound([String])
    case notAnMPIPlugCheckout(String)
    case writeFailed(String, String)
    case generationFailed(Int32)

    var description: String {
        switch self {
        case .invalidName(let name):
            return "\(name) is not a valid service name: use lowercase words of letters and digits joined by '-', each starting with a letter (e.g. weather-stats)"
        case .clashingName(let name):
            return "the package would declare a target named \(name), which MPIPlug's package or its dependencies already use; pick another name"
        case .destinationNotEmpty(let path):
            return "\(path) exists and is not empty; choose a new folder (nothing was written)"
        case .mpiplugNotFound(let tried):
            return "cannot find the MPIPlug repository (tried: \(tried.joined(separator: ", "))); pass --mpiplug-path"
        case .notAnMPIPlugCheckout(let path):
            return "\(path) is not a checkout of the repository that holds MPIPlug (no Package.swift with Sources/MPIPlug)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .generationFailed(let status):
            return "proto/generate failed (exit \(status)); the package is written, fix the cause and run its proto/generate"
        }
    }
}
