"""Summarises one run of benchmarks/als/run: medians, ratios, memory, model quality; writes the JSON.

    python report.py --work DIR --data FILE --holdout FILE --output FILE.json [--machine-json FILE]

DIR holds `<implementation>-<round>.txt` files with `name: value` lines (ours-np2, ours-np1, implicit,
implicit-t1, spark) and a `dump/` folder with the trained factors of round 1 (ours-np2.bin, ours-np1.bin,
implicit-*.npy, spark-*.npy).
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peers import load_triplets, sample_users  # noqa: E402


def read_lines(path):
    values = {}
    with open(path) as handle:
        for line in handle:
            match = re.match(r"^([a-z0-9_]+): (.*)$", line.strip())
            if match:
                values[match.group(1)] = match.group(2)
    return values


def first_number(text):
    return float(text.split(",")[0])


def load_ours(path):
    with open(path, "rb") as handle:
        if handle.read(8) != b"GPALSFAC":
            raise SystemExit(f"{path} is not a GPALSFAC dump")
        k, users, stores = (int(v) for v in np.frombuffer(handle.read(24), dtype="<i8"))
        user_factors = np.frombuffer(handle.read(4 * users * k), dtype="<f4").reshape(users, k)
        store_factors = np.frombuffer(handle.read(4 * stores * k), dtype="<f4").reshape(stores, k)
    return user_factors, store_factors


def top10(user_factors, store_factors, visited):
    """Top-10 unvisited stores per sampled user (ties: lower index, as StoreFactorTable does)."""
    scores = user_factors.astype(np.float64) @ store_factors.astype(np.float64).T
    lists = []
    for row, seen in enumerate(visited):
        score = scores[row].copy()
        score[seen] = -np.inf
        order = np.lexsort((np.arange(len(score)), -score))
        lists.append(set(order[:10].tolist()))
    return lists


def overlap(a, b):
    return float(np.mean([len(x & y) / 10 for x, y in zip(a, b)]))


def hit_rate(lists, held_users, held_stores, sample):
    """The share of held-out (user, store) pairs whose store is in that user's top 10."""
    position = {int(user): index for index, user in enumerate(sample)}
    hits = [int(store) in lists[position[int(user)]] for user, store in zip(held_users, held_stores)]
    return float(np.mean(hits)) if hits else None


def quality(work, data_path, holdout_path, regularization, alpha):
    """Held-out hit rates, top-10 overlaps and training losses of the round-1 models, where their
    dumps exist."""
    dump = os.path.join(work, "dump")
    user_count, store_count, users, stores, counts = load_triplets(data_path)
    _, _, held_users, held_stores, _ = load_triplets(holdout_path) if holdout_path else (0, 0, [], [], [])
    sample = sample_users(user_count)
    starts = np.searchsorted(users, sample, side="left")
    ends = np.searchsorted(users, sample, side="right")
    visited = [stores[a:b] for a, b in zip(starts, ends)]
    lists, factors = {}, {}
    for name in ("ours-np2", "ours-np1"):
        path = os.path.join(dump, f"{name}.bin")
        if os.path.exists(path):
            factors[name] = load_ours(path)
    for name in ("implicit", "implicit-seed7"):
        if os.path.exists(os.path.join(dump, f"{name}-users.npy")):
            factors[name] = (np.load(os.path.join(dump, f"{name}-users.npy")), np.load(os.path.join(dump, f"{name}-stores.npy")))
    for name, (u, s) in factors.items():
        lists[name] = top10(u[sample], s, visited)
    if os.path.exists(os.path.join(dump, "spark-sample-users.npy")):
        lists["spark"] = top10(np.load(os.path.join(dump, "spark-sample-users.npy")), np.load(os.path.join(dump, "spark-stores.npy")), visited)
    # A popularity baseline, to show what overlap "no personalisation" would give.
    popularity = np.bincount(stores, minlength=store_count).astype(np.float64)
    lists["popularity"] = top10(np.ones((len(sample), 1)), popularity[:, None], visited)
    result = {"sampled_users": int(len(sample)), "held_out_pairs": int(len(held_users))}
    for name, top in lists.items():
        rate = hit_rate(top, held_users, held_stores, sample)
        if rate is not None:
            result[f"hit_rate_at_10_{name}".replace("-", "_")] = round(rate, 4)
    names = list(lists)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            result[f"top10_overlap_{a}_vs_{b}".replace("-", "_")] = round(overlap(lists[a], lists[b]), 4)
    if "ours-np1" in factors and "ours-np2" in factors:
        result["ours_np1_np2_factors_identical"] = bool(
            np.array_equal(factors["ours-np1"][0], factors["ours-np2"][0]) and np.array_equal(factors["ours-np1"][1], factors["ours-np2"][1])
        )
    try:
        import scipy.sparse
        from implicit.cpu.als import calculate_loss
        matrix = scipy.sparse.csr_matrix(((1.0 + alpha * counts).astype(np.float32), (users, stores)), shape=(user_count, store_count))
        for name, (u, s) in factors.items():
            result[f"training_loss_{name}".replace("-", "_")] = round(float(calculate_loss(matrix, np.array(u, dtype=np.float32), np.array(s, dtype=np.float32), regularization)), 6)
    except ImportError:
        pass
    return result


