#!/usr/bin/env bash
# Live test of the front door's connection bounds under mpirun at 2 ranks: 1,600 slow clients (idle
# connections and half-sent headers) held open while a well-behaved client is answered promptly; the
# slow ones closed after --idle-timeout / --header-read-timeout (408 for the headers); connections over
# --max-connections answered 503; a silent TLS client closed after --tls-handshake-timeout; TLS 1.1
# refused. Ports 18310-18312. About 40 s.
# Usage: hpc/tests/connections-live.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR}"
ensure_test_venv
# Each slow client is a descriptor in this process and one in rank 0.
ulimit -n "$(ulimit -Hn)"
timeout --kill-after=10 300 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/connections_live.py" --binary "$bin/mpiplug" --ranks 2
