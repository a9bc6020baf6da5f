"""Writes the ALS benchmark's synthetic visit counts, deterministically.

Users visit stores with a Zipf-like popularity (exponent 0.9 over a random ranking of the stores) and a
taste for one "area": 70 % of a user's stores come from the user's home area (one of `areas`
clusters, popularity-weighted within it), 30 % from all stores. The number of distinct stores per user
is log-normal (heavy-tailed, at most 500 draws per user); the visit count per (user, store) is
geometric with mean 2.5 (1, 2, 3, ... with p = 0.4), at most 100. Repeated draws of a store merge into one
triplet; the merged pairs are then subsampled uniformly to exactly the requested number.

Held out for the quality comparison: for each of the evenly spaced users that `sample_users` in
peers.py names (2,000) who has at least two stores, one of its triplets, chosen at random, is removed from
the training data and written to `--holdout` instead. Every contender trains on the same remaining
triplets; report.py asks whether the held-out store is in each model's top 10 (hit rate at 10).

Output (little-endian): b"GPALSDAT", int64 users, int64 stores, int64 n, then n int32 users, n int32
stores, n int32 counts, sorted by (user, store); the held-out triplets in the same format; and, for
Spark, the training triplets as CSV (`user,store,count`).

    python generate.py --users 100000 --stores 5000 --triplets 2000000 --output FILE --holdout FILE [--csv FILE]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peers import sample_users  # noqa: E402


def generate(users, stores, triplets, areas, seed):
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (rng.permutation(stores) + 1.0) ** 0.9
    area_of_store = rng.integers(areas, size=stores)
    # Stores sorted by area, with the cumulative popularity inside each area, for sampling by area.
    by_area = np.argsort(area_of_store, kind="stable")
    cumulative = np.cumsum(popularity[by_area])
    area_end = np.searchsorted(area_of_store[by_area], np.arange(areas), side="right")
    area_start = np.concatenate(([0], area_end[:-1]))
    area_low = np.where(area_start > 0, cumulative[np.maximum(area_start - 1, 0)], 0.0)
    area_high = cumulative[np.maximum(area_end - 1, 0)]
    global_probability = popularity / popularity.sum()

    # Draw more than needed: merging repeated (user, store) draws removes some.
    sigma = 0.9
    draws_per_user = np.clip(
        np.round(rng.lognormal(np.log(triplets / users) - sigma**2 / 2, sigma, size=users) * 1.6), 1, 500
    ).astype(np.int64)
    total = int(draws_per_user.sum())
    user = np.repeat(np.arange(users, dtype=np.int64), draws_per_user)
    home = rng.integers(areas, size=users)[user]
    local = rng.random(total) < 0.7
    store = np.empty(total, dtype=np.int64)
    targets = area_low[home[local]] + rng.random(int(local.sum())) * (area_high[home[local]] - area_low[home[local]])
    store[local] = by_area[np.minimum(np.searchsorted(cumulative, targets, side="right"), stores - 1)]
    store[~local] = rng.choice(stores, size=int((~local).sum()), p=global_probability)

    keys = np.unique(user * stores + store)
    if len(keys) > triplets:
        keys = np.sort(rng.choice(keys, size=triplets, replace=False))
    counts = np.minimum(rng.geometric(0.4, size=len(keys)), 100)
    return (keys // stores).astype(np.int32), (keys % stores).astype(np.int32), counts.astype(np.int32)


def hold_out(users, stores, counts, user_count, seed):
    """Removes one random triplet of each sampled user with at least two; returns (kept, held out)."""
    rng = np.random.default_rng(seed + 1)
    sample = sample_users(user_count)
    starts = np.searchsorted(users, sample, side="left")
    ends = np.searchsorted(users, sample, side="right")
    chosen = np.array([start + rng.integers(end - start) for start, end in zip(starts, ends) if end - start >= 2],
                      dtype=np.int64)
    keep = np.ones(len(users), dtype=bool)
    keep[chosen] = False
    return (users[keep], stores[keep], counts[keep]), (users[chosen], stores[chosen], counts[chosen])


def write_triplets(path, user_count, store_count, columns):
    with open(path, "wb") as handle:
        handle.write(b"GPALSDAT")
        handle.write(np.array([user_count, store_count, len(columns[0])], dtype="<i8").tobytes())
        for column in columns:
            handle.write(column.astype("<i4").tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--stores", type=int, required=True)
    parser.add_argument("--triplets", type=int, required=True)
    parser.add_argument("--areas", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--output", required=True)
    parser.add_argument("--holdout", required=True)
    parser.add_argument("--csv")
    arguments = parser.parse_args()
    generated = generate(arguments.users, arguments.stores, arguments.triplets, arguments.areas, arguments.seed)
    (users, stores, counts), held_out = hold_out(*generated, arguments.users, arguments.seed)
    write_triplets(arguments.output, arguments.users, arguments.stores, (users, stores, counts))
    write_triplets(arguments.holdout, arguments.users, arguments.stores, held_out)
    if arguments.csv:
        np.savetxt(arguments.csv, np.column_stack((users, stores, counts)), fmt="%d", delimiter=",")
    distinct = np.bincount(users, minlength=arguments.users)
    print(f"triplets: {len(users)} (+ {len(held_out[0])} held out)  users with visits: {(distinct > 0).sum()}  "
          f"stores/user mean {distinct.mean():.1f} median {np.median(distinct):.0f} max {distinct.max()}  "
          f"count mean {counts.mean():.2f} max {counts.max()}  "
          f"top store share {np.bincount(stores, minlength=arguments.stores).max() / len(users):.4f}")


if __name__ == "__main__":
    main()
