"""Live test of the front door's connection bounds: thousands of slow clients never stop a good one.

Runs `mpiplug serve` under mpirun with short timeouts and checks, against a real socket:
- 800 idle connections and 800 with half-sent headers are held open while a well-behaved client's
  calls are all answered, each promptly (generous bound, and against its own unloaded time);
- the half-sent ones are answered 408 and closed after --header-read-timeout, the idle ones closed
  after --idle-timeout, each between 0.9 x its timeout and 4 s more after it opened;
- connections over --max-connections are answered 503 and closed, the others held, and the good client
  gets in again once they have gone;
- a TLS client that never says hello is closed after --tls-handshake-timeout; TLS 1.1 is refused;
- /metrics counts the timeouts and the refused connections.
Prints one line per check; exits non-zero on any failure. Ports 18310-18312.
"""
import argparse
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import requests

from live_checks import Checks, ServedJob

ECHO = "/mpiplug.v1.DiagnosticsService/Echo"
IDLE_TIMEOUT, HEADER_TIMEOUT, HANDSHAKE_TIMEOUT = 6.0, 4.0, 3.0
IDLE_CLIENTS, HALF_SENT_CLIENTS = 800, 800
MAX_CONNECTIONS = 1_000


def start_job(binary, ranks, port, extra=()):
    """`mpiplug serve --port PORT ...` at `ranks` ranks (its output in a log file of the run's own)."""
    log = tempfile.NamedTemporaryFile(prefix="connections-live-", suffix=".log", delete=False).name
    return ServedJob(binary, ranks, ["--port", str(port), *extra], log)


def connect(port):
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.setblocking(False)
    return connection


def state(connection):
    """'open' (nothing to read), 'closed' (EOF or reset), or the first bytes it was sent."""
    try:
        data = connection.recv(4096)
    except BlockingIOError:
        return "open"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    return data.decode("latin-1") if data else "closed"


def watch_until_closed(connections, deadline):
    """Reads each until it is closed or `deadline` passes: (when each closed or None, first bytes each got)."""
    closed_at = [None] * len(connections)
    first = {}
    pending = set(range(len(connections)))
    while pending and time.time() < deadline:
        for index in list(pending):
            seen = state(connections[index])
            if seen == "closed":
                closed_at[index] = time.time()
                pending.discard(index)
            elif seen != "open":
                first.setdefault(index, seen)
        time.sleep(0.02)
    return closed_at, first


def check_closed_after(checks, name, connections, opened_at, timeout, expect_prefix=None):
    """Every connection closed between 0.9 x and timeout + 4 s after it opened (and sent `expect_prefix` first)."""
    closed_at, first = watch_until_closed(connections, max(opened_at) + timeout + 4)
    ages = [closed - opened for closed, opened in zip(closed_at, opened_at) if closed is not None]
    closed = len(ages)
    answered = sum(text.startswith(expect_prefix) for text in first.values()) if expect_prefix else closed
    checks.check(closed == len(connections) and answered == closed and min(ages) >= 0.9 * timeout,
                 f"{name}: all {len(connections)} {'answered ' + expect_prefix.split()[1] + ' and ' if expect_prefix else ''}"
                 f"closed {min(ages, default=0):.1f}-{max(ages, default=0):.1f}s after they opened (timeout {timeout:.0f}s)",
                 f"{closed} closed, {answered} answered as expected")


def metric(url, name):
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name) and not line.startswith("#"))


def good_call_seconds(url, count=20):
    """Times `count` Echo calls, each on a fresh connection (as a new client would come)."""
    times, failures = [], 0
    for index in range(count):
        started = time.time()
        try:
            response = requests.post(url + ECHO, data=f'{{"message":"good {index}"}}',
                                     headers={"Content-Type": "application/json", "Connection": "close"}, timeout=10)
            failures += response.status_code != 200
        except requests.RequestException:
            failures += 1
        times.append(time.time() - started)
    return times, failures


