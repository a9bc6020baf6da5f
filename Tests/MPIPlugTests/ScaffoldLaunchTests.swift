import Foundation
import Testing

/// `mpiplug launch`: the mpirun and srun lines for this machine, a hostfile and a Slurm allocation.
struct ScaffoldLaunchTests {
    private let root = ScaffoldTool.isRoot ? " --allow-run-as-root" : ""
    private let threads = "-x OPENBLAS_NUM_THREADS=1 -x OMP_NUM_THREADS=1"

    private func line(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let outcome = try ScaffoldTool.run(["launch"] + arguments, environment: environment)
        #expect(outcome.status == 0, "\(outcome.errors)")
        return outcome.output.trimmingCharacters(in: .newlines)
    }

    private func hostfile(_ text: String) throws -> String {
        let path = try ScaffoldTool.temporaryFolder().appendingPathComponent("hosts").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func thisMachineByDefault() throws {
        #expect(try line(["--", "./service", "serve"]) ==
            "mpirun\(root) -np 2 --oversubscribe --bind-to none \(threads) ./service serve")
        #expect(try line(["--ranks", "4", "./service"]) ==
            "mpirun\(root) -np 4 --oversubscribe --bind-to none \(threads) ./service")
    }

    @Test func hostfileWithRanksPerNodeAndInterface() throws {
        let hosts = try hostfile("node1 slots=4\n# spare: node9\nnode2 slots=4  # second\n")
        let printed = try line([
            "--hostfile", hosts, "--ranks-per-node", "2", "--interface", "eth1", "--forward", "LD_LIBRARY_PATH",
            "--", "./geopredict", "serve", "--state", "/data/state",
        ])
        #expect(printed == "mpirun\(root) --hostfile \(hosts) --map-by ppr:2:node --bind-to none"
            + " --mca btl tcp,vader,self --mca btl_tcp_if_include eth1 --mca oob_tcp_if_include eth1"
            + " \(threads) -x LD_LIBRARY_PATH ./geopredict serve --state /data/state")
    }

    @Test func tcpOnlyThroughAnRshAgent() throws {
        let hosts = try hostfile("10.203.0.1 slots=2\n10.203.0.2 slots=2\n")
        let printed = try line([
            "--hostfile", hosts, "--ranks", "4", "--map-by", "node", "--tcp-only", "--interface", "10.203.0.0/24",
            "--rsh-agent", "/opt/agent", "--mca", "btl_tcp_links=2", "--", "prog",
        ])
        #expect(printed == "mpirun\(root) --hostfile \(hosts) -np 4 --map-by node --bind-to none --mca btl tcp,self"
            + " --mca btl_tcp_if_include 10.203.0.0/24 --mca oob_tcp_if_include 10.203.0.0/24"
            + " --mca plm_rsh_agent /opt/agent --mca btl_tcp_links 2 \(threads) prog")
    }

    @Test func lostHostTimeoutSetsKeepaliveOnTheDaemonLinks() throws {
        let hosts = try hostfile("a\nb\n")
        let printed = try line(["--hostfile", hosts, "--lost-host-timeout", "11", "--", "p"])
        #expect(printed.contains("--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3"))
        let longer = try line(["--hostfile", hosts, "--lost-host-timeout", "60", "--", "p"])
        #expect(longer.contains("--mca oob_tcp_keepalive_time 30 --mca oob_tcp_keepalive_intvl 10 --mca oob_tcp_keepalive_probes 3"))
        let refused = try ScaffoldTool.run(["launch", "--hostfile", hosts, "--lost-host-timeout", "2", "--", "p"])
        #expect(refused.status != 0)
        #expect(refused.errors.contains("--lost-host-timeout"))
    }

    @Test func boundRanksReserveCoresForTheirThreads() throws {
        let hosts = try hostfile("a\nb\n")
        let printed = try line(["--hostfile", hosts, "--ranks-per-node", "2", "--threads-per-rank", "4", "--bind-to", "core", "--", "p"])
        #expect(printed.contains("--map-by ppr:2:node:PE=4 --bind-to core"))
        #expect(printed.contains("-x OPENBLAS_NUM_THREADS=4 -x OMP_NUM_THREADS=4"))
    }

    @Test func srunInsideASlurmAllocation() throws {
        let slurm = ["SLURM_JOB_ID": "4242", "SLURM_JOB_NUM_NODES": "3", "SLURM_NTASKS": "6"]
        let printed = try line(["--threads-per-rank", "4", "--interface", "ib0", "--", "./geopredict", "serve"], environment: slurm)
        #expect(printed == "OMPI_MCA_btl=tcp,vader,self OMPI_MCA_btl_tcp_if_include=ib0 OPENBLAS_NUM_THREADS=4"
            + " OMP_NUM_THREADS=4 srun --mpi=pmix --cpus-per-task=4 --cpu-bind=none --kill-on-bad-exit=1 ./geopredict serve")
        let counted = try line(["--ranks", "6", "--ranks-per-node", "2", "--", "p"], environment: slurm)
        #expect(counted.contains("srun --mpi=pmix --ntasks=6 --ntasks-per-node=2 --cpu-bind=none"))
        let outcome = try ScaffoldTool.run(["launch", "--", "p"], environment: slurm)
        #expect(outcome.errors.contains("Slurm job 4242 (3 nodes, 6 tasks): srun"))
    }

    @Test func mpirunInsideASlurmAllocationAsksSlurmForTheHosts() throws {
        let printed = try line(["--launcher", "mpirun", "--ranks-per-node", "2", "--", "p"], environment: ["SLURM_JOBID": "7"])
        #expect(printed == "mpirun\(root) --map-by ppr:2:node --bind-to none --mca btl tcp,vader,self \(threads) p")
    }

    @Test func explicitTargetsWinOverTheAllocation() throws {
        let slurm = ["SLURM_JOB_ID": "7"]
        #expect(try line(["--local", "--", "p"], environment: slurm).hasPrefix("mpirun\(root) -np 2 --oversubscribe"))
        let hosts = try hostfile("n1\n")
        #expect(try line(["--hostfile", hosts, "--", "p"], environment: slurm).hasPrefix("mpirun\(root) --hostfile \(hosts)"))
    }

    @Test func printedLinesSurviveTheShell() throws {
        let words = ["./my service", "--name", "it's", "$HOME", "a;b", "", "*", "tab\there"]
        let printed = try line(["--"] + words)
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "printf '%s\\0' \(printed)"]
        let outcome = try ScaffoldTool.capture(shell)
        let parsed = outcome.output.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(Array(parsed.suffix(words.count)) == words)
    }

    @Test func runBecomesTheLauncher() throws {
        // Stand-ins for mpirun and srun that print what they were given.
        let folder = try ScaffoldTool.temporaryFolder()
        for name in ["mpirun", "srun"] {
            let script = folder.appendingPathComponent(name)
            try "#!/bin/sh\necho \"\(name) btl=${OMPI_MCA_btl:-unset} $*\"\n".write(to: script, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        }
        let path = folder.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let local = try ScaffoldTool.run(["launch", "--run", "--ranks", "3", "--", "prog", "x y"], environment: ["PATH": path])
        #expect(local.status == 0)
        #expect(local.output == "mpirun btl=unset\(root) -np 3 --oversubscribe --bind-to none \(threads) prog x y\n")
        let slurm = try ScaffoldTool.run(["launch", "--run", "--tcp-only", "--", "prog"], environment: ["PATH": path, "SLURM_JOB_ID": "1"])
        #expect(slurm.output == "srun btl=tcp,self --mpi=pmix --cpu-bind=none --kill-on-bad-exit=1 prog\n")
    }

    // MARK: MPICH (Hydra)

    private let hydraThreads = "-genv OPENBLAS_NUM_THREADS 1 -genv OMP_NUM_THREADS 1"

    @Test func mpichOnThisMachineIsHydrasMpiexec() throws {
        #expect(try line(["--mpi", "mpich", "--ranks", "4", "--", "./service", "serve"]) ==
            "mpiexec.mpich -n 4 -bind-to none \(hydraThreads) ./service serve")
        // Detected as the hpc/ scripts choose it; the flag wins over the variable.
        #expect(try line(["--", "p"], environment: ["GEOPREDICT_MPI": "mpich"]) == "mpiexec.mpich -bind-to none \(hydraThreads) p")
        #expect(try line(["--mpi", "openmpi", "--", "p"], environment: ["GEOPREDICT_MPI": "mpich"]).hasPrefix("mpirun"))
    }

    @Test func mpichHostfileBecomesHydrasHostList() throws {
        let hosts = try hostfile("node1 slots=4\n# spare: node9\nnode2 slots=4  # second\nnode3\n")
        let printed = try line([
            "--mpi", "mpich", "--hostfile", hosts, "--ranks", "8", "--ranks-per-node", "2", "--interface", "eth1",
            "--forward", "LD_LIBRARY_PATH", "--", "./geopredict", "serve",
        ])
        // Hydra forwards the whole environment itself, so --forward adds nothing.
        #expect(printed == "mpiexec.mpich -hosts node1:4,node2:4,node3 -n 8 -ppn 2 -iface eth1 -bind-to none"
            + " -genv UCX_NET_DEVICES eth1 -genv FI_TCP_IFACE eth1 \(hydraThreads) ./geopredict serve")
    }

    @Test func mpichTcpOnlyThroughAnRshAgentWithBinding() throws {
        let hosts = try hostfile("10.203.0.1 slots=2\n10.203.0.2 slots=2\n")
        let printed = try line([
            "--mpi", "mpich", "--hostfile", hosts, "--tcp-only", "--rsh-agent", "/opt/agent",
            "--bind-to", "core", "--map-by", "socket", "--threads-per-rank", "2", "--", "prog",
        ])
        #expect(printed == "mpiexec.mpich -hosts 10.203.0.1:2,10.203.0.2:2 -launcher ssh -launcher-exec /opt/agent"
            + " -bind-to core -map-by socket -genv MPIR_CVAR_NOLOCAL 1 -genv UCX_TLS tcp,self"
            + " -genv OPENBLAS_NUM_THREADS 2 -genv OMP_NUM_THREADS 2 prog")
    }

    @Test func mpichInsideASlurmAllocation() throws {
        let slurm = ["SLURM_JOB_ID": "4242", "SLURM_JOB_NUM_NODES": "3", "SLURM_NTASKS": "6", "GEOPREDICT_MPI": "mpich"]
        let printed = try line(["--threads-per-rank", "4", "--interface", "ib0", "--ranks", "6", "--", "./geopredict", "serve"], environment: slurm)
        #expect(printed == "UCX_NET_DEVICES=ib0 FI_TCP_IFACE=ib0 OPENBLAS_NUM_THREADS=4 OMP_NUM_THREADS=4"
            + " srun --mpi=pmi2 --ntasks=6 --cpus-per-task=4 --cpu-bind=none --kill-on-bad-exit=1 ./geopredict serve")
        // Hydra inside the allocation asks Slurm for the nodes itself: no host list.
        let hydra = try line(["--launcher", "mpirun", "--ranks-per-node", "2", "--", "p"], environment: slurm)
        #expect(hydra == "mpiexec.mpich -ppn 2 -bind-to none \(hydraThreads) p")
    }

    @Test func mpichRunBecomesHydra() throws {
        let folder = try ScaffoldTool.temporaryFolder()
        let script = folder.appendingPathComponent("mpiexec.mpich")
        try "#!/bin/sh\necho \"hydra $*\"\n".write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let path = folder.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let outcome = try ScaffoldTool.run(["launch", "--run", "--mpi", "mpich", "--ranks", "3", "--", "prog", "x y"], environment: ["PATH": path])
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(outcome.output == "hydra -n 3 -bind-to none \(hydraThreads) prog x y\n")
    }

    @Test(arguments: [
        (["--mca", "btl=tcp,self"], "--mca"),
        (["--lost-host-timeout", "11"], "--lost-host-timeout"),
        (["--interface", "10.1.0.0/16"], "not a CIDR"),
    ])
    func mpichRefusesOpenMPIOnlyOptions(options: [String], message: String) throws {
        let outcome = try ScaffoldTool.run(["launch", "--mpi", "mpich"] + options + ["--", "p"])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("not with --mpi mpich"), "\(outcome.errors)")
        #expect(outcome.errors.contains(message), "\(outcome.errors)")
        // The same options are fine for OpenMPI.
        #expect(try ScaffoldTool.run(["launch"] + options + ["--", "p"]).status == 0)
    }

    @Test(arguments: [
        (["--", "p"], ["--slurm"], "no Slurm allocation"),
        ([], [], "no command to run"),
        (["--", "p"], ["--print", "--run"], "exclude each other"),
        (["--", "p"], ["--mca", "btl"], "NAME=VALUE"),
        (["--", "p"], ["--forward", "2BAD"], "not an environment variable name"),
        (["--", "p"], ["--ranks", "0"], "--ranks must be at least 1"),
        (["--", "p"], ["--hostfile", "/nonexistent/hosts"], "cannot read the hostfile"),
        (["--", "p"], ["--local", "--slurm"], "exclude each other"),
        (["--", "p"], ["--mpi", "lam"], "--mpi"),
    ])
    func refusesWhatCannotWork(command: [String], options: [String], message: String) throws {
        let outcome = try ScaffoldTool.run(["launch"] + options + command)
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains(message), "\(outcome.errors)")
    }

    @Test func refusesMalformedHostfiles() throws {
        for text in ["", "# only a comment\n", "node1 slots=zero\n", "node1 cpus=4\n"] {
            let outcome = try ScaffoldTool.run(["launch", "--hostfile", try hostfile(text), "--", "p"])
            #expect(outcome.status != 0, "accepted \(text.debugDescription)")
            #expect(outcome.errors.contains("hostfile"), "\(outcome.errors)")
        }
    }
}
