#!/usr/bin/env bash
# Live test of keyed routing at 3 ranks: one rank stopped with SIGSTOP for 3 s under load delays only
# its own users (hpc/tests/slow_rank_live.py says what is checked).
# Usage: hpc/tests/slow-rank-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 600 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/slow_rank_live.py" --binary "$bin/geopredict"
