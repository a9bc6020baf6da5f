#!/usr/bin/env bash
# Live tests of the MPIPlug front door under mpirun at 2 and 3 ranks, with independent clients:
# curl, Google's protoc --encode/--decode for raw binary bodies, connect-python, plus a fuzz run,
# TLS with a bearer token, graceful SIGTERM and the loss of a rank.
# Usage: hpc/tests/mpiplug-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
status=0
for ranks in 2 3; do
    PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 600 "$TEST_VENV/bin/python" \
        "$GEOPREDICT_ROOT/hpc/tests/mpiplug_live.py" --binary "$bin/mpiplug" --ranks "$ranks" || status=1
done
exit "$status"
