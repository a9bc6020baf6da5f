"""Tables, cost model and plots for a rank sweep (benchmarks/sweep/run writes the JSON this reads).

    python analyse.py SWEEP.json [--latency-us 20 --bandwidth-gbs 1.1] [--cores-per-node N]

Writes next to the JSON: SWEEP.md (the tables, also printed), SWEEP-*.png (plots), and adds the fitted
cost model under "cost_model" in the JSON.

Cost model (per ALS iteration, per rank; the slowest rank of each phase is the iteration's time):

    T(P) = compute / q(P) + a2a_latency * (P - 1) + a2a_bytes(P) / a2a_bandwidth + sum_latency * log2(P)

- q(P) = min(P, usable cores): ranks beyond the cores share them, so compute stops speeding up there.
  On a shared machine other jobs take cores too, so the usable count is fitted (quarter-core steps up
  to the machine's count); the cluster prediction assumes every core of every node is usable.
- compute = the solves plus the local Gram products (measured phase times minus the time inside the
  exact-sum all-reduce); a2a = the two factor exchanges (alltoallv), whose payload per rank is
  measured (bytes sent) and extrapolated as u0 + u1 / P; sum = the exact Gram sums, latency-bound
  (3 all-reduces of k(k+1)/2 values).
- Fitted by non-negative least squares on the measured rank counts; checked by fitting without the
  largest rank count and predicting it. The latency and bandwidth it finds on one machine are shared
  memory's plus scheduler noise; for a cluster pass the network's (--latency-us, --bandwidth-gbs) and
  the prediction at N nodes uses those with the fitted compute and byte volume (the exact sum is
  then 3 latency-bound all-reduces per log2 P step).
"""
import argparse
import glob
import itertools
import json
import math
import os
import re
import sys

import numpy as np


# benchmarks/sweep/run trains every ALS model with --iterations 10.
ALS_ITERATIONS = 10


def per_rank(figures, name):
    value = figures.get(name, [])
    return value if isinstance(value, list) else [value]


def last_fit_seconds(figures):
    """The fit time of the last repeat (bench-als prints one per repeat)."""
    value = figures["fit_seconds"]
    return value[-1] if isinstance(value, list) else value


def slowest(figures, name):
    values = per_rank(figures, name)
    return max(values) if values else float("nan")


def records(sweep, piece):
    return sorted((r for r in sweep["records"] if r["piece"] == piece), key=lambda r: r["ranks"])


def nnls(matrix, target):
    """Non-negative least squares for a few columns: the best of all column subsets."""
    best = (math.inf, np.zeros(matrix.shape[1]))
    for size in range(1, matrix.shape[1] + 1):
        for columns in itertools.combinations(range(matrix.shape[1]), size):
            sub = matrix[:, columns]
            solution, *_ = np.linalg.lstsq(sub, target, rcond=None)
            if np.any(solution < 0):
                continue
            residual = float(np.sum((sub @ solution - target) ** 2))
            if residual < best[0]:
                full = np.zeros(matrix.shape[1])
                full[list(columns)] = solution
                best = (residual, full)
    return best[1]


def iteration_terms(record):
    """The measured split of one ALS iteration (slowest rank per phase), in seconds."""
    f = record["figures"]
    iterations = float(ALS_ITERATIONS)
    sums_per_iteration = slowest(f, "collective_exact_sum_seconds_per_rank") / (iterations + 1)
    gram = slowest(f, "phase_user_gram_seconds_per_rank") + slowest(f, "phase_store_gram_seconds_per_rank")
    compute = slowest(f, "phase_solve_users_seconds_per_rank") + slowest(f, "phase_solve_stores_seconds_per_rank")
    compute += max(gram - 2 * sums_per_iteration, 0.0)
    exchange = slowest(f, "phase_fetch_store_factors_seconds_per_rank") + slowest(f, "phase_ship_user_factors_seconds_per_rank")
    # alltoallv bytes over the run: 2 per iteration plus the set-up's planning exchanges.
    a2a_bytes = slowest(f, "collective_alltoallv_bytes_sent_per_rank") / iterations
    return {"compute": compute, "exchange": exchange, "sums": 2 * sums_per_iteration, "a2a_bytes": a2a_bytes,
            "total": compute + exchange + 2 * sums_per_iteration}


