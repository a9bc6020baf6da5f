"""Live test of several front doors: `geopredict serve --front-doors 3` at 3 ranks on one host.

Each rank runs an HTTP door, on --port, --port + 1 and --port + 2. Checked:
- every door's /healthz is ready and lists the three doors; GetClusterStatus (a collective route,
  forwarded to rank 0 by doors 1 and 2) lists them too, with per-door figures;
- predictions for users of every rank are the same through every door;
- a keyed call through door 1 reaches only its owner: no other rank (rank 0 included) receives a byte
  of it, and no round runs for it;
- an event ingested through one door is visible through the others at once;
- errors keep their code and status through another door (a bad limit, an unknown method), and a
  collective route run through door 1 involves every rank (Echo's checksum);
- Train through door 2 runs, and door 1 sees the new model served;
- behind HAProxy (round robin over the doors; skipped when haproxy cannot be installed), answers equal
  the doors' own and ingest through the balancer is visible through each door;
- idle, every rank uses at most 5 % of a core;
- SIGTERM to rank 0 (as hpc/serve sends it) ends the job with status 0 and closes every door.

Prints one line per check and a summary; exits non-zero on any failure.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

from live_checks import Checks, ServedJob, end_run, owner, rank_of

SERVICE = "/geopredict.v1.GeoPredictService/"
CLUSTER = "/mpiplug.v1.ClusterService/GetClusterStatus"
ECHO = "/mpiplug.v1.DiagnosticsService/Echo"
RANKS = 3


def free_ports(count):
    """A base port with `count` consecutive free ports after it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                listener = socket.socket()
                sockets.append(listener)
                listener.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for listener in sockets:
                listener.close()
    raise RuntimeError("no run of free ports found")


def post(url, path, message, timeout=60):
    return requests.post(url + path, data=json.dumps(message), headers={"Content-Type": "application/json"},
                         timeout=timeout)


def call(url, method, message, timeout=60):
    return post(url, SERVICE + method, message, timeout)


def ranks_status(url):
    answer = post(url, CLUSTER, {})
    answer.raise_for_status()
    body = answer.json()
    return body, {int(rank.get("rank", 0)): rank for rank in body["ranks"]}


