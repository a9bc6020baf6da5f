/// What a job needs, independent of where it runs: the answers to `mpiplug launch`'s options.
struct LaunchSettings: Equatable {
    /// Total ranks (`mpirun -np`, `srun --ntasks`); nil: every slot of the hostfile or allocation.
    var ranks: Int?
    /// Ranks on each node (`--map-by ppr:K:node`, `srun --ntasks-per-node`).
    var ranksPerNode: Int?
    /// Threads each rank may use (OpenBLAS, OpenMP; `srun --cpus-per-task`).
    var threadsPerRank = 1
    /// The network interface (name like `eth0`, or a CIDR like `10.1.0.0/16`) MPI's TCP traffic uses.
    var interface: String?
    /// Whether ranks on the same node talk through shared memory (`vader`) or, when false, TCP only.
    var sharedMemory = true
    /// Seconds until mpirun notices a host that vanished without a TCP reset (keepalive on its daemon
    /// links); nil leaves OpenMPI's default (300 s idle + 9 probes 20 s apart).
    var lostHostTimeout: Int?
    /// The program OpenMPI starts its daemons with instead of ssh (`plm_rsh_agent`).
    var rshAgent: String?
    /// Environment variables to copy to every rank (`mpirun -x NAME`; srun forwards everything).
    var forwardedVariables: [String] = []
    /// Further MCA parameters, `(name, value)`.
    var mcaParameters: [MCAParameter] = []
    /// Allow more ranks than slots.
    var oversubscribe = false
    /// An explicit mapping policy, overriding the one made from ``ranksPerNode``.
    var mapBy: String?
    /// Binding policy (`--bind-to`); `none` lets the OS move ranks and their threads freely.
    var bindTo = "none"
    /// Whether mpirun is started by root (it refuses unless told).
    var runningAsRoot = false
    /// The MPI the program was built against, which decides the launcher and its options.
    var mpi: MPIFamily = .openmpi
    /// The program to run on every rank, and its arguments.
    var command: [String] = []

    /// `srun` with Slurm's PMI server `mpi` (`pmix` for OpenMPI, `pmi2` for MPICH) and these
    /// settings' placement, binding and failure handling; the command follows.
    func srunArguments(mpi plugin: String) -> [String] {
        var arguments = ["srun", "--mpi=\(plugin)"]
        if let ranks { arguments.append("--ntasks=\(ranks)") }
        if let ranksPerNode { arguments.append("--ntasks-per-node=\(ranksPerNode)") }
        if threadsPerRank > 1 { arguments.append("--cpus-per-task=\(threadsPerRank)") }
        arguments.append(bindTo == "none" ? "--cpu-bind=none" : "--cpu-bind=\(bindTo)s")
        // One rank failing ends the step instead of leaving the others waiting in a collective.
        arguments.append("--kill-on-bad-exit=1")
        if oversubscribe { arguments.append("--overcommit") }
        return arguments + command
    }
}

/// The two MPI families, whose launchers differ: OpenMPI's `mpirun` and MPICH's Hydra `mpiexec`.
enum MPIFamily: String, CaseIterable, Equatable {
    /// OpenMPI (`pkg-config ompi-c`): `mpirun`, MCA parameters; under Slurm `srun --mpi=pmix`.
    case openmpi
    /// MPICH and its ABI family (Intel MPI, Cray MPICH, MVAPICH; `pkg-config mpich`): Hydra's
    /// `mpiexec.mpich`, named explicitly because `mpirun` stays OpenMPI's when both are installed;
    /// under Slurm `srun --mpi=pmi2`.
    case mpich

    /// The family `GEOPREDICT_MPI` names (as the hpc/ scripts and Package.swift read it); OpenMPI otherwise.
    static func detect(in environment: [String: String]) -> MPIFamily {
        environment["GEOPREDICT_MPI"].flatMap(MPIFamily.init(rawValue:)) ?? .openmpi
    }
}

/// One `--mca NAME VALUE` pair.
struct MCAParameter: Equatable {
    var name: String
    var value: String

    /// Parses `NAME=VALUE`.
    init(parsing text: String) throws(LaunchError) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw .invalidMCAParameter(text)
        }
        name = String(text[..<equals])
        value = String(text[text.index(after: equals)...])
    }

    init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// How the job is started in a Slurm allocation.
