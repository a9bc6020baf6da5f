"""Live test of HTTP/2 on the front door: one URL for every client, and the stream limits.

Runs `mpiplug serve` under mpirun (plain text on one port, TLS on another) and checks:
- a Connect call (JSON and binary) over h2c with prior knowledge (curl --http2-prior-knowledge) gets
  the same answer as over HTTP/1.1 on the same port, errors included; httpx over HTTP/2 too; and
  connect-python's own client over HTTP/2 (pyqwest, its default transport, told to use HTTP/2);
- over TLS, curl --http2 negotiates h2 by ALPN and curl --http1.1 still gets HTTP/1.1, same answers;
  ALPN offers h2 and http/1.1;
- a client that opens more streams than --max-concurrent-streams loses its connection (GOAWAY
  PROTOCOL_ERROR), while another connection's open streams are all answered and new clients served;
- rapid-reset floods (open a stream, reset it, repeat: CVE-2023-44487) from several connections are
  each cut off after --max-stream-resets (GOAWAY ENHANCE_YOUR_CALM) while a well-behaved HTTP/2
  client's calls are all answered promptly; /metrics counts both kinds of closed connection.
Frames that break the rules are written by hand (hyperframe, hpack: h2's own state machine would
refuse to send them). Prints one line per check; exits non-zero on any failure. Ports 19000-19001.
"""
import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx
from hpack import Decoder, Encoder
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame

from live_checks import Checks, ServedJob

PLAIN_PORT, TLS_PORT = 19000, 19001
STREAM_CAP, RESET_CAP = 4, 50
ECHO = "/mpiplug.v1.DiagnosticsService/Echo"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PROTOCOL_ERROR, CANCEL, ENHANCE_YOUR_CALM = 0x1, 0x8, 0xB


def start_job(binary, ranks, port, extra=()):
    """`mpiplug serve --port PORT ...` at `ranks` ranks (its output in a log file of the run's own)."""
    log = tempfile.NamedTemporaryFile(prefix="http2-live-", suffix=".log", delete=False).name
    return ServedJob(binary, ranks, ["--port", str(port), *extra], log)


def curl(*args):
    """(HTTP version, status, body) of one curl call."""
    with tempfile.NamedTemporaryFile() as body:
        result = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", body.name, "-w", "%{http_version} %{http_code}", *args],
                                capture_output=True, text=True)
        version, _, status = result.stdout.partition(" ")
        return version, status, open(body.name, "rb").read()


def metric(url, name, verify=True):
    text = httpx.get(url + "/metrics", timeout=10, verify=verify).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name) and not line.startswith("#"))


