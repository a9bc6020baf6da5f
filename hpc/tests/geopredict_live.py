"""Live tests of `geopredict serve` under mpirun: every v1 method from clients that share no code
with the server, validation, near-real-time updates, training while serving, and the kill -9 test.

Modes:
  --mode api         the API at one rank count (curl JSON, protoc binary, connect-python, requests +
                     protobuf, the clients in clients/ when built), errors, ingest -> prediction, raw
                     GPS -> visit, Train and GetTrainingStatus, a schema-aware fuzz run, SIGTERM.
  --mode durability  ingest load from several threads with a Train in the middle, kill -9 of the
                     whole job, restart at another rank count on the same state folder: the model
                     checkpoint is loaded instead of retraining, predictions are unchanged, and every
                     acknowledged event is there; then a --retrain start continues the version count.

Prints one line per check and a summary; exits non-zero on any failure.
"""
import argparse
import base64
import concurrent.futures
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests

from live_checks import Checks, ServedJob, well_formed_error

from google.protobuf import json_format

from geopredict.v1 import geopredict_pb2
from mpiplug.v1 import error_details_pb2
from geopredict.v1.geopredict_connect import GeoPredictServiceClientSync
from connectrpc.errors import ConnectError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICE = "/geopredict.v1.GeoPredictService/"


class Job(ServedJob):
    """`geopredict serve --port 0 --state DIR` of a synthetic city of `users` and `stores`."""

    def __init__(self, binary, ranks, state, users, stores, log_path, timeout=900, extra=()):
        # GEOPREDICT_LIVE_PORT: a fixed port (one job at a time) on machines where only some ports may be used.
        super().__init__(binary, ranks, ["--port", os.environ.get("GEOPREDICT_LIVE_PORT", "0"), "--state", state, "--users", str(users),
                                         "--store-count", str(stores), *extra], log_path, timeout)


def call(url, method, message, timeout=60):
    return requests.post(url + SERVICE + method, data=json.dumps(message),
                         headers={"Content-Type": "application/json"}, timeout=timeout)


def predict(url, user, **fields):
    return call(url, "PredictNextVisits", dict(userId=user, **fields)).json()


def store_ids(answer):
    return [visit["storeId"] for visit in answer.get("visits", [])]