enum SlurmLauncher: String, CaseIterable, Equatable {
    /// `srun --mpi=pmix`: Slurm starts every rank itself (needs Slurm built with PMIx and an OpenMPI
    /// with PMIx support, like Debian's).
    case srun
    /// `mpirun` inside the allocation: OpenMPI reads the allocation from Slurm and starts its daemons
    /// with srun; works with any OpenMPI built `--with-slurm`.
    case mpirun
}

/// Where the job runs.
enum LaunchTarget: Equatable {
    /// This machine only.
    case local
    /// The hosts of an OpenMPI hostfile, reached through ssh (or ``LaunchSettings/rshAgent``).
    /// The parsed hosts are kept for MPICH, whose Hydra reads another format (`host:slots`).
    case hostfile(path: String, hosts: Hostfile)
    /// The Slurm allocation this command runs in.
    case slurm(SlurmAllocation, launcher: SlurmLauncher)
}

/// A command line to run: environment assignments, then the program and its arguments.
struct LaunchLine: Equatable {
    /// Variables to set for the launcher itself (srun passes them on to every rank).
    var environment: [(name: String, value: String)] = []
    var arguments: [String]

    static func == (lhs: LaunchLine, rhs: LaunchLine) -> Bool {
        lhs.arguments == rhs.arguments
            && lhs.environment.map(\.name) == rhs.environment.map(\.name)
            && lhs.environment.map(\.value) == rhs.environment.map(\.value)
    }

    /// The line as a POSIX shell would take it, words quoted where needed.
    var rendered: String {
        let assignments = environment.map { "\($0.name)=\(ShellWord.quoted($0.value))" }
        return (assignments + arguments.map(ShellWord.quoted)).joined(separator: " ")
    }
}

/// Builds the mpirun, mpiexec or srun line for a target: the one place that knows OpenMPI's, MPICH's
/// and Slurm's options. `hpc/launch`, the Slurm batch scripts and the namespace cluster test all go
/// through it.
enum LaunchPlan {
    static func line(for target: LaunchTarget, settings: LaunchSettings) throws(LaunchError) -> LaunchLine {
        try validate(settings)
        if settings.mpi == .mpich { return try HydraPlan.line(for: target, settings: settings) }
        switch target {
        case .local: return localLine(settings)
        case .hostfile(let path, _): return mpirunLine(settings, hostfile: path)
        case .slurm(_, launcher: .mpirun): return mpirunLine(settings, hostfile: nil)
        case .slurm(_, launcher: .srun): return srunLine(settings)
        }
    }

    private static func validate(_ settings: LaunchSettings) throws(LaunchError) {
        guard !settings.command.isEmpty else { throw .missingCommand }
        if let ranks = settings.ranks, ranks < 1 { throw .invalidCount("--ranks", ranks) }
        if let perNode = settings.ranksPerNode, perNode < 1 { throw .invalidCount("--ranks-per-node", perNode) }
        guard settings.threadsPerRank >= 1 else { throw .invalidCount("--threads-per-rank", settings.threadsPerRank) }
        if let timeout = settings.lostHostTimeout, timeout < 3 { throw .invalidCount("--lost-host-timeout (3 or more)", timeout) }
        for name in settings.forwardedVariables where !isVariableName(name) {
            throw .invalidVariableName(name)
        }
    }

    /// This machine: more ranks than cores are fine (tests), and nothing is pinned.
    private static func localLine(_ settings: LaunchSettings) -> LaunchLine {
        var arguments = ["mpirun"]
        if settings.runningAsRoot { arguments.append("--allow-run-as-root") }
        arguments += ["-np", String(settings.ranks ?? 2), "--oversubscribe", "--bind-to", settings.bindTo]
        arguments += mcaArguments(settings.mcaParameters)
        arguments += forwardingArguments(settings)
        return LaunchLine(arguments: arguments + settings.command)
    }

