#!/usr/bin/env bash
# Live tests of the GeoPredict service under mpirun: the v1 API from curl, protoc, connect-python,
# requests + protobuf and the clients in clients/ at 2 and 3 ranks, then the kill -9 durability test
# (ingest load with a Train in the middle, kill the whole job, restart at another rank count from the
# model checkpoint without retraining, count every acknowledged event; then a --retrain start).
# Usage: hpc/tests/geopredict-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
run_live() {
    PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 1200 "$TEST_VENV/bin/python" \
        "$GEOPREDICT_ROOT/hpc/tests/geopredict_live.py" --binary "$bin/geopredict" "$@"
}
status=0
run_live --mode api --ranks 2 --clients || status=1
run_live --mode api --ranks 3 || status=1
run_live --mode durability --ranks 2 --restart-ranks 3 || status=1
exit "$status"