def test_reads(checks, url, ranks):
    health = requests.get(url + "/healthz", timeout=10)
    checks.check(health.status_code == 200, "GET /healthz is 200", health.text)
    curl = subprocess.run(["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json",
                           "-d", '{"userId":"u0000001","limit":5}', url + SERVICE + "PredictNextVisits"],
                          capture_output=True, text=True)
    answer = json.loads(curl.stdout or "{}")
    visits = answer.get("visits", [])
    checks.check(len(visits) == 5 and answer.get("modelVersion", "").startswith("m")
                 and all(v["storeId"].startswith("s") and "latitude" in v and "category" in v for v in visits)
                 and [v["score"] for v in visits] == sorted((v["score"] for v in visits), reverse=True),
                 "curl JSON PredictNextVisits: 5 stores, best first, with position, category and model version",
                 curl.stdout)
    checks.check("nextTrip" in answer and 0 <= answer["nextTrip"].get("probabilityWithin24h", 0) <= 1
                 and int(answer["nextTrip"]["earliestUnixSeconds"]) <= int(answer["nextTrip"]["latestUnixSeconds"]),
                 "the next trip is a window and a probability within 24 h", answer.get("nextTrip"))

    # Google's protoc makes and reads the binary bodies.
    proto_dir = os.path.join(ROOT, "proto")
    encoded = subprocess.run(["protoc", "--encode=geopredict.v1.PredictNextVisitsRequest", "-I", proto_dir,
                              "geopredict/v1/geopredict.proto"], input=b'user_id: "u0000001" limit: 5\n',
                             capture_output=True, check=True).stdout
    raw = requests.post(url + SERVICE + "PredictNextVisits", data=encoded,
                        headers={"Content-Type": "application/proto"}, timeout=30)
    decoded = subprocess.run(["protoc", "--decode=geopredict.v1.PredictNextVisitsResponse", "-I", proto_dir,
                              "geopredict/v1/geopredict.proto"], input=raw.content, capture_output=True).stdout.decode()
    checks.check(raw.status_code == 200 and raw.headers.get("Content-Type") == "application/proto"
                 and decoded.count("visits {") == 5 and store_ids(answer)[0] in decoded,
                 "binary protobuf from protoc --encode, answer readable by protoc --decode", decoded[:200])

    # connect-python, binary and JSON, and plain requests + protobuf.
    client = GeoPredictServiceClientSync(url)
    typed = client.predict_next_visits(geopredict_pb2.PredictNextVisitsRequest(user_id="u0000001", limit=5))
    checks.check([v.store_id for v in typed.visits] == store_ids(answer),
                  "connect-python (binary) gives the same stores as curl", typed)
    json_client = GeoPredictServiceClientSync(url, proto_json=True)
    user = json_client.get_user(geopredict_pb2.GetUserRequest(user_id="u0000001"))
    checks.check(user.user_id == "u0000001" and user.visit_count > 0 and user.event_count >= user.visit_count,
                 "connect-python (JSON) GetUser counts the user's events and visits", user)
    body = geopredict_pb2.PredictNextVisitsRequest(user_id="u0000001", limit=5).SerializeToString()
    plain = requests.post(url + SERVICE + "PredictNextVisits", data=body,
                          headers={"Content-Type": "application/proto"}, timeout=30)
    parsed = geopredict_pb2.PredictNextVisitsResponse.FromString(plain.content)
    checks.check([v.store_id for v in parsed.visits] == store_ids(answer),
                  "requests + protobuf gives the same stores", parsed)

    cold = predict(url, "never-seen-user", limit=4, latitude=40.75, longitude=-73.99)
    distances = [v["distanceMeters"] for v in cold.get("visits", []) if "distanceMeters" in v]
    checks.check(cold.get("coldStart") is True and len(distances) == 4 and max(distances) < 15_000,
                 "an unknown user gets cold-start stores near the position, not an error", cold)
    nowhere = predict(url, "never-seen-user", limit=4)
    checks.check(len(nowhere.get("visits", [])) == 4
                 and not any("distanceMeters" in v for v in nowhere["visits"]),
                 "with no position known, no distance is given (absent, not 0)", nowhere)
    shopping = predict(url, "u0000002", limit=10, shoppingOnly=True)
    checks.check(len(shopping.get("visits", [])) > 0,
                 "shopping_only answers shops", shopping)
    unknown = call(url, "GetUser", {"userId": "never-seen-user"})
    checks.check(unknown.status_code == 404 and unknown.json().get("code") == "not_found",
                 "GetUser of an unknown user is not_found", unknown.text)


def test_example_call(checks, job):
    """The curl command printed at start-up, run as printed, asks about a user the data holds."""
    deadline = time.time() + 10
    while job.example is None and time.time() < deadline:
        time.sleep(0.1)
    checks.check(job.example is not None and job.example.startswith("curl ") and job.url in job.example,
                 "the start-up prints an example call to this service", job.example)
    if job.example is None:
        return
    output = subprocess.run(job.example, shell=True, capture_output=True, text=True, timeout=30).stdout
    try:
        answer = json.loads(output)
    except ValueError:
        answer = {}
    checks.check(len(answer.get("visits", [])) == 5 and not answer.get("coldStart", False),
                 "the printed example call answers 5 stores for a known user (not a cold start)", output)


def detail_fields(error):
    """The fields of an error's mpiplug.v1.BadRequest details, decoded from their base64 value
    (unpadded, as the server sends it) with protobuf's runtime."""
    fields = []
    for detail in error.get("details", []):
        if detail.get("type") == "mpiplug.v1.BadRequest":
            value = detail.get("value", "")
            message = error_details_pb2.BadRequest.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
            fields += [violation.field for violation in message.field_violations]
    return fields