    /// mpirun over a hostfile, or inside a Slurm allocation (no hostfile: OpenMPI asks Slurm).
    private static func mpirunLine(_ settings: LaunchSettings, hostfile: String?) -> LaunchLine {
        var arguments = ["mpirun"]
        if settings.runningAsRoot { arguments.append("--allow-run-as-root") }
        if let hostfile { arguments += ["--hostfile", hostfile] }
        if let ranks = settings.ranks { arguments += ["-np", String(ranks)] }
        if let mapping = mapping(settings) { arguments += ["--map-by", mapping] }
        arguments += ["--bind-to", settings.bindTo]
        if settings.oversubscribe { arguments.append("--oversubscribe") }
        var parameters = [MCAParameter(name: "btl", value: transports(settings))]
        if let interface = settings.interface {
            // Both MPI's data (btl) and OpenMPI's own daemon wiring (oob) must use the chosen network;
            // left alone they try every interface, including ones other nodes cannot reach.
            parameters.append(MCAParameter(name: "btl_tcp_if_include", value: interface))
            parameters.append(MCAParameter(name: "oob_tcp_if_include", value: interface))
        }
        if let timeout = settings.lostHostTimeout { parameters += keepaliveParameters(timeout) }
        if let agent = settings.rshAgent { parameters.append(MCAParameter(name: "plm_rsh_agent", value: agent)) }
        arguments += mcaArguments(parameters + settings.mcaParameters)
        arguments += forwardingArguments(settings)
        return LaunchLine(arguments: arguments + settings.command)
    }

    /// srun starts the ranks itself; OpenMPI's choices travel as OMPI_MCA_* variables, which srun
    /// forwards with the rest of the environment.
    private static func srunLine(_ settings: LaunchSettings) -> LaunchLine {
        var environment: [(name: String, value: String)] = [("OMPI_MCA_btl", transports(settings))]
        if let interface = settings.interface { environment.append(("OMPI_MCA_btl_tcp_if_include", interface)) }
        for parameter in settings.mcaParameters { environment.append(("OMPI_MCA_\(parameter.name)", parameter.value)) }
        environment += threadVariables.map { ($0, String(settings.threadsPerRank)) }
        return LaunchLine(environment: environment, arguments: settings.srunArguments(mpi: "pmix"))
    }

    /// A silently vanished host is only noticed when TCP gives up on the daemon's idle connection to
    /// mpirun: after `idle + probes × interval` seconds with keepalive. Three probes, the idle time about
    /// half of `seconds`, so that `seconds` = 11 gives 5 + 3 × 2.
    static func keepaliveParameters(_ seconds: Int) -> [MCAParameter] {
        let probes = 3
        let idle = max(1, seconds / 2)
        let interval = max(1, (seconds - idle) / probes)
        return [
            MCAParameter(name: "oob_tcp_keepalive_time", value: String(idle)),
            MCAParameter(name: "oob_tcp_keepalive_intvl", value: String(interval)),
            MCAParameter(name: "oob_tcp_keepalive_probes", value: String(probes)),
        ]
    }

    private static func transports(_ settings: LaunchSettings) -> String {
        settings.sharedMemory ? "tcp,vader,self" : "tcp,self"
    }

    private static func mapping(_ settings: LaunchSettings) -> String? {
        if let mapBy = settings.mapBy { return mapBy }
        guard let perNode = settings.ranksPerNode else { return nil }
        // PE=T reserves T cores per rank; it only means something when ranks are bound.
        if settings.bindTo != "none", settings.threadsPerRank > 1 {
            return "ppr:\(perNode):node:PE=\(settings.threadsPerRank)"
        }
        return "ppr:\(perNode):node"
    }

    private static func mcaArguments(_ parameters: [MCAParameter]) -> [String] {
        parameters.flatMap { ["--mca", $0.name, $0.value] }
    }

    /// `-x NAME=VALUE` for the thread counts, `-x NAME` for forwarded variables.
    private static func forwardingArguments(_ settings: LaunchSettings) -> [String] {
        let threads = threadVariables.flatMap { ["-x", "\($0)=\(settings.threadsPerRank)"] }
        let forwarded = settings.forwardedVariables.flatMap { ["-x", $0] }
        return threads + forwarded
    }

    /// One BLAS or OpenMP thread per rank unless asked otherwise: ranks already fill the cores.
    static let threadVariables = ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"]

    private static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.isASCIILetter else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0.isASCIILetter || ("0"..."9").contains($0) }
    }
}

private extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
