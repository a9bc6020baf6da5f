/// The lines for MPICH (and its ABI family: Intel MPI, Cray MPICH, MVAPICH): Hydra's `mpiexec.mpich`
/// on a hostfile or this machine, `srun --mpi=pmi2` in a Slurm allocation.
///
/// Hydra differs from OpenMPI's mpirun in ways that matter here: its hosts are `host:slots` (given
/// with `-hosts`, made from the OpenMPI hostfile mpiplug reads), it forwards the whole environment by
/// default (so `--forward` needs nothing), it never refuses root or more ranks than slots, and it has
/// no MCA parameters or daemon keepalive. MPICH's data path is its netmod: Debian's MPICH is built on
/// UCX (`ch4:ucx`), others on libfabric (`ch4:ofi`), so the interface is named to both.
enum HydraPlan {
    /// The program Debian and most sites install Hydra as beside OpenMPI's `mpirun`.
    static let launcher = "mpiexec.mpich"

    static func line(for target: LaunchTarget, settings: LaunchSettings) throws(LaunchError) -> LaunchLine {
        try validate(settings)
        switch target {
        case .local: return mpiexecLine(settings, hosts: nil)
        case .hostfile(_, let hosts): return mpiexecLine(settings, hosts: hosts)
        // Hydra finds the allocation itself (its Slurm resource manager) and starts its proxies with srun.
        case .slurm(_, launcher: .mpirun): return mpiexecLine(settings, hosts: nil)
        case .slurm(_, launcher: .srun): return srunLine(settings)
        }
    }

    /// OpenMPI-only options are refused rather than dropped: a line that silently ignored them would
    /// behave differently from the one asked for.
    private static func validate(_ settings: LaunchSettings) throws(LaunchError) {
        if !settings.mcaParameters.isEmpty { throw .notForMPICH("--mca (MCA parameters are OpenMPI's)") }
        if settings.lostHostTimeout != nil {
            throw .notForMPICH("--lost-host-timeout (a keepalive on OpenMPI's daemon links; Hydra has none)")
        }
        if let interface = settings.interface, interface.contains("/") {
            throw .notForMPICH("--interface \(interface): Hydra's -iface takes an interface name (eth1, ib0), not a CIDR")
        }
    }

    private static func mpiexecLine(_ settings: LaunchSettings, hosts: Hostfile?) -> LaunchLine {
        var arguments = [launcher]
        if let hosts { arguments += ["-hosts", hostList(hosts)] }
        if let ranks = settings.ranks { arguments += ["-n", String(ranks)] }
        if let perNode = settings.ranksPerNode { arguments += ["-ppn", String(perNode)] }
        if let agent = settings.rshAgent { arguments += ["-launcher", "ssh", "-launcher-exec", agent] }
        if let interface = settings.interface { arguments += ["-iface", interface] }
        arguments += ["-bind-to", settings.bindTo]
        if let mapBy = settings.mapBy { arguments += ["-map-by", mapBy] }
        arguments += rankVariables(settings).flatMap { ["-genv", $0.name, $0.value] }
        return LaunchLine(arguments: arguments + settings.command)
    }

    /// srun with Slurm's PMI-2 server, which MPICH's PMI client speaks; the settings travel in the
    /// environment, which srun passes on.
    private static func srunLine(_ settings: LaunchSettings) -> LaunchLine {
        LaunchLine(environment: rankVariables(settings), arguments: settings.srunArguments(mpi: "pmi2"))
    }

    /// What every rank needs set: the thread counts, the network MPICH's netmod uses, and with
    /// `--tcp-only` no shared memory between ranks of a node.
    private static func rankVariables(_ settings: LaunchSettings) -> [(name: String, value: String)] {
        var variables: [(name: String, value: String)] = []
        if let interface = settings.interface {
            variables.append(("UCX_NET_DEVICES", interface))  // ch4:ucx (Debian's MPICH)
            variables.append(("FI_TCP_IFACE", interface))  // ch4:ofi with libfabric's tcp provider
        }
        if !settings.sharedMemory {
            // Every rank treats every other as remote (MPICH's own switch), and UCX then uses TCP only.
            variables.append(("MPIR_CVAR_NOLOCAL", "1"))
            variables.append(("UCX_TLS", "tcp,self"))
        }
        variables += LaunchPlan.threadVariables.map { ($0, String(settings.threadsPerRank)) }
        return variables
    }

    /// `-hosts a:4,b:4`: Hydra's own list, from the hosts and slots of the OpenMPI hostfile.
    private static func hostList(_ hosts: Hostfile) -> String {
        hosts.hosts.map { host in host.slots.map { "\(host.name):\($0)" } ?? host.name }.joined(separator: ",")
    }
}
