# Shared by the hpc/ scripts: set-up of a fresh Debian machine and the right mpirun line.
# Source it; it defines functions and exports the environment OpenMPI needs.

GEOPREDICT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GEOPREDICT_ROOT

# Debian packages the project builds and tests against.
GEOPREDICT_PACKAGES=(
    libopenmpi-dev openmpi-bin          # MPI: headers, libmpi, mpirun
    libopenblas-dev liblapacke-dev      # BLAS/LAPACK for ALS
    libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libcurl4-openssl-dev  # protoc, the C client
    pkg-config xz-utils curl python3-venv
)

# The MPI family to build and run with: openmpi (the default) or mpich (GEOPREDICT_MPI=mpich; the
# MPICH ABI family: MPICH, Intel MPI, Cray MPICH, MVAPICH). MPICH builds in a folder of its own,
# .build-mpich, so both can be built side by side; every swift command of the scripts takes
# "${GEOPREDICT_SWIFT_SCRATCH[@]}".
GEOPREDICT_MPI="${GEOPREDICT_MPI:-openmpi}"
case "$GEOPREDICT_MPI" in
    openmpi) GEOPREDICT_SWIFT_SCRATCH=() ;;
    mpich)
        GEOPREDICT_SWIFT_SCRATCH=(--scratch-path "$GEOPREDICT_ROOT/.build-mpich")
        GEOPREDICT_PACKAGES+=(libmpich-dev mpich)
        ;;
    *) echo "error: GEOPREDICT_MPI must be openmpi or mpich, not $GEOPREDICT_MPI" >&2; return 2 2>/dev/null || exit 2 ;;
esac
export GEOPREDICT_MPI

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages in "$@" that are missing; idempotent, quiet when all are present.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: missing packages ${missing[*]} and no sudo to install them" >&2; return 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
        || { "${sudo[@]}" apt-get update -qq >/dev/null && \
             "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
}

# Makes swift findable on machines where the toolchain is installed but not on PATH.
ensure_swift() {
    command -v swift >/dev/null && return 0
    if [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
        return 0
    fi
    echo "error: no Swift toolchain found (install Swift 6.2 or later from swift.org)" >&2
    return 1
}

# OpenMPI refuses to run as root unless told; allow it, since containers and CI run as root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# One BLAS thread per rank: ranks already fill the cores, and the results must not depend on
# how OpenBLAS splits its work.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

# mpirun for this machine: --oversubscribe so that more ranks than cores can run (tests at 1-4 ranks
# on a 2-core machine); --bind-to none so that oversubscribed ranks are not pinned to one core.
# GEOPREDICT_HOSTFILE, if set, spreads the ranks over the hosts it lists (benchmarks/sweep --hostfile).
# Under GEOPREDICT_MPI=mpich it is MPICH's Hydra launcher, named explicitly because `mpirun` stays
# OpenMPI's when both are installed; Hydra neither binds nor limits ranks to cores by default, and
# its hostfile lists "host:slots".
mpirun_local() {
    local ranks="$1"
    shift
    local hosts=()
    if [ "$GEOPREDICT_MPI" = mpich ]; then
        [ -n "${GEOPREDICT_HOSTFILE:-}" ] && hosts=(-f "$GEOPREDICT_HOSTFILE")
        mpiexec.mpich "${hosts[@]}" -n "$ranks" "$@"
        return
    fi
    [ -n "${GEOPREDICT_HOSTFILE:-}" ] && hosts=(--hostfile "$GEOPREDICT_HOSTFILE")
    mpirun --oversubscribe --bind-to none "${hosts[@]}" -np "$ranks" "$@"
}

# Runs an SPMD test program at the given rank count with a timeout; checks its summary line.
# Usage: run_spmd RANKS TIMEOUT_SECONDS PROGRAM [ARGS...]
run_spmd() {
    local ranks="$1" limit="$2"
    shift 2
    local output status
    output=$(timeout --kill-after=10 "$limit" bash -c 'source "$0"; mpirun_local "$@"' \
        "${GEOPREDICT_ROOT}/hpc/lib/common.sh" "$ranks" "$@" 2>&1) && status=0 || status=$?
    local summary
    summary=$(printf '%s\n' "$output" | grep -E '^spmd: ranks=[0-9]+ passed=[0-9]+ failed=[0-9]+$' | tail -n 1)
    printf '%s\n' "$output" | grep -E '^FAIL' >&2 || true
    # Lines "<program>: invariant ..." must read the same at every rank count; keep them for comparison.
    if [ -n "${SPMD_INVARIANTS_DIR:-}" ]; then
        printf '%s\n' "$output" | grep -E '^[a-z-]+: invariant ' > "$SPMD_INVARIANTS_DIR/$(basename "$1").$ranks" || true
    fi
    if [ "$status" -ne 0 ] || [ -z "$summary" ] || ! printf '%s' "$summary" | grep -q ' failed=0$' \
        || ! printf '%s' "$summary" | grep -q "^spmd: ranks=${ranks} "; then
        printf '%s\n' "$output" | tail -n 40 >&2
        echo "FAILED: $(basename "$1") at $ranks ranks (exit $status)" >&2
        return 1
    fi
    echo "$summary  [$(basename "$1")]"
}

# A Python virtual environment for the interop tests and clients (connect-python, protobuf,
# requests), with Python code generated from proto/ into $TEST_VENV/gen. Idempotent.
TEST_VENV="${GEOPREDICT_ROOT}/.build-venv"
ensure_test_venv() {
    ensure_packages python3-venv protobuf-compiler
    if [ ! -x "$TEST_VENV/bin/python" ] || [ ! -f "$TEST_VENV/.installed-v1" ]; then
        log "creating the Python test environment in $TEST_VENV"
        python3 -m venv "$TEST_VENV"
        "$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "connect-python==0.9.0" "protoc-gen-connect-python==0.9.0" "protobuf>=6,<8" "requests>=2.31"
        touch "$TEST_VENV/.installed-v1"
    fi
    rm -rf "$TEST_VENV/gen" && mkdir -p "$TEST_VENV/gen"
    (cd "$GEOPREDICT_ROOT" && protoc -I proto \
        --plugin=protoc-gen-connect-python="$TEST_VENV/bin/protoc-gen-connect-python" \
        --python_out="$TEST_VENV/gen" --connect-python_out="$TEST_VENV/gen" \
        $(find proto -name '*.proto' | sort))
}
