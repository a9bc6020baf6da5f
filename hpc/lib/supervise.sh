# shellcheck shell=bash
# Supervision of a serving job: restart it when it exits with an error, stop it cleanly on a signal.
# Source it after common.sh. A job that exits non-zero (a rank crashed, or the round watchdog found a
# rank unresponsive past --round-timeout) loses nothing acknowledged, since every rank replays its
# write-ahead log on start, so restarting it is safe; a job that exits 0 was asked to stop.

# Seconds a job must run before a later failure resets the back-off to its first step: a job that
# served for five minutes failed on something new, not on the cause of the previous restart.
GEOPREDICT_HEALTHY_SECONDS="${GEOPREDICT_HEALTHY_SECONDS:-300}"
# A job that fails this soon after the first launch has a start-up error (bad flag, missing data, port
# in use) that a restart will not fix; report it instead of restarting for ever.
GEOPREDICT_START_GRACE_SECONDS="${GEOPREDICT_START_GRACE_SECONDS:-30}"
# Back-off between restarts: 1 s, doubling up to a minute, so a job that keeps failing neither spins
# nor leaves the service down for long once its cause is gone.
GEOPREDICT_FIRST_BACKOFF_SECONDS=1
GEOPREDICT_MAX_BACKOFF_SECONDS=60

# The descendants of process $1 (children, grandchildren, ...), one per line.
descendants_of() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do
        echo "$child"
        descendants_of "$child"
    done
    return 0
}

# The process id of rank $2 among the descendants of process $1, or nothing. OpenMPI and MPICH (PMI)
# name a process's rank differently.
rank_pid_of() {
    local pid
    for pid in $(descendants_of "$1"); do
        if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -Eqx "(OMPI_COMM_WORLD_RANK|PMI_RANK)=$2"; then
            echo "$pid"
            # An explicit status: in a trap handler a bare return gives the status of the command the
            # signal interrupted (the wait's 143), which set -e would take for a failure.
            return 0
        fi
    done
    return 0
}

# Rank 0 of job $1: the rank that answers HTTP and drains in-flight requests on SIGTERM.
rank_zero_of() { rank_pid_of "$1" 0; }

# Asks job $1 to stop cleanly: SIGTERM to rank 0, which drains the requests in flight and then stops
# every rank (mpirun itself would kill the ranks abruptly). Without a rank 0 yet, the whole job.
stop_job() {
    local job="$1" pid
    pid=$(rank_zero_of "$job")
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
    else
        # shellcheck disable=SC2046 # one process id per word
        kill -TERM "$job" $(descendants_of "$job") 2>/dev/null || true
    fi
    return 0
}

# Seconds the launcher may outlive rank 0. When rank 0 exits with an error (its watchdog found a rank
# unresponsive), mpirun tries to reach every host to stop the other ranks, and waits for ever on a host
# it cannot reach (measured with a cut link in hpc/netns-cluster-test); past this the launcher is
# killed, so that the job ends and can be restarted.
GEOPREDICT_LAUNCHER_GRACE_SECONDS="${GEOPREDICT_LAUNCHER_GRACE_SECONDS:-30}"

# Waits for job $1 to end, through waits cut short by trapped signals, and sets supervised_status to
# its exit status; ends a launcher that outlives its rank 0 by GEOPREDICT_LAUNCHER_GRACE_SECONDS.
# (It must run in the job's own shell, not in a command substitution.)
supervise_wait() {
    local job="$1" rank_zero="" rank_zero_gone=""
    supervised_status=0
    while kill -0 "$job" 2>/dev/null; do
        if [ -z "$rank_zero" ]; then
            rank_zero=$(rank_zero_of "$job")
        elif ! kill -0 "$rank_zero" 2>/dev/null; then
            rank_zero_gone="${rank_zero_gone:-$(date +%s)}"
            if [ $(( $(date +%s) - rank_zero_gone )) -ge "$GEOPREDICT_LAUNCHER_GRACE_SECONDS" ]; then
                log "rank 0 exited ${GEOPREDICT_LAUNCHER_GRACE_SECONDS}s ago and the launcher is still waiting (a host it cannot reach?): ending it"
                end_launcher "$job"
            fi
        fi
        sleep 1 &
        wait $! 2>/dev/null || true
    done
    wait "$job" 2>/dev/null && supervised_status=0 || supervised_status=$?
    return 0
}

# Kills job $1 and every process below it (SIGKILL: the launcher has stopped listening).
end_launcher() {
    # shellcheck disable=SC2046 # one process id per word
    kill -KILL $(descendants_of "$1") "$1" 2>/dev/null || true
    return 0
}

# Runs COMMAND... as a job and restarts it with back-off whenever it exits non-zero, at most
# MAX_RESTARTS times (-1: no limit, 0: never). SIGTERM or SIGINT stop the job cleanly and end the
# supervision; returns the job's last exit status.
# Usage: supervise_job MAX_RESTARTS COMMAND...
supervise_job() {
    local max_restarts="$1"
    shift
    local restarts=0 backoff="$GEOPREDICT_FIRST_BACKOFF_SECONDS" first_launch launched ran
    supervised_job=""
    supervised_stopping=0
    trap 'supervised_stopping=1; [ -n "$supervised_job" ] && stop_job "$supervised_job"' TERM INT
    first_launch=$(date +%s)
    while :; do
        launched=$(date +%s)
        "$@" &
        supervised_job=$!
        supervise_wait "$supervised_job"
        ran=$(( $(date +%s) - launched ))
        if [ "$supervised_stopping" -eq 1 ] || [ "$supervised_status" -eq 0 ]; then
            return "$supervised_status"
        fi
        if [ $(( $(date +%s) - first_launch )) -lt "$GEOPREDICT_START_GRACE_SECONDS" ] && [ "$restarts" -eq 0 ]; then
            log "the job failed ${ran}s after start (exit $supervised_status): a start-up error, not restarting"
            return "$supervised_status"
        fi
        if [ "$max_restarts" -ge 0 ] && [ "$restarts" -ge "$max_restarts" ]; then
            log "the job exited with status $supervised_status after $restarts restart(s): giving up (--max-restarts $max_restarts)"
            return "$supervised_status"
        fi
        [ "$ran" -ge "$GEOPREDICT_HEALTHY_SECONDS" ] && backoff="$GEOPREDICT_FIRST_BACKOFF_SECONDS"
        restarts=$((restarts + 1))
        log "the job exited with status $supervised_status after ${ran}s: restart $restarts in ${backoff}s (every acknowledged event is replayed from the logs)"
        sleep "$backoff" &
        supervise_wait $!
        [ "$supervised_stopping" -eq 1 ] && return 0
        backoff=$(( backoff * 2 > GEOPREDICT_MAX_BACKOFF_SECONDS ? GEOPREDICT_MAX_BACKOFF_SECONDS : backoff * 2 ))
    done
}
