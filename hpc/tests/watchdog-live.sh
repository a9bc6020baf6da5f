#!/usr/bin/env bash
# The watchdog ends a job whose rank stopped answering, so that a supervisor can restart it: a 2-rank
# `mpiplug serve --round-timeout 3`, rank 1 frozen with SIGSTOP, one Echo call. The call must get 503
# (or lose its connection as the job ends), mpirun must exit non-zero within a bound, and no process of
# the job may be left behind. Before, the job stayed up answering 503 for ever.
# Usage: hpc/tests/watchdog-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: $0 BIN_DIR}"
port=18231
round_timeout=3
# The round timeout, the watchdog's 0.1 s tick, its second of grace for the 503s and mpirun's
# clean-up of the stopped rank, with room for a loaded 2-core machine.
exit_bound=40

workdir=$(mktemp -d)
job=""
cleanup() {
    if [ -n "$job" ] && kill -0 "$job" 2>/dev/null; then
        pkill -CONT -P "$job" 2>/dev/null || true
        kill -KILL -- "-$job" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT


# setsid: the job is a process group of its own, so the clean-up above can reach every rank.
# (mpirun_local's line, inline so that $job is mpirun itself.)
setsid mpirun --oversubscribe --bind-to none -np 2 "$bin/mpiplug" serve --port "$port" --round-timeout "$round_timeout" \
    >"$workdir/job.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do
    grep -q "serving .* on http" "$workdir/job.log" && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
done
grep -q "serving .* on http" "$workdir/job.log" || { cat "$workdir/job.log" >&2; echo "FAILED: the job did not start" >&2; exit 1; }
url="http://127.0.0.1:$port"
echo_call() {
    curl -sS -o "$workdir/echo.body" -w '%{http_code}' --max-time "$1" -X POST -H 'Content-Type: application/json' \
        -d '{"value":"1"}' "$url/mpiplug.v1.DiagnosticsService/Echo" 2>/dev/null || true
}
check "the 2-rank job answers Echo before the freeze" test "$(echo_call 30)" = 200

# mpirun's children are the ranks; rank 1 is the one whose environment says so.
rank1=""
for pid in $(pgrep -P "$job" || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then rank1=$pid; fi
done
[ -n "$rank1" ] || { echo "FAILED: rank 1 not found among mpirun's children" >&2; exit 1; }
job_pids=$(pgrep -P "$job" | tr '\n' ' ')
kill -STOP "$rank1"
frozen_at=$(date +%s%N)
seconds_since_freeze() { local ms=$(( ($(date +%s%N) - frozen_at) / 1000000 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

code=$(echo_call "$exit_bound")
answered_after=$(seconds_since_freeze)
check "the call in the stuck round is answered 503 or cut as the job ends, not hung (got '$code' after ${answered_after}s)" \
    test "$code" = 503 -o "$code" = 000

status=""
deadline=$(( $(date +%s) + exit_bound ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! kill -0 "$job" 2>/dev/null; then
        wait "$job" && status=0 || status=$?
        break
    fi
    sleep 0.2
done
elapsed=$(seconds_since_freeze)
check "mpirun exits within ${exit_bound}s of the freeze (after ${elapsed}s, status '${status:-still running}')" test -n "$status"
check "mpirun's exit status is non-zero, so that a supervisor restarts the job (status '${status:-none}')" \
    test -n "$status" -a "${status:-0}" != 0
grep -q "exiting" "$workdir/job.log" && echo "log: $(grep -m1 'exiting' "$workdir/job.log")"

# mpirun wakes and ends the frozen rank as it aborts; give it a moment to go.
left="$job_pids"
for _ in $(seq 1 75); do
    left=""
    for pid in $job_pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
    [ -z "$left" ] && break
    sleep 0.2
done
check "no process of the job is left behind 15 s after mpirun exited (left:${left:- none})" test -z "$left"
job=""

finish_checks watchdog-live "$workdir/job.log"
