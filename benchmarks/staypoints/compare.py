"""Compare GeoPredict's stay points with trackintel's on a GeoLife folder.

Run by ./compare-trackintel (which creates the venv, extracts the data and builds the Swift tool);
this file does the trackintel side, runs the Swift tool, matches the two sets and writes the report.

Matching rule (printed with the results): a trackintel stay point T is *found* if some stay point O of
ours has
  1. the same user,
  2. an overlapping time interval: max(T.start, O.start) < min(T.end, O.end), and
  3. centres at most `--distance-m` metres apart (haversine, R = 6,371,000 m).
The reverse (ours found by trackintel) uses the same rule with the roles swapped. "Exact" counts pairs
with identical start and end times.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371000.0 * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def run_trackintel(folder, args):
    import trackintel as ti

    times = {"read": [], "staypoints": [], "locations": []}
    for _ in range(args.repeat):
        start = time.perf_counter()
        pfs, _ = ti.io.read_geolife(folder)
        times["read"].append(time.perf_counter() - start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            pfs, sp = pfs.generate_staypoints(
                method="sliding",
                distance_metric="haversine",
                dist_threshold=args.distance_m,
                time_threshold=args.time_s / 60.0,
                gap_threshold=args.gap_s / 60.0,
                include_last=args.include_last,
                n_jobs=1,
            )
            times["staypoints"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _, locs = sp.generate_locations(
                method="dbscan", epsilon=args.epsilon_m, num_samples=1, distance_metric="haversine", agg_level="dataset"
            )
            times["locations"].append(time.perf_counter() - start)
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    table = pd.DataFrame(
        {
            "user_id": sp["user_id"].astype(int).to_numpy(),
            "start": ((sp["started_at"] - epoch) // pd.Timedelta(seconds=1)).astype("int64").to_numpy(),
            "end": ((sp["finished_at"] - epoch) // pd.Timedelta(seconds=1)).astype("int64").to_numpy(),
            "lat": sp.geometry.y.to_numpy(),
            "lon": sp.geometry.x.to_numpy(),
        }
    )
    medians = {k: statistics.median(v) for k, v in times.items()}
    return table, medians, len(pfs), len(locs.index.unique())


def run_swift(binary, folder, args, out_csv):
    command = [
        binary, "--geolife", folder, "--distance-m", str(args.distance_m), "--time-s", str(args.time_s),
        "--gap-s", str(args.gap_s), "--epsilon-m", str(args.epsilon_m), "--out", out_csv, "--repeat", str(args.repeat),
    ]
    if args.include_last:
        command.append("--include-last")
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    if result.stderr:
        sys.stderr.write(result.stderr)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    ours = pd.read_csv(out_csv, dtype={"user_id": str})
    ours = ours.rename(columns={"started_at": "start", "finished_at": "end", "latitude": "lat", "longitude": "lon"})
    ours["user_id"] = ours["user_id"].astype(int)
    return ours, summary


def match(left, right, distance_m):
    """For each row of `left`: whether a row of `right` matches, the best centre distance, and exact-time hits."""
    found = np.zeros(len(left), dtype=bool)
    exact = np.zeros(len(left), dtype=bool)
    best = np.full(len(left), np.nan)
    by_user = {u: g for u, g in right.groupby("user_id")}
    for i, row in enumerate(left.itertuples(index=False)):
        candidates = by_user.get(row.user_id)
        if candidates is None:
            continue
        overlap = np.maximum(candidates["start"].to_numpy(), row.start) < np.minimum(candidates["end"].to_numpy(), row.end)
        if not overlap.any():
            continue
        c = candidates[overlap]
        d = haversine_m(row.lat, row.lon, c["lat"].to_numpy(), c["lon"].to_numpy())
        ok = d <= distance_m
        found[i] = ok.any()
        best[i] = d.min()
        exact[i] = bool(((c["start"].to_numpy() == row.start) & (c["end"].to_numpy() == row.end) & ok).any())
    return found, exact, best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--geolife", required=True)
    parser.add_argument("--swift-binary", required=True)
    parser.add_argument("--distance-m", type=float, default=100.0)
    parser.add_argument("--time-s", type=int, default=300)
    parser.add_argument("--gap-s", type=int, default=900)
    parser.add_argument("--epsilon-m", type=float, default=100.0)
    parser.add_argument("--include-last", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-out")
    parser.add_argument("--work", required=True, help="scratch folder for CSVs")
    args = parser.parse_args()

    import trackintel

    theirs, their_times, pfs_count, their_locations = run_trackintel(args.geolife, args)
    ours, summary = run_swift(args.swift_binary, args.geolife, args, os.path.join(args.work, "ours.csv"))
    theirs.to_csv(os.path.join(args.work, "trackintel.csv"), index=False)

    found, exact, best = match(theirs, ours, args.distance_m)
    reverse, _, _ = match(ours, theirs, args.distance_m)
    matched_distances = best[found]
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, {platform.platform()}",
        "trackintel_version": trackintel.__version__,
        "thresholds": {
            "distance_m": args.distance_m, "time_s": args.time_s, "gap_s": args.gap_s,
            "include_last": args.include_last, "epsilon_m": args.epsilon_m,
        },
        "rule": "same user; max(starts) < min(ends); centres <= distance_m apart (haversine)",
        "fixes_trackintel": pfs_count,
        "fixes_ours": summary["fixes"],
        "stay_points_trackintel": len(theirs),
        "stay_points_ours": len(ours),
        "trackintel_found_by_ours": int(found.sum()),
        "trackintel_found_by_ours_pct": 100.0 * found.sum() / max(len(theirs), 1),
        "ours_found_by_trackintel": int(reverse.sum()),
        "ours_found_by_trackintel_pct": 100.0 * reverse.sum() / max(len(ours), 1),
        "exact_time_matches": int(exact.sum()),
        "centre_distance_m_median": float(np.median(matched_distances)) if len(matched_distances) else None,
        "centre_distance_m_max": float(np.max(matched_distances)) if len(matched_distances) else None,
        "places_ours": summary["places"],
        "locations_trackintel_dataset": int(their_locations),
        "repeats": args.repeat,
        "seconds_median": {
            "trackintel_read_geolife": their_times["read"],
            "trackintel_generate_staypoints": their_times["staypoints"],
            "trackintel_generate_locations": their_times["locations"],
            "ours_read": summary["read_s"],
            "ours_detect_batch": summary["detect_batch_s"],
            "ours_detect_incremental": summary["detect_incremental_s"],
            "ours_cluster": summary["cluster_s"],
        },
        "ours_incremental_equals_batch": summary["incremental_equals_batch"],
        "ours_bad_lines": summary["bad_lines"],
    }
    print(__doc__.split("\n\n")[1])
    print(json.dumps(result, indent=2))
    print(
        f"\nfound {result['trackintel_found_by_ours']}/{len(theirs)} of trackintel's stay points "
        f"({result['trackintel_found_by_ours_pct']:.2f} %); {result['ours_found_by_trackintel']}/{len(ours)} of ours "
        f"are in trackintel ({result['ours_found_by_trackintel_pct']:.2f} %); exact times {result['exact_time_matches']}"
    )
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0 if result["trackintel_found_by_ours_pct"] >= 95.0 else 1


if __name__ == "__main__":
    sys.exit(main())
