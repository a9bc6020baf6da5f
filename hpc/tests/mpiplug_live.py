"""Live tests of an MPIPlug service under mpirun, with clients that share no code with the server.

Runs `mpiplug serve` (MPIPlug's built-in routes) at the given rank count and checks: the Connect
error table, binary bodies made by Google's `protoc --encode`, curl, connect-python (binary, JSON,
gzip, timeouts), a fuzz run of thousands of malformed bodies, TLS with a bearer token, graceful
SIGTERM, and what happens when a rank dies. Prints one line per check and a summary; exits non-zero
on any failure.
"""
import argparse
import concurrent.futures
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

from live_checks import Checks, ServedJob, connect_error, well_formed_error

from mpiplug.v1 import cluster_pb2, diagnostics_pb2
from mpiplug.v1.cluster_connect import ClusterServiceClientSync
from mpiplug.v1.diagnostics_connect import DiagnosticsServiceClientSync
from connectrpc.code import Code
from connectrpc.errors import ConnectError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ECHO = "/mpiplug.v1.DiagnosticsService/Echo"


def start_job(binary, ranks, extra=()):
    """`mpiplug serve --port 0 ...` at `ranks` ranks (its output in a log file of the run's own)."""
    log = tempfile.NamedTemporaryFile(prefix="mpiplug-live-", suffix=".log", delete=False).name
    return ServedJob(binary, ranks, ["--port", "0", *extra], log)


def post(url, path, body, content_type="application/json", headers=None, timeout=30, **kwargs):
    all_headers = {"Content-Type": content_type}
    all_headers.update(headers or {})
    return requests.post(url + path, data=body, headers=all_headers, timeout=timeout, **kwargs)


def protoc(mode, message, data):
    proto = os.path.join(ROOT, "proto")
    return subprocess.run(
        ["protoc", f"--{mode}={message}", "-I", proto, os.path.join(proto, "mpiplug/v1/diagnostics.proto")],
        input=data, capture_output=True, check=True).stdout


def test_basics(checks, job):
    url = job.url
    health = requests.get(url + "/healthz", timeout=10)
    checks.check(health.status_code == 200, "GET /healthz is 200 when every rank is up", health.text)
    # curl with JSON
    curl = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", '{"message":"curl","value":"10"}',
         url + ECHO], capture_output=True, text=True)
    answer = json.loads(curl.stdout or "{}")
    expected = job.ranks * 10 + job.ranks * (job.ranks - 1) // 2
    checks.check(answer.get("message") == "curl" and answer.get("checksum") == str(expected)
                 and answer.get("rankCount") == job.ranks, "curl JSON call reaches every rank", curl.stdout)
    # protoc --encode / curl --data-binary / protoc --decode
    body = protoc("encode", "mpiplug.v1.EchoRequest", b'message: "raw" value: 5\n')
    with tempfile.NamedTemporaryFile() as request_file:
        request_file.write(body)
        request_file.flush()
        raw = subprocess.run(
            ["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/proto", "-H", "Connect-Protocol-Version: 1",
             "--data-binary", "@" + request_file.name, url + ECHO], capture_output=True).stdout
    decoded = protoc("decode", "mpiplug.v1.EchoResponse", raw).decode()
    checks.check('message: "raw"' in decoded and f"checksum: {job.ranks * 5 + job.ranks * (job.ranks - 1) // 2}" in decoded,
                 "protoc --encode body via curl, answer read by protoc --decode", decoded)
    # connect-python: binary (gzip by default), JSON, timeout
    for proto_json in (False, True):
        client = DiagnosticsServiceClientSync(url, proto_json=proto_json)
        response = client.echo(diagnostics_pb2.EchoRequest(message="py" * 2000, value=2))
        checks.check(response.rank_count == job.ranks and len(response.message) == 4000,
                     f"connect-python {'JSON' if proto_json else 'binary'} call with gzip request body")
    cluster = ClusterServiceClientSync(url).get_cluster_status(cluster_pb2.GetClusterStatusRequest())
    checks.check(cluster.rank_count == job.ranks and len(cluster.ranks) == job.ranks
                 and all(rank.resident_memory_bytes > 0 for rank in cluster.ranks)
                 and [rank.rank for rank in cluster.ranks] == list(range(job.ranks)),
                 "GetClusterStatus reports every rank with its memory", str(cluster)[:300])
    # Every rank took part in the rounds above: rank 0 broadcast them, the others received them.
    checks.check(all(rank.round_bytes > 0 and 0 <= rank.gather_seconds <= rank.busy_seconds for rank in cluster.ranks),
                 "GetClusterStatus counts round bytes and gather time on every rank", str(cluster)[:400])
    try:
        DiagnosticsServiceClientSync(url).echo(diagnostics_pb2.EchoRequest(message="x" * (1 << 20 + 1)))
        checks.check(False, "connect-python sees invalid_argument for a message over 1 MiB")
    except ConnectError as error:
        checks.check(error.code == Code.INVALID_ARGUMENT, "connect-python sees invalid_argument for a message over 1 MiB")