class CostModel:
    def __init__(self, points, cores):
        ranks = np.array([p["ranks"] for p in points], dtype=float)
        terms = [iteration_terms(p) for p in points]
        compute = np.array([t["compute"] for t in terms])
        # Other jobs on a shared machine leave fewer cores than it has: fit how many the ranks got
        # (in quarter-core steps), instead of assuming all of them.
        best = (math.inf, cores, 0.0)
        for quarters in range(4, 4 * cores + 1):
            usable = quarters / 4
            column = (1 / np.minimum(ranks, usable))[:, None]
            coefficient = float(nnls(column, compute)[0])
            residual = float(np.sum((column[:, 0] * coefficient - compute) ** 2))
            if residual < best[0] - 1e-15:
                best = (residual, usable, coefficient)
        _, self.cores, self.compute = best
        self.machine_cores = cores
        multi = [i for i, r in enumerate(ranks) if r > 1]
        if len(multi) >= 2:
            b = np.array([terms[i]["a2a_bytes"] for i in multi])
            self.bytes_model = nnls(np.column_stack([np.ones(len(multi)), 1 / ranks[multi]]), b)
        elif multi:
            self.bytes_model = np.array([terms[multi[0]]["a2a_bytes"], 0.0])
        else:
            self.bytes_model = np.zeros(2)
        a2a = np.column_stack([ranks - 1, np.array([self.bytes(r) for r in ranks])])
        self.a2a_latency, self.a2a_inverse_bandwidth = nnls(a2a, np.array([t["exchange"] for t in terms]))
        self.sum_latency = float(nnls(np.log2(ranks)[:, None] + 1e-12, np.array([t["sums"] for t in terms]))[0])

    def bytes(self, ranks):
        return 0.0 if ranks <= 1 else float(self.bytes_model[0] + self.bytes_model[1] / ranks)

    def iteration(self, ranks, latency=None, inverse_bandwidth=None, sum_latency=None, cores=None):
        latency = self.a2a_latency if latency is None else latency
        inverse_bandwidth = self.a2a_inverse_bandwidth if inverse_bandwidth is None else inverse_bandwidth
        sum_latency = self.sum_latency if sum_latency is None else sum_latency
        cores = self.cores if cores is None else cores
        parts = {
            "compute": self.compute / min(ranks, cores),
            "exchange": latency * (ranks - 1) + self.bytes(ranks) * inverse_bandwidth,
            "sums": sum_latency * math.log2(ranks) if ranks > 1 else 0.0,
        }
        parts["total"] = sum(parts.values())
        return parts

    def describe(self):
        return {"compute_seconds_one_rank": self.compute, "alltoallv_latency_seconds_per_peer": self.a2a_latency,
                "alltoallv_bandwidth_bytes_per_second": (1 / self.a2a_inverse_bandwidth) if self.a2a_inverse_bandwidth else None,
                "alltoallv_bytes_per_rank": {"constant": self.bytes_model[0], "over_ranks": self.bytes_model[1]},
                "exact_sum_latency_seconds_per_log2_rank": self.sum_latency, "usable_cores_fitted": self.cores,
                "machine_cores": self.machine_cores}