def test_slow_clients(checks, binary, ranks):
    job = start_job(binary, ranks, 18310, ["--idle-timeout", str(IDLE_TIMEOUT), "--header-read-timeout", str(HEADER_TIMEOUT)])
    try:
        unloaded, _ = good_call_seconds(job.url)
        started = time.time()
        idle, idle_opened = [], []
        for _ in range(IDLE_CLIENTS):
            idle.append(connect(job.port))
            idle_opened.append(time.time())
        half_sent, half_opened = [], []
        for _ in range(HALF_SENT_CLIENTS):
            connection = connect(job.port)
            connection.send(b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/j")
            half_sent.append(connection)
            half_opened.append(time.time())
        loaded, failures = good_call_seconds(job.url)
        checks.check(failures == 0, f"a good client's 20 calls are all answered beside {IDLE_CLIENTS} idle and "
                                    f"{HALF_SENT_CLIENTS} half-sent connections (opened in {time.time() - started:.1f}s)",
                     f"{failures} failed")
        median_unloaded, median_loaded = statistics.median(unloaded), statistics.median(loaded)
        checks.check(max(loaded) < 1.0 and median_loaded < max(0.05, 10 * median_unloaded),
                     f"... promptly: median {median_loaded * 1000:.1f} ms (alone {median_unloaded * 1000:.1f} ms), "
                     f"slowest {max(loaded) * 1000:.0f} ms")
        open_now = metric(job.url, "mpiplug_connections_open")
        checks.check(open_now >= IDLE_CLIENTS + HALF_SENT_CLIENTS - 10, f"/metrics shows {open_now:.0f} open connections")

        check_closed_after(checks, "half-sent headers", half_sent, half_opened, HEADER_TIMEOUT, "HTTP/1.1 408")
        check_closed_after(checks, "idle connections", idle, idle_opened, IDLE_TIMEOUT)
        for connection in idle + half_sent:
            connection.close()
        header_timeouts = metric(job.url, 'mpiplug_connection_timeouts_total{kind="header_read"}')
        idle_timeouts = metric(job.url, 'mpiplug_connection_timeouts_total{kind="idle"}')
        checks.check(header_timeouts >= HALF_SENT_CLIENTS and idle_timeouts >= IDLE_CLIENTS,
                     f"/metrics counts the timeouts (header_read {header_timeouts:.0f}, idle {idle_timeouts:.0f})")
    finally:
        job.kill()


def test_connection_cap(checks, binary, ranks):
    job = start_job(binary, ranks, 18312, ["--max-connections", str(MAX_CONNECTIONS)])
    try:
        # Over the cap: the extra connections are answered 503 and closed; once the crowd has gone, the
        # good client gets in again.
        crowd = [connect(job.port) for _ in range(MAX_CONNECTIONS + 100)]
        closed_at, first = watch_until_closed(crowd, time.time() + 3)
        closed = sum(when is not None for when in closed_at)
        refused = sum(text.startswith("HTTP/1.1 503") for text in first.values())
        checks.check(refused == 100 and closed == 100, f"{len(crowd)} connections over a cap of {MAX_CONNECTIONS}: "
                                                       f"{refused} answered 503 and closed, the rest held",
                     f"{closed} closed")
        for connection in crowd:
            connection.close()
        time.sleep(0.5)
        refused_metric = metric(job.url, "mpiplug_connections_refused_total")
        checks.check(refused_metric >= 100, f"/metrics counts {refused_metric:.0f} refused connections")
        _, failures = good_call_seconds(job.url, 5)
        checks.check(failures == 0, "the good client is answered again once the crowd has gone")
    finally:
        job.kill()


def test_tls(checks, binary, ranks):
    with tempfile.TemporaryDirectory() as folder:
        key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        job = start_job(binary, ranks, 18311, ["--tls-cert", cert, "--tls-key", key,
                                         "--tls-handshake-timeout", str(HANDSHAKE_TIMEOUT)])
        try:
            silent, opened = [], []
            for _ in range(200):
                silent.append(connect(job.port))
                opened.append(time.time())
            check_closed_after(checks, "TLS connections that never say hello", silent, opened, HANDSHAKE_TIMEOUT)
            for connection in silent:
                connection.close()
            handshake_timeouts = metric_tls(job.url, cert, 'mpiplug_connection_timeouts_total{kind="tls_handshake"}')
            checks.check(handshake_timeouts >= len(silent), f"/metrics counts {handshake_timeouts:.0f} handshake timeouts")
            checks.check(handshake_succeeds(job.port, ssl.TLSVersion.TLSv1_2), "a TLS 1.2 client is served")
            # The client side allows TLS 1.1 only (at OpenSSL's security level 0); the server must refuse it.
            checks.check(not handshake_succeeds(job.port, ssl.TLSVersion.TLSv1_1), "a TLS 1.1 client is refused")
        finally:
            job.kill()


def metric_tls(url, cert, name):
    text = requests.get(url + "/metrics", timeout=10, verify=cert).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def handshake_succeeds(port, version):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
            context.minimum_version = version
            context.maximum_version = version
    except (ValueError, ssl.SSLError):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw) as wrapped:
                return wrapped.version() is not None
    except (ssl.SSLError, OSError):
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--ranks", type=int, default=2)
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    checks = Checks(f"connections at {arguments.ranks} ranks")
    print(f"connection bounds at {arguments.ranks} ranks")
    test_slow_clients(checks, arguments.binary, arguments.ranks)
    test_connection_cap(checks, arguments.binary, arguments.ranks)
    test_tls(checks, arguments.binary, arguments.ranks)
    print(f"{checks.passed} passed, {checks.failed} failed")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
