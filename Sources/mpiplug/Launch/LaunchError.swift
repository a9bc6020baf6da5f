/// Why `mpiplug launch` cannot build a line.
enum LaunchError: Error, Equatable, CustomStringConvertible {
    case missingCommand
    case invalidCount(String, Int)
    case invalidVariableName(String)
    case invalidMCAParameter(String)
    case unreadableHostfile(String)
    case emptyHostfile
    case invalidHostfileLine(Int, String)
    case notInSlurmAllocation
    case conflictingOptions(String)
    case notForMPICH(String)

    var description: String {
        switch self {
        case .missingCommand: return "no command to run: put it after the options, e.g. `mpiplug launch --ranks 2 -- ./my-service serve`"
        case .invalidCount(let option, let value): return "\(option) must be at least 1, not \(value)"
        case .invalidVariableName(let name): return "\(name) is not an environment variable name"
        case .invalidMCAParameter(let text): return "--mca takes NAME=VALUE, not \(text)"
        case .unreadableHostfile(let path): return "cannot read the hostfile \(path)"
        case .emptyHostfile: return "the hostfile names no host"
        case .invalidHostfileLine(let line, let text): return "hostfile line \(line) is not `HOST [slots=N] [max_slots=N]`: \(text)"
        case .notInSlurmAllocation: return "--slurm: no Slurm allocation here (SLURM_JOB_ID is not set); use salloc or sbatch"
        case .conflictingOptions(let message): return message
        case .notForMPICH(let option): return "not with --mpi mpich: \(option)"
        }
    }
}