def test_validation(checks, url):
    now = int(time.time())
    cases = [
        ("PredictNextVisits", {"userId": ""}, "user_id"),
        ("PredictNextVisits", {"userId": "u1", "limit": 101}, "limit"),
        ("PredictNextVisits", {"userId": "u1", "latitude": 91, "longitude": 0}, "latitude"),
        ("PredictNextVisits", {"userId": "u1", "latitude": "NaN", "longitude": 0}, "latitude"),
        ("PredictNextVisits", {"userId": "u1", "atUnixSeconds": str(now + 10 * 86_400)}, "at_unix_seconds"),
        ("GetUser", {"userId": "x" * 5000}, "user_id"),
        ("IngestEvents", {"events": []}, "events"),
        ("Train", {"factors": 257}, "factors"),
        # Finite, but past what training (in Float) can take: refused before a run starts.
        ("Train", {"alpha": 1e300}, "alpha"),
        ("Train", {"regularization": 1e7}, "regularization"),
    ]
    for method, body, field in cases:
        response = call(url, method, body)
        error = response.json() if response.headers.get("Content-Type") == "application/json" else {}
        checks.check(response.status_code == 400 and error.get("code") == "invalid_argument"
                     and field in error.get("message", "") and detail_fields(error) == [field],
                     f"{method} {json.dumps(body)[:50]} -> invalid_argument naming {field} (in a BadRequest detail too)",
                     response.text)
    # connect-python, a Connect client of its own, reads the detail as a typed message.
    try:
        GeoPredictServiceClientSync(url).predict_next_visits(geopredict_pb2.PredictNextVisitsRequest(user_id="u1", limit=500))
        violations = None
    except ConnectError as error:
        violations = []
        for detail in error.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                violations += [violation.field for violation in bad_request.field_violations]
    checks.check(violations == ["limit"], "connect-python unpacks the error's detail as mpiplug.v1.BadRequest naming limit",
                 violations)
    good = {"userId": "batch-user", "timestampUnixSeconds": str(now - 60), "latitude": 40.7, "longitude": -74.0,
            "storeId": "s000001"}
    bad = [
        dict(good, latitude=100),
        dict(good, longitude="Infinity"),
        dict(good, timestampUnixSeconds="500000000"),
        dict(good, timestampUnixSeconds=str(now + 7 * 86_400)),
        dict(good, userId=""),
        dict(good, storeId="no-such-store"),
    ]
    response = call(url, "IngestEvents", {"events": [good] + bad + [good]})
    answer = response.json()
    errors = answer.get("errors", [])
    checks.check(response.status_code == 200 and answer.get("accepted") == 2 and answer.get("rejected") == len(bad)
                 and [e.get("index", 0) for e in errors] == list(range(1, len(bad) + 1))
                 and [e.get("field") for e in errors] == ["latitude", "longitude", "timestamp_unix_seconds",
                                                          "timestamp_unix_seconds", "user_id", "store_id"],
                 "a batch keeps its good events and reports each bad one by index and field", answer)
    user = call(url, "GetUser", {"userId": "batch-user"}).json()
    checks.check(user.get("eventCount") == "2", "only the good events were stored", user)
    malformed = requests.post(url + SERVICE + "PredictNextVisits", data=b"\xff\xff\xff",
                              headers={"Content-Type": "application/proto"}, timeout=30)
    checks.check(malformed.status_code == 400 and malformed.json().get("code") == "invalid_argument",
                 "a malformed binary body is invalid_argument", malformed.text)
    checks.check(requests.get(url + "/healthz", timeout=10).status_code == 200, "healthy after bad input")


def test_near_real_time(checks, url):
    """Ingested check-ins change the user's next prediction at once (fold-in, own counts)."""
    user = "u0000003"
    before = predict(url, user, limit=10)
    listed = set(store_ids(before))
    all_stores = [f"s{index:06d}" for index in range(1, 61)]
    target = next(store for store in all_stores if store not in listed)
    now = int(time.time())
    events = [{"userId": user, "timestampUnixSeconds": str(now - 3_000 + 600 * step), "latitude": 40.73,
               "longitude": -73.99, "storeId": target} for step in range(5)]
    started = time.perf_counter()
    ingest = call(url, "IngestEvents", {"events": events}).json()
    after = predict(url, user, limit=10)
    elapsed_ms = (time.perf_counter() - started) * 1000
    checks.check(ingest.get("accepted") == 5, "five check-ins accepted", ingest)
    checks.check(target in store_ids(after) and store_ids(after) != store_ids(before),
                 f"the very next prediction reflects them ({target} enters the list; "
                 f"ingest + predict took {elapsed_ms:.1f} ms here)", after)


def test_raw_gps(checks, url):
    """Raw GPS fixes that stay near a store for 10 minutes, then leave, become a visit."""
    user = "gps-walker"
    store = call(url, "PredictNextVisits", {"userId": "u0000004", "limit": 1}).json()["visits"][0]
    lat, lon = store["latitude"], store["longitude"]
    start = int(time.time()) - 3_600
    fixes = [{"userId": user, "timestampUnixSeconds": str(start + 60 * minute),
              "latitude": lat + 0.00005 * (minute % 2), "longitude": lon} for minute in range(11)]
    fixes.append({"userId": user, "timestampUnixSeconds": str(start + 60 * 12), "latitude": lat + 0.02,
                  "longitude": lon})
    answer = call(url, "IngestEvents", {"events": fixes}).json()
    summary = call(url, "GetUser", {"userId": user}).json()
    checks.check(answer.get("accepted") == len(fixes) and summary.get("eventCount") == str(len(fixes))
                 and summary.get("visitCount") == "1",
                 "raw GPS: a 10-minute stay at a store becomes one visit", (answer, summary))