def median_of(runs, key, combine=first_number):
    values = [combine(run[key]) for run in runs if key in run]
    return (statistics.median(values) if values else None), values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--holdout", help="held-out triplets from generate.py (hit rate at 10)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--machine-json")
    parser.add_argument("--regularization", type=float, required=True)
    parser.add_argument("--alpha", type=float, required=True)
    parser.add_argument("--settings", default="{}")
    arguments = parser.parse_args()

    runs = {}
    for path in sorted(glob.glob(os.path.join(arguments.work, "*-[0-9]*.txt"))):
        name, round_number = os.path.basename(path)[:-4].rsplit("-", 1)
        runs.setdefault(name, {})[int(round_number)] = read_lines(path)

    summary, lines = {}, []

    def emit(name, value):
        if value is None:
            return
        summary[name] = value
        lines.append(f"{name}: {value}")

    for name in ("ours-np2", "ours-np1", "implicit", "implicit-t1", "spark"):
        rounds = runs.get(name, {})
        if not rounds:
            continue
        key = name.replace("-", "_")
        median, values = median_of(rounds.values(), "fit_seconds")
        emit(f"{key}_fit_seconds_median", round(median, 3))
        summary[f"{key}_fit_seconds_all"] = values
        cpu, _ = median_of(rounds.values(), "fit_cpu_seconds")
        if cpu is not None:
            emit(f"{key}_fit_cpu_seconds_median", round(cpu, 3))
        load, _ = median_of(rounds.values(), "load_seconds")
        emit(f"{key}_load_seconds_median", round(load, 3))
        if name.startswith("ours"):
            peak, _ = median_of(rounds.values(), "fit_peak_rss_mib_total")
            whole, _ = median_of(rounds.values(), "peak_rss_mib_total")
            summary[f"{key}_fit_peak_rss_mib_per_rank"] = [r.get("fit_peak_rss_mib_per_rank") for r in rounds.values()]
        elif name == "spark":
            peak, _ = median_of(rounds.values(), "jvm_fit_peak_rss_mib")
            whole, _ = median_of(rounds.values(), "jvm_peak_rss_mib")
            jvm, _ = median_of(rounds.values(), "jvm_start_seconds")
            emit("spark_jvm_start_seconds_median", round(jvm, 3))
        else:
            peak, _ = median_of(rounds.values(), "fit_peak_rss_mib")
            whole, _ = median_of(rounds.values(), "peak_rss_mib")
        memory, _ = median_of(rounds.values(), "fit_memory_mib")
        if memory is not None:
            emit(f"{key}_fit_memory_mib", round(memory, 1))
        emit(f"{key}_fit_peak_rss_mib", round(peak, 1))
        emit(f"{key}_peak_rss_mib", round(whole, 1))

    # Ratios pair by pair: ours and implicit of the same round, then the median over rounds.
    def paired_ratio(ours, theirs, key="fit_seconds"):
        pairs = [first_number(runs[ours][r][key]) / first_number(runs[theirs][r][key])
                 for r in runs.get(ours, {}) if r in runs.get(theirs, {})]
        return (round(statistics.median(pairs), 3), [round(p, 3) for p in pairs]) if pairs else (None, [])

    # Like for like in cores: 2 ranks against implicit's default (a thread per core, 2 here), 1 rank
    # against one implicit thread.
    for ours, theirs, label in (("ours-np2", "implicit", "vs_implicit"), ("ours-np1", "implicit-t1", "np1_vs_implicit_t1"),
                                ("ours-np1", "implicit", "np1_vs_implicit"), ("ours-np2", "spark", "vs_spark")):
        ratio, pairs = paired_ratio(ours, theirs)
        emit(f"als_fit_ratio_{label}", ratio)
        if pairs:
            summary[f"als_fit_ratio_{label}_per_round"] = pairs
    ratio, _ = paired_ratio("ours-np2", "implicit", "fit_cpu_seconds")
    emit("als_fit_cpu_ratio_vs_implicit", ratio)

    # Fit memory = peak RSS during the fit minus RSS just before it (summed over ranks or JVMs).
    for ours, theirs, label in (("ours_np2", "implicit", "vs_implicit"), ("ours_np1", "implicit_t1", "np1_vs_implicit_t1"),
                                ("ours_np2", "spark", "vs_spark")):
        if f"{ours}_fit_memory_mib" in summary and f"{theirs}_fit_memory_mib" in summary:
            emit(f"als_fit_memory_ratio_{label}", round(summary[f"{ours}_fit_memory_mib"] / summary[f"{theirs}_fit_memory_mib"], 3))
        if f"{ours}_peak_rss_mib" in summary and f"{theirs}_peak_rss_mib" in summary:
            emit(f"als_peak_rss_ratio_{label}", round(summary[f"{ours}_peak_rss_mib"] / summary[f"{theirs}_peak_rss_mib"], 3))

    for name, value in quality(arguments.work, arguments.data, arguments.holdout, arguments.regularization, arguments.alpha).items():
        emit(name, value)

    machine = {}
    if arguments.machine_json and os.path.exists(arguments.machine_json):
        with open(arguments.machine_json) as handle:
            machine = json.load(handle)
    document = {
        "benchmark": "als",
        "machine": machine,
        "settings": json.loads(arguments.settings),
        "summary": summary,
        "raw": {name: {str(r): values for r, values in rounds.items()} for name, rounds in runs.items()},
    }
    os.makedirs(os.path.dirname(arguments.output), exist_ok=True)
    with open(arguments.output, "w") as handle:
        json.dump(document, handle, indent=2)
    print("\n".join(lines))
    print(f"results: {arguments.output}")


if __name__ == "__main__":
    main()