class RawH2:
    """An HTTP/2 client connection whose frames are written by hand, to break the rules on purpose."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder, self.decoder = Encoder(), Decoder()
        self.buffer = b""
        self.closed = False
        self.socket.sendall(PREFACE + SettingsFrame(0).serialize())
        # The server's settings apply once acknowledged (RFC 9113 §6.5.3): acknowledge before any request.
        settings = self.read_until(lambda frame: isinstance(frame, SettingsFrame) and "ACK" not in frame.flags)
        self.settings = dict(settings.settings) if settings else {}
        self.socket.sendall(SettingsFrame(0, flags=["ACK"]).serialize())

    def request_frames(self, stream_id, body=None, reset=False):
        """HEADERS of an Echo call (then its body, if given, ending the stream; then RST_STREAM if `reset`)."""
        headers = HeadersFrame(stream_id, self.encoder.encode([
            (":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", ECHO),
            ("content-type", "application/json")]), flags=["END_HEADERS"])
        frames = [headers]
        if body is not None:
            frames.append(DataFrame(stream_id, body, flags=["END_STREAM"]))
        if reset:
            frames.append(RstStreamFrame(stream_id, CANCEL))
        return b"".join(frame.serialize() for frame in frames)

    def send(self, data):
        try:
            self.socket.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def read_frame(self, timeout=10):
        """The next frame, or None once the connection is closed (or nothing came within `timeout`)."""
        self.socket.settimeout(timeout)
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    return frame
            try:
                data = self.socket.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                return None
            self.buffer += data

    def read_until(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            frame = self.read_frame(max(0.001, deadline - time.time()))
            if frame is None:
                return None
            if predicate(frame):
                return frame
        return None

    def responses(self, stream_ids, timeout=20):
        """{stream id: (status, body)} for each stream that was answered whole within `timeout`."""
        statuses, bodies, done = {}, {}, set()
        deadline = time.time() + timeout
        while done != set(stream_ids) and time.time() < deadline:
            frame = self.read_frame(max(0.1, deadline - time.time()))
            if frame is None:
                break
            if isinstance(frame, HeadersFrame):
                statuses[frame.stream_id] = dict(self.decoder.decode(frame.data)).get(":status")
            elif isinstance(frame, DataFrame):
                bodies[frame.stream_id] = bodies.get(frame.stream_id, b"") + frame.data
            if frame.stream_id in stream_ids and "END_STREAM" in frame.flags:
                done.add(frame.stream_id)
        return {stream: (statuses.get(stream), bodies.get(stream, b"")) for stream in done}

    def close(self):
        self.socket.close()


def checksum(value, ranks):
    """What Echo answers: every rank adds value + its rank."""
    return ranks * value + ranks * (ranks - 1) // 2


def test_same_answers(checks, url, ranks):
    json_body = '{"message":"h2","value":"7"}'
    for name, args in [("JSON", ["-H", "Content-Type: application/json", "-d", json_body]),
                       ("binary", ["-H", "Content-Type: application/proto", "--data-binary", "@" + BINARY_ECHO]),
                       ("error (unknown method)", ["-H", "Content-Type: application/json", "-d", "{}"]),
                       ("error (bad JSON)", ["-H", "Content-Type: application/json", "-d", "{nope"])]:
        path = "/mpiplug.v1.DiagnosticsService/Nothing" if "unknown" in name else ECHO
        h2 = curl("--http2-prior-knowledge", *args, url + path)
        h1 = curl("--http1.1", *args, url + path)
        expected_status = "200" if name in ("JSON", "binary") else h1[1]
        checks.check(h2[0] == "2" and h1[0] == "1.1" and h2[1:] == h1[1:] and h2[1] == expected_status and h1[2],
                     f"curl {name}: h2c with prior knowledge answers as HTTP/1.1 on the same port ({h2[1]}, {len(h2[2])} bytes)",
                     f"h2 {h2[:2]} {h2[2][:120]!r} vs h1 {h1[:2]} {h1[2][:120]!r}")
    echoed = json.loads(curl("--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", json_body, url + ECHO)[2])
    checks.check(echoed.get("message") == "h2" and echoed.get("checksum") == str(checksum(7, ranks)),
                 "the h2c answer is the echo itself", echoed)
    health = curl("--http2-prior-knowledge", url + "/healthz")
    checks.check(health[:2] == ("2", "200"), "GET /healthz over h2c", health[:2])

    with httpx.Client(http1=False, http2=True, timeout=20) as client:
        response = client.post(url + ECHO, content=json_body, headers={"Content-Type": "application/json"})
    via_h1 = httpx.post(url + ECHO, content=json_body, headers={"Content-Type": "application/json"}, timeout=20)
    checks.check(response.http_version == "HTTP/2" and response.status_code == 200 and response.content == via_h1.content
                 and via_h1.http_version == "HTTP/1.1",
                 "httpx with http2=True (prior knowledge) gets HTTP/2 and the HTTP/1.1 answer",
                 f"{response.http_version} {response.status_code} {response.content[:100]!r}")


def connect_python_http2(url):
    """The checksum of an Echo through connect-python's generated client on an HTTP/2 transport."""
    import pyqwest
    from mpiplug.v1 import diagnostics_pb2
    from mpiplug.v1.diagnostics_connect import DiagnosticsServiceClientSync
    transport = pyqwest.SyncHTTPTransport(http_version=pyqwest.HTTPVersion.HTTP2)
    with DiagnosticsServiceClientSync(url, http_client=pyqwest.SyncClient(transport)) as client:
        response = client.echo(diagnostics_pb2.EchoRequest(message="connect-python", value=5))
    return response.checksum


