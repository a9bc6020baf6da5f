"""GET and gzip from connect-python (the version pinned in hpc/python-constraints.txt), live.

connect-python's generated clients take `use_get=True` on the methods marked NO_SIDE_EFFECTS (it sends
Connect's GET form, with its default gzip request compression as `compression=gzip`), and accept gzip
answers (its HTTP client, pyqwest, decompresses them). The checks read what crossed the wire through a
byte-counting relay between the client and the job, so that "GET" and "gzip" are seen on the wire,
not inferred from the answers. Called by console_browser.py against its job.
"""
import json
import socket
import threading

import requests
from connectrpc.client import ResponseMetadata
from geopredict.v1 import geopredict_pb2
from geopredict.v1.geopredict_connect import GeoPredictServiceClientSync

SERVICE = "/geopredict.v1.GeoPredictService/"


class WireTap:
    """A TCP relay on 127.0.0.1 to `target_port` that keeps every byte each way, per connection."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = bytearray()       # client to server
        self.received = bytearray()   # server to client
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, self.sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.received), daemon=True).start()

    def _pump(self, source, sink, log):
        try:
            while data := source.recv(65536):
                with self.lock:
                    log.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def clear(self):
        with self.lock:
            self.sent.clear()
            self.received.clear()

    def request_lines(self):
        """The request lines the client sent ("GET /path?query HTTP/1.1")."""
        with self.lock:
            text = self.sent.decode("latin-1")
        return [line for line in text.split("\r\n") if line.split(" ")[0] in ("GET", "POST") and line.endswith("HTTP/1.1")]

    def first_response_headers(self):
        """The first answer's status line and headers (names lower-cased) since the last clear."""
        with self.lock:
            data = bytes(self.received)
        lines = data[:max(0, data.find(b"\r\n\r\n"))].decode("latin-1").split("\r\n")
        headers = {":status-line": lines[0]}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def close(self):
        self.listener.close()


def api(url, token, method, message):
    return requests.post(url + SERVICE + method, data=json.dumps(message), timeout=30,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}).json()


def check_connect_python(checks, url, token):
    port = int(url.rsplit(":", 1)[1])
    tap = WireTap(port)
    auth = {"authorization": f"Bearer {token}"}
    try:
        for label, client in (("binary", GeoPredictServiceClientSync(tap.url)),
                              ("JSON", GeoPredictServiceClientSync(tap.url, proto_json=True))):
            tap.clear()
            with ResponseMetadata() as metadata:
                user = client.get_user(geopredict_pb2.GetUserRequest(user_id="u0000001"), headers=auth, use_get=True)
            expected = api(url, token, "GetUser", {"userId": "u0000001"})
            lines = tap.request_lines()
            checks.check(len(lines) == 1 and lines[0].startswith("GET " + SERVICE + "GetUser?")
                         and "connect=v1" in lines[0] and "base64=1" in lines[0],
                         f"connect-python ({label}) calls GetUser with GET (use_get=True): Connect's GET form on the wire",
                         lines)
            checks.check("compression=gzip" in lines[0] if lines else False,
                         f"connect-python ({label}) sends its GET message gzip-compressed (compression=gzip), accepted", lines)
            counts = (user.event_count, user.visit_count)
            checks.check(counts == (int(expected.get("eventCount", 0)), int(expected.get("visitCount", 0))) and sum(counts) > 0
                         and metadata.headers().get("cache-control") == "private, no-store",
                         f"connect-python ({label}) reads the GET answer: the API's counts, Cache-Control private, no-store",
                         (user, expected, metadata.headers().get("cache-control")))

        client = GeoPredictServiceClientSync(tap.url)
        request = geopredict_pb2.PredictNextVisitsRequest(user_id="u0000001", limit=100)
        expected = [visit["storeId"] for visit in api(url, token, "PredictNextVisits", {"userId": "u0000001", "limit": 100})["visits"]]
        for how, use_get in (("POST", False), ("GET", True)):
            tap.clear()
            answer = client.predict_next_visits(request, headers=auth, use_get=use_get)
            headers = tap.first_response_headers()
            checks.check(headers.get("content-encoding") == "gzip" and len(tap.request_lines()) == 1
                         and tap.request_lines()[0].startswith(how + " ")
                         and [visit.store_id for visit in answer.visits] == expected and len(expected) > 20,
                         f"connect-python ({how}) accepts a gzip answer: Content-Encoding gzip on the wire, "
                         f"{len(expected)} predictions decoded as the API gives them",
                         (headers, len(answer.visits), len(expected)))
        tap.clear()
        status = client.get_training_status(geopredict_pb2.GetTrainingStatusRequest(), headers=auth, use_get=True)
        lines = tap.request_lines()
        checks.check(len(lines) == 1 and lines[0].startswith("GET ") and status.serving_model_version != "",
                     "connect-python calls GetTrainingStatus with GET (an empty message)", (lines, status))
    finally:
        tap.close()