def wait_ready(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            answer = requests.get(url + "/healthz", timeout=10)
            if answer.status_code == 200:
                return answer.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_doors_listed(checks, doors, base):
    expected = [(rank, base + rank) for rank in range(RANKS)]
    for rank, url in enumerate(doors):
        health = wait_ready(url)
        listed = [(door.get("rank"), door.get("port")) for door in (health or {}).get("frontDoors", [])]
        checks.check(health is not None and listed == expected,
                     f"door {rank}'s /healthz is ready and lists the three doors", health)
    body, ranks = ranks_status(doors[2])
    listed = [(int(door.get("rank", 0)), int(door.get("port", 0))) for door in body.get("frontDoors", [])]
    checks.check(listed == expected and all("frontDoor" in ranks[rank] for rank in range(RANKS)),
                 "GetClusterStatus through door 2 lists every door, in each rank's status too", body.get("frontDoors"))


def check_same_answers(checks, doors, users, at):
    differing, empty = [], 0
    for user in users:
        answers = [call(url, "PredictNextVisits", {"userId": user, "limit": 10, "atUnixSeconds": at}) for url in doors]
        bodies = [answer.json() for answer in answers]
        if any(answer.status_code != 200 for answer in answers) or any(body != bodies[0] for body in bodies):
            differing.append((user, [answer.status_code for answer in answers]))
        empty += not bodies[0].get("visits")
    checks.check(not differing and empty < len(users),
                 f"predictions for {len(users)} users of every rank are the same through every door", differing[:3])


def check_only_owner_receives(checks, doors, users_of_rank_2):
    _, before = ranks_status(doors[0])
    for user in users_of_rank_2:
        call(doors[1], "PredictNextVisits", {"userId": user, "limit": 5}).raise_for_status()
    _, after = ranks_status(doors[0])

    def delta(rank, field):
        return int(after[rank].get(field, 0)) - int(before[rank].get(field, 0))

    sent = len(users_of_rank_2)
    figures = {rank: (delta(rank, "keyedRequests"), delta(rank, "keyedBytes")) for rank in range(RANKS)}
    print(f"  {sent} calls through door 1 for rank 2's users: (keyed requests, bytes) per rank {figures}")
    checks.check(figures[2][0] == sent and figures[2][1] > 0,
                 "through door 1, rank 2 ran exactly the calls for its users, from messages", figures)
    checks.check(figures[0] == (0, 0) and figures[1] == (0, 0),
                 "rank 0 and door 1's own rank received and ran none of them", figures)
    rounds = {rank: delta(rank, "roundsServed") for rank in range(RANKS)}
    checks.check(all(count == 1 for count in rounds.values()),
                 "no round ran for them (only the second GetClusterStatus)", rounds)


def event_count(url, user):
    answer = call(url, "GetUser", {"userId": user})
    if answer.status_code == 404:
        return 0  # not_found: a user with no event yet
    return int(answer.json().get("eventCount", 0)) if answer.status_code == 200 else -1


def ingest(url, users, now):
    events = [{"userId": user, "timestampUnixSeconds": now - 60, "latitude": 40.75, "longitude": -73.99}
              for user in users]
    return call(url, "IngestEvents", {"events": events})


def check_ingest_visible(checks, ingest_url, read_urls, users, label):
    before = {user: [event_count(url, user) for url in read_urls] for user in users}
    answer = ingest(ingest_url, users, int(time.time()))
    accepted = answer.status_code == 200 and int(answer.json().get("accepted", 0)) == len(users)
    after = {user: [event_count(url, user) for url in read_urls] for user in users}
    grown = all(after[user][index] == before[user][index] + 1 for user in users for index in range(len(read_urls)))
    checks.check(accepted and grown, f"an ingest through {label} is visible at once through every door",
                 (answer.status_code, answer.text[:200], before, after))


def check_errors_and_collectives(checks, doors):
    bad = call(doors[2], "PredictNextVisits", {"userId": "u0000001", "limit": 500})
    checks.check(bad.status_code == 400 and bad.json().get("code") == "invalid_argument",
                 "a bad limit through door 2 is 400 invalid_argument", bad.text[:200])
    unknown = post(doors[1], SERVICE + "NoSuchMethod", {})
    checks.check(unknown.status_code == 404, "an unknown method through door 1 is 404", unknown.status_code)
    echo = post(doors[1], ECHO, {"message": "hello", "value": 10})
    body = echo.json() if echo.status_code == 200 else {}
    checks.check(echo.status_code == 200 and int(body.get("checksum", 0)) == RANKS * 10 + sum(range(RANKS))
                 and body.get("message") == "hello",
                 "a collective route through door 1 runs on every rank (Echo's checksum)", echo.text[:200])


def check_training(checks, doors):
    started = call(doors[2], "Train", {"iterations": 2})
    version = started.json().get("modelVersion", "") if started.status_code == 200 else ""
    deadline = time.time() + 300
    status = {}
    while time.time() < deadline:
        status = call(doors[1], "GetTrainingStatus", {}).json()
        if status.get("servingModelVersion") == version and status.get("state") != "STATE_RUNNING":
            break
        time.sleep(0.3)
    checks.check(version != "" and status.get("servingModelVersion") == version,
                 "Train through door 2 runs, and door 1 sees the new model served", (started.text[:200], status))


def start_haproxy(doors_base, port, work):
    if shutil.which("haproxy") is None:
        return None
    config = os.path.join(work, "haproxy.cfg")
    servers = "\n".join(f"    server door{rank} 127.0.0.1:{doors_base + rank}" for rank in range(RANKS))
    with open(config, "w") as file:
        file.write(f"""global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend doors
    bind 127.0.0.1:{port}
    default_backend geopredict
backend geopredict
    balance roundrobin
    option httpchk GET /healthz
{servers}
""")
    process = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    if wait_ready(url, timeout=20) is None:
        process.kill()
        return None
    return process


def check_balancer(checks, doors, base, work, users, at):
    balancer = start_haproxy(base, base + RANKS, work)
    if balancer is None:
        print("  SKIPPED HAProxy checks: haproxy is not installed (apt-get install haproxy)")
        return
    url = f"http://127.0.0.1:{base + RANKS}"
    try:
        differing = []
        for user in users:
            # Three calls per user: round robin sends them to three different doors.
            through = [call(url, "PredictNextVisits", {"userId": user, "limit": 10, "atUnixSeconds": at}).json()
                       for _ in range(RANKS)]
            direct = call(doors[0], "PredictNextVisits", {"userId": user, "limit": 10, "atUnixSeconds": at}).json()
            if any(body != direct for body in through):
                differing.append(user)
        checks.check(not differing, f"through HAProxy, answers for {len(users)} users equal each door's own", differing[:3])
        check_ingest_visible(checks, url, doors, users[:6], "HAProxy")
    finally:
        balancer.terminate()
        balancer.wait(timeout=10)


def check_idle_cpu(checks, job):
    pids = {rank_of(pid): pid for pid in job.rank_pids()}
    time.sleep(2.0)  # let the last calls' work end
    first = {rank: cpu_seconds(pid) for rank, pid in pids.items()}
    started = time.monotonic()
    time.sleep(5.0)
    elapsed = time.monotonic() - started
    use = {rank: (cpu_seconds(pid) - first[rank]) / elapsed for rank, pid in pids.items()}
    print("  idle CPU per rank: " + ", ".join(f"rank {rank} {100 * share:.1f} %" for rank, share in sorted(use.items())))
    checks.check(len(use) == RANKS and all(share <= 0.05 for share in use.values()),
                 "idle, every rank (doors included) uses at most 5 % of a core", use)


def check_stop(checks, job, doors):
    """SIGTERM to rank 0, as hpc/serve sends it: every rank, every door, ends with status 0."""
    pid = job.rank0_pid()
    if pid is None:
        checks.check(False, "found rank 0")
        return
    os.kill(pid, signal.SIGTERM)
    try:
        code = job.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    closed = 0
    for url in doors:
        try:
            requests.get(url + "/healthz", timeout=5)
        except requests.ConnectionError:
            closed += 1
    checks.check(code == 0 and closed == len(doors), "SIGTERM to rank 0 ends the job with status 0, every door closed",
                 (code, closed))


def run(arguments, checks):
    work = tempfile.mkdtemp(prefix="geopredict-doors-")
    log_path = os.path.join(work, "job.log")
    base = free_ports(RANKS + 1)
    job = ServedJob(arguments.binary, RANKS, ["--port", str(base), "--front-doors", str(RANKS), "--state", work,
                                             "--users", "300", "--store-count", "40"], log_path)
    doors = [f"http://127.0.0.1:{base + rank}" for rank in range(RANKS)]
    try:
        checks.check(job.url == doors[0], "rank 0's door serves on --port", job.url)
        check_doors_listed(checks, doors, base)
        users = [f"u{index:07d}" for index in range(1, 301)]
        by_owner = {rank: [user for user in users if owner(user, RANKS) == rank] for rank in range(RANKS)}
        sample = [user for rank in range(RANKS) for user in by_owner[rank][:8]]
        at = int(time.time())
        check_same_answers(checks, doors, sample, at)
        check_only_owner_receives(checks, doors, by_owner[2][:20])
        fresh = [f"door-ingest-{index}" for index in range(9)]
        check_ingest_visible(checks, doors[1], [doors[0], doors[2]], fresh, "door 1")
        check_errors_and_collectives(checks, doors)
        # Before the balancer (its health checks are calls) and before Train: a run, and the log fold
        # after it, go on in the background on every rank for a while and are not idle time.
        check_idle_cpu(checks, job)
        check_balancer(checks, doors, base, work, sample[:12], at)
        check_training(checks, doors)
        check_stop(checks, job, doors)
    finally:
        end_run(checks, job, log_path, work)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the geopredict executable")
    arguments = parser.parse_args()
    checks = Checks(detail_limit=600)
    print("front doors: three doors at three ranks, and HAProxy in front")
    run(arguments, checks)
    print(f"front-doors-live: passed={checks.passed} failed={checks.failed}")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
