"""The user lists, the report and the serving cost model of benchmarks/keyed/run.

  keyed.py users USERS SAMPLE OUT_DIR RANKS...
      writes OUT_DIR/users-R.txt for each rank count R: SAMPLE random users of u0000001..uUSERS, each
      with the rank that owns it at R ranks (GeoPredict's ShardMap: StableHash % 1024 % R)
  keyed.py report RAW_DIR OUT_JSON [--machine TEXT] [--users N] [--stores N] [--sample N] [--commit C]
      reads the raw files of every config (RAW_DIR/r<ranks>-d<doors>/), prints the table, the per-rank
      figures, the ratios and the cost model with its held-out check, and writes them to OUT_JSON

The cost model (CPU seconds per request, fitted on the configs with one door at 1 and 2 ranks):
  w  owner work: the CPU of the 2-rank job's rank without a door per request it owned (keyed_seconds,
     wall time on the MPI thread, overstates it on a shared machine)
  h  door: the 1-rank job's CPU per request minus w (HTTP, decode, queue, hand-off, encode)
  m  routing: the extra CPU per request whose owner is not the door that took it, both ends together,
     (c(2 ranks) - h - w) / (1/2): at R ranks a fraction (R-1)/R of each door's requests is remote
  c(R, D) = h + w + (R-1)/R * m, for any number of doors D (each door's users are spread over all ranks)
On one machine, everything (ranks and wrk) shares the cores the run gets, U (CPU seconds per second
that wrk and the ranks used, the mean of the fitted runs, times the number of doors: on a shared
machine each door's process gets about the share one door got), so X = U / (c + c_wrk); with L connections
in a closed loop, Little's law gives the mean latency L / X, and p50 and p99 are taken as fitted
multiples of it (kappa50, kappa99). On a cluster of nodes with C cores each, clients elsewhere, D doors
on D distinct nodes, m split evenly between the door and the owner, each node's CPU per second is
the sum of its shares, and X is where the busiest node reaches C.
"""
import argparse
import datetime
import glob
import json
import os
import random
import re
import sys

FIT = [(1, 1), (2, 1)]

# The owner rule the live tests use (GeoPredict's shard map), one copy for the project.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hpc", "tests"))
from live_checks import owner  # noqa: E402


def write_users(users, sample, out, rank_counts):
    generator = random.Random(7)
    ids = [f"u{generator.randint(1, users):07d}" for _ in range(sample)]
    for ranks in rank_counts:
        with open(os.path.join(out, f"users-{ranks}.txt"), "w") as file:
            for user in ids:
                file.write(f"{user} {owner(user, ranks)}\n")


def key_values(path):
    values = {}
    with open(path) as file:
        for line in file:
            if "=" in line:
                key, value = line.strip().split("=", 1)
                values[key] = float(value)
    return values


def children_cpu(path):
    """CPU seconds of the children from bash's `times` (second line: user and system)."""
    with open(path) as file:
        lines = file.read().split("\n")
    total = 0.0
    for part in lines[1].split():
        minutes, seconds = re.fullmatch(r"(\d+)m([\d.]+)s", part).groups()
        total += int(minutes) * 60 + float(seconds)
    return total


def number(path):
    with open(path) as file:
        return float(file.read().split()[0])


def rank_table(path):
    with open(path) as file:
        return {int(rank): float(value) for rank, value in (line.split() for line in file if line.strip())}


def statuses(path):
    with open(path) as file:
        answer = json.load(file)
    return {int(rank.get("rank", 0)): rank for rank in answer["ranks"]}, answer


def delta(after, before, rank, field):
    return float(after[rank].get(field, 0)) - float(before[rank].get(field, 0))


