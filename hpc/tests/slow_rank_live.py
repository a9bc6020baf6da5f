"""Live test of keyed routing under `geopredict serve` at 3 ranks: a slow rank delays only its own users.

Under a steady PredictNextVisits load, rank 2 is stopped with SIGSTOP for 3 s and continued. Requests
for users of ranks 0 and 1 must keep their p99 latency within 2x of their p99 before the stop (both
measured in this run); requests for rank 2's users wait or get deadline_exceeded at their deadline;
afterwards rank 2 answers again and the job is healthy. GetClusterStatus must show that each keyed
request reached its owner rank and no other, and that no round ran for them. Then, with
--round-timeout 4, an owner stopped for good: its user's request gets 503 after the timeout and the
job exits non-zero.

Prints one line per check and a summary; exits non-zero on any failure.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time

import requests

from live_checks import Checks, ServedJob, end_run, owner, rank_of, users_of

SERVICE = "/geopredict.v1.GeoPredictService/"
CLUSTER = "/mpiplug.v1.ClusterService/GetClusterStatus"
STOPPED_RANK = 2
STOP_SECONDS = 3.0
DEADLINE_MS = 1500
def cluster_status(url):
    answer = requests.post(url + CLUSTER, data="{}", headers={"Content-Type": "application/json"}, timeout=60)
    answer.raise_for_status()
    return {int(rank.get("rank", 0)): rank for rank in answer.json()["ranks"]}


class Load:
    """Threads calling PredictNextVisits in a loop for their users, recording (start, latency, outcome)."""

    def __init__(self, url, users, threads, deadline_ms):
        self.url, self.users, self.deadline_ms = url, users, deadline_ms
        self.samples, self.lock, self.running = [], threading.Lock(), True
        self.sent = {}
        self.threads = [threading.Thread(target=self.run, args=(index, threads), daemon=True) for index in range(threads)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=30)

    def run(self, index, threads):
        session = requests.Session()
        headers = {"Content-Type": "application/json", "Connect-Timeout-Ms": str(self.deadline_ms)}
        mine = self.users[index::threads]
        count = 0
        while self.running:
            user = mine[count % len(mine)]
            count += 1
            body = json.dumps({"userId": user, "limit": 5})
            started = time.monotonic()
            try:
                answer = session.post(self.url + SERVICE + "PredictNextVisits", data=body, headers=headers, timeout=30)
                outcome = "ok" if answer.status_code == 200 else answer.json().get("code", str(answer.status_code))
            except requests.RequestException as error:
                outcome = f"transport: {error}"
            with self.lock:
                self.samples.append((started, time.monotonic() - started, outcome))
                self.sent[user] = self.sent.get(user, 0) + 1

    def window(self, start, end):
        with self.lock:
            return [(latency, outcome) for started, latency, outcome in self.samples if start <= started < end]


def p99(latencies):
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def run(arguments, checks):
    state = tempfile.mkdtemp(prefix="geopredict-slow-rank-")
    log_path = os.path.join(state, "job.log")
    ranks = 3
    job = ServedJob(arguments.binary, ranks, ["--port", "0", "--state", state, "--users", "300", "--store-count", "40"],
                    log_path)
    try:
        fast_users = users_of(0, ranks, 20) + users_of(1, ranks, 20)
        slow_users = users_of(STOPPED_RANK, ranks, 10)
        stopped_pid = next((pid for pid in job.rank_pids() if rank_of(pid) == STOPPED_RANK), None)
        checks.check(stopped_pid is not None, f"found rank {STOPPED_RANK}'s process")
        before = cluster_status(job.url)
        fast = Load(job.url, fast_users, 3, 30_000)
        slow = Load(job.url, slow_users, 2, DEADLINE_MS)
        fast.start()
        slow.start()
        time.sleep(1.0)  # warm-up: connections, fold-in memos
        baseline_start = time.monotonic()
        time.sleep(arguments.baseline_seconds)
        stop_start = time.monotonic()
        os.kill(stopped_pid, signal.SIGSTOP)
        time.sleep(STOP_SECONDS)
        os.kill(stopped_pid, signal.SIGCONT)
        stop_end = time.monotonic()
        time.sleep(2.0)
        after_start = time.monotonic()
        time.sleep(1.0)
        fast.stop()
        slow.stop()
        end = time.monotonic()

        baseline = fast.window(baseline_start, stop_start)
        during = fast.window(stop_start, stop_end)
        base_p99 = p99([latency for latency, _ in baseline])
        stop_p99 = p99([latency for latency, _ in during])
        figures = f"p99 {base_p99 * 1000:.1f} ms before, {stop_p99 * 1000:.1f} ms during the stop " \
                  f"({len(baseline)} and {len(during)} requests)"
        print(f"  other ranks' users: {figures}")
        checks.check(len(baseline) >= 50 and len(during) >= 50, "requests for other ranks' users kept flowing", figures)
        checks.check(all(outcome == "ok" for _, outcome in baseline + during),
                     "every request for other ranks' users succeeded",
                     sorted({outcome for _, outcome in baseline + during}))
        checks.check(stop_p99 <= 2 * base_p99, "their p99 during the stop is within 2x of their p99 before it", figures)

        stopped = slow.window(stop_start, stop_end)
        outcomes = sorted({outcome for _, outcome in stopped})
        waited = [latency for latency, outcome in stopped if outcome != "ok" or latency > 0.5]
        print(f"  rank {STOPPED_RANK}'s users during the stop: {len(stopped)} requests started, outcomes {outcomes}")
        checks.check(set(outcomes) <= {"ok", "deadline_exceeded"} and waited,
                     f"requests for rank {STOPPED_RANK}'s users waited or got deadline_exceeded", outcomes)
        late = [latency for latency, outcome in stopped if outcome == "deadline_exceeded"]
        checks.check(all(latency < DEADLINE_MS / 1000 + 1.0 for latency in late),
                     "deadline_exceeded came at the deadline, not later", max(late, default=0))
        resumed = slow.window(after_start, end)
        checks.check(resumed and all(outcome == "ok" for _, outcome in resumed),
                     f"rank {STOPPED_RANK}'s users are answered again after SIGCONT",
                     sorted({outcome for _, outcome in resumed}))
        health = requests.get(job.url + "/healthz", timeout=30).json()
        checks.check(health.get("live") is True, "the job is live after the stop", health)

        after = cluster_status(job.url)
        sent = {rank: 0 for rank in range(ranks)}
        for load in (fast, slow):
            for user, count in load.sent.items():
                sent[owner(user, ranks)] += count
        served = {rank: int(after[rank].get("keyedRequests", 0)) - int(before[rank].get("keyedRequests", 0))
                  for rank in range(ranks)}
        print(f"  keyed requests sent per owner {sent}, run per rank {served}")
        checks.check(served[0] == sent[0] and served[1] == sent[1],
                     "ranks 0 and 1 ran exactly the requests of their own users", (sent, served))
        checks.check(0 < served[STOPPED_RANK] <= sent[STOPPED_RANK],
                     f"rank {STOPPED_RANK} ran only its users' requests (those still awaited when it woke)", (sent, served))
        rounds = {rank: int(after[rank].get("roundsServed", 0)) - int(before[rank].get("roundsServed", 0))
                  for rank in range(ranks)}
        checks.check(all(count == 1 for count in rounds.values()),
                     "no round ran for the keyed requests (only the second GetClusterStatus)", rounds)
        bytes_received = {rank: int(after[rank].get("keyedBytes", 0)) - int(before[rank].get("keyedBytes", 0))
                          for rank in range(ranks)}
        checks.check(bytes_received[0] == 0 and all(bytes_received[rank] > 0 for rank in (1, 2)),
                     "owners other than the door received the bytes of their requests alone", bytes_received)
    finally:
        end_run(checks, job, log_path, state)


def run_past_timeout(arguments, checks):
    """A keyed request whose owner stays stopped past --round-timeout: 503, then the job exits 75."""
    state = tempfile.mkdtemp(prefix="geopredict-slow-rank-")
    log_path = os.path.join(state, "job.log")
    ranks, timeout = 3, 4
    job = ServedJob(arguments.binary, ranks, ["--port", "0", "--state", state, "--users", "300", "--store-count", "40",
                                              "--round-timeout", str(timeout)], log_path)
    try:
        stopped_pid = next((pid for pid in job.rank_pids() if rank_of(pid) == STOPPED_RANK), None)
        user = users_of(STOPPED_RANK, ranks, 1)[0]
        os.kill(stopped_pid, signal.SIGSTOP)
        started = time.monotonic()
        answer = requests.post(job.url + SERVICE + "PredictNextVisits", data=json.dumps({"userId": user}),
                               headers={"Content-Type": "application/json", "Connect-Timeout-Ms": "60000"}, timeout=90)
        waited = time.monotonic() - started
        checks.check(answer.status_code == 503 and timeout <= waited < timeout + 3,
                     f"a keyed request to an owner stopped past --round-timeout {timeout} gets 503 after it",
                     f"{answer.status_code} after {waited:.1f} s")
        try:
            status = job.process.wait(timeout=30)
        except Exception:
            status = None
        checks.check(status not in (None, 0), "then the job exits non-zero, for a supervisor to restart it", status)
    finally:
        if stopped_pid:
            try:
                os.kill(stopped_pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        end_run(checks, job, log_path, state)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the geopredict executable")
    parser.add_argument("--baseline-seconds", type=float, default=4.0)
    arguments = parser.parse_args()
    checks = Checks(detail_limit=400)
    print("slow rank: SIGSTOP of one rank of three under keyed load")
    run(arguments, checks)
    run_past_timeout(arguments, checks)
    print(f"slow-rank-live: passed={checks.passed} failed={checks.failed}")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