def mib(value):
    return value / 1048576


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep")
    parser.add_argument("--latency-us", type=float, default=20.0, help="cluster network latency per peer (default 20)")
    parser.add_argument("--bandwidth-gbs", type=float, default=1.1, help="cluster link bandwidth in GB/s (default 1.1, 10 GbE)")
    parser.add_argument("--cores-per-node", type=int, default=None, help="default: this sweep's machine")
    args = parser.parse_args()
    sweep = json.load(open(args.sweep))
    base = os.path.splitext(args.sweep)[0]
    machine = sweep["machine"]
    cores = machine["cores"] * (len([l for l in (machine.get("hostfile") or "").splitlines() if l.strip() and not l.startswith("#")]) or 1)
    cores_per_node = args.cores_per_node or machine["cores"]
    out = [f"# Rank sweep {sweep['date']} ({sweep['mode']})", "",
           f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, host {machine['host']}; "
           f"load average {machine['load_average_start']} at the start, {machine['load_average_end']} at the end; "
           f"{machine['mpirun']}; {sweep.get('wall_seconds') or '?'} s in all. Ranks above {cores} share the cores (--oversubscribe).",
           "", sweep.get("note", ""), ""]

    load = records(sweep, "load")
    if load:
        out += ["## Load (bench-load, synthetic TSMC file " + load[0].get("data", "") + ")", "", table(
            ["ranks", "events", "wall s", "read+parse s", "re-shard s", "catalogue s", "build s", "re-sharded MiB/rank", "peak RSS MiB/rank"],
            [[r["ranks"], int(r["figures"]["events"]), f"{r['figures']['seconds']:.2f}",
              f"{slowest(r['figures'], 'read_seconds_per_rank'):.2f}", f"{slowest(r['figures'], 'shuffle_seconds_per_rank'):.2f}",
              f"{slowest(r['figures'], 'catalogue_seconds_per_rank'):.2f}", f"{slowest(r['figures'], 'build_seconds_per_rank'):.2f}",
              f"{mib(slowest(r['figures'], 'shuffle_bytes_sent_per_rank')):.1f}", f"{slowest(r['figures'], 'peak_rss_mib_per_rank'):.0f}"]
             for r in load]), "", "Times are the slowest rank's; re-shard is the time inside the alltoallv rounds (waiting included).", ""]

    als = records(sweep, "als")
    model = None
    if als:
        first = als[0]["figures"]
        one = next((r for r in als if r["ranks"] == 1), als[0])
        reference = last_fit_seconds(one["figures"])
        rows = []
        for r in als:
            f = r["figures"]
            fit = last_fit_seconds(f)
            speedup = reference / fit
            rows.append([r["ranks"], r.get("wait", "-"), f"{fit:.2f}", f"{speedup:.2f}", f"{speedup / r['ranks']:.2f}",
                         f"{slowest(f, 'setup_seconds_per_rank'):.3f}",
                         *(f"{slowest(f, 'phase_' + name + '_seconds_per_rank') * 1000:.1f}" for name in
                           ["fetch_store_factors", "solve_users", "user_gram", "ship_user_factors", "solve_stores", "store_gram"]),
                         f"{mib(slowest(f, 'collective_alltoallv_bytes_sent_per_rank')) / 10:.2f}",
                         f"{slowest(f, 'collective_exact_sum_bytes_sent_per_rank') / 1024 / 10:.1f}",
                         f"{slowest(f, 'fit_peak_rss_mib_per_rank'):.0f}",
                         f"{f.get('fold_in_microseconds', float('nan')):.1f}", f"{f.get('top10_all_stores_microseconds', float('nan')):.1f}"])
        out += [f"## ALS strong scaling ({int(first['users'])} users x {int(first['stores'])} stores x {int(first['triplets'])} visits, k = 32, 10 iterations)", "",
                table(["ranks", "wait", "fit s", "speed-up", "efficiency", "set-up s", "fetch ms/it", "solve users ms/it", "user Gram ms/it",
                       "ship ms/it", "solve stores ms/it", "store Gram ms/it", "alltoallv MiB sent/rank/it", "exact-sum KiB/rank/it",
                       "fit peak RSS MiB/rank", "scoring: fold-in µs", "scoring: top 10 of all stores µs"], rows), "",
                "Phase columns: mean per iteration, slowest rank. Bytes: payload this rank sends to other ranks. Scoring: "
                "per user on rank 0 after training (fold a user's visits into factors; rank every store), the serving-side cost.", ""]
        if len(als) >= 2:
            model = CostModel(als, cores)
            sweep["cost_model"] = {"fitted": model.describe()}
            checks = []
            if len(als) >= 3:
                held = als[-1]
                partial = CostModel(als[:-1], cores)
                predicted = partial.iteration(held["ranks"])["total"]
                measured = iteration_terms(held)["total"]
                checks.append((held["ranks"], predicted, measured))
                sweep["cost_model"]["held_out"] = {"ranks": held["ranks"], "predicted_iteration_seconds": predicted,
                                                   "measured_iteration_seconds": measured}
            out += ["## Cost model (ALS iteration)", "", "`T(P) = compute / min(P, usable cores) + a2a_latency (P-1) + a2a_bytes(P) / bandwidth + sum_latency log2 P`"
                    " (see benchmarks/sweep/analyse.py for what each term covers).", "",
                    f"Fitted here: compute {model.compute:.3f} s at 1 rank, spread over {model.cores:g} usable cores "
                    f"(of {model.machine_cores}; fewer means other jobs held the rest); alltoallv latency {model.a2a_latency * 1e6:.0f} µs per peer, "
                    f"bandwidth {('%.2f GB/s' % (1e-9 / model.a2a_inverse_bandwidth)) if model.a2a_inverse_bandwidth else 'not resolved (no byte term needed)'}; "
                    f"alltoallv bytes per rank {mib(model.bytes_model[0]):.2f} MiB + {mib(model.bytes_model[1]):.2f} MiB / P; "
                    f"exact-sum latency {model.sum_latency * 1e3:.2f} ms per log2 P.", "",
                    table(["ranks", "measured s/it", "model s/it", "compute", "exchange", "sums"],
                          [[r["ranks"], f"{iteration_terms(r)['total']:.3f}", f"{model.iteration(r['ranks'])['total']:.3f}",
                            f"{model.iteration(r['ranks'])['compute']:.3f}", f"{model.iteration(r['ranks'])['exchange']:.3f}",
                            f"{model.iteration(r['ranks'])['sums']:.3f}"] for r in als]), ""]
            for ranks, predicted, measured in checks:
                out += [f"Held-out check: fitted without {ranks} ranks, the model predicts {predicted:.3f} s per iteration there; "
                        f"measured {measured:.3f} s ({100 * (predicted - measured) / measured:+.0f} %).", ""]
            latency = args.latency_us * 1e-6
            inverse_bandwidth = 1 / (args.bandwidth_gbs * 1e9)
            rows = []
            prediction = []
            for nodes in [1, 2, 4, 8, 16, 32, 64]:
                ranks = nodes * cores_per_node
                parts = model.iteration(ranks, latency=latency if nodes > 1 else None,
                                        inverse_bandwidth=inverse_bandwidth if nodes > 1 else None,
                                        sum_latency=3 * latency if nodes > 1 else None,
                                        cores=ranks)
                prediction.append({"nodes": nodes, "ranks": ranks, **parts})
                rows.append([nodes, ranks, f"{parts['total']:.4f}", f"{parts['compute']:.4f}", f"{parts['exchange']:.4f}",
                             f"{parts['sums']:.4f}", f"{model.iteration(1)['total'] / parts['total']:.1f}"])
            sweep["cost_model"]["cluster_prediction"] = {"latency_us": args.latency_us, "bandwidth_gbs": args.bandwidth_gbs,
                                                         "cores_per_node": cores_per_node, "points": prediction}
            dominated = next((p for p in prediction if p["exchange"] + p["sums"] > p["compute"]), None)
            out += [f"Predicted at N nodes of {cores_per_node} cores, one rank per core, network {args.latency_us:g} µs and "
                    f"{args.bandwidth_gbs:g} GB/s (assumptions: compute divides evenly over the ranks, the byte volume per rank "
                    "follows the fitted u0 + u1/P, every peer costs one latency in alltoallv, an exact sum costs 3 latencies per "
                    "log2 P step, no waiting for slow or descheduled ranks, nothing overlaps):", "",
                    table(["nodes", "ranks", "s/iteration", "compute", "exchange", "sums", "speed-up vs 1 rank"], rows), "",
                    ("Communication overtakes compute from " + f"{dominated['nodes']} nodes ({dominated['ranks']} ranks)." if dominated
                     else "Compute stays the larger part up to 64 nodes."), ""]

    weak = records(sweep, "weak")
    if weak:
        base_fit = None
        rows = []
        for r in weak:
            f = r["figures"]
            fit = last_fit_seconds(f)
            base_fit = base_fit or fit
            rows.append([r["ranks"], int(f["users"]), int(f["triplets"]), f"{fit:.2f}", f"{base_fit / fit:.2f}",
                         f"{mib(slowest(f, 'collective_alltoallv_bytes_sent_per_rank')) / 10:.2f}", f"{slowest(f, 'fit_peak_rss_mib_per_rank'):.0f}"])
        out += ["## ALS weak scaling (fixed users and visits per rank)", "",
                table(["ranks", "users", "visits", "fit s", "efficiency (T1/TP)", "alltoallv MiB sent/rank/it", "fit peak RSS MiB/rank"], rows),
                "", f"Ideal is efficiency 1; above {cores} ranks the cores are shared, so the ideal there is {cores}/P.", ""]

    service = records(sweep, "service")
    if service:
        out += [f"## Service (synthetic city, {service[0].get('users', '?')} users; wrk on the same machine)", "",
                table(["ranks", "predict req/s", "p50 ms", "p99 ms", "ingest events/s (100/request)", "ingest 1/request req/s",
                       "start-up s", "peak RSS MiB per rank", "busy s per rank", "of which gather s", "rounds MiB per rank",
                       "answers MiB per rank"],
                      [[r["ranks"], r["figures"].get("predict_rps"), r["figures"].get("predict_p50_ms"), r["figures"].get("predict_p99_ms"),
                        r["figures"].get("ingest_events_per_s"), r["figures"].get("ingest_single_event_requests_per_s"),
                        r["figures"].get("startup_seconds"),
                        " / ".join(f"{v:.0f}" for v in per_rank(r["figures"], "rank_peak_rss_mib_per_rank")),
                        " / ".join(f"{v:.1f}" for v in per_rank(r["figures"], "rank_busy_seconds_per_rank")),
                        " / ".join(f"{v:.1f}" for v in per_rank(r["figures"], "rank_gather_seconds_per_rank")),
                        " / ".join(f"{mib(v):.1f}" for v in per_rank(r["figures"], "rank_round_bytes_per_rank")),
                        " / ".join(f"{mib(v):.2f}" for v in per_rank(r["figures"], "rank_answer_bytes_per_rank"))]
                       for r in service]), "",
                "Per rank, over the whole run (predict, then ingest): busy = inside route handlers; gather = inside the "
                "answer gathers to rank 0 (waiting included); rounds = the broadcast batches (sent by rank 0, received by "
                "the others); answers = what the rank sent to rank 0.", ""]

    plots = draw(sweep, base, model, als, weak, service, load)
    out += ["Plots: " + ", ".join(os.path.basename(p) for p in plots), ""]
    text = "\n".join(out)
    open(base + ".md", "w").write(text)
    json.dump(sweep, open(args.sweep, "w"), indent=1)
    print(text)