def read_config(directory):
    ranks, doors, connections, duration, _ = (int(value) for value in open(os.path.join(directory, "config.txt")).read().split())
    loads = [key_values(path) for path in sorted(glob.glob(os.path.join(directory, "wrk-*.txt"))) if not path.endswith(".times")]
    wrk_cpu = sum(children_cpu(path) for path in glob.glob(os.path.join(directory, "wrk-*.txt.times")))
    requests = sum(load["requests"] for load in loads)
    seconds = max(load["duration_s"] for load in loads)
    bare = key_values(os.path.join(directory, "bare.txt"))
    bare_requests = bare["rps"] * duration
    bare_cpu = number(os.path.join(directory, "bare-cpu-after.txt")) - number(os.path.join(directory, "bare-cpu-before.txt"))
    before, _ = statuses(os.path.join(directory, "status-before.json"))
    after, after_answer = statuses(os.path.join(directory, "status-after.json"))
    cpu_before, cpu_after = rank_table(os.path.join(directory, "cpu-before.txt")), rank_table(os.path.join(directory, "cpu-after.txt"))
    door_ranks = sorted(int(door.get("rank", 0)) for door in after_answer.get("frontDoors", [])) or [0]
    per_rank = []
    for rank in range(ranks):
        sent = sum(load.get(f"sent_owner_{rank}", 0) for load in loads)
        keyed = delta(after, before, rank, "keyedRequests")
        cpu = cpu_after[rank] - cpu_before[rank]
        owner_seconds = delta(after, before, rank, "keyedSeconds")
        entry = {
            "rank": rank, "door": rank in door_ranks,
            "sent_to_owner": int(sent), "keyed_requests": int(keyed),
            "keyed_bytes": int(delta(after, before, rank, "keyedBytes")),
            "keyed_seconds": round(owner_seconds, 3),
            "busy_seconds": round(delta(after, before, rank, "busySeconds"), 3),
            "rounds": int(delta(after, before, rank, "roundsServed")),
            "round_bytes": int(delta(after, before, rank, "roundBytes")),
            "cpu_seconds": round(cpu, 3),
            "cpu_percent_of_core": round(100 * cpu / seconds, 1),
            "bytes_per_keyed_request": round(delta(after, before, rank, "keyedBytes") / keyed, 1) if keyed else None,
            "owner_us_per_request": round(1e6 * owner_seconds / keyed, 1) if keyed else None,
            "cpu_outside_owner_work_us_per_request": round(1e6 * (cpu - owner_seconds) / requests, 1),
        }
        per_rank.append(entry)
    idle = None
    if os.path.exists(os.path.join(directory, "idle-seconds.txt")):
        idle_seconds = number(os.path.join(directory, "idle-seconds.txt"))
        idle_before, idle_after = rank_table(os.path.join(directory, "idle-before.txt")), rank_table(os.path.join(directory, "idle-after.txt"))
        idle = {"seconds": idle_seconds,
                "percent_of_core_per_rank": [round(100 * (idle_after[rank] - idle_before[rank]) / idle_seconds, 2) for rank in range(ranks)]}
    rps = sum(load["rps"] for load in loads)
    return {
        "ranks": ranks, "doors": doors, "door_ranks": door_ranks, "connections": connections, "duration_s": duration,
        "load_average": open(os.path.join(directory, "loadavg.txt")).read().strip(),
        "startup_s": number(os.path.join(directory, "startup.txt")),
        "answer_bytes": int(number(os.path.join(directory, "answer-bytes.txt"))),
        "predict": {
            "rps": round(rps, 1), "requests": int(requests),
            "p50_ms": round(sum(load["p50_ms"] * load["requests"] for load in loads) / requests, 3),
            "p99_ms": max(load["p99_ms"] for load in loads),
            "non200": int(sum(load["non200"] for load in loads)),
            "socket_errors": int(sum(load["socket_errors"] for load in loads)),
            "per_door": [{"rps": load["rps"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"]} for load in loads],
        },
        "bare": {"rps": bare["rps"], "p50_ms": bare["p50_ms"], "p99_ms": bare["p99_ms"], "non200": int(bare["non200"]),
                 "server_cpu_us_per_request": round(1e6 * bare_cpu / bare_requests, 1),
                 "wrk_cpu_us_per_request": round(1e6 * children_cpu(os.path.join(directory, "bare.txt.times")) / bare_requests, 1)},
        "ratio_vs_bare": round(rps / bare["rps"], 3),
        "per_rank": per_rank,
        "cpu": {
            "ranks_us_per_request": round(1e6 * sum(cpu_after[r] - cpu_before[r] for r in range(ranks)) / requests, 1),
            "wrk_us_per_request": round(1e6 * wrk_cpu / requests, 1),
            "cores_used": round((sum(cpu_after[r] - cpu_before[r] for r in range(ranks)) + wrk_cpu) / seconds, 3),
            "owner_us_per_request": round(1e6 * sum(e["keyed_seconds"] for e in per_rank) / max(1, sum(e["keyed_requests"] for e in per_rank)), 1),
            # Where each request's CPU goes: door ranks outside their owner work (HTTP, decode, queue,
            # sending), ranks without a door outside their owner work (receiving, answering, polling).
            "door_ranks_outside_owner_us_per_request": round(1e6 * sum(
                (cpu_after[e["rank"]] - cpu_before[e["rank"]]) - e["keyed_seconds"] for e in per_rank if e["door"]) / requests, 1),
            "other_ranks_outside_owner_us_per_request": round(1e6 * sum(
                (cpu_after[e["rank"]] - cpu_before[e["rank"]]) - e["keyed_seconds"] for e in per_rank if not e["door"]) / requests, 1),
        },
        "idle": idle,
    }


def fit(configs):
    """Fits h, w, m, U, kappa on the FIT configs; returns the parameters or None when one is missing."""
    by_key = {(c["ranks"], c["doors"]): c for c in configs}
    if not all(key in by_key for key in FIT):
        return None
    one, two = by_key[(1, 1)], by_key[(2, 1)]
    # Owner work in CPU: the 2-rank job's rank without a door does little else (keyed_seconds is wall
    # time on the MPI thread, which counts the time the thread waits for a core on a shared machine).
    others = [e for e in two["per_rank"] if not e["door"] and e["keyed_requests"]]
    w = 1e6 * sum(e["cpu_seconds"] for e in others) / sum(e["keyed_requests"] for e in others)
    h = one["cpu"]["ranks_us_per_request"] - w
    m = (two["cpu"]["ranks_us_per_request"] - h - w) / 0.5
    cores = sum(c["cpu"]["cores_used"] for c in (one, two)) / 2
    wrk = sum(c["cpu"]["wrk_us_per_request"] for c in (one, two)) / 2
    little = [c["connections"] / c["predict"]["rps"] * 1000 for c in (one, two)]  # mean latency, ms
    kappa50 = sum(c["predict"]["p50_ms"] / l for c, l in zip((one, two), little)) / 2
    kappa99 = sum(c["predict"]["p99_ms"] / l for c, l in zip((one, two), little)) / 2
    bare = sum(c["bare"]["server_cpu_us_per_request"] for c in (one, two)) / 2
    return {"owner_us": round(w, 1), "door_us": round(h, 1), "routing_us": round(m, 1), "cores": round(cores, 3),
            "wrk_us": round(wrk, 1), "kappa50": round(kappa50, 3), "kappa99": round(kappa99, 3),
            "bare_server_us": round(bare, 1), "door_minus_bare_us": round(h - bare, 1),
            "fitted_on": [f"{r} rank(s), {d} door(s)" for r, d in FIT]}


def predict_here(model, ranks, doors, connections):
    """On this machine: the cores a one-door job got, once per door (each door's process with its own
    MPI thread is a scheduling unit of its own on a shared machine), at most the machine's."""
    cost = model["door_us"] + model["owner_us"] + (ranks - 1) / ranks * model["routing_us"]
    rps = min(model["cores"] * doors, os.cpu_count() or 2) / ((cost + model["wrk_us"]) * 1e-6)
    mean_ms = connections / rps * 1000
    return {"ranks_us_per_request": round(cost, 1), "rps": round(rps), "p50_ms": round(model["kappa50"] * mean_ms, 2),
            "p99_ms": round(model["kappa99"] * mean_ms, 2)}


def predict_cluster(model, nodes, doors, cores=2.0, connections=32, request_bytes=None, answer_bytes=None,
                    bandwidth=1.1e9):
    """Throughput where the busiest node reaches `cores`; clients off the cluster; D doors on D nodes."""
    h, w, m = model["door_us"] * 1e-6, model["owner_us"] * 1e-6, model["routing_us"] * 1e-6
    remote = (nodes - 1) / nodes
    # CPU seconds per cluster request on a door node and on a node without a door.
    door_node = (h + remote * m / 2) / doors + (w + (doors - 1) / doors * m / 2) / nodes
    other_node = (w + m / 2) / nodes if doors < nodes else 0.0
    rps = cores / max(door_node, other_node)
    bound = "door nodes" if door_node >= other_node else "owner nodes"
    if request_bytes is not None and nodes > 1:
        network = bandwidth / (remote * (request_bytes + answer_bytes) / doors)
        if network < rps:
            rps, bound = network, "door links"
    mean_ms = connections * doors / rps * 1000  # L connections per door, closed loop at capacity
    return {"nodes": nodes, "doors": doors, "rps": round(rps), "bound_by": bound,
            "p99_ms_at_capacity": round(model["kappa99"] * mean_ms, 2)}


def report(arguments):
    configs = [read_config(directory) for directory in sorted(glob.glob(os.path.join(arguments.raw, "r*-d*")))]
    configs.sort(key=lambda c: (c["doors"], c["ranks"]))
    skipped = open(os.path.join(arguments.raw, "skipped.txt")).read().split() if os.path.exists(os.path.join(arguments.raw, "skipped.txt")) else []
    by_key = {(c["ranks"], c["doors"]): c for c in configs}
    print(f"{'config':<18} {'pred/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non200':>7} {'bare/s':>9} {'vs bare':>8} {'load':>16}")
    for c in configs:
        p = c["predict"]
        print(f"{c['ranks']} rank(s) {c['doors']} door(s) {p['rps']:>9.0f} {p['p50_ms']:>8.2f} {p['p99_ms']:>8.2f} "
              f"{p['non200']:>7} {c['bare']['rps']:>9.0f} {c['ratio_vs_bare']:>8.3f} {c['load_average']:>16}")
    ratios = {}
    if (1, 1) in by_key and (2, 1) in by_key:
        ratios["two_ranks_vs_one"] = round(by_key[(2, 1)]["predict"]["rps"] / by_key[(1, 1)]["predict"]["rps"], 3)
    if (2, 2) in by_key and (2, 1) in by_key:
        ratios["two_doors_vs_one_at_two_ranks"] = round(by_key[(2, 2)]["predict"]["rps"] / by_key[(2, 1)]["predict"]["rps"], 3)
    if (2, 2) in by_key and (1, 1) in by_key:
        ratios["two_ranks_two_doors_vs_one_rank"] = round(by_key[(2, 2)]["predict"]["rps"] / by_key[(1, 1)]["predict"]["rps"], 3)
    for name, value in ratios.items():
        print(f"{name}: {value}")
    print("per rank (deltas over the measured run):")
    print(f"  {'config':<10} {'rank':>4} {'door':>5} {'sent':>7} {'keyed':>7} {'bytes':>9} {'B/req':>6} {'owner us':>9} "
          f"{'keyed s':>8} {'busy s':>7} {'rounds':>6} {'round B':>8} {'cpu s':>6} {'idle %':>7}")
    for c in configs:
        for e in c["per_rank"]:
            idle = c["idle"]["percent_of_core_per_rank"][e["rank"]] if c["idle"] else float("nan")
            print(f"  {str(c['ranks']) + 'r ' + str(c['doors']) + 'd':<10} {e['rank']:>4} {('yes' if e['door'] else 'no'):>5} "
                  f"{e['sent_to_owner']:>7} {e['keyed_requests']:>7} {e['keyed_bytes']:>9} {e['bytes_per_keyed_request'] or 0:>6} "
                  f"{e['owner_us_per_request'] or 0:>9} {e['keyed_seconds']:>8} {e['busy_seconds']:>7} {e['rounds']:>6} "
                  f"{e['round_bytes']:>8} {e['cpu_seconds']:>6} {idle:>7}")
    print("CPU per request (us): ranks / wrk / owner work / door ranks outside owner work / other ranks outside it;"
          " bare server / its wrk; cores used by ranks + wrk")
    for c in configs:
        print(f"  {c['ranks']}r {c['doors']}d: {c['cpu']['ranks_us_per_request']} / {c['cpu']['wrk_us_per_request']} / "
              f"{c['cpu']['owner_us_per_request']} / {c['cpu']['door_ranks_outside_owner_us_per_request']} / "
              f"{c['cpu']['other_ranks_outside_owner_us_per_request']}; bare {c['bare']['server_cpu_us_per_request']} / "
              f"{c['bare']['wrk_cpu_us_per_request']}; cores {c['cpu']['cores_used']}")

    model = fit(configs)
    checks, cluster = [], []
    if model:
        print("cost model:", json.dumps(model))
        for c in configs:
            key = (c["ranks"], c["doors"])
            predicted = predict_here(model, c["ranks"], c["doors"], c["connections"])
            measured = c["predict"]
            check = {"ranks": key[0], "doors": key[1], "held_out": key not in FIT, "predicted": predicted,
                     "measured": {"rps": measured["rps"], "p50_ms": measured["p50_ms"], "p99_ms": measured["p99_ms"],
                                  "ranks_us_per_request": c["cpu"]["ranks_us_per_request"], "cores_used": c["cpu"]["cores_used"]},
                     "cpu_per_request_error": round(predicted["ranks_us_per_request"] / c["cpu"]["ranks_us_per_request"] - 1, 3),
                     "rps_error": round(predicted["rps"] / measured["rps"] - 1, 3),
                     "p99_error": round(predicted["p99_ms"] / measured["p99_ms"] - 1, 3)}
            checks.append(check)
            print(f"  {key[0]}r {key[1]}d {'held out' if check['held_out'] else 'fitted  '}: predicted {predicted['rps']}/s "
                  f"p99 {predicted['p99_ms']} ms ({predicted['ranks_us_per_request']} us/req); measured {measured['rps']:.0f}/s "
                  f"p99 {measured['p99_ms']} ms ({c['cpu']['ranks_us_per_request']} us/req); errors: rate {check['rps_error']:+.1%}, "
                  f"p99 {check['p99_error']:+.1%}, CPU per request {check['cpu_per_request_error']:+.1%}")
        request_bytes = next((e["bytes_per_keyed_request"] for c in configs for e in c["per_rank"] if e["bytes_per_keyed_request"]), 0)
        answer_bytes = configs[0]["answer_bytes"]
        for nodes in (1, 2, 4, 8, 16, 64):
            for doors in sorted({1, nodes}):
                cluster.append(predict_cluster(model, nodes, doors, request_bytes=request_bytes, answer_bytes=answer_bytes))
        print("cluster (2-core nodes, clients elsewhere, 32 connections per door):")
        for row in cluster:
            print(f"  {row['nodes']:>3} nodes {row['doors']:>3} doors: {row['rps']:>9}/s ({row['bound_by']}), p99 at capacity {row['p99_ms_at_capacity']} ms")
    date_file = os.path.join(arguments.raw, "date.txt")
    date = open(date_file).read().strip() if os.path.exists(date_file) else datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    result = {"machine": arguments.machine, "date": date,
              "commit": arguments.commit, "users": arguments.users, "stores": arguments.stores, "sample_users": arguments.sample,
              "load_generator": "wrk 4.1, HTTP/1.1, binary protobuf bodies, no Accept-Encoding; two doors: one wrk per door, half the connections each, rates summed, p50 request-weighted, p99 the higher door's",
              "configs": configs, "skipped_configs": skipped, "ratios": ratios, "model": model,
              "model_checks": checks, "cluster_predictions": cluster}
    with open(arguments.out, "w") as file:
        json.dump(result, file, indent=1)
        file.write("\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "users":
        users, sample, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        write_users(users, sample, out, [int(value) for value in sys.argv[5:]])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["report"])
    parser.add_argument("raw")
    parser.add_argument("out")
    parser.add_argument("--machine", default="")
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--stores", type=int, default=0)
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--commit", default="")
    report(parser.parse_args())


if __name__ == "__main__":
    main()
