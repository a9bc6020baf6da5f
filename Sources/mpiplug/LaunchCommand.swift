import ArgumentParser
import Foundation

/// `mpiplug launch`: the mpirun or srun line that starts a program on a cluster.
struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Print (default) or run the mpirun/mpiexec/srun line that starts a program on every rank.",
        discussion: """
            Where: the hosts of --hostfile (mpirun starts its daemons over ssh, or --rsh-agent); else the \
            Slurm allocation this runs in, found from SLURM_JOB_ID (srun --mpi=pmix, or --launcher mpirun); \
            else this machine (mpirun --oversubscribe). Between nodes MPI uses TCP on --interface.

            With --mpi mpich (or GEOPREDICT_MPI=mpich) the line is MPICH's: Hydra's mpiexec.mpich \
            (-hosts from the hostfile, -n, -ppn, -iface, -bind-to, -genv), or srun --mpi=pmi2.

            Examples:
              mpiplug launch --hostfile hosts --ranks-per-node 2 --interface eth1 -- ./geopredict serve --state /data/state
              sbatch --nodes 3 --ntasks-per-node 2 --wrap 'mpiplug launch --run -- ./geopredict-spmd-tests'
            """
    )

    @Option(help: "OpenMPI hostfile: one host per line, as `HOST slots=N`.")
    var hostfile: String?
    @Flag(help: "Run on this machine only, even inside a Slurm allocation.")
    var local = false
    @Flag(help: "Require a Slurm allocation (it is otherwise detected from SLURM_JOB_ID).")
    var slurm = false
    @Option(help: "In a Slurm allocation: srun (Slurm starts the ranks through PMIx) or mpirun.")
    var launcher: SlurmLauncher = .srun
    @Option(help: """
        The MPI the program is built against: openmpi (mpirun) or mpich (Hydra's mpiexec.mpich; also \
        Intel MPI, Cray MPICH, MVAPICH). Default: GEOPREDICT_MPI, else openmpi.
        """)
    var mpi: MPIFamily?
    @Option(help: "Total ranks (default: every slot of the hostfile or allocation; 2 on this machine).")
    var ranks: Int?
    @Option(help: "Ranks on each node.")
    var ranksPerNode: Int?
    @Option(help: "Threads each rank may use (sets OPENBLAS_NUM_THREADS and OMP_NUM_THREADS).")
    var threadsPerRank = 1
    @Option(help: "Network interface or CIDR that MPI traffic between nodes uses (eth1, ib0, 10.1.0.0/16).")
    var interface: String?
    @Flag(help: "Use TCP even between ranks on the same node (no shared memory).")
    var tcpOnly = false
    @Option(help: """
        mpirun: seconds until a host that vanished silently (cut link, dead node) is noticed and the job \
        aborted, through TCP keepalive on OpenMPI's daemon links (default: OpenMPI's 480).
        """)
    var lostHostTimeout: Int?
    @Option(help: "Program OpenMPI starts remote daemons with, instead of ssh.")
    var rshAgent: String?
    @Option(name: .customLong("forward"), help: "Copy this environment variable to every rank (repeatable).")
    var forwardedVariables: [String] = []
    @Option(name: .customLong("mca"), help: "An extra OpenMPI MCA parameter, NAME=VALUE (repeatable).")
    var mcaParameters: [String] = []
    @Flag(help: "Allow more ranks than slots.")
    var oversubscribe = false
    @Option(help: "mpirun mapping policy (default: ppr:K:node with --ranks-per-node K).")
    var mapBy: String?
    @Option(help: "Binding policy: none, core, socket.")
    var bindTo = "none"
    @Flag(name: .customLong("print"), help: "Print the line (the default).")
    var printsLine = false
    @Flag(name: .customLong("run"), help: "Run the line: this process becomes mpirun or srun.")
    var runsLine = false
    @Argument(parsing: .remaining, help: "The program to run on every rank and its arguments (after --).")
    var command: [String] = []

    func run() throws {
        guard !(printsLine && runsLine) else { throw ValidationError("--print and --run exclude each other") }
        let environment = ProcessInfo.processInfo.environment
        let target = try resolveTarget(environment: environment)
        var settings = try settings()
        settings.mpi = mpi ?? MPIFamily.detect(in: environment)
        let line = try LaunchPlan.line(for: target, settings: settings)
        if runsLine {
            try execute(line)
        } else {
            print(line.rendered)
        }
    }

    func settings() throws -> LaunchSettings {
        var settings = LaunchSettings()
        settings.ranks = ranks
        settings.ranksPerNode = ranksPerNode
        settings.threadsPerRank = threadsPerRank
        settings.interface = interface
        settings.sharedMemory = !tcpOnly
        settings.rshAgent = rshAgent
        settings.lostHostTimeout = lostHostTimeout
        settings.forwardedVariables = forwardedVariables
        settings.mcaParameters = try mcaParameters.map { text throws(LaunchError) in try MCAParameter(parsing: text) }
        settings.oversubscribe = oversubscribe
        settings.mapBy = mapBy
        settings.bindTo = bindTo
        settings.runningAsRoot = geteuid() == 0
        settings.command = command.first == "--" ? Array(command.dropFirst()) : command
        return settings
    }

    /// A hostfile wins; then a Slurm allocation (unless --local); then this machine. Says on stderr
    /// what it chose, so that a printed line can still be piped or `eval`ed.
    func resolveTarget(environment: [String: String]) throws -> LaunchTarget {
        let chosen = [hostfile != nil, local, slurm].filter { $0 }.count
        guard chosen <= 1 else { throw LaunchError.conflictingOptions("--hostfile, --local and --slurm exclude each other") }
        if let hostfile {
            guard let text = try? String(contentsOfFile: hostfile, encoding: .utf8) else {
                throw LaunchError.unreadableHostfile(hostfile)
            }
            let hosts = try Hostfile(parsing: text)
            let slots = hosts.totalSlots.map { ", \($0) slots" } ?? ""
            note("hostfile \(hostfile): \(hosts.hosts.count) host\(hosts.hosts.count == 1 ? "" : "s")\(slots)")
            return .hostfile(path: hostfile, hosts: hosts)
        }
        if !local, let allocation = SlurmAllocation.detect(in: environment) {
            note("\(allocation.summary): \(launcher.rawValue)")
            return .slurm(allocation, launcher: launcher)
        }
        if slurm { throw LaunchError.notInSlurmAllocation }
        note("this machine only")
        return .local
    }

    private func note(_ message: String) {
        FileHandle.standardError.write(Data("mpiplug launch: \(message)\n".utf8))
    }

    /// Replaces this process with the launcher, so signals and the exit status are the launcher's own.
    private func execute(_ line: LaunchLine) throws -> Never {
        for (name, value) in line.environment { setenv(name, value, 1) }
        let arguments = line.arguments.map { strdup($0) } + [nil]
        execvp(line.arguments[0], arguments)
        let reason = String(cString: strerror(errno))
        throw ValidationError("cannot run \(line.arguments[0]): \(reason)")
    }
}

extension SlurmLauncher: ExpressibleByArgument {}
extension MPIFamily: ExpressibleByArgument {}