def test_connect_python(checks, url, ranks):
    name = "connect-python's client over HTTP/2 (pyqwest, http_version=HTTP2) calls Echo"
    before = metric(url, 'mpiplug_requests_total{route="/mpiplug.v1.DiagnosticsService/Echo"}')
    try:
        answer = connect_python_http2(url)
        checks.check(answer == checksum(5, ranks), name, answer)
    except Exception as error:  # noqa: BLE001 - any failure is the finding, shown in full
        checks.check(False, name, repr(error))
    after = metric(url, 'mpiplug_requests_total{route="/mpiplug.v1.DiagnosticsService/Echo"}')
    checks.check(after == before + 1, "the connect-python call reached the service once", after - before)


def test_stream_cap(checks, url):
    held = RawH2(PLAIN_PORT)
    checks.check(held.settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS) == STREAM_CAP,
                 f"SETTINGS_MAX_CONCURRENT_STREAMS is --max-concurrent-streams ({STREAM_CAP})", held.settings)
    streams = [1 + 2 * index for index in range(STREAM_CAP)]
    held.send(b"".join(held.request_frames(stream) for stream in streams))  # heads only: bodies to come

    greedy = RawH2(PLAIN_PORT)
    greedy.send(b"".join(greedy.request_frames(1 + 2 * index) for index in range(STREAM_CAP + 1)))
    goaway = greedy.read_until(lambda frame: isinstance(frame, GoAwayFrame))
    closed = goaway is not None and greedy.read_until(lambda frame: False, timeout=5) is None and greedy.closed
    checks.check(goaway is not None and goaway.error_code == PROTOCOL_ERROR and closed,
                 f"stream {STREAM_CAP + 1} over the cap: GOAWAY PROTOCOL_ERROR and the connection closed",
                 goaway and goaway.error_code)
    greedy.close()

    other = curl("--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", "{}", url + ECHO)
    checks.check(other[:2] == ("2", "200"), "meanwhile a new HTTP/2 client is answered", other[:2])
    held.send(b"".join(DataFrame(stream, b'{"message":"held"}', flags=["END_STREAM"]).serialize() for stream in streams))
    answers = held.responses(streams)
    checks.check(len(answers) == STREAM_CAP and all(status == "200" and b"held" in body for status, body in answers.values()),
                 f"the other connection's {STREAM_CAP} open streams (at the cap) are all answered", answers)
    held.close()
    checks.check(metric(url, 'mpiplug_http2_connections_closed_total{reason="stream_limit"}') == 1,
                 "/metrics counts the connection closed over the stream cap")


