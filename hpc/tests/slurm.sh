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
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: $0 BIN_DIR}"

skip_unless_opted_in slurm-cluster-test GEOPREDICT_SLURM_TEST "about 5 minutes; hpc/test --slurm, or GEOPREDICT_SLURM_TEST=1"
skip_unless_root slurm-cluster-test "create network namespaces and run slurmd"
if [ "$GEOPREDICT_MPI" = mpich ]; then
    # hpc/slurm-cluster-test --mpi mpich runs, but does not pass yet: hpc/README.md, "The Slurm cluster test".
    echo "SKIPPED slurm-cluster-test under MPICH: not passing yet (hpc/README.md says what fails); run it under OpenMPI"
    exit 0
fi
skip_unless_netns slurm-cluster-test
exec "$GEOPREDICT_ROOT/hpc/slurm-cluster-test" --bin "$bin"
