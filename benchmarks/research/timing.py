#!/usr/bin/env python3
"""How GeoPredict's next-trip timing was designed: a renewal model of the gaps between a user's shopping
visits, the user's own gap histogram shrunk towards the population's, checked for calibration on the
GETNext NYC validation file. A record of the design; no test depends on it.

    benchmarks/.venv/bin/python benchmarks/research/timing.py --data ../shared/data/foursquare-nyc [--split val]

For each validation trajectory, at the time of its last known earlier check-in (the query time of the
next-visit evaluation), the model gives P(a shopping visit within 24 h) and a window (earliest, latest)
for the next one. The outcome is read from the same file (all of the user's check-ins in it, so also in
later trajectories); queries whose 24 h reach past the file's last check-in are left out.
"""
import argparse
import bisect
import math
import calendar
import csv
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from nextvisit import CUTOFF, find, load_train, open_text  # noqa: E402

SHOPPING = {
    "Food & Drink Shop", "Department Store", "Clothing Store", "Mall", "Drugstore / Pharmacy", "Electronics Store",
    "Bookstore", "Convenience Store", "Miscellaneous Shop", "Furniture / Home Store", "Market", "Hardware Store",
    "Flea Market", "Sporting Goods Shop", "Smoke Shop", "Automotive Shop", "Arts & Crafts Store", "Toy / Game Store",
    "Candy Store", "Pet Store", "Paper / Office Supplies Store", "Mobile Phone Shop", "Thrift / Vintage Store",
    "Cosmetics Shop", "Jewelry Store", "Hobby Shop", "Garden Center", "Bridal Shop", "Music Store", "Antique Shop",
    "Camera Store", "Gift Shop",
}

HORIZON = 86400
WINDOW_HORIZON = 7 * 86400
# Waiting-time bins: log-spaced edges from 1 minute to 7 days.
EDGES = np.r_[0, np.geomspace(60, WINDOW_HORIZON, 40)]


def next_after(times, t):
    k = bisect.bisect_right(times, t)
    return times[k] if k < len(times) else None


