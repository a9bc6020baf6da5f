# shellcheck shell=bash
# What the shell tests (hpc/tests/*.sh) share: named checks that count failures instead of stopping at
# the first, the verdict at the end, the skips of a test that needs root or is opt-in, and the wait
# for /healthz.
# Source it after common.sh.

CHECK_FAILURES=0

# Runs "$@" as the check named $1: prints "ok: NAME" or "FAILED: NAME" and counts the failures, so that
# one failed check does not hide the others.
check() {
    local name="$1"
    shift
    if "$@"; then
        echo "ok: $name"
    else
        echo "FAILED: $name" >&2
        CHECK_FAILURES=$((CHECK_FAILURES + 1))
    fi
}

# Ends the test NAME unless running as root: "NAME: SKIPPED (needs root to WHY)", exit 0 (CI runs as
# root and runs them all).
skip_unless_root() {
    local name="$1" why="$2"
    [ "$(id -u)" -eq 0 ] && return 0
    echo "$name: SKIPPED (needs root to $why)"
    exit 0
}

# skip_unless_opted_in NAME VARIABLE HOW: ends the test NAME with "SKIPPED (opt-in: HOW)" unless the
# environment variable VARIABLE is 1 (long tests that CI's time budget leaves to a hand run).
skip_unless_opted_in() {
    local name="$1" variable="$2" how="$3"
    [ "${!variable:-0}" = 1 ] && return 0
    echo "$name: SKIPPED (opt-in: $how)"
    exit 0
}

# The verdict of the test NAME: "NAME: all checks passed", or the last lines of LOG (when given) and
# exit 1.
finish_checks() {
    local name="$1" log="${2:-}"
    if [ "$CHECK_FAILURES" -ne 0 ]; then
        [ -n "$log" ] && [ -f "$log" ] && tail -n 30 "$log" >&2
        echo "$name: $CHECK_FAILURES check(s) failed" >&2
        exit 1
    fi
    echo "$name: all checks passed"
}

# Waits up to SECONDS for GET URL/healthz to answer 200; gives up at once if the process PID (when
# given) has exited.
wait_healthy() {
    local url="$1" seconds="$2" pid="${3:-}"
    local deadline=$(( $(date +%s) + seconds ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz" 2>/dev/null)" = 200 ] && return 0
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
