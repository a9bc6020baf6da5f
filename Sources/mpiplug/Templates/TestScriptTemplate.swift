extension Templates {
    static func testScript(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "hpc/test", contents: #"""
            #!/usr/bin/env bash
            # Tests \#(n.name): builds, runs `swift test`, then serves the service under mpirun at 1, 2 and 3
            # ranks and calls it with curl: Summarize must answer the right summary from every rank, reject
            # bad input with 400, and stop cleanly on SIGTERM. Exits non-zero on any failure.
            #
            #   hpc/test [--ranks "1 2 3"]
            set -euo pipefail
            cd "$(dirname "$0")/.."

            rank_counts="1 2 3"
            while [ $# -gt 0 ]; do
                case "$1" in
                    --ranks) rank_counts="$2"; shift 2 ;;
                    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
                    *) echo "unknown argument: $1" >&2; exit 2 ;;
                esac
            done
            export OPENBLAS_NUM_THREADS=1
            mpirun_flags=(--oversubscribe --bind-to none)
            [ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)

            echo "==> building (debug)"
            swift build --build-tests
            bin="$(swift build --show-bin-path)"
            echo "==> swift test"
            swift test --skip-build

            failures=0
            fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }
            workdir=$(mktemp -d)
            job=""
            cleanup() {
                [ -n "$job" ] && kill -KILL -- "-$job" 2>/dev/null || true
                rm -rf "$workdir"
            }
            trap cleanup EXIT

            # live RANKS: serve at RANKS ranks on a free port and check the answers.
            live() {
                local ranks="$1" url="" line status
                setsid mpirun "${mpirun_flags[@]}" -np "$ranks" "$bin/\#(n.executable)" serve --port 0 > "$workdir/serve.log" 2>&1 &
                job=$!
                for _ in $(seq 1 600); do
                    line=$(grep -m1 'serving .* on http' "$workdir/serve.log" || true)
                    if [ -n "$line" ]; then url=$(echo "$line" | sed 's/.* on \(http[^ ]*\).*/\1/'); break; fi
                    kill -0 "$job" 2>/dev/null || break
                    sleep 0.1
                done
                if [ -z "$url" ]; then
                    fail "the service did not start at $ranks ranks"; cat "$workdir/serve.log" >&2
                    return
                fi

                # 1..10 split over the ranks: rank r handles every ranks-th value from index r.
                local expected_per_rank="" r
                for r in $(seq 0 $((ranks - 1))); do
                    expected_per_rank+="${expected_per_rank:+,}\"$(( (10 - r + ranks - 1) / ranks ))\""
                done
                local answer
                answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
                    -d '{"values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}' "$url\#(n.summarizePath)" || true)
                for field in '"count":"10"' '"sum":"55"' '"minimum":"1"' '"maximum":"10"' \
                    "\"rankCount\":$ranks" "\"valuesPerRank\":[$expected_per_rank]"; do
                    case "$answer" in
                        *"$field"*) ;;
                        *) fail "Summarize at $ranks ranks: no $field in $answer" ;;
                    esac
                done
                status=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
                    -d '{"values": ["2199023255553"]}' "$url\#(n.summarizePath)" || true)
                [ "$status" = 400 ] || fail "a value beyond ±2^40 answered $status at $ranks ranks, not 400"

                # SIGTERM to rank 0: it drains, then every rank exits and mpirun with them.
                local pid rank_zero=""
                for pid in $(pgrep -P "$job" 2>/dev/null); do
                    for child in $pid $(pgrep -P "$pid" 2>/dev/null); do
                        if tr '\0' '\n' < "/proc/$child/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0'; then
                            rank_zero=$child
                        fi
                    done
                done
                if [ -z "$rank_zero" ]; then
                    fail "rank 0 not found at $ranks ranks"
                else
                    kill -TERM "$rank_zero"
                    if timeout 30 tail --pid="$job" -f /dev/null; then
                        wait "$job" && status=0 || status=$?
                        [ "$status" -eq 0 ] || fail "mpirun exited $status after SIGTERM at $ranks ranks"
                    else
                        fail "the job did not stop within 30 s of SIGTERM at $ranks ranks"
                    fi
                fi
                kill -KILL -- "-$job" 2>/dev/null || true
                job=""
                if [ "$failures" -eq 0 ]; then echo "ok   $ranks rank(s): Summarize, validation, graceful stop"; fi
            }

            echo "==> live service"
            for ranks in $rank_counts; do live "$ranks"; done
            if [ "$failures" -ne 0 ]; then
                echo "FAILED: $failures check(s)" >&2
                exit 1
            fi
            echo "all tests passed"

            """#, isExecutable: true)
    }
}
