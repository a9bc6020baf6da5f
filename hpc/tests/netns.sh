#!/usr/bin/env bash
# The multi-host test (hpc/netns-cluster-test) as part of hpc/test: three test hosts made of network
# namespaces, MPI over TCP between them, the service across them, and a cut link. Skips (exit 0, with
# the reason) where it cannot run: not root, or network namespaces are not permitted (containers
# without CAP_SYS_ADMIN / NET_ADMIN). Bounded: the test's own --time-limit (290 s) plus start-up.
# Usage: hpc/tests/netns.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/netns-cluster.sh"
bin="${1:?usage: $0 BIN_DIR}"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIPPED netns-cluster-test: needs root to create network namespaces (run hpc/test as root to include it)"
    exit 0
fi
command -v ip >/dev/null && command -v unshare >/dev/null || ensure_packages iproute2 util-linux
if ! netns_permitted; then
    echo "SKIPPED netns-cluster-test: 'ip netns add' is not permitted here (no CAP_SYS_ADMIN/CAP_NET_ADMIN, e.g. an unprivileged container)"
    exit 0
fi
exec "$GEOPREDICT_ROOT/hpc/netns-cluster-test" --bin "$bin"
