#!/usr/bin/env bash
# Live test of HTTP/2 on the front door under mpirun at 2 ranks: h2c with prior knowledge and
# HTTP/1.1 on one port give the same answers (curl, httpx, connect-python); over TLS, h2 is
# negotiated by ALPN beside http/1.1; a client over --max-concurrent-streams loses its connection
# while others are served; rapid-reset floods are cut off after --max-stream-resets while a
# well-behaved client is answered promptly. Ports 19000-19001. About 30 s.
# Usage: hpc/tests/http2-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_packages curl openssl
ensure_test_venv
PYTHONPATH="$TEST_VENV/gen" timeout --kill-after=10 300 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/http2_live.py" --binary "$bin/mpiplug" --ranks 2
