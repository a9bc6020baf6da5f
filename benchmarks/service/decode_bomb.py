"""Decode bombs against a live job (issue #16, "cheap rejection"): what each costs rank 0.

Sends, one after another, `--count` bodies of each kind to IngestEvents and records the answer, the
wall time per body and rank 0's CPU seconds per body (from /proc, before and after the series), then
checks that a well-behaved prediction is still answered. The kinds:
  binary-gzip  2,000,000 empty `LocationEvent`s (4 MB of binary) as ~4 KB of gzip: the issue's case
  json         {"events":[{},{},...]} with 400,000 elements (1.2 MB)
  gzip-zeros   16 MiB of zeros as ~16 KB of gzip (past the body limit once inflated)
Usage: decode_bomb.py BINARY RESULTS_JSON [--ranks 2] [--count 60] [--users 20000]
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "hpc", "tests"))
from live_checks import ServedJob  # noqa: E402

INGEST = "/geopredict.v1.GeoPredictService/IngestEvents"
PREDICT = "/geopredict.v1.GeoPredictService/PredictNextVisits"


def bodies():
    binary = b"\x0a\x00" * 2_000_000
    return {
        "binary-gzip": (gzip.compress(binary, 9), "application/proto", "gzip", len(binary)),
        "json": (b'{"events":[' + b",".join([b"{}"] * 400_000) + b"]}", "application/json", None, None),
        "gzip-zeros": (gzip.compress(b"\0" * (16 << 20), 9), "application/proto", "gzip", 16 << 20),
    }


def post(url, path, body, content_type, encoding=None, timeout=60):
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("results")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--users", type=int, default=20000)
    arguments = parser.parse_args()
    work = tempfile.mkdtemp(prefix="decode-bomb-")
    job = ServedJob(arguments.binary, arguments.ranks,
                    ["--port", "0", "--state", f"{work}/state", "--users", str(arguments.users)],
                    f"{work}/serve.log")
    results = {"ranks": arguments.ranks, "count": arguments.count, "kinds": {}}
    try:
        rank0 = job.rank0_pid()
        example = {"userId": "u0000001", "limit": 5}
        status, _ = post(job.url, PREDICT, json.dumps(example).encode(), "application/json")
        results["prediction_before"] = status
        for kind, (body, content_type, encoding, inflated) in bodies().items():
            answers = {}
            cpu_before, started = cpu_seconds(rank0), time.perf_counter()
            for _ in range(arguments.count):
                status, reply = post(job.url, INGEST, body, content_type, encoding)
                answers.setdefault(status, reply.decode(errors="replace")[:160])
            wall, cpu = time.perf_counter() - started, cpu_seconds(rank0) - cpu_before
            good_started = time.perf_counter()
            good, _ = post(job.url, PREDICT, json.dumps(example).encode(), "application/json")
            results["kinds"][kind] = {
                "body_bytes": len(body), "inflated_bytes": inflated or len(body),
                "answers": {str(code): text for code, text in answers.items()},
                "wall_seconds_per_body": round(wall / arguments.count, 5),
                "rank0_cpu_seconds_per_body": round(cpu / arguments.count, 5),
                "prediction_after": good,
                "prediction_after_ms": round(1000 * (time.perf_counter() - good_started), 1),
            }
            print(f"{kind:12} {len(body):>9} B -> {inflated or len(body):>9} B: answers {sorted(answers)}, "
                  f"{1000 * wall / arguments.count:.1f} ms and {1000 * cpu / arguments.count:.1f} ms of rank 0's CPU "
                  f"per body; a prediction after: {good}")
    finally:
        job.stop()
    json.dump(results, open(arguments.results, "w"), indent=1)
    refused = all(list(kind["answers"]) and all(code.startswith("4") for code in kind["answers"])
                  for kind in results["kinds"].values())
    served = results.get("prediction_before") == 200 and all(
        kind["prediction_after"] == 200 for kind in results["kinds"].values())
    print("every bomb refused with 4xx:", refused, "; predictions served after each series:", served)
    return 0 if refused and served else 1


if __name__ == "__main__":
    sys.exit(main())
