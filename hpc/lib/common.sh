# shellcheck shell=bash
# Shared by the hpc/ scripts: set-up of a fresh Debian machine and the right mpirun line.
# Source it; it defines functions and exports the environment OpenMPI needs.

GEOPREDICT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GEOPREDICT_ROOT

# Debian packages the project builds and tests against.
GEOPREDICT_PACKAGES=(
    libopenmpi-dev openmpi-bin          # MPI: headers, libmpi, mpirun
    libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libcurl4-openssl-dev  # protoc, the C client
    libprotobuf-dev                     # protoc's google/protobuf/*.proto (MPIPlug's options import descriptor.proto)
    pkg-config xz-utils curl python3-venv zlib1g-dev   # zlib: gzip request bodies (CZlib)
    libxgboost-dev                      # the boosted ranker (--ranker xgboost), loaded at run time
)

# The MPI family to build and run with: openmpi (the default) or mpich (GEOPREDICT_MPI=mpich; the
# MPICH ABI family: MPICH, Intel MPI, Cray MPICH, MVAPICH). MPICH builds in a folder of its own,
# .build-mpich, so both can be built side by side; every swift command of the scripts takes
# "${GEOPREDICT_SWIFT_SCRATCH[@]}".
GEOPREDICT_MPI="${GEOPREDICT_MPI:-openmpi}"
# shellcheck disable=SC2034  # GEOPREDICT_SWIFT_SCRATCH is for the scripts that source this file
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

# What each Debian package name stands for, so that a machine without apt (or a user without root)
# is checked by what the build needs rather than by dpkg: "probe|RHEL-family package|module or Spack
# name". A probe is pc:NAME (a pkg-config module), cmd:NAME[,NAME] (a command on PATH, any of them)
# or py:MODULE (a module of python3).
declare -gA GEOPREDICT_REQUIREMENTS=(
    [libopenmpi-dev]="pc:ompi-c|openmpi-devel|module load openmpi (Spack: openmpi)"
    [openmpi-bin]="cmd:mpirun|openmpi|module load openmpi (Spack: openmpi)"
    [libmpich-dev]="pc:mpich|mpich-devel|module load mpich, cray-mpich, intel-mpi or mvapich (Spack: mpich)"
    [mpich]="cmd:mpiexec.mpich,mpiexec.hydra|mpich|module load mpich (Spack: mpich)"
    [libprotobuf-c-dev]="pc:libprotobuf-c|protobuf-c-devel|Spack: protobuf-c"
    [protobuf-c-compiler]="cmd:protoc-c|protobuf-c-compiler|Spack: protobuf-c"
    [protobuf-compiler]="cmd:protoc|protobuf-compiler|module load protobuf (Spack: protobuf)"
    [libprotobuf-dev]="pc:protobuf|protobuf-devel|module load protobuf (Spack: protobuf)"
    [libcurl4-openssl-dev]="pc:libcurl|libcurl-devel|Spack: curl"
    [zlib1g-dev]="pc:zlib|zlib-devel|Spack: zlib"
    [libxgboost-dev]="pc:xgboost|xgboost-devel|Spack: xgboost"
    [pkg-config]="cmd:pkg-config|pkgconf-pkg-config|Spack: pkgconf"
    [xz-utils]="cmd:xz|xz|Spack: xz"
    [curl]="cmd:curl|curl|Spack: curl"
    [python3-venv]="py:ensurepip|python3|module load python (Spack: python)"
    [iproute2]="cmd:ip|iproute|(a system tool: ask the administrators)"
    [util-linux]="cmd:unshare|util-linux|(a system tool: ask the administrators)"
    [shellcheck]="cmd:shellcheck|ShellCheck|Spack: shellcheck"
    [wrk]="cmd:wrk|wrk|Spack: wrk (on RHEL, wrk is in EPEL)"
    [haproxy]="cmd:haproxy|haproxy|Spack: haproxy"
    [slurm-wlm]="cmd:slurmctld|slurm-slurmctld slurm-slurmd|(a system service: ask the administrators)"
    [munge]="cmd:munged|munge|(a system service: ask the administrators)"
    # The console's browser test (hpc/tests/console-browser.sh) only: a headless browser and its driver.
    [chromium]="cmd:chromium,chromium-browser|chromium|(a browser: ask the administrators; on RHEL it is in EPEL)"
    [chromium-driver]="cmd:chromedriver|chromedriver|(ships with Chromium: ask the administrators; on RHEL it is in EPEL)"
    # benchmarks/kernels only (GeoPredict's own solves are hand-written): OpenBLAS and LAPACKE to time them against.
    [libopenblas-dev]="pc:openblas|openblas-devel|module load openblas (Spack: openblas)"
    [liblapacke-dev]="pc:lapacke|lapack-devel|module load openblas (Spack: netlib-lapack +lapacke)"
)

