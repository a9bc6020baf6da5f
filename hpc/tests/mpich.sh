#!/usr/bin/env bash
# MPICH as well as OpenMPI: builds the package against MPICH (GEOPREDICT_MPI=mpich, in .build-mpich),
# runs both SPMD suites at 1-4 ranks under MPICH's launcher, checks that they print the invariants
# OpenMPI prints at 1 rank (sums and model checksums: the same bits whatever the MPI), and runs the
# live API test at 2 ranks against the MPICH build. The first build of .build-mpich is most of its
# time. Run by hpc/test with OpenMPI's bin folder; nothing to do when hpc/test itself runs under MPICH.
# Usage: hpc/tests/mpich.sh OPENMPI_BIN_DIR
set -euo pipefail
openmpi_bin="${1:?usage: $0 OPENMPI_BIN_DIR}"
if [ "${GEOPREDICT_MPI:-openmpi}" = mpich ]; then
    echo "mpich.sh: hpc/test already runs under MPICH"
    exit 0
fi
export GEOPREDICT_MPI=mpich
source "$(dirname "$0")/../lib/common.sh"
cd "$GEOPREDICT_ROOT"
ensure_packages "${GEOPREDICT_PACKAGES[@]}"
ensure_swift

programs=(mpi-spmd-tests geopredict-spmd-tests)
log "building against MPICH ($(pkg-config --modversion mpich)) in .build-mpich"
for product in "${programs[@]}" geopredict; do
    swift build "${GEOPREDICT_SWIFT_SCRATCH[@]}" --product "$product" >/dev/null 2>&1 \
        || { swift build "${GEOPREDICT_SWIFT_SCRATCH[@]}" --product "$product" 2>&1 | tail -n 30; exit 1; }
done
bin="$(swift build "${GEOPREDICT_SWIFT_SCRATCH[@]}" --show-bin-path)"
# Against MPICH only: a stray OpenMPI libmpi beside it (the modulemap once linked it) crashes at MPI_Init.
libraries=$(ldd "$bin/mpi-spmd-tests")
if ! grep -q libmpich <<<"$libraries" || grep -q 'libmpi\.so' <<<"$libraries"; then
    echo "FAILED: $bin/mpi-spmd-tests is not linked against MPICH alone:" >&2
    grep -i mpi <<<"$libraries" >&2
    exit 1
fi

invariants=$(mktemp -d)
trap 'rm -rf "$invariants"' EXIT
mkdir -p "$invariants/openmpi" "$invariants/mpich"
failures=0
for program in "${programs[@]}"; do
    GEOPREDICT_MPI=openmpi SPMD_INVARIANTS_DIR="$invariants/openmpi" run_spmd 1 300 "$openmpi_bin/$program" >/dev/null \
        || failures=$((failures + 1))
    for ranks in 1 2 3 4; do
        SPMD_INVARIANTS_DIR="$invariants/mpich" run_spmd "$ranks" 300 "$bin/$program" || failures=$((failures + 1))
        if ! diff -q "$invariants/openmpi/$program.1" "$invariants/mpich/$program.$ranks" >/dev/null; then
            echo "FAILED: $program under MPICH at $ranks ranks printed other invariants than under OpenMPI:" >&2
            diff "$invariants/openmpi/$program.1" "$invariants/mpich/$program.$ranks" >&2 || true
            failures=$((failures + 1))
        fi
    done
    echo "$program: $(wc -l < "$invariants/openmpi/$program.1") invariant line(s) under MPICH at 1-4 ranks identical to OpenMPI's"
done

log "live API test against the MPICH build (2 ranks)"
ensure_test_venv
PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 900 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/geopredict_live.py" --binary "$bin/geopredict" --mode api --ranks 2 \
    || failures=$((failures + 1))

if [ "$failures" -ne 0 ]; then
    echo "FAILED: $failures MPICH check(s)" >&2
    exit 1
fi
echo "mpich: both SPMD suites at 1-4 ranks and the live API test pass under MPICH"
