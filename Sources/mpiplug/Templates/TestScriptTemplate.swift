extension Templates {
    static func testScript(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "hpc/test", contents: #"""
            #!/usr/bin/env bash
            # Tests \#(n.name): builds, runs `swift test`, then serves the service under mpirun at 1, 2 and 3
            # ranks and calls it with curl: Summarize (collective) must answer the right summary from every
            # rank, Increment (keyed) must keep each counter on one owner rank and add up right, both reject
            # bad input with 400, and the job stops cleanly on SIGTERM. Exits non-zero on any failure.
            #
            #   hpc/test [--ranks "1 2 3"] [--port P]   P: serve on P, P+1, ... (default: any free port)
            set -euo pipefail
            cd "$(dirname "$0")/.."

            rank_counts="1 2 3"
            first_port=0
            while [ $# -gt 0 ]; do
                case "$1" in
                    --ranks) rank_counts="$2"; shift 2 ;;
                    --port) first_port="$2"; shift 2 ;;
                    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
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

            # increment URL NAME AMOUNT: prints "TOTAL OWNER_RANK" from Increment's answer (proto3 JSON leaves
            # out zeros), or "error ANSWER".
            increment() {
                local answer total owner
                answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
                    -d "{\"name\": \"$2\", \"amount\": \"$3\"}" "$1\#(n.incrementPath)" || true)
                case "$answer" in
                    *"\"name\":\"$2\""*) ;;
                    *) echo "error $answer"; return ;;
                esac
                total=$(sed -n 's/.*"total":"\(-\{0,1\}[0-9]*\)".*/\1/p' <<< "$answer")
                owner=$(sed -n 's/.*"ownerRank":\([0-9]*\).*/\1/p' <<< "$answer")
                echo "${total:-0} ${owner:-0}"
            }

            # keyed URL RANKS: each counter adds up on one owner rank, and the names spread over the ranks.
            keyed() {
                local url="$1" ranks="$2" i name first second again owner owners="" distinct status
                # Names whose default owners (an FNV-1a hash modulo the ranks) cover every rank at 1 to 4
                # ranks; at more, at least two. Change them if the service sets its own rule (ownKeys).
                local names=(apples kiwis limes berries plums grapes) spread=$(( ranks <= 4 ? ranks : 2 ))
                for i in "${!names[@]}"; do
                    name=${names[$i]}
                    first=$(increment "$url" "$name" $((i + 1)))
                    second=$(increment "$url" "$name" 10)
                    again=$(increment "$url" "$name" 0)
                    owner=${first#* }
                    [ "${first% *}" = $((i + 1)) ] || fail "Increment $name by $((i + 1)) at $ranks ranks answered '$first'"
                    [ "$second" = "$((i + 11)) $owner" ] || fail "Increment $name by 10 at $ranks ranks answered '$second', expected '$((i + 11)) $owner'"
                    [ "$again" = "$((i + 11)) $owner" ] || fail "reading $name at $ranks ranks answered '$again', expected '$((i + 11)) $owner'"
                    [ "$owner" -lt "$ranks" ] 2>/dev/null || fail "$name is owned by rank '$owner' of $ranks"
                    owners+=" $owner"
                done
                distinct=$(tr ' ' '\n' <<< "$owners" | sed '/^$/d' | sort -u | wc -l)
                [ "$distinct" -ge "$spread" ] || fail "the counters live on $distinct rank(s) of $ranks (owners:$owners)"
                status=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
                    -d '{"amount": "1"}' "$url\#(n.incrementPath)" || true)
                [ "$status" = 400 ] || fail "an Increment without a name answered $status at $ranks ranks, not 400"
            }

            # live RANKS PORT: serve at RANKS ranks on PORT (0: a free one) and check the answers.
            live() {
                local ranks="$1" port="$2" url="" line status
                setsid mpirun "${mpirun_flags[@]}" -np "$ranks" "$bin/\#(n.executable)" serve --port "$port" > "$workdir/serve.log" 2>&1 &
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
                keyed "$url" "$ranks"

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
                if [ "$failures" -eq 0 ]; then echo "ok   $ranks rank(s): Summarize, Increment on each counter's owner, validation, graceful stop"; fi
            }

            echo "==> live service"
            next_port="$first_port"
            for ranks in $rank_counts; do
                live "$ranks" "$next_port"
                [ "$next_port" -eq 0 ] || next_port=$((next_port + 1))
            done
            if [ "$failures" -ne 0 ]; then
                echo "FAILED: $failures check(s)" >&2
                exit 1
            fi
            echo "all tests passed"

            """#, isExecutable: true)
    }
}
