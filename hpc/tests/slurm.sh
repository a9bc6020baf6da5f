#!/usr/bin/env bash
# The real-Slurm cluster test (hpc/slurm-cluster-test) as part of hpc/test, opt-in because it adds
# about 4-5 minutes: `hpc/test --slurm` or GEOPREDICT_SLURM_TEST=1. munge, slurmctld and three slurmd
# in network-namespace hosts; spmd-tests.sbatch and geopredict.sbatch across them, a prediction,
# scancel, a cut link, with the OpenMPI build hpc/test made.
# Skips (exit 0, with the reason) when not asked for, not root, or where network namespaces are not
# permitted. Installs slurm-wlm and munge through ensure_packages when it runs.
# Usage: hpc/tests/slurm.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/netns-cluster.sh"
bin="${1:?usage: $0 BIN_DIR}"

if [ "${GEOPREDICT_SLURM_TEST:-0}" != 1 ]; then
    echo "SKIPPED slurm-cluster-test: opt-in, about 5 minutes (hpc/test --slurm, or GEOPREDICT_SLURM_TEST=1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIPPED slurm-cluster-test (needs root): network namespaces, and slurmd runs as root"
    exit 0
fi
if [ "$GEOPREDICT_MPI" = mpich ]; then
    # hpc/slurm-cluster-test --mpi mpich runs, but does not pass yet: hpc/README.md, "The Slurm cluster test".
    echo "SKIPPED slurm-cluster-test under MPICH: not passing yet (hpc/README.md says what fails); run it under OpenMPI"
    exit 0
fi
command -v ip >/dev/null && command -v unshare >/dev/null || ensure_packages iproute2 util-linux
if ! netns_permitted; then
    echo "SKIPPED slurm-cluster-test: 'ip netns add' is not permitted here (no CAP_SYS_ADMIN/CAP_NET_ADMIN)"
    exit 0
fi
exec "$GEOPREDICT_ROOT/hpc/slurm-cluster-test" --bin "$bin"
