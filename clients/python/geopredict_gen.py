"""Finds the Python code generated from proto/ (messages and connect-python clients).

The generated code is not committed: `ensure_test_venv` in hpc/lib/common.sh generates it into
.build-venv/gen. This module puts that folder (or $GEOPREDICT_PYTHON_GEN) on sys.path, so that the
clients run as plain scripts: `.build-venv/bin/python clients/python/predict_requests.py ...`.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.environ.get("GEOPREDICT_PYTHON_GEN", os.path.join(ROOT, ".build-venv", "gen"))
if os.path.isdir(GEN) and GEN not in sys.path:
    sys.path.insert(0, GEN)

try:
    from geopredict.v1 import geopredict_pb2  # noqa: E402,F401  (re-exported)
except ImportError as error:  # pragma: no cover - a set-up problem, explained to the user
    sys.exit(f"error: cannot import the generated GeoPredict code from {GEN} ({error}); generate it with:\n"
             f"  bash -c 'source {ROOT}/hpc/lib/common.sh && ensure_test_venv'")

# Exit statuses shared by every client in clients/: the service answered with an error, the command
# line is wrong, no usable answer arrived (connection refused, timeout, malformed answer).
EXIT_RPC_ERROR, EXIT_USAGE, EXIT_TRANSPORT = 1, 2, 3

# What the Connect protocol says an HTTP status means when the body is not a Connect error.
CODE_FOR_HTTP_STATUS = {400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
                        429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable"}


def print_visits(response):
    """One `store_id score` line per predicted visit, best first (the format every client prints)."""
    for visit in response.visits:
        print(f"{visit.store_id} {visit.score:.6f}")


def one_line(text):
    """TEXT with control characters replaced by '?', so that a message from the wire prints on one line."""
    return "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def describe_event_error(error):
    """`INDEX: MESSAGE` for an EventError; the service's messages start with the field's name already."""
    message = error.message if error.message.startswith(error.field) else f"{error.field}: {error.message}"
    return f"event {error.index}: {one_line(message)}"


def fail(code, message, status=EXIT_RPC_ERROR):
    """Prints `error: CODE: MESSAGE` on stderr and exits with STATUS."""
    print(f"error: {one_line(code)}: {one_line(message)}", file=sys.stderr)
    sys.exit(status)