def flood(port, seconds, outcomes):
    """Rapid resets on one connection after another for `seconds`: per connection, (GOAWAY code, requests sent)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            connection = RawH2(port)
        except OSError:
            continue
        stream, sent, goaway = 1, 0, None
        # Batches of ten, each looked at for a GOAWAY before the next (writing on into a closed
        # connection could lose the GOAWAY to a reset).
        # Past the deadline too: a connection stopped short of the cap would prove nothing.
        while goaway is None and not connection.closed and sent < 20 * RESET_CAP:
            batch = b"".join(connection.request_frames(stream + 2 * index, body=b"{}", reset=True) for index in range(10))
            if not connection.send(batch):
                break
            stream += 20
            sent += 10
            goaway = connection.read_until(lambda frame: isinstance(frame, GoAwayFrame), timeout=0.01)
        if goaway is None:
            goaway = connection.read_until(lambda frame: isinstance(frame, GoAwayFrame), timeout=5)
        outcomes.append((goaway.error_code if goaway else None, sent))
        connection.close()


def test_rapid_reset(checks, url):
    with httpx.Client(http1=False, http2=True, timeout=20) as good:
        unloaded = []
        for index in range(10):
            started = time.time()
            good.post(url + ECHO, content='{"message":"warm"}', headers={"Content-Type": "application/json"})
            unloaded.append(time.time() - started)
        outcomes = []
        attackers = [threading.Thread(target=flood, args=(PLAIN_PORT, 6, outcomes)) for _ in range(3)]
        for attacker in attackers:
            attacker.start()
        times, failures = [], 0
        started_all = time.time()
        while time.time() - started_all < 5:
            started = time.time()
            try:
                response = good.post(url + ECHO, content='{"message":"good"}', headers={"Content-Type": "application/json"})
                failures += response.status_code != 200 or response.http_version != "HTTP/2"
            except httpx.HTTPError:
                failures += 1
            times.append(time.time() - started)
            time.sleep(0.05)
        for attacker in attackers:
            attacker.join()
    cut = [outcome for outcome in outcomes if outcome[0] == ENHANCE_YOUR_CALM]
    checks.check(len(outcomes) >= 3 and len(cut) == len(outcomes),
                 f"every flooding connection ({len(outcomes)}) is cut off with GOAWAY ENHANCE_YOUR_CALM "
                 f"(--max-stream-resets {RESET_CAP})", outcomes[:10])
    # Generous bounds: the machine is shared, and the flood's requests still cost the door something.
    checks.check(failures == 0 and len(times) >= 10 and statistics.median(times) < 1.0 and max(times) < 5.0,
                 f"a well-behaved HTTP/2 client meanwhile: {len(times)} calls, all answered, p50 {statistics.median(times) * 1000:.0f} ms, "
                 f"max {max(times) * 1000:.0f} ms (unloaded p50 {statistics.median(unloaded) * 1000:.0f} ms)",
                 f"{failures} failed")
    counted = metric(url, 'mpiplug_http2_connections_closed_total{reason="rapid_reset"}')
    checks.check(len(cut) <= counted <= len(outcomes), f"/metrics counts the {len(cut)} connections closed for rapid resets",
                 counted)
    health = httpx.get(url + "/healthz", timeout=10)
    checks.check(health.status_code == 200, "the job still serves after the flood", health.status_code)


def test_tls(checks, binary, ranks, workdir):
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    job = start_job(binary, ranks, TLS_PORT, ["--tls-cert", cert, "--tls-key", key])
    try:
        url = job.url
        body = '{"message":"tls","value":"3"}'
        args = ["--cacert", cert, "-H", "Content-Type: application/json", "-d", body, url + ECHO]
        h2, h1 = curl("--http2", *args), curl("--http1.1", *args)
        checks.check(h2[0] == "2" and h1[0] == "1.1" and h2[1:] == h1[1:] and h2[1] == "200",
                     "over TLS: curl --http2 negotiates h2, curl --http1.1 still gets HTTP/1.1, same answer",
                     f"{h2} vs {h1}")
        for offered, expected in [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")]:
            context = ssl.create_default_context(cafile=cert)
            context.set_alpn_protocols(offered)
            with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    chosen = tls.selected_alpn_protocol()
            checks.check(chosen == expected, f"ALPN offering {offered} selects {expected}", chosen)
        with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=cert), timeout=20) as client:
            response = client.post(url + ECHO, content=body, headers={"Content-Type": "application/json"})
        checks.check(response.http_version == "HTTP/2" and response.content == h1[2],
                     "httpx over TLS negotiates HTTP/2, same answer", response.http_version)
    finally:
        job.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True, help="the mpiplug program")
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    checks = Checks()
    global BINARY_ECHO
    with tempfile.TemporaryDirectory() as workdir:
        from mpiplug.v1 import diagnostics_pb2
        BINARY_ECHO = os.path.join(workdir, "echo.bin")
        with open(BINARY_ECHO, "wb") as file:
            file.write(diagnostics_pb2.EchoRequest(message="binary", value=11).SerializeToString())
        job = start_job(args.binary, args.ranks, PLAIN_PORT,
                  ["--max-concurrent-streams", str(STREAM_CAP), "--max-stream-resets", str(RESET_CAP)])
        try:
            test_same_answers(checks, job.url, args.ranks)
            test_connect_python(checks, job.url, args.ranks)
            test_stream_cap(checks, job.url)
            test_rapid_reset(checks, job.url)
        finally:
            job.kill()
        test_tls(checks, args.binary, args.ranks, workdir)
    print(f"{checks.passed} passed, {checks.failed} failed")
    sys.exit(1 if checks.failed else 0)


BINARY_ECHO = None

if __name__ == "__main__":
    main()