def draw(sweep, base, model, als, weak, service, load):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    machine = sweep["machine"]
    subtitle = f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB ({sweep['date']})"
    written = []

    def save(figure, name):
        figure.suptitle(subtitle, fontsize=8)
        path = f"{base}-{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    if als:
        figure, axis = plt.subplots(figsize=(7, 4.2))
        names = ["fetch_store_factors", "solve_users", "user_gram", "ship_user_factors", "solve_stores", "store_gram"]
        labels = [str(r["ranks"]) for r in als]
        bottom = np.zeros(len(als))
        for name in names:
            values = np.array([slowest(r["figures"], f"phase_{name}_seconds_per_rank") for r in als])
            axis.bar(labels, values, bottom=bottom, label=name.replace("_", " "))
            bottom += values
        if model:
            axis.plot(labels, [model.iteration(r["ranks"])["total"] for r in als], "k--o", label="cost model")
        axis.set_xlabel("ranks")
        axis.set_ylabel("seconds per iteration (slowest rank per phase)")
        axis.set_title("ALS: time per phase against ranks (strong scaling)")
        axis.legend(fontsize=7)
        save(figure, "als-phases")

    if service:
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
        ranks = [r["ranks"] for r in service]
        left.plot(ranks, [r["figures"].get("predict_rps", 0) for r in service], "o-", label="predict req/s")
        left.plot(ranks, [r["figures"].get("ingest_events_per_s", 0) / 10 for r in service], "s-", label="ingest events/s ÷ 10")
        left.set_xlabel("ranks")
        left.set_title("Throughput against ranks")
        left.legend(fontsize=7)
        right.plot(ranks, [r["figures"].get("predict_p50_ms", 0) for r in service], "o-", label="predict p50")
        right.plot(ranks, [r["figures"].get("predict_p99_ms", 0) for r in service], "s-", label="predict p99")
        right.set_xlabel("ranks")
        right.set_ylabel("ms")
        right.set_title("Latency percentiles against ranks")
        right.legend(fontsize=7)
        save(figure, "service")

    if weak or load or service or als:
        figure, axis = plt.subplots(figsize=(6, 3.8))
        for piece, field, label in [(load, "peak_rss_mib_per_rank", "load"), (als, "fit_peak_rss_mib_per_rank", "ALS strong"),
                                    (weak, "fit_peak_rss_mib_per_rank", "ALS weak"), (service, "rank_peak_rss_mib_per_rank", "service")]:
            if piece:
                axis.plot([r["ranks"] for r in piece], [slowest(r["figures"], field) for r in piece], "o-", label=label)
        axis.set_xlabel("ranks")
        axis.set_ylabel("peak RSS, largest rank (MiB)")
        axis.set_title("Memory per rank")
        axis.legend(fontsize=7)
        save(figure, "memory")

    if weak:
        figure, axis = plt.subplots(figsize=(6, 3.8))
        fits = [last_fit_seconds(r["figures"]) for r in weak]
        axis.plot([r["ranks"] for r in weak], fits, "o-", label="measured")
        axis.axhline(fits[0], color="grey", linestyle=":", label="ideal")
        axis.set_xlabel("ranks")
        axis.set_ylabel("fit seconds")
        axis.set_title("ALS weak scaling (fixed work per rank)")
        axis.legend(fontsize=7)
        save(figure, "weak")

    peers = sorted(glob.glob(os.path.join(os.path.dirname(base), "als-*.json")), key=os.path.getmtime)
    # The standard size: als-YYYY-MM-DD[-HHMMSS].json (no -large, -<users>u or other suffix).
    standard = [p for p in peers if re.fullmatch(r"als-\d{4}-\d{2}-\d{2}(-\d{6})?\.json", os.path.basename(p))]
    if standard:
        summary = json.load(open(standard[-1]))["summary"]
        bars = [(label, summary.get(key)) for label, key in [
            ("GeoPredict 2 ranks", "ours_np2_fit_seconds_median"), ("GeoPredict 1 rank", "ours_np1_fit_seconds_median"),
            ("implicit", "implicit_fit_seconds_median"), ("implicit 1 thread", "implicit_t1_fit_seconds_median"),
            ("Spark MLlib", "spark_fit_seconds_median")] if summary.get(key)]
        figure, axis = plt.subplots(figsize=(6.5, 3.8))
        values = [b[1] for b in bars]
        axis.barh([b[0] for b in bars], values)
        axis.set_xscale("log")
        # A log axis has no zero: start well below the fastest, so bar lengths stay comparable.
        axis.set_xlim(left=min(1.0, min(values) / 2), right=max(values) * 2)
        for row, value in enumerate(values):
            axis.annotate(f"{value:.1f} s", (value, row), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        axis.set_xlabel("fit seconds (log scale)")
        axis.set_title(f"ALS 100 k x 5 k x 2 M against peers ({os.path.basename(standard[-1])})")
        save(figure, "als-peers")
    return written


if __name__ == "__main__":
    sys.exit(main())