def test_error_table(checks, job):
    url = job.url
    cases = [
        ("malformed JSON", lambda: post(url, ECHO, "{oops"), 400, "invalid_argument"),
        ("malformed binary", lambda: post(url, ECHO, b"\x0a\xff\xff\xff\xff\x0f", "application/proto"), 400, "invalid_argument"),
        ("unknown method", lambda: post(url, "/mpiplug.v1.DiagnosticsService/Nope", "{}"), 404, "unimplemented"),
        ("unknown service", lambda: post(url, "/nope.v1.Nope/Echo", "{}"), 404, "unimplemented"),
        ("wrong HTTP method", lambda: requests.get(url + ECHO, timeout=10), 405, "unimplemented"),
        ("unsupported content type", lambda: post(url, ECHO, "{}", "text/xml"), 415, "unimplemented"),
        ("body over the limit", lambda: post(url, ECHO, b"\x0a" + b"\x80" * (5 << 20), "application/proto"), 413, "resource_exhausted"),
        ("gzip bomb over the limit", lambda: post(url, ECHO, gzip.compress(b"{" + b" " * (8 << 20) + b"}"),
                                                  headers={"Content-Encoding": "gzip"}), 413, "resource_exhausted"),
        ("bad Connect-Timeout-Ms", lambda: post(url, ECHO, "{}", headers={"Connect-Timeout-Ms": "soon"}), 400, "invalid_argument"),
        ("Connect-Protocol-Version 2", lambda: post(url, ECHO, "{}", headers={"Connect-Protocol-Version": "2"}), 400, "invalid_argument"),
    ]
    for name, call, status, code in cases:
        response = call()
        checks.check(response.status_code == status and connect_error(response) == code and well_formed_error(response),
                     f"{name} -> {status} {code}", f"got {response.status_code} {response.text[:120]}")
    ok = post(url, ECHO, "{}", headers={"Connect-Timeout-Ms": "5000", "Connect-Protocol-Version": "1"})
    checks.check(ok.status_code == 200, "a generous Connect-Timeout-Ms is honoured", ok.text)
    # A client that hangs up halfway through its body: counted as canceled, not as a server failure.
    host, port = url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"POST {ECHO} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: 100\r\n\r\n{{\"value\"".encode())
    time.sleep(0.5)
    metrics = requests.get(url + "/metrics", timeout=10).text
    checks.check('mpiplug_requests_total{route="/mpiplug.v1.DiagnosticsService/Echo"}' in metrics
                 and "mpiplug_round_batch_size_bucket" in metrics, "GET /metrics serves Prometheus text")
    echo_errors = [line for line in metrics.splitlines()
                   if line.startswith("mpiplug_request_errors_total") and ECHO in line]
    checks.check(any('code="canceled"' in line for line in echo_errors)
                 and not any('code="internal"' in line for line in echo_errors),
                 "a body cut off by the client counts as canceled, not internal", echo_errors)


def fuzz_bodies(rng, count):
    valid = diagnostics_pb2.EchoRequest(message="fuzz" * 8, value=123456789).SerializeToString()
    for index in range(count):
        kind = index % 10
        if kind == 0:
            yield "application/proto", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))), {}
        elif kind == 1:
            yield "application/proto", valid[:rng.randint(0, len(valid) - 1)], {}
        elif kind == 2:  # a length prefix far beyond the body
            yield "application/proto", b"\x0a" + bytes([0xff] * rng.randint(1, 9)) + b"\x01abc", {}
        elif kind == 3:  # wrong wire types for known fields
            yield "application/proto", bytes([0x08, rng.getrandbits(7), 0x12, 0x01, 0x41, 0x15, 1, 2, 3, 4]), {}
        elif kind == 4:
            value = rng.choice(['"x"', "1e999", "-1", "[1,2]", "{}", "true", '"9223372036854775808"', "null", '"\\ud800"'])
            field = rng.choice(["message", "value", "unknown", "VALUE"])
            yield "application/json", f'{{"{field}":{value}}}', {}
        elif kind == 5:
            depth = rng.randint(50, 5000)
            yield "application/json", '{"x":' + "[" * depth + "]" * depth + "}", {}
        elif kind == 6:
            yield "application/json", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))), {}
        elif kind == 7:
            yield "application/json", valid, {"Content-Encoding": "gzip"}
        elif kind == 8:
            yield rng.choice(["application/xml", "", "application/grpc", "application/proto; x=y"]), valid, {}
        else:
            body = gzip.compress(valid)
            yield "application/proto", body[:rng.randint(1, len(body))], {"Content-Encoding": "gzip"}


