#!/usr/bin/env bash
# GeoPredict as an unprivileged user (an HPC centre's login node: no root, no apt, libraries from
# modules or the system): as a user this test creates, in a clone of that user's own, it checks that
#   1. ensure_packages finds everything present without trying to install (no sudo, no apt);
#   2. with a library missing it fails at once and says what to install on Debian, on RHEL-family
#      systems and with `module load`, instead of reaching for sudo;
#   3. SwiftPM resolves the package's dependencies from the machine's local copies as that user;
#   4. the built SPMD test program runs under mpirun at 2 ranks as that user (no root variables).
# GEOPREDICT_NO_ROOT_FULL=1 also runs `hpc/test --quick` (a whole debug build, ~10 min here) and
# `hpc/serve` to its first answer as that user; it is opt-in for CI's time. Needs root to create the
# user: SKIPPED otherwise.
#
# Usage: hpc/tests/no-root.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: no-root.sh BIN_DIR}"

skip_unless_root no-root "create an unprivileged user"
user=geopredict-ci
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
work=$(runuser -u "$user" -- mktemp -d "$home/no-root.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Runs a shell command as the user in its clone, with a login-like environment: no OMPI_ALLOW_RUN_AS_ROOT*.
as_user() {
    runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH="$PATH" LANG=C.UTF-8 \
        bash -c "cd '$work/clone' && $1"
}

# Cloned by root and handed over: git refuses to read a repository another user owns (safe.directory),
# and the checkout here is root's. A real user clones from a server.
git clone --quiet "$GEOPREDICT_ROOT" "$work/clone"
chown -R "$user" "$work/clone"

packages_found() {
    local output
    output=$(as_user 'source hpc/lib/common.sh && ensure_packages "${GEOPREDICT_PACKAGES[@]}" && echo all-present' 2>&1)
    [ "$output" = all-present ] || { printf '%s\n' "$output" >&2; return 1; }
}
check "as the user, every requirement is found by pkg-config and PATH, with nothing installed" packages_found

missing_reported() {
    local output status
    # OpenMPI's pkg-config module hidden: what a login node without `module load openmpi` looks like.
    output=$(as_user 'export PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=; source hpc/lib/common.sh && ensure_packages libopenmpi-dev' 2>&1) \
        && status=0 || status=$?
    local expected
    for expected in "missing what GeoPredict needs: libopenmpi-dev" "apt-get install libopenmpi-dev" \
        "dnf install openmpi-devel" "module load openmpi"; do
        grep -qF "$expected" <<< "$output" || { echo "the report lacks '$expected':" >&2; printf '%s\n' "$output" >&2; return 1; }
    done
    ! grep -qi "sudo: \|password" <<< "$output" && [ "$status" -ne 0 ]
}
check "a missing library fails at once with the Debian, dnf and module commands, without sudo" missing_reported

no_install_honoured() {
    # As root too, --no-install (GEOPREDICT_NO_INSTALL) reports instead of installing.
    local output
    output=$(GEOPREDICT_NO_INSTALL=1 bash -c 'source "$0" && ensure_packages geopredict-no-such-package' \
        "$GEOPREDICT_ROOT/hpc/lib/common.sh" 2>&1) && return 1
    grep -qF "apt-get install geopredict-no-such-package" <<< "$output" && ! grep -q "installing Debian packages" <<< "$output"
}
check "GEOPREDICT_NO_INSTALL=1 makes even root report instead of installing" no_install_honoured

resolves() {
    # Through the scripts' environment (common.sh), as hpc/test and hpc/serve build.
    as_user 'source hpc/lib/common.sh && { timeout 300 swift package resolve >/dev/null 2>&1 || swift package resolve; }'
}
check "as the user, SwiftPM resolves the dependencies from the machine's local package copies" resolves

spmd_as_user() {
    cp "$bin/mpi-spmd-tests" "$work/mpi-spmd-tests"
    chown "$user" "$work/mpi-spmd-tests"
    as_user "source hpc/lib/common.sh && run_spmd 2 300 '$work/mpi-spmd-tests'"
}
check "as the user, the SPMD suite passes under mpirun at 2 ranks" spmd_as_user

if [ "${GEOPREDICT_NO_ROOT_FULL:-}" = 1 ]; then
    check "as the user, hpc/test --quick passes in the user's clone" as_user 'hpc/test --quick'
    serve_as_user() {
        local port=18420 pid answered=1
        as_user "exec hpc/serve --port $port --ranks 2 --no-restart --state '$work/state'" > "$work/serve.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 900); do
            curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { answered=0; break; }
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        pkill -TERM -u "$user" -f "geopredict serve" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        [ "$answered" -eq 0 ] || tail -n 30 "$work/serve.log" >&2
        return "$answered"
    }
    check "as the user, hpc/serve builds (release) and answers /healthz" serve_as_user
else
    echo "no-root: the whole hpc/test --quick and hpc/serve as the user are opt-in: GEOPREDICT_NO_ROOT_FULL=1"
fi

finish_checks no-root
