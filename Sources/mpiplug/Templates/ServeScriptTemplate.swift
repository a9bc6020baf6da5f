extension Templates {
    static func serveScript(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "hpc/serve", contents: #"""
            #!/usr/bin/env bash
            # Builds \#(n.executable) (release) and serves it as an MPI job; prints the URL when it is ready.
            #
            #   hpc/serve [--ranks 2] [--port 8080] [--host 127.0.0.1] [-- more `\#(n.executable) serve` options]
            #
            # On a cluster, add what `mpiplug launch` takes, e.g. --hostfile FILE --ranks-per-node 2
            # --interface eth1 (and --host 0.0.0.0 -- --auth-token-file FILE so other machines can call it: off
            # loopback a token or --allow-unauthenticated is needed); inside a Slurm allocation
            # it uses srun --mpi=pmix by itself. The mpirun/srun line comes from `mpiplug launch`, built from
            # MPIPlug. Ctrl-C or SIGTERM stops the service gracefully: rank 0 drains, then every rank exits.
            set -euo pipefail
            cd "$(dirname "$0")/.."

            port=8080
            host=127.0.0.1
            launch=()
            serve=()
            while [ $# -gt 0 ]; do
                case "$1" in
                    --port) port="$2"; shift 2 ;;
                    --host) host="$2"; shift 2 ;;
                    --ranks|--hostfile|--ranks-per-node|--threads-per-rank|--interface|--launcher|--forward|--mca)
                        launch+=("$1" "$2"); shift 2 ;;
                    --tcp-only|--oversubscribe|--local) launch+=("$1"); shift ;;
                    --) shift; serve+=("$@"); break ;;
                    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
                    *) echo "unknown argument: $1 (see hpc/serve --help)" >&2; exit 2 ;;
                esac
            done

            echo "building \#(n.executable) and mpiplug (release)" >&2
            swift build -c release --product \#(n.executable) >/dev/null 2>&1 || swift build -c release --product \#(n.executable)
            swift build -c release --product mpiplug >/dev/null 2>&1 || swift build -c release --product mpiplug
            bin="$(swift build -c release --show-bin-path)"

            export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
            "$bin/mpiplug" launch --run "${launch[@]}" -- \
                "$bin/\#(n.executable)" serve --host "$host" --port "$port" "${serve[@]}" &
            job=$!

            # SIGTERM/SIGINT to mpirun kill the ranks abruptly; SIGTERM to rank 0 lets it drain the requests
            # in flight and then stop every rank cleanly.
            rank_zero() {
                local pid
                for pid in $(pgrep -P "$job" 2>/dev/null); do
                    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0'; then
                        echo "$pid"
                        return
                    fi
                done
            }
            stop() {
                local pid
                pid=$(rank_zero)
                kill -TERM "${pid:-$job}" 2>/dev/null || true
            }
            trap stop TERM INT
            while kill -0 "$job" 2>/dev/null; do
                wait "$job" && status=0 || status=$?
            done
            exit "${status:-0}"

            """#, isExecutable: true)
    }
}
