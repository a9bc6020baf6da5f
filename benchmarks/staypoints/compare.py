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
    fixes_by_user = {int(u): int(n) for u, n in pfs.groupby("user_id").size().items()}
    return table, medians, len(pfs), len(locs.index.unique()), fixes_by_user


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


def per_user_table(theirs, ours, found, reverse, fixes_by_user):
    """Recall (trackintel's stay points found by ours) and precision (ours found by trackintel) per user."""
    theirs = theirs.assign(found=found)
    ours = ours.assign(found=reverse)
    rows = []
    for user in sorted(set(theirs["user_id"]) | set(ours["user_id"])):
        t, o = theirs[theirs["user_id"] == user], ours[ours["user_id"] == user]
        exact = t.merge(o, on=["start", "end"], how="inner")
        rows.append({
            "user_id": int(user), "fixes": fixes_by_user.get(int(user), 0),
            "trackintel": len(t), "ours": len(o), "found": int(t["found"].sum()), "found_reverse": int(o["found"].sum()),
            "recall_pct": 100.0 * t["found"].sum() / len(t) if len(t) else 100.0,
            "precision_pct": 100.0 * o["found"].sum() / len(o) if len(o) else 100.0,
            "exact": len(exact),
        })
    return rows


def dbscan_count(stays, epsilon_m):
    """Clusters of sklearn's DBSCAN (min_samples=1, haversine on [lat, lon] radians, eps inclusive)."""
    from sklearn.cluster import DBSCAN

    points = np.radians(np.stack([stays["lat"].to_numpy(), stays["lon"].to_numpy()], axis=1))
    if len(points) == 0:
        return 0
    labels = DBSCAN(eps=epsilon_m / 6371000.0, min_samples=1, metric="haversine", algorithm="ball_tree").fit(points).labels_
    return int(len(set(labels)))


def distance_buckets(distances):
    """How far apart the centres of exactly matching stay points are (metres)."""
    distances = distances[~np.isnan(distances)]
    if len(distances) == 0:
        return {}
    return {
        "count": int(len(distances)), "below_0.01": int((distances < 0.01).sum()), "below_1": int((distances < 1).sum()),
        "below_5": int((distances < 5).sum()), "median": float(np.median(distances)), "max": float(distances.max()),
    }


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

    theirs, their_times, pfs_count, their_locations, fixes_by_user = run_trackintel(args.geolife, args)
    ours, summary = run_swift(args.swift_binary, args.geolife, args, os.path.join(args.work, "ours.csv"))
    theirs.to_csv(os.path.join(args.work, "trackintel.csv"), index=False)

    found, exact, best = match(theirs, ours, args.distance_m)
    reverse, _, _ = match(ours, theirs, args.distance_m)
    matched_distances = best[found]
    per_user = per_user_table(theirs, ours, found, reverse, fixes_by_user)
    fixes = summary["fixes"]
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
        # trackintel 1.4.2 hands sklearn's haversine DBSCAN [lon, lat] where it expects [lat, lon], so its
        # locations are clustered with distorted distances; plain DBSCAN with [lat, lon] is the reference.
        "places_sklearn_dbscan_lat_lon_on_our_centres": dbscan_count(ours, args.epsilon_m),
        "places_sklearn_dbscan_lat_lon_on_trackintel_centres": dbscan_count(theirs, args.epsilon_m),
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
        "fixes_per_second": {
            "trackintel_generate_staypoints": fixes / their_times["staypoints"],
            "trackintel_read_and_generate": fixes / (their_times["read"] + their_times["staypoints"]),
            "ours_detect_batch": fixes / summary["detect_batch_s"],
            "ours_detect_incremental": fixes / summary["detect_incremental_s"],
            "ours_read_and_detect_batch": fixes / (summary["read_s"] + summary["detect_batch_s"]),
        },
        "centre_distance_m_of_exact_matches": distance_buckets(best[exact]),
        "per_user": per_user,
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
    print("\n| user | fixes | trackintel | ours | recall % | precision % | exact times |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for row in per_user:
        print(f"| {row['user_id']:03d} | {row['fixes']:,} | {row['trackintel']} | {row['ours']} | "
              f"{row['recall_pct']:.1f} | {row['precision_pct']:.1f} | {row['exact']} |")
    rates = result["fixes_per_second"]
    print(f"\nfixes/s: trackintel generate_staypoints {rates['trackintel_generate_staypoints']:,.0f}, "
          f"ours batch {rates['ours_detect_batch']:,.0f}, ours incremental {rates['ours_detect_incremental']:,.0f}")
    print(f"places (ε = {args.epsilon_m:g} m): ours {result['places_ours']}, sklearn DBSCAN on our centres "
          f"{result['places_sklearn_dbscan_lat_lon_on_our_centres']}, on trackintel's centres "
          f"{result['places_sklearn_dbscan_lat_lon_on_trackintel_centres']}; trackintel generate_locations "
          f"{result['locations_trackintel_dataset']} (it passes [lon, lat] to sklearn's haversine)")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0 if result["trackintel_found_by_ours_pct"] >= 95.0 else 1


if __name__ == "__main__":
    sys.exit(main())
