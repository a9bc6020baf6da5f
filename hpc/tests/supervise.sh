#!/usr/bin/env bash
# Live test of hpc/serve's supervision (hpc/lib/supervise.sh) on a 2-rank GeoPredict job: a job whose
# rank is killed (kill -9) is restarted and still has every acknowledged event; SIGTERM to the
# supervisor stops the job cleanly with nothing left running; a start-up error is reported, not
# restarted for ever; a launcher that outlives its rank 0 is ended. About 40 s.
# Usage: hpc/tests/supervise.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/supervise.sh"
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: $0 BIN_DIR}"
port=18050
url="http://127.0.0.1:$port"
api="$url/geopredict.v1.GeoPredictService"
work=$(mktemp -d)
supervisor=""
cleanup() {
    if [ -n "$supervisor" ] && kill -0 "$supervisor" 2>/dev/null; then
        # shellcheck disable=SC2046 # one process id per word
        kill -KILL "$supervisor" $(descendants_of "$supervisor") 2>/dev/null || true
    fi
    # A job orphaned by a failed check must not outlive the test (and answer the next run's calls).
    pkill -KILL -f -- "serve --host 127.0.0.1 --port $port " 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT


call() { curl -s -m 30 -H 'Content-Type: application/json' -d "$2" "$api/$1"; }

start_supervised() {
    (
        export GEOPREDICT_START_GRACE_SECONDS=5
        supervise_job -1 mpirun_local 2 "$bin/geopredict" serve --host 127.0.0.1 --port "$port" \
            --state "$work/state" --users 500 --store-count 50 "$@"
    ) >"$work/supervisor.log" 2>&1 &
    supervisor=$!
}

start_supervised
check "the supervised job becomes healthy" wait_healthy "$url" 180

now=$(date +%s)
acknowledged=0
for i in 1 2 3 4 5; do
    answer=$(call IngestEvents '{"events":[{"userId":"supervised-user","timestampUnixSeconds":"'$((now - 3600 * i))'","latitude":40.73,"longitude":-73.99}]}')
    case "$answer" in *'"accepted":1'*) acknowledged=$((acknowledged + 1)) ;; *) echo "ingest answered: $answer" >&2 ;; esac
done
check "5 raw GPS events acknowledged" test "$acknowledged" -eq 5

sleep 6 # past the start-up grace, so that a failure now is restarted
victim=$(rank_pid_of "$supervisor" 1)
check "rank 1 found" test -n "$victim"
[ -n "$victim" ] && kill -KILL "$victim"
restarted() { grep -q "restart 1 in" "$work/supervisor.log"; }
wait_restart() {
    local deadline=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do restarted && return 0; sleep 0.5; done
    return 1
}
check "the supervisor restarts a job whose rank was killed" wait_restart
check "the restarted job becomes healthy" wait_healthy "$url" 180
user=$(call GetUser '{"userId":"supervised-user"}')
check "every acknowledged event is there after the restart ($user)" grep -q '"eventCount":"5"' <<<"$user"

# Waits up to 60 s for the supervisor to end.
supervisor_ends() {
    local deadline=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do kill -0 "$supervisor" 2>/dev/null || return 0; sleep 0.5; done
    return 1
}

kill -TERM "$supervisor"
check "SIGTERM stops the supervised job within 60 s" supervisor_ends
wait "$supervisor" && status=0 || status=$?
check "the supervisor exits 0 after SIGTERM (exit $status)" test "$status" -eq 0
check "no rank left running" test -z "$(pgrep -f -- "--port $port" || true)"

start_supervised --data "$work/missing.tsv" --format tsmc
check "a start-up error ends the supervision" supervisor_ends
wait "$supervisor" && status=0 || status=$?
check "... with a non-zero status (exit $status)" test "$status" -ne 0
check "... saying it is not restarting" grep -q "not restarting" "$work/supervisor.log"

# A launcher that outlives its rank 0 (mpirun waiting on a host it cannot reach) is ended after the
# grace period: here a "launcher" shell whose "rank 0" (a child with rank 0's environment) exits
# after 5 s (time for the supervisor's once-a-second look to find it, even on a loaded machine; with
# 1 s it could be gone before the first look, and the test then waited the whole 10 minutes) while
# the shell would wait for 10 minutes.
lingering_started=$(date +%s)
(
    export GEOPREDICT_LAUNCHER_GRACE_SECONDS=3 GEOPREDICT_START_GRACE_SECONDS=0
    supervise_job 0 bash -c 'OMPI_COMM_WORLD_RANK=0 sleep 5 & sleep 600'
) >"$work/lingering.log" 2>&1 &
supervisor=$!
wait "$supervisor" && status=0 || status=$?
lingering_seconds=$(( $(date +%s) - lingering_started ))
check "a launcher that outlives rank 0 is ended after the grace (${lingering_seconds} s, exit $status)" \
    test "$lingering_seconds" -lt 40 -a "$status" -ne 0
check "... saying why" grep -q "launcher is still waiting" "$work/lingering.log"

finish_checks supervise "$work/supervisor.log"
