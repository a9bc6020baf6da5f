#!/usr/bin/env bash
# Live test of several front doors at 3 ranks, and HAProxy in front of them
# (hpc/tests/front_doors_live.py says what is checked).
# Usage: hpc/tests/front-doors-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
# HAProxy is what the doors are meant to sit behind; where it cannot be installed the test says so
# and checks the doors alone.
ensure_packages haproxy || log "haproxy is missing: the balancer checks are skipped"
PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 900 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/front_doors_live.py" --binary "$bin/geopredict"
