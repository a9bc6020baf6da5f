#!/usr/bin/env bash
# The multi-host test (hpc/netns-cluster-test) as part of hpc/test: three test hosts made of network
# namespaces, MPI over TCP between them, the service across them, and a cut link. Skips (exit 0, with
# the reason) where it cannot run: not root, or network namespaces are not permitted (containers
# without CAP_SYS_ADMIN / NET_ADMIN). Bounded: the test's own --time-limit (290 s) plus start-up.
# Usage: hpc/tests/netns.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/netns-cluster.sh"
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: $0 BIN_DIR}"

skip_unless_netns netns-cluster-test
exec "$GEOPREDICT_ROOT/hpc/netns-cluster-test" --bin "$bin"