# True when the Debian package "$1" is present: by its probe where one is known (whatever installed
# it: apt, dnf, a module, Spack), else by dpkg.
package_present() {
    local requirement="${GEOPREDICT_REQUIREMENTS[$1]:-}"
    local probe="${requirement%%|*}"
    case "$probe" in
        pc:*) command -v pkg-config >/dev/null && pkg-config --exists "${probe#pc:}" ;;
        cmd:*)
            local name names
            IFS=, read -r -a names <<< "${probe#cmd:}"
            for name in "${names[@]}"; do command -v "$name" >/dev/null && return 0; done
            return 1
            ;;
        py:*) python3 -c "import ${probe#py:}" >/dev/null 2>&1 ;;
        *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" ;;
    esac
}

# Whether ensure_packages may install: as root on a machine with apt-get, unless GEOPREDICT_NO_INSTALL
# is set (hpc/serve and hpc/test --no-install). An unprivileged user is never sent to sudo: the
# report below says what to install instead.
may_install_packages() {
    [ -z "${GEOPREDICT_NO_INSTALL:-}" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null
}

# Says which of the Debian packages in "$@" are missing and how to get each on Debian, on RHEL-family
# systems and on a cluster.
report_missing_packages() {
    local package requirement rest debian=() rhel=() clusters=()
    for package in "$@"; do
        requirement="${GEOPREDICT_REQUIREMENTS[$package]:-|$package|}"
        rest="${requirement#*|}"
        debian+=("$package")
        rhel+=("${rest%%|*}")
        [ -n "${rest#*|}" ] && clusters+=("  $package: ${rest#*|}")
    done
    {
        echo "error: missing what GeoPredict needs: ${debian[*]}"
        echo "  (looked with pkg-config and on PATH; GEOPREDICT_NO_INSTALL=${GEOPREDICT_NO_INSTALL:-}, uid $(id -u))"
        echo "Install it with one of:"
        echo "  Debian/Ubuntu:  sudo apt-get install ${debian[*]}"
        echo "  RHEL-family:    sudo dnf install ${rhel[*]}"
        echo "On a cluster, load it instead (names vary by site; 'module avail' lists them):"
        printf '%s\n' "${clusters[@]}"
        echo "then run this command again."
    } >&2
}

# Installs the Debian packages in "$@" that are missing; idempotent, quiet when all are present.
# Refreshes apt's lists first when one of them has no install candidate (a fresh machine's lists are
# empty), and shows apt's own words when the install fails. Where it may not install (no root, no
# apt, --no-install) it reports what is missing and fails.
ensure_packages() {
    local missing=() package
    for package in "$@"; do
        package_present "$package" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! may_install_packages; then
        report_missing_packages "${missing[@]}"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    local candidates_missing=0
    for package in "${missing[@]}"; do
        apt-cache policy "$package" 2>/dev/null | grep -q 'Candidate: [^(]' || candidates_missing=1
    done
    if [ "$candidates_missing" -eq 1 ]; then
        log "refreshing apt's package lists first"
        apt-get update -qq >/dev/null 2>&1 || apt-get update
    fi
    local output
    output=$(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" 2>&1) \
        || { printf '%s\n' "$output" | tail -n 20 >&2; report_missing_packages "${missing[@]}"; return 1; }
}

# Runs a swift build command ("$@"), printing a line each time it starts compiling another module
# (a first release build takes minutes; silence reads as a hang), and the compiler's output if it fails.
swift_build_with_progress() {
    local output status_file status started line module last=""
    output=$(mktemp)
    status_file=$(mktemp)
    started=$(date +%s)
    { if "$@" 2>&1; then status=0; else status=$?; fi; echo "$status" > "$status_file"; } | tee "$output" | while IFS= read -r line; do
        [[ "$line" =~ ^\[([0-9]+)/([0-9]+)\]\ Compiling\ ([A-Za-z0-9_]+)\  ]] || continue
        module="${BASH_REMATCH[3]}"
        [ "$module" = "$last" ] && continue
        last="$module"
        printf '    [%s/%s] %s (%ss)\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$module" "$(( $(date +%s) - started ))" >&2
    done
    status=$(cat "$status_file")
    [ "$status" -eq 0 ] || grep -Ev '^\[[0-9]+/[0-9]+\]' "$output" | tail -n 60 >&2
    rm -f "$output" "$status_file"
    return "$status"
}

# SwiftPM fetches packages with git. Where git is told to read github.com from a local copy (a
# machine's package mirror, url.<dir>.insteadOf in the system config) that another user owns, git
# refuses it as "dubious ownership" and an unprivileged build cannot resolve. git (2.39) honours
# safe.directory only in system or global config, so this process and its children get a global
# config of their own: the user's ~/.gitconfig included, plus those copies marked safe. The user's
# own files are not touched.
trust_package_mirror() {
    local mirror repository entries=()
    while read -r mirror; do
        mirror="${mirror%/}"
        [ -d "$mirror" ] && [ ! -O "$mirror" ] || continue
        for repository in "$mirror"/*/*.git; do
            [ -d "$repository" ] && entries+=("$repository")
        done
    done < <(git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null \
        | sed -E 's/^url\.(.*)\.insteadof .*/\1/' | sort -u)
    [ ${#entries[@]} -gt 0 ] || return 0
    local config="${XDG_CACHE_HOME:-$HOME/.cache}/geopredict/gitconfig"
    local users_config="${GIT_CONFIG_GLOBAL:-$HOME/.gitconfig}"
    [ "$users_config" = "$config" ] && users_config="$HOME/.gitconfig"   # sourced twice
    mkdir -p "$(dirname "$config")"
    {
        printf '[include]\n\tpath = %s\n[safe]\n' "$users_config"
        printf '\tdirectory = %s\n' "${entries[@]}"
    } > "$config.$$" && mv "$config.$$" "$config"
    export GIT_CONFIG_GLOBAL="$config"
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
if [ "$(id -u)" -ne 0 ] && command -v git >/dev/null; then
    trust_package_mirror
fi

# OpenMPI refuses to run as root unless told; allow it, since containers and CI run as root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# One BLAS/OpenMP thread per rank for what links them (the benchmarks' Python peers, a service of
# one's own; GeoPredict itself does not use BLAS): ranks already fill the cores.
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

# The versions of every Python package the scripts install (a pip constraints file).
PYTHON_CONSTRAINTS="${GEOPREDICT_ROOT}/hpc/python-constraints.txt"

# ensure_venv VENV PACKAGE...: creates the Python virtual environment VENV if it is missing and
# installs the PACKAGEs, names without versions, at the versions pinned in
# hpc/python-constraints.txt, their dependencies too, and pip and setuptools at theirs (a venv seeds
# whatever its Python bundles). A package at its pinned version already is left alone (pip needs no
# network then); one at another version is replaced, so that an existing environment follows the file.
ensure_venv() {
    local venv="$1"
    shift
    if [ ! -x "$venv/bin/python" ]; then
        log "creating $venv"
        python3 -m venv "$venv" || return 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$PYTHON_CONSTRAINTS" \
        pip setuptools "$@"
}

# A Python virtual environment for the interop tests and clients (connect-python, protobuf,
# requests, Selenium for the console's browser test, httpx and h2 for the HTTP/2 test), with Python code generated from proto/
# into $TEST_VENV/gen. Idempotent: pip runs only when the marker is missing, so the marker's
# version goes up when the list or its part of hpc/python-constraints.txt changes, and an existing
# environment then gets the change.
TEST_VENV="${GEOPREDICT_ROOT}/.build-venv"
ensure_test_venv() {
    ensure_packages python3-venv protobuf-compiler libprotobuf-dev
    if [ ! -x "$TEST_VENV/bin/python" ] || [ ! -f "$TEST_VENV/.installed-v4" ]; then
        log "setting up the Python test environment in $TEST_VENV"
        ensure_venv "$TEST_VENV" connect-python protoc-gen-connect-python protobuf requests selenium httpx h2 \
            || return 1
        touch "$TEST_VENV/.installed-v4"
    fi
    rm -rf "$TEST_VENV/gen" && mkdir -p "$TEST_VENV/gen"
    local protos
    mapfile -t protos < <(cd "$GEOPREDICT_ROOT" && find proto -name '*.proto' | sort)
    (cd "$GEOPREDICT_ROOT" && protoc -I proto \
        --plugin=protoc-gen-connect-python="$TEST_VENV/bin/protoc-gen-connect-python" \
        --python_out="$TEST_VENV/gen" --connect-python_out="$TEST_VENV/gen" \
        "${protos[@]}")
}

# benchmark_program SCRATCH PRODUCT: builds one program of benchmarks/Package.swift (release) in the
# scratch folder SCRATCH (relative to the repository root unless absolute) and prints its path. The
# benchmarks are a package of their own so that the root package's builds never compile them. On a
# failed build it shows the compiler's output and returns 1.
benchmark_program() {
    local scratch="$1" product="$2" args
    [[ "$scratch" = /* ]] || scratch="$GEOPREDICT_ROOT/$scratch"
    args=(-c release --package-path "$GEOPREDICT_ROOT/benchmarks" --scratch-path "$scratch")
    log "building $product (release, benchmarks/Package.swift, scratch path $scratch)"
    swift build "${args[@]}" --product "$product" >/dev/null 2>&1 \
        || swift build "${args[@]}" --product "$product" >&2 || return 1
    echo "$(swift build "${args[@]}" --show-bin-path)/$product"
}