def test_fuzz(checks, job, count):
    rng = random.Random(20261120 + job.ranks)
    url = job.url

    def send(case):
        content_type, body, headers = case
        try:
            response = post(url, ECHO, body, content_type, headers, timeout=30)
        except requests.RequestException as error:
            return f"transport error {error}"
        if response.status_code == 200:
            try:
                diagnostics_pb2.EchoResponse.FromString(response.content) if "proto" in response.headers.get("Content-Type", "") \
                    else json.loads(response.text)
                return None
            except Exception as error:  # noqa: BLE001 - any decoding failure is a test failure
                return f"undecodable 200 body {error}"
        if not well_formed_error(response) or response.status_code >= 500:
            return f"{response.status_code} {response.text[:100]}"
        return None

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        problems = [problem for problem in pool.map(send, fuzz_bodies(rng, count)) if problem]
    checks.check(not problems, f"fuzz: {count} malformed or odd bodies all answered with 200 or a Connect error "
                               f"({time.time() - started:.1f}s)", f"{len(problems)} problems, first: {problems[:3]}")
    health = requests.get(url + "/healthz", timeout=10)
    echo = post(url, ECHO, '{"value":"1"}')
    checks.check(health.status_code == 200 and echo.status_code == 200, "the service is healthy after the fuzz run")


def test_graceful_sigterm(checks, job):
    pids = job.rank_pids()
    os.kill(pids[0], signal.SIGTERM)
    try:
        code = job.process.wait(timeout=30)
        checks.check(code == 0, "SIGTERM to rank 0 drains and every rank finalises (mpirun exits 0)", f"exit {code}")
    except subprocess.TimeoutExpired:
        checks.check(False, "SIGTERM to rank 0 drains and every rank finalises within 30 s")
        job.kill()


def test_rank_loss(checks, job):
    pids = job.rank_pids()
    os.kill(pids[-1], signal.SIGKILL)
    started = time.time()
    answered = []
    while time.time() - started < 20 and job.process.poll() is None:
        try:
            response = post(job.url, ECHO, "{}", timeout=5)
            answered.append(response.status_code)
            if response.status_code == 503:
                break
        except requests.RequestException:
            answered.append("refused")
            break
        time.sleep(0.2)
    bounded = time.time() - started < 20
    checks.check(bounded and answered and answered[-1] in (503, "refused"),
                 "after kill -9 of a rank the front door answers 503 or closes, never hangs",
                 f"answers {answered[-5:]}")
    try:
        job.process.wait(timeout=30)
        checks.check(True, "mpirun ends the job after a rank dies")
    except subprocess.TimeoutExpired:
        checks.check(False, "mpirun ends the job after a rank dies")
        job.kill()


def test_tls_and_token(checks, binary, ranks):
    with tempfile.TemporaryDirectory() as folder:
        key, cert, token = (os.path.join(folder, name) for name in ("key.pem", "cert.pem", "token"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        with open(token, "w") as handle:
            handle.write("test-token-123\n")
        job = start_job(binary, ranks, ["--tls-cert", cert, "--tls-key", key, "--auth-token-file", token])
        try:
            checks.check(job.url.startswith("https://"), "the service reports an https URL with --tls-cert/--tls-key")
            denied = post(job.url, ECHO, "{}", verify=cert)
            checks.check(denied.status_code == 401 and connect_error(denied) == "unauthenticated",
                         "no token -> 401 unauthenticated over TLS", denied.text)
            allowed = post(job.url, ECHO, '{"message":"tls"}', headers={"Authorization": "Bearer test-token-123"}, verify=cert)
            checks.check(allowed.status_code == 200 and allowed.json().get("message") == "tls",
                         "the right bearer token over TLS is served", allowed.text)
            health = requests.get(job.url + "/healthz", verify=cert, timeout=10)
            checks.check(health.status_code == 200, "/healthz needs no token")
        finally:
            job.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--fuzz", type=int, default=3000)
    arguments = parser.parse_args()
    checks = Checks(f"mpiplug live, {arguments.ranks} ranks")
    print(f"mpiplug live tests at {arguments.ranks} ranks")
    job = start_job(arguments.binary, arguments.ranks)
    try:
        test_basics(checks, job)
        test_error_table(checks, job)
        test_fuzz(checks, job, arguments.fuzz)
        test_graceful_sigterm(checks, job)
    finally:
        job.kill()
    job = start_job(arguments.binary, arguments.ranks)
    try:
        test_rank_loss(checks, job)
    finally:
        job.kill()
    test_tls_and_token(checks, arguments.binary, arguments.ranks)
    print(f"mpiplug-live: ranks={arguments.ranks} passed={checks.passed} failed={checks.failed}")
    sys.exit(0 if checks.failed == 0 else 1)


if __name__ == "__main__":
    main()