def wait_for_training(url, version, timeout=600):
    """Polls GetTrainingStatus until the run of `version` is over; returns the last status."""
    deadline = time.time() + timeout
    while True:
        status = call(url, "GetTrainingStatus", {}).json()
        if status.get("runModelVersion") != version or status.get("state") != "STATE_RUNNING" or time.time() > deadline:
            return status
        time.sleep(0.2)


SAME_SECOND_USERS = [f"same-second-{index}" for index in range(8)]


def ingest_same_second_check_ins(url):
    """Users whose check-ins share timestamps, arriving in no particular store order (what a client
    that rounds times, or a batch import, sends): training must see them in the order predictions do."""
    now = int(time.time())
    rng = random.Random(1)
    for user in SAME_SECOND_USERS:
        # 40 check-ins at 6 stores and 3 distinct times: most of these users' transitions are their own.
        events = [{"userId": user, "timestampUnixSeconds": str(now - 3_600 * rng.choice([1, 1, 1, 2, 30, 30])),
                   "latitude": 40.73, "longitude": -73.99, "storeId": f"s{rng.randint(1, 6):06d}"} for _ in range(40)]
        call(url, "IngestEvents", {"events": events})


def finite_scores(answer):
    return all(isinstance(visit.get("score", 0), (int, float)) and math.isfinite(visit.get("score", 0))
               for visit in answer.get("visits", []))


