#!/usr/bin/env bash
# `geopredict evaluate` end to end on generated check-ins (TSMC training file, GETNext-layout
# validation and test files) at 1 and 2 ranks: tables, predictions CSV, rank-count identity, bad lines.
# Usage: hpc/tests/evaluate-cli.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
timeout --kill-after=10 900 "$TEST_VENV/bin/python" "$GEOPREDICT_ROOT/hpc/tests/evaluate_cli.py" --binary "$bin/geopredict"
