#!/usr/bin/env bash
# The console at / in a real browser: Debian's chromium and chromium-driver with Selenium (pinned, in
# the test environment) against a live 2-rank `geopredict serve` with a bearer token
# (hpc/tests/console_browser.py says what it checks), then a page on another origin calling every method
# and connect-python's GET and gzip, then the console over HTTP/2 (a TLS job of its own, h2 by ALPN;
# hpc/tests/h2_browser.py). About 60 s once Chromium is installed; part of
# the full hpc/test, not of --quick. Where Chromium is missing and cannot be installed (no root, no
# apt, --no-install) it says SKIPPED instead of failing.
# Usage: hpc/tests/console-browser.sh BIN_DIR [--port PORT] [--tls-port PORT] [--screenshots DIR]
#   --screenshots docs   refreshes the README's screenshot (docs/console.png), docs/console-error.png and
#                        docs/cross-origin.png
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="${1:?usage: $0 BIN_DIR [--port PORT] [--tls-port PORT] [--screenshots DIR]}"
shift
if ! { package_present chromium && package_present chromium-driver; } && ! may_install_packages; then
    echo "console-browser: SKIPPED (chromium and chromium-driver are not installed and may not be installed here)"
    exit 0
fi
ensure_packages chromium chromium-driver curl openssl
ensure_test_venv
PYTHONPATH="$TEST_VENV/gen:$GEOPREDICT_ROOT/hpc/tests" timeout --kill-after=10 600 "$TEST_VENV/bin/python" \
    "$GEOPREDICT_ROOT/hpc/tests/console_browser.py" --binary "$bin/geopredict" "$@"