def test_background_training_matches_start_up(checks, url):
    """A Train on unchanged data runs beside serving, its collectives on the MPI thread between
    requests; it must give the model that start-up's inline training gave, bit for bit."""
    at = str(int(time.time()) // 3_600 * 3_600)
    users = [f"u{index:07d}" for index in range(1, 600, 13)]

    def answers():
        return [{key: value for key, value in predict(url, user, limit=20, atUnixSeconds=at).items() if key != "modelVersion"}
                for user in users]

    before = answers()
    version = call(url, "Train", {}).json().get("modelVersion", "")
    status = wait_for_training(url, version)
    checks.check(status.get("servingModelVersion") == version and answers() == before,
                 f"a Train on unchanged data gives start-up's model bit for bit ({len(users)} users' scores)", status)


def test_training(checks, url):
    ingest_same_second_check_ins(url)
    status = call(url, "GetTrainingStatus", {}).json()
    version = status.get("servingModelVersion")
    trained = call(url, "Train", {"iterations": 3}, timeout=60)
    answer = trained.json()
    new_version = answer.get("modelVersion", "")
    checks.check(trained.status_code == 200 and new_version not in ("", version),
                 "Train starts a run over all ranks and answers the version it will produce", answer)
    # While the run goes on, predictions are answered, from the old model; a second Train is refused.
    during = call(url, "PredictNextVisits", {"userId": "u0000001", "limit": 3})
    again = call(url, "Train", {"iterations": 3})
    running = call(url, "GetTrainingStatus", {}).json()
    if running.get("state") == "STATE_RUNNING" and running.get("runModelVersion") == new_version:
        checks.check(during.status_code == 200 and during.json().get("modelVersion") == version,
                     "predictions are answered from the old model while the run goes on", during.text)
        checks.check(again.status_code == 400 and again.json().get("code") == "failed_precondition",
                     "a second Train during a run is refused with failed_precondition", again.text)
    else:
        print("  (the run ended before the checks during it; they were skipped)")
    after = wait_for_training(url, new_version)
    checks.check(after.get("servingModelVersion") == new_version and after.get("state") == "STATE_IDLE"
                 and float(after.get("elapsedSeconds", 0)) > 0 and after.get("iteration") == after.get("iterations"),
                 "GetTrainingStatus reports the finished run, and the new model serves", after)
    served = predict(url, "u0000001", limit=3)
    checks.check(served.get("modelVersion") == new_version, "predictions use the new model", served)
    answers = [predict(url, user, limit=100) for user in SAME_SECOND_USERS]
    checks.check(all(answer.get("visits") and finite_scores(answer) for answer in answers),
                 "users with check-ins at the same second get finite scores from the model trained on them",
                 [answer for answer in answers if not finite_scores(answer)][:1])


def fuzz_requests(rng, count, now, stores, categories):
    """Valid and invalid requests of every method but Train, built from the schema: ids of every
    kind, coordinates and times at and past their limits, category filters, GPS traces in and out of
    order, same-second check-ins, binary and JSON bodies."""
    def user_id():
        return rng.choice([f"u{rng.randint(0, 3000):07d}", "fuzz-" + "x" * 123, "é" * 64, "🛒" * 32, "\u200b",
                           "a\u00adb", "fuzz user", "\u202efuzz", "", "x" * 129, "tab\tuser"])

    def timestamp():
        return rng.choice([0, -1, 631_152_000, 631_151_999, now, now - 60, now + 86_400, now + 86_401, 2**63 - 1,
                           -2**63, now - rng.randint(0, 10**8)])

    def latitude():
        return rng.choice([90.0, -90.0, -0.0, 89.9999999, 5e-324, float("nan"), float("inf"), 90.0000001,
                           rng.uniform(-90, 90), 40.73 + rng.gauss(0, 0.05)])

    def longitude():
        return rng.choice([180.0, -180.0, 179.9999999, 5e-324, float("nan"), -float("inf"), 180.0000001,
                           rng.uniform(-180, 180), -73.99 + rng.gauss(0, 0.05)])

    def event(user, time_):
        message = geopredict_pb2.LocationEvent(user_id=user, timestamp_unix_seconds=time_, latitude=latitude(),
                                               longitude=longitude())
        if rng.random() < 0.5:
            message.store_id = rng.choice(stores + ["no-such-store", "", "x" * 129])
        return message

    for _ in range(count):
        draw = rng.random()
        if draw < 0.45:
            message = geopredict_pb2.PredictNextVisitsRequest(
                user_id=user_id(), limit=rng.choice([0, 1, 10, 100, 101, 2**32 - 1]), shopping_only=rng.random() < 0.3)
            if rng.random() < 0.5:
                message.at_unix_seconds = timestamp()
            if rng.random() < 0.6:
                message.latitude = latitude()
                if rng.random() < 0.95:
                    message.longitude = longitude()
            if rng.random() < 0.3:
                message.categories.extend(rng.choice(categories + ["", "nope", "x" * 129])
                                          for _ in range(rng.choice([1, 3, 100, 101])))
            method = "PredictNextVisits"
        elif draw < 0.8:
            message = geopredict_pb2.IngestEventsRequest()
            if rng.random() < 0.3:  # one user's GPS trace, sometimes shuffled, sometimes all at one second
                user, start = user_id(), now - rng.randint(3_600, 10**7)
                step = rng.choice([0, 1, 60, 600])
                lat, lon = 40.73 + rng.gauss(0, 0.05), -73.99 + rng.gauss(0, 0.05)
                trace = [geopredict_pb2.LocationEvent(user_id=user, timestamp_unix_seconds=start + index * step,
                                                      latitude=lat + rng.gauss(0, 0.0003), longitude=lon + rng.gauss(0, 0.0003))
                         for index in range(rng.choice([2, 50, 400]))]
                if rng.random() < 0.5:
                    rng.shuffle(trace)
                message.events.extend(trace)
            else:
                shared = timestamp()
                message.events.extend(event(user_id(), shared if rng.random() < 0.3 else timestamp())
                                      for _ in range(rng.randint(0, 30)))
            method = "IngestEvents"
        else:
            message = geopredict_pb2.GetUserRequest(user_id=user_id())
            method = "GetUser"
        if rng.random() < 0.3:
            yield method, message, json_format.MessageToJson(message).encode(), "application/json"
        else:
            yield method, message, message.SerializeToString(), "application/proto"


def test_fuzz(checks, url, ranks, count=1500):
    """Every fuzzed request is answered with 200 or a Connect 4xx error; predictions stay finite; no
    rank crashes or hangs; and the fuzzed history trains into a model that still predicts finitely."""
    rng = random.Random(20261121 + ranks)
    now = int(time.time())
    listed = predict(url, "u0000001", limit=100).get("visits", [])
    stores = [visit["storeId"] for visit in listed]
    categories = sorted({visit.get("category", "") for visit in listed})
    fuzzed_users = set()

    def send(case):
        method, message, body, content_type = case
        if method == "IngestEvents":
            fuzzed_users.update(event.user_id for event in message.events)
        else:
            fuzzed_users.add(message.user_id)
        try:
            response = requests.post(url + SERVICE + method, data=body, headers={"Content-Type": content_type}, timeout=60)
        except requests.RequestException as error:
            return f"{method}: transport error {error}"
        if response.status_code != 200:
            if not well_formed_error(response) or response.status_code >= 500:
                return f"{method}: {response.status_code} {response.text[:100]}"
            return None
        if method == "PredictNextVisits" and content_type == "application/proto":
            answer = geopredict_pb2.PredictNextVisitsResponse.FromString(response.content)
            if not all(math.isfinite(visit.score) and math.isfinite(visit.distance_meters) for visit in answer.visits):
                return f"non-finite score or distance for {str(message)[:200]}"
            if not 0 <= answer.next_trip.probability_within_24h <= 1:
                return f"probability outside [0, 1] for {str(message)[:200]}"
        return None

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        problems = [problem for problem in pool.map(send, fuzz_requests(rng, count, now, stores, categories)) if problem]
    checks.check(not problems, f"fuzz: {count} schema-aware requests of every method all answered with 200 or a "
                               f"Connect 4xx error, every score finite ({time.time() - started:.1f} s)",
                 f"{len(problems)} problems, first: {problems[:3]}")
    version = call(url, "Train", {"iterations": 2}).json().get("modelVersion", "")
    status = wait_for_training(url, version)
    users = sorted(user for user in fuzzed_users if 0 < len(user.encode()) <= 128 and "\t" not in user)[:200]
    answers = [predict(url, user, limit=100) for user in users]
    checks.check(status.get("servingModelVersion") == version and all(finite_scores(answer) for answer in answers),
                 f"a model trained on the fuzzed history serves, with finite scores for {len(users)} fuzzed users",
                 (status, [answer for answer in answers if not finite_scores(answer)][:1]))
    checks.check(requests.get(url + "/healthz", timeout=10).status_code == 200, "healthy after the fuzz run")


def test_clients(checks, url, bin_dir):
    script = os.path.join(ROOT, "clients", "test-clients")
    if not os.path.exists(script):
        checks.check(False, "clients/test-clients exists")
        return
    result = subprocess.run([script, url, "u0000001"], capture_output=True, text=True,
                            env=dict(os.environ, SWIFT_BIN_DIR=bin_dir), timeout=600)
    print(result.stdout[-2000:])
    checks.check(result.returncode == 0, "C, Python and Swift clients agree", result.stderr[-1000:])


def test_sigterm(checks, job, log_path):
    """SIGTERM to rank 0 while a Train runs: the stop is not held up by the run, which is dropped and
    named in the log."""
    pid = job.rank0_pid()
    if pid is None:
        checks.check(False, "found rank 0")
        return
    version = call(job.url, "Train", {"factors": 256, "iterations": 100}).json().get("modelVersion", "")
    status = call(job.url, "GetTrainingStatus", {}).json()
    training = status.get("state") == "STATE_RUNNING" and status.get("runModelVersion") == version
    os.kill(pid, signal.SIGTERM)
    try:
        code = job.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        code = None
    checks.check(code == 0, "SIGTERM to rank 0 drains and every rank exits 0, with a Train running", code)
    if training:
        job.log.flush()
        with open(log_path) as log:
            text = log.read()
        checks.check(f"training {version} abandoned at shutdown" in text,
                     "the log says the running Train was abandoned and which model serves next", text[-500:])
    else:
        print("  (the Train ended before the SIGTERM; the abandonment check was skipped)")


def run_api(arguments, checks):
    state = tempfile.mkdtemp(prefix="geopredict-live-")
    try:
        job = Job(arguments.binary, arguments.ranks, state, 600, 60, os.path.join(state, "job.log"))
        try:
            test_background_training_matches_start_up(checks, job.url)
            test_reads(checks, job.url, job.ranks)
            test_example_call(checks, job)
            test_validation(checks, job.url)
            test_near_real_time(checks, job.url)
            test_raw_gps(checks, job.url)
            test_training(checks, job.url)
            test_fuzz(checks, job.url, job.ranks)
            if arguments.clients:
                test_clients(checks, job.url, os.path.dirname(arguments.binary))
            test_sigterm(checks, job, os.path.join(state, "job.log"))
        finally:
            if job.process.poll() is None:
                job.kill()
    finally:
        if checks.failed:
            print(open(os.path.join(state, "job.log")).read()[-3000:])
        shutil.rmtree(state, ignore_errors=True)


def run_durability(arguments, checks):
    """kill -9 of the whole job under ingest load; restart at another rank count; count."""
    state = tempfile.mkdtemp(prefix="geopredict-durability-")
    log_path = os.path.join(state, "job.log")
    acknowledged, in_flight = {}, {}
    lock, stop = threading.Lock(), threading.Event()
    threads_count, batch = 4, 25

    def load(worker, url):
        sequence = 0
        session = requests.Session()
        while not stop.is_set():
            user = f"durable-{worker}-{sequence % 50}"
            now = int(time.time())
            events = [{"userId": user, "timestampUnixSeconds": str(now - 600 + index), "latitude": 40.73,
                       "longitude": -73.99, "storeId": f"s{1 + (sequence + index) % 60:06d}"}
                      for index in range(batch)]
            with lock:
                in_flight[user] = in_flight.get(user, 0) + batch
            try:
                response = session.post(url + SERVICE + "IngestEvents", data=json.dumps({"events": events}),
                                        headers={"Content-Type": "application/json"}, timeout=10)
                accepted = response.json().get("accepted", 0) if response.status_code == 200 else 0
            except (requests.RequestException, ValueError):
                accepted = 0
            with lock:
                acknowledged[user] = acknowledged.get(user, 0) + accepted
                # An unanswered request may or may not have been stored: it stays counted as in flight.
                if accepted:
                    in_flight[user] -= batch
            sequence += 1

    def log_since(offset, until=("loaded model checkpoint", "trained the first model"), timeout=15):
        # mpirun forwards stderr (the log) and stdout (the 'serving on' line) separately: wait for
        # the start-up's decisive line to arrive.
        deadline = time.time() + timeout
        while True:
            with open(log_path) as log:
                log.seek(offset)
                text = log.read()
            if any(needle in text for needle in until) or time.time() > deadline:
                return text
            time.sleep(0.2)

    try:
        job = Job(arguments.binary, arguments.ranks, state, 400, 60, log_path)
        first_log = log_since(0, until=("wrote model checkpoint",))
        checks.check("no model checkpoint" in first_log and "wrote model checkpoint" in first_log,
                     "a fresh state folder trains the first model and checkpoints it")
        workers = [threading.Thread(target=load, args=(worker, job.url)) for worker in range(threads_count)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        # A Train under load: its checkpoint covers the events ingested so far; the rest come after it.
        time.sleep(arguments.load_seconds / 2)
        trained = call(job.url, "Train", {"iterations": 3}, timeout=300).json().get("modelVersion", "")
        finished = wait_for_training(job.url, trained, timeout=300)
        checks.check(finished.get("servingModelVersion") == trained, "the run under ingest load finished and serves",
                     finished)
        at = str(int(time.time()))
        reference = predict(job.url, "u0000001", limit=10, atUnixSeconds=at)
        time.sleep(arguments.load_seconds / 2)
        job.kill()
        stop.set()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        total = sum(acknowledged.values())
        print(f"  ingest under load: {total} events acknowledged in {elapsed:.1f} s "
              f"({total / elapsed:.0f} events/s with fdatasync, {threads_count} clients x {batch} events), then kill -9")
        checks.check(total > 0, "events were acknowledged before the kill")

        restart_ranks = arguments.restart_ranks
        wal = os.path.join(state, "wal")
        first_run_segments = {name for name in os.listdir(wal) if name.endswith(".wal")}
        offset = os.path.getsize(log_path)
        job = Job(arguments.binary, restart_ranks, state, 400, 60, log_path)
        try:
            restart_log = log_since(offset)
            loaded = [line for line in restart_log.splitlines() if "loaded model checkpoint" in line]
            counts = [int(word) for word in loaded[0].replace(",", " ").split() if word.isdigit()] if loaded else []
            checks.check(bool(loaded) and f"model {trained}" in loaded[0] and "trained the first model" not in restart_log
                         and len(counts) >= 2 and counts[0] > 0 and counts[1] > 0,
                         f"the restart at {restart_ranks} ranks loaded the checkpoint of {trained} instead of retraining "
                         "(events both covered by it and after it)", loaded or restart_log[-1500:])
            served = call(job.url, "GetTrainingStatus", {}).json().get("servingModelVersion")
            again = predict(job.url, "u0000001", limit=10, atUnixSeconds=at)
            checks.check(served == trained and again == reference and len(reference.get("visits", [])) == 10,
                         "the restarted job serves the same model version and the same predictions, scores and all",
                         (served, trained, again, reference))
            lost, extra = [], 0
            for user, count in sorted(acknowledged.items()):
                answer = call(job.url, "GetUser", {"userId": user})
                stored = int(answer.json().get("eventCount", 0)) if answer.status_code == 200 else 0
                if stored < count:
                    lost.append((user, count, stored))
                extra += stored - count
            checks.check(not lost, f"after restart at {restart_ranks} ranks every acknowledged event is there "
                                   f"({total} acknowledged; {extra} more stored from requests cut off unanswered)",
                         lost[:5])
            unanswered = sum(in_flight.values())
            checks.check(0 <= extra <= unanswered, "nothing was stored twice or invented",
                         f"extra={extra} unanswered={unanswered}")

            # A Train at this rank count checkpoints every event of the first run: its segments are
            # folded (beside serving) into one file per rank and removed.
            offset = os.path.getsize(log_path)
            folding = call(job.url, "Train", {"iterations": 3}, timeout=300).json().get("modelVersion", "")
            wait_for_training(job.url, folding, timeout=300)
            fold_log = log_since(offset, until=("folded ", "not folded", "could not fold"), timeout=120)
            left = set(os.listdir(wal))
            folds = sorted(name for name in left if name.startswith("fold-"))
            checks.check("folded " in fold_log and first_run_segments.isdisjoint(left)
                         and folds == sorted(f"fold-1-{rank}-of-{restart_ranks}.gpfold" for rank in range(restart_ranks)),
                         f"after Train at {restart_ranks} ranks the first run's {len(first_run_segments)} log segments "
                         "are folded and removed", (sorted(left), fold_log[-800:]))
        finally:
            job.kill()

        def stored_counts(url):
            lost, extra = [], 0
            for user, count in sorted(acknowledged.items()):
                answer = call(url, "GetUser", {"userId": user})
                stored = int(answer.json().get("eventCount", 0)) if answer.status_code == 200 else 0
                if stored < count:
                    lost.append((user, count, stored))
                extra += stored - count
            return lost, extra

        # kill -9 after the fold, restart at the first rank count: the fold written at another rank
        # count gives every event back, none twice (the same count as before the fold). Then a Train
        # and a kill -9 while its fold may still be running: a restart still has every event.
        offset = os.path.getsize(log_path)
        job = Job(arguments.binary, arguments.ranks, state, 400, 60, log_path)
        try:
            log_since(offset)
            folded_lost, folded_extra = stored_counts(job.url)
            checks.check(not folded_lost and folded_extra == extra,
                         f"after the fold, kill -9 and a restart at {arguments.ranks} ranks every acknowledged event "
                         f"is there once (read from the fold files)", (folded_lost[:5], folded_extra, extra))
            racing = call(job.url, "Train", {"iterations": 3}, timeout=300).json().get("modelVersion", "")
            wait_for_training(job.url, racing, timeout=300)
        finally:
            job.kill()
        offset = os.path.getsize(log_path)
        job = Job(arguments.binary, restart_ranks, state, 400, 60, log_path)
        try:
            log_since(offset)
            raced_lost, raced_extra = stored_counts(job.url)
            checks.check(not raced_lost and raced_extra == extra,
                         f"kill -9 just after a Train (its fold under way or done), restart at {restart_ranks} ranks: "
                         "every acknowledged event is there once", (raced_lost[:5], raced_extra, extra))
        finally:
            job.kill()

        # --retrain ignores the checkpoints, and the version count goes on (m1 at start, m2 to m4 from Train).
        offset = os.path.getsize(log_path)
        job = Job(arguments.binary, arguments.ranks, state, 400, 60, log_path, extra=["--retrain"])
        try:
            retrain_log = log_since(offset)
            served = call(job.url, "GetTrainingStatus", {}).json().get("servingModelVersion", "")
            checks.check("trained the first model" in retrain_log and "loaded model checkpoint" not in retrain_log
                         and served.startswith("m5-"),
                         "--retrain trains instead of loading, as model m5", (served, retrain_log[-800:]))
        finally:
            job.kill()
    finally:
        if checks.failed:
            print(open(log_path).read()[-3000:])
        shutil.rmtree(state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the geopredict executable")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--mode", choices=["api", "durability"], default="api")
    parser.add_argument("--restart-ranks", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=6)
    parser.add_argument("--clients", action="store_true", help="also run clients/test-clients")
    arguments = parser.parse_args()
    checks = Checks(detail_limit=400)
    print(f"geopredict live ({arguments.mode}) at {arguments.ranks} rank(s)")
    if arguments.mode == "api":
        run_api(arguments, checks)
    else:
        run_durability(arguments, checks)
    print(f"geopredict-live: mode={arguments.mode} ranks={arguments.ranks} passed={checks.passed} failed={checks.failed}")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