class Timing:
    """P(a shopping visit within 24 h of a check-in): beta-binomial per user with an empirical-Bayes
    prior; the window: quantiles of the waiting time to the next shopping visit (given it comes within
    7 days), the user's histogram over log-spaced bins shrunk towards the population's."""

    def __init__(self, checkins_by_user, shop_by_user, end, strength=None, window_strength=5.0):
        self.k, self.n, self.waits = {}, {}, {}
        for u, ts in checkins_by_user.items():
            shop = sorted(shop_by_user.get(u, []))
            k = n = 0
            waits = np.zeros(len(EDGES) - 1)
            for t in ts:
                if t + HORIZON > end:
                    continue  # outcome not observable in the training period
                nxt = next_after(shop, t)
                n += 1
                k += nxt is not None and nxt - t <= HORIZON
                if nxt is not None and nxt - t <= WINDOW_HORIZON and t + WINDOW_HORIZON <= end:
                    waits[min(np.searchsorted(EDGES, nxt - t, side="right") - 1, len(waits) - 1)] += 1
            self.k[u], self.n[u], self.waits[u] = k, n, waits
        ks = np.array(list(self.k.values()), float)
        ns = np.array(list(self.n.values()), float)
        self.mean = ks.sum() / max(ns.sum(), 1)
        self.strength = strength if strength is not None else self.fit_strength(ks, ns)
        pop = sum(self.waits.values())
        self.pop_waits = (pop + 0.1) / (pop.sum() + 0.1 * len(pop))
        self.window_strength = window_strength

    def fit_strength(self, ks, ns):
        """Maximum marginal likelihood of the beta-binomial over the prior strength (golden section on log m)."""
        from scipy.special import betaln

        def nll(log_m):
            m = math.exp(log_m)
            a, b = self.mean * m, (1 - self.mean) * m
            return -np.sum(betaln(a + ks, b + ns - ks) - betaln(a, b))

        lo, hi = math.log(0.1), math.log(1e5)
        g = (math.sqrt(5) - 1) / 2
        for _ in range(80):
            x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
            if nll(x1) < nll(x2):
                hi = x2
            else:
                lo = x1
        return math.exp((lo + hi) / 2)

    def probability(self, u):
        k, n = self.k.get(u, 0), self.n.get(u, 0)
        return (k + self.mean * self.strength) / (n + self.strength)

    def window(self, u, t, lo_q=0.25, hi_q=0.75):
        h = self.waits.get(u, np.zeros(len(EDGES) - 1))
        pmf = (h + self.window_strength * self.pop_waits) / (h.sum() + self.window_strength)
        cdf = np.r_[0, np.cumsum(pmf)]

        def quantile(q):
            k = min(np.searchsorted(cdf, q, side="right") - 1, len(pmf) - 1)
            frac = (q - cdf[k]) / max(pmf[k], 1e-12)
            return EDGES[k] + frac * (EDGES[k + 1] - EDGES[k])

        return t + quantile(lo_q), t + quantile(hi_q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/foursquare-nyc")
    ap.add_argument("--split", default="val", choices=["val", "test"])
    args = ap.parse_args()
    rows = load_train(find(args.data, "checkins_tsmc2014_format.tsv"))
    checkins, shop = defaultdict(list), defaultdict(list)
    for r in rows:
        checkins[r[0]].append(r[5])
        if r[2] in SHOPPING:
            shop[r[0]].append(r[5])
    for u in checkins:
        checkins[u].sort()
    # Evaluation: every check-in of the split file by a known user is an anchor; the outcome is read
    # from the same file; anchors whose 24 h (7 days for the window) reach past its end are left out.
    events = defaultdict(list)
    with open_text(find(args.data, f"getnext_NYC_{args.split}.csv")) as f:
        for r in csv.DictReader(f):
            t = calendar.timegm(time.strptime(r["UTC_time"][:19], "%Y-%m-%d %H:%M:%S"))
            events[r["user_id"]].append((t, r["POI_catname"] in SHOPPING))
    end = max(t for es in events.values() for t, _ in es)
    anchors = []
    for u in sorted(events):
        if u not in checkins:
            continue
        es = sorted(events[u])
        shop_times = [t for t, s in es if s]
        for t, _ in es:
            if t + HORIZON <= end:
                anchors.append((u, t, next_after(shop_times, t)))
    y = np.array([n is not None and n - t <= HORIZON for _, t, n in anchors], float)
    print(f"{len(anchors)} {args.split} anchors (check-ins of known users); {y.mean():.3f} are followed by a "
          "shopping check-in within 24 h")
    for strength in (None, 1.0, 10.0, 100.0, 1e9):
        model = Timing(checkins, shop, CUTOFF, strength)
        p = np.clip(np.array([model.probability(u) for u, _, _ in anchors]), 1e-4, 1 - 1e-4)
        brier = np.mean((p - y) ** 2)
        logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        label = f"EB strength {model.strength:.1f}" if strength is None else f"strength {strength:g}"
        print(f"{label:22s} Brier {brier:.4f}  log loss {logloss:.4f}  mean P {p.mean():.3f}")
        if strength is None:
            for lo, hi in zip([0, .05, .1, .2, .3, .5], [.05, .1, .2, .3, .5, 1.01]):
                sel = (p >= lo) & (p < hi)
                if sel.any():
                    print(f"   P in [{lo:.2f},{min(hi, 1):.2f}): n={sel.sum():5d} mean P {p[sel].mean():.3f} "
                          f"observed {y[sel].mean():.3f}")
            inside = observed = 0
            for u, t, n in anchors:
                if n is not None and n - t <= WINDOW_HORIZON and t + WINDOW_HORIZON <= end:
                    lo_t, hi_t = model.window(u, t)
                    observed += 1
                    inside += lo_t <= n <= hi_t
            print(f"   window (25-75 % of the wait, given a visit within 7 days) holds {inside}/{observed} = "
                  f"{inside / max(observed, 1):.3f} of the observed next shopping visits (ideal 0.5)")


if __name__ == "__main__":
    main()
