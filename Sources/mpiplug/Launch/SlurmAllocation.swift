/// The Slurm allocation a command runs in, read from the variables Slurm sets in batch scripts,
/// `salloc` shells and job steps.
struct SlurmAllocation: Equatable {
    /// `SLURM_JOB_ID`.
    var jobID: String
    /// `SLURM_JOB_NUM_NODES` (or `SLURM_NNODES`).
    var nodeCount: Int?
    /// `SLURM_NTASKS` (or `SLURM_NPROCS`): what `--ntasks` asked for.
    var taskCount: Int?
    /// `SLURM_CPUS_PER_TASK`.
    var cpusPerTask: Int?

    /// The allocation described by `environment`, or nil outside Slurm.
    static func detect(in environment: [String: String]) -> SlurmAllocation? {
        guard let jobID = environment["SLURM_JOB_ID"] ?? environment["SLURM_JOBID"], !jobID.isEmpty else {
            return nil
        }
        func number(_ names: String...) -> Int? {
            names.lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
        }
        return SlurmAllocation(
            jobID: jobID,
            nodeCount: number("SLURM_JOB_NUM_NODES", "SLURM_NNODES"),
            taskCount: number("SLURM_NTASKS", "SLURM_NPROCS"),
            cpusPerTask: number("SLURM_CPUS_PER_TASK")
        )
    }

    /// One line for people: what was found.
    var summary: String {
        var parts = [String]()
        if let nodeCount { parts.append("\(nodeCount) node\(nodeCount == 1 ? "" : "s")") }
        if let taskCount { parts.append("\(taskCount) task\(taskCount == 1 ? "" : "s")") }
        if let cpusPerTask { parts.append("\(cpusPerTask) CPUs per task") }
        return "Slurm job \(jobID)" + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }
}
