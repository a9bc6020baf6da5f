"""How GeoPredict's next-visit scorer was designed: a research prototype on Foursquare NYC.

Not used by any test or by the Swift code; kept as the record of which features and which fitting
were chosen, on the *validation* file only. The Swift implementation (Sources/GeoPredict/Scoring)
follows the feature definitions here one for one, so this script is also a cross-check of its
numbers.

    benchmarks/research/setup-venv
    benchmarks/.venv/bin/python benchmarks/research/nextvisit.py --data ../shared/data/foursquare-nyc \
        --split val [--ablation] [--cf] [--hole-weeks 6]

Ranking experiments (issue #4, third session; benchmarks/README.md, "Is the linear scorer the
limit?"): `--extra a,b,c` adds candidate features from EXTRA (products and piecewise terms of the
features below, and two category-transition signals) to the linear model; `--variants` compares
each and some sets, `--cv` also scores held-out training users, `--greedy N --pool ...` selects
greedily, and `--lgbm [--lgbm-params JSON]` fits LightGBM lambdarank on the same features and
instances (installed into benchmarks/.venv on first use). None of the extras is in the Swift model:
none survived the checks.

        benchmarks/.venv/bin/python benchmarks/research/nextvisit.py --split val --cf --variants --cv
        benchmarks/.venv/bin/python benchmarks/research/nextvisit.py --split val --cf --lgbm

Protocol (GETNext, see ../shared/data/README.md): train on check-ins strictly before 2012-11-09 21:54
UTC; a test trajectory is scored if its user is known; unknown venues are dropped; its last remaining
check-in is the target and at least 2 known check-ins must precede it. The query time is the time of
the last known earlier check-in (never the target's). History = the user's training check-ins + the
trajectory's earlier check-ins.

Model: candidates (the user's visited stores, successors of the last store, stores near the last
position, the most popular) ranked by a linear score w·f(user, history, query, store) whose weights
minimise a listwise softmax loss + L2 over training instances built from the training data itself:
each 24-h-gap session in the last `fit_weeks` weeks of training whose target (its last check-in) has
at least 2 earlier check-ins in the session, with the features computed from strictly earlier
check-ins. Global statistics (popularity, transitions, hour profiles) are "everyone else's": the
user's own training visits are subtracted, at fitting and at serving alike, so a target never counts
towards its own features.
"""
import argparse
import calendar
import csv
import json
import lzma
import math
import os
import sys
import time
from collections import Counter, defaultdict

import numpy as np
from scipy.optimize import minimize

DAY = 86400
CUTOFF = calendar.timegm((2012, 11, 9, 21, 54, 0))

FEATURES = [
    # frequency / recency of the user's own visits
    "freq", "rec_1d", "rec_7d", "rec_30d", "visited", "since",
    # user's time-of-day / week rhythm at the store
    "user_hour", "user_hour_share", "user_weekpart",
    # sequence: the user's own transitions, everyone else's, the current session
    "user_next", "user_next2", "others_next", "session", "is_last", "is_first", "session_end",
    # geography, popularity, the store's hour profile, the user's category taste
    "distance", "popularity", "store_hour", "category_share",
    # collaborative filtering (fold-in score), only with --cf
    "cf",
]
# Candidate extra features (computed always; a model uses only those named in --extra / a variant).
EXTRA = [
    "dist_x_visited",      # distance * visited
    "dist_hinge_300m",     # min(0, log(d+d0) - log(0.3+d0)): extra slope below 300 m
    "dist_hinge_2km",      # max(0, log(d+d0) - log(2+d0)): extra slope beyond 2 km
    "others_next_x_visited",  # others_next * visited
    "user_next_x_visited_pos",  # 1[user_next > 0]
    "since_lt3h",          # visited, not last, since < 3 h
    "since_3h_1d",         # visited, not last, 3 h <= since < 24 h
    "since_1d_7d",         # visited, not last, 1 d <= since < 7 d
    "since_gt30d",         # visited, since >= 30 d
    "last_x_gap",          # is_last * log1p(hours between the previous check-in and the last one)
    "last_x_session_len",  # is_last * log1p(check-ins in the current session)
    "session_not_last",    # session * (1 - is_last)
    "freq_x_last",         # freq * is_last
    "visited_x_explore",   # visited * log((first visits in history + 1) / (len(history) + 2))
    "dist_x_explore",      # distance * log((first visits + 1) / (len(history) + 2))
    "category_hour",       # log of the candidate category's (everyone else's) hour profile at the query hour
    "same_cat_last",       # 1[category(c) == category(a)]
    "user_cat_next",       # log((user's cat(a)->cat(c) steps + 1) / (user's steps from cat(a) + ncat))
    "others_cat_next",     # log P(cat(c) | cat(a)) from everyone else's transitions (add-one)
    "user_dow_hour",       # log1p(sum over visits to c on the same weekday of the hour kernel)
    "hour_share_x_visited",  # user_hour_share * visited
    "cf_x_unvisited",      # cf * (1 - visited)
    # pairs the depth-2 LightGBM trees use most
    "rec30_x_user_next",   # rec_30d * user_next
    "rec30_x_session_end",  # rec_30d * session_end
    "freq_x_popularity",   # freq * popularity
    "popularity_x_unvisited",  # popularity * (1 - visited)
    "freq_x_session_end",  # freq * session_end
    "freq_x_user_next",    # freq * user_next
    "popularity_x_weekpart",  # popularity * user_weekpart
    "dist_x_since",        # distance * since
    "rec30_x_since",       # rec_30d * since
    "popularity_x_rec30",  # popularity * rec_30d
]
ALL = FEATURES + EXTRA

GROUPS = {
    "frequency+recency": ["freq", "rec_1d", "rec_7d", "rec_30d", "visited", "since"],
    "user-time": ["user_hour", "user_hour_share", "user_weekpart"],
    "sequence": ["user_next", "user_next2", "others_next"],
    "session": ["session", "is_last", "is_first", "session_end"],
    "geography": ["distance"],
    "popularity": ["popularity"],
    "store-time": ["store_hour"],
    "category": ["category_share"],
    "cf": ["cf"],
}

P = dict(gap=DAY, n_successors=20, n_near=50, n_popular=20, beta=5.0, d0_km=0.1, kappa=2.0,
         store_hour_prior=10.0, fit_weeks=16, l2=1e-4, cf_factors=32, cf_reg=0.1, cf_alpha=10.0)


def open_text(path):
    if path.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def find(data, name):
    for candidate in (os.path.join(data, name), os.path.join(data, name + ".xz")):
        if os.path.exists(candidate):
            return candidate
    sys.exit(f"missing {name} in {data}")


def load_train(path):
    rows = []
    with open_text(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            t = calendar.timegm(time.strptime(p[7], "%a %b %d %H:%M:%S +0000 %Y"))
            if t < CUTOFF:
                rows.append((p[0], p[1], p[3], float(p[4]), float(p[5]), t))
    return rows


def load_queries(path, users, index):
    """GETNext filtering: known user, unknown venues dropped, >= 2 known check-ins before the target."""
    trajectories = defaultdict(list)
    with open_text(path) as f:
        for r in csv.DictReader(f):
            t = calendar.timegm(time.strptime(r["UTC_time"][:19], "%Y-%m-%d %H:%M:%S"))
            trajectories[r["trajectory_id"]].append((r["user_id"], r["POI_id"], r["POI_catname"], t))
    out = []
    for tid in sorted(trajectories):
        cs = trajectories[tid]
        if cs[0][0] not in users:
            continue
        known = [c for c in cs if c[1] in index]
        if len(known) < 3:
            continue
        out.append((tid, cs[0][0], [(c[3], index[c[1]]) for c in known[:-1]], index[known[-1][1]], known[-1][2]))
    return out


def solar_hour(t, lon):
    """Local mean solar time in hours: UTC + longitude/15 h. Needs no time-zone table."""
    return ((t + lon / 15 * 3600) % DAY) / 3600.0


def weekend(t, lon):
    day = int((t + lon / 15 * 3600) // DAY)
    return (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday


class World:
    """Everything computed once from the training data (what every rank holds or can sum)."""

    def __init__(self, rows, params):
        self.p = params
        ids = sorted({r[1] for r in rows})
        self.ids = ids
        self.index = {v: i for i, v in enumerate(ids)}
        S = self.S = len(ids)
        self.lat = np.zeros(S)
        self.lon = np.zeros(S)
        category = [""] * S
        for r in rows:
            i = self.index[r[1]]
            self.lat[i], self.lon[i], category[i] = r[3], r[4], r[2]
        self.category_names = sorted(set(category))
        self.category = np.array([self.category_names.index(c) for c in category])
        rad_lat, rad_lon = np.radians(self.lat), np.radians(self.lon)
        self.xyz = np.c_[np.cos(rad_lat) * np.cos(rad_lon), np.cos(rad_lat) * np.sin(rad_lon), np.sin(rad_lat)]
        self.users = defaultdict(list)
        for r in rows:
            self.users[r[0]].append((r[5], self.index[r[1]]))
        for u in self.users:
            self.users[u].sort()
        self.popularity = np.zeros(S)
        self.transitions = defaultdict(Counter)
        self.hours = np.zeros((S, 24))
        for h in self.users.values():
            for k, (t, s) in enumerate(h):
                self.popularity[s] += 1
                self.hours[s, int(solar_hour(t, self.lon[s]))] += 1
                if k > 0 and t - h[k - 1][0] <= params["gap"]:
                    self.transitions[h[k - 1][1]][s] += 1
        self.popular = np.lexsort((np.arange(S), -self.popularity))[: params["n_popular"]]
        category_hours = np.zeros((len(self.category_names), 24))
        np.add.at(category_hours, self.category, self.hours)
        self.category_hours = category_hours
        ncat = len(self.category_names)
        self.category_transitions = np.zeros((ncat, ncat))
        for h in self.users.values():
            for k in range(1, len(h)):
                if h[k][0] - h[k - 1][0] <= params["gap"]:
                    self.category_transitions[self.category[h[k - 1][1]], self.category[h[k][1]]] += 1
        self.cf_table = None

    def distance_km(self, a, stores):
        chord = np.linalg.norm(self.xyz[stores] - self.xyz[a], axis=1)
        return 2 * 6371.0 * np.arcsin(np.minimum(chord / 2, 1))

    def candidates(self, history, a):
        p = self.p
        c = {s for _, s in history}
        c.update(b for b, _ in sorted(self.transitions[a].items(), key=lambda kv: (-kv[1], kv[0]))[: p["n_successors"]])
        d = self.distance_km(a, np.arange(self.S))
        c.update(np.lexsort((np.arange(self.S), d))[: p["n_near"]].tolist())
        c.update(self.popular.tolist())
        return np.array(sorted(c))

    def features(self, history, own, session_start, cand):
        """history: [(t, s)] strictly before the query, the session is history[session_start:]; own: all the
        user's training visits, which the global statistics contain and which are subtracted from them."""
        p = self.p
        t_q, a = history[-1]
        ht = np.array([x[0] for x in history], float)
        hs = np.array([x[1] for x in history])
        position = {s: i for i, s in enumerate(cand)}
        idx = np.array([position.get(s, -1) for s in hs])
        m = idx >= 0
        C = len(cand)
        F = {}

        def per_candidate(weights, mask=m):
            return np.bincount(idx[mask], weights=weights, minlength=C)

        if p.get("compress_days"):
            # Active time: absences longer than compress_days count as compress_days, so recency does not
            # decay while the user (or the data) is away.
            cap = p["compress_days"] * DAY
            steps = np.minimum(np.diff(np.r_[ht, t_q]), cap)
            active = np.r_[0, np.cumsum(steps)]
            ht_active, t_q_active = active[:-1], active[-1]
        else:
            ht_active, t_q_active = ht, t_q
        n = per_candidate(np.ones(m.sum()))
        F["freq"] = np.log1p(n)
        if p.get("event_decay"):
            age = (len(history) - 1 - np.arange(len(history)))[m]
            for name, half in zip(("rec_1d", "rec_7d", "rec_30d"), p["event_decay"]):
                F[name] = np.log1p(per_candidate(0.5 ** (age / half)))
        else:
            for name, tau in (("rec_1d", DAY), ("rec_7d", 7 * DAY), ("rec_30d", 30 * DAY)):
                F[name] = np.log1p(per_candidate(np.exp(-(t_q_active - ht_active[m]) / tau)))
        last = np.full(C, -np.inf)
        np.maximum.at(last, idx[m], ht_active[m])
        visited = np.isfinite(last)
        F["visited"] = visited.astype(float)
        F["since"] = np.where(visited, np.log1p((t_q_active - np.where(visited, last, t_q_active)) / 3600), 0)

        hq = solar_hour(t_q, self.lon[a])
        wq = weekend(t_q, self.lon[a])
        hh = solar_hour(ht, self.lon[hs])
        kernel = np.exp(p["kappa"] * (np.cos(2 * np.pi * (hh - hq) / 24) - 1))
        kernel_sum = per_candidate(kernel[m])
        F["user_hour"] = np.log1p(kernel_sum)
        uniform = np.mean(np.exp(p["kappa"] * (np.cos(2 * np.pi * (np.arange(24) + 0.5) / 24) - 1)))
        F["user_hour_share"] = np.log((kernel_sum + uniform) / (n + 1))
        same_part = np.array([weekend(t, self.lon[s]) == wq for t, s in zip(ht, hs)], float)
        F["user_weekpart"] = np.log1p(per_candidate(same_part[m]))

        gaps_before = np.r_[np.inf, np.diff(ht)]
        step = (hs[:-1] == a) & (gaps_before[1:] <= p["gap"])
        follow = Counter(hs[1:][step].tolist())
        F["user_next"] = np.log1p([follow.get(s, 0) for s in cand])
        if len(history) >= 2:
            b = history[-2][1]
            step2 = (hs[:-2] == b) & (hs[1:-1] == a)
            follow2 = Counter(hs[2:][step2].tolist())
            F["user_next2"] = np.log1p([follow2.get(s, 0) for s in cand])
        else:
            F["user_next2"] = np.zeros(C)

        # Everyone else's statistics: subtract the user's own training visits.
        ot = np.array([x[0] for x in own], float)
        os_ = np.array([x[1] for x in own])
        own_count = Counter(os_.tolist())
        own_step = (os_[:-1] == a) & (np.diff(ot) <= p["gap"])
        own_from_a = Counter(os_[1:][own_step].tolist())
        popularity = self.popularity[cand] - np.array([own_count.get(s, 0) for s in cand])
        total = self.popularity.sum() - len(own)
        prior = (popularity + 1) / (total + self.S)
        succ = self.transitions[a]
        row = sum(succ.values()) - sum(own_from_a.values())
        to = np.array([succ.get(s, 0) - own_from_a.get(s, 0) for s in cand], float)
        F["others_next"] = np.log((to + p["beta"] * prior) / (row + p["beta"]))
        F["distance"] = np.log(self.distance_km(a, cand) + p["d0_km"])
        F["popularity"] = np.log1p(popularity)
        bins = np.arange(24) + 0.5
        hour_kernel = np.exp(p["kappa"] * np.cos(2 * np.pi * (bins - hq) / 24))
        hour_kernel /= hour_kernel.mean()
        own_idx = np.array([position.get(s, -1) for s in os_])
        om = own_idx >= 0
        own_hours = np.floor(solar_hour(ot[om], self.lon[os_[om]])).astype(int)
        own_kernel = np.bincount(own_idx[om], weights=hour_kernel[own_hours], minlength=C)
        others_kernel = self.hours[cand] @ hour_kernel - own_kernel
        others_count = popularity
        # The category's hour profile without the user's own visits either (add-one smoothed).
        category_hours = self.category_hours.copy()
        own_stores = os_.astype(int)
        own_all_hours = np.floor(solar_hour(ot, self.lon[own_stores])).astype(int)
        np.add.at(category_hours, (self.category[own_stores], own_all_hours), -1)
        category_share = (category_hours + 1) / (category_hours.sum(1, keepdims=True) + 24)
        prior_kernel = category_share[self.category[cand]] @ hour_kernel
        F["store_hour"] = np.log((others_kernel + p["store_hour_prior"] * prior_kernel)
                                 / (others_count + p["store_hour_prior"]) / 24)

        session = Counter(hs[session_start:].tolist())
        F["session"] = np.log1p([session.get(s, 0) for s in cand])
        F["is_last"] = (cand == a).astype(float)
        F["is_first"] = (cand == history[session_start][1]).astype(float)
        gaps_after = np.r_[np.diff(ht), 0]
        ends = m & (gaps_after > p["gap"])
        F["session_end"] = np.log1p(per_candidate(np.ones(ends.sum()), ends))
        counts = np.bincount(self.category[hs], minlength=len(self.category_names))
        F["category_share"] = np.log((counts[self.category[cand]] + 1) / (len(history) + len(self.category_names)))
        F["cf"] = self.cf_scores(history, cand)
        self.extra_features(F, locals())
        return np.column_stack([F[name] for name in ALL])

    def extra_features(self, F, v):
        p = self.p
        cand, visited, hs, ht, a, history = v["cand"], v["visited"], v["hs"], v["ht"], v["a"], v["history"]
        C = len(cand)
        vis = visited.astype(float)
        last = F["is_last"]
        d = self.distance_km(a, cand)
        F["dist_x_visited"] = F["distance"] * vis
        F["dist_hinge_300m"] = np.minimum(0, F["distance"] - math.log(0.3 + p["d0_km"]))
        F["dist_hinge_2km"] = np.maximum(0, F["distance"] - math.log(2 + p["d0_km"]))
        F["others_next_x_visited"] = F["others_next"] * vis
        F["user_next_x_visited_pos"] = (F["user_next"] > 0).astype(float)
        since_h = np.where(visited, np.expm1(F["since"]), np.inf)
        notlast = visited & (last == 0)
        F["since_lt3h"] = (notlast & (since_h < 3)).astype(float)
        F["since_3h_1d"] = (notlast & (since_h >= 3) & (since_h < 24)).astype(float)
        F["since_1d_7d"] = (notlast & (since_h >= 24) & (since_h < 168)).astype(float)
        F["since_gt30d"] = (visited & (since_h >= 720)).astype(float)
        gap_h = (ht[-1] - ht[-2]) / 3600 if len(ht) >= 2 else 0.0
        F["last_x_gap"] = last * math.log1p(gap_h)
        session_len = len(history) - v["session_start"]
        F["last_x_session_len"] = last * math.log1p(session_len)
        F["session_not_last"] = F["session"] * (1 - last)
        F["freq_x_last"] = F["freq"] * last
        first_visits = len(set(hs.tolist()))
        explore = math.log((first_visits + 1) / (len(history) + 2))
        F["visited_x_explore"] = vis * explore
        F["dist_x_explore"] = F["distance"] * explore
        F["category_hour"] = np.log(v["prior_kernel"] / 24)
        cat = self.category
        ncat = len(self.category_names)
        F["same_cat_last"] = (cat[cand] == cat[a]).astype(float)
        steps = (np.diff(ht) <= p["gap"]) & (cat[hs[:-1]] == cat[a])
        user_cat = np.bincount(cat[hs[1:][steps]], minlength=ncat)
        F["user_cat_next"] = np.log((user_cat[cat[cand]] + 1) / (steps.sum() + ncat))
        # everyone else's category transitions from cat(a): subtract the user's own training steps
        ot, os_ = v["ot"], v["os_"]
        own_steps = (np.diff(ot) <= p["gap"]) & (cat[os_[:-1]] == cat[a]) if len(ot) > 1 else np.zeros(0, bool)
        own_cat = np.bincount(cat[os_[1:][own_steps]], minlength=ncat) if len(ot) > 1 else np.zeros(ncat)
        others_cat = self.category_transitions[cat[a]] - own_cat
        F["others_cat_next"] = np.log((others_cat[cat[cand]] + 1) / (others_cat.sum() + ncat))
        tq_local_day = int((ht[-1] + self.lon[a] / 15 * 3600) // DAY)
        days = ((ht + self.lon[hs] / 15 * 3600) // DAY).astype(int)
        same_dow = ((days - tq_local_day) % 7 == 0).astype(float)
        m, idx = v["m"], v["idx"]
        F["user_dow_hour"] = np.log1p(np.bincount(idx[m], weights=(v["kernel"] * same_dow)[m], minlength=C))
        F["hour_share_x_visited"] = F["user_hour_share"] * vis
        F["cf_x_unvisited"] = F["cf"] * (1 - vis)
        F["rec30_x_user_next"] = F["rec_30d"] * F["user_next"]
        F["rec30_x_session_end"] = F["rec_30d"] * F["session_end"]
        F["freq_x_popularity"] = F["freq"] * F["popularity"]
        F["popularity_x_unvisited"] = F["popularity"] * (1 - vis)
        F["freq_x_session_end"] = F["freq"] * F["session_end"]
        F["freq_x_user_next"] = F["freq"] * F["user_next"]
        F["popularity_x_weekpart"] = F["popularity"] * F["user_weekpart"]
        F["dist_x_since"] = F["distance"] * F["since"]
        F["rec30_x_since"] = F["rec_30d"] * F["since"]
        F["popularity_x_rec30"] = F["popularity"] * F["rec_30d"]

    def cf_scores(self, history, cand):
        if self.cf_table is None:
            return np.zeros(len(cand))
        Y, gram = self.cf_table
        p = self.p
        A = gram + p["cf_reg"] * np.eye(Y.shape[1])
        b = np.zeros(Y.shape[1])
        for s, c in Counter(s for _, s in history).items():
            conf = 1 + p["cf_alpha"] * c
            A += (conf - 1) * np.outer(Y[s], Y[s])
            b += conf * Y[s]
        return Y[cand] @ np.linalg.solve(A, b)


def sessions(history, gap):
    out, start = [], 0
    for k in range(1, len(history) + 1):
        if k == len(history) or history[k][0] - history[k - 1][0] > gap:
            out.append((start, k))
            start = k
    return out


def training_instances(world, t_from):
    """Each session's last check-in in [t_from, cutoff) with >= 2 earlier check-ins in the session."""
    X, Y, G = [], [], []
    for u in sorted(world.users):
        h = world.users[u]
        for start, end in sessions(h, world.p["gap"]):
            if end - start < 3 or h[end - 1][0] < t_from:
                continue
            history, target = h[: end - 1], h[end - 1][1]
            cand = world.candidates(history, history[-1][1])
            pos = np.searchsorted(cand, target)
            if pos < len(cand) and cand[pos] == target:
                X.append(world.features(history, h, start, cand))
                Y.append(pos)
                G.append(u)
    return X, Y, G


def query_instances(world, queries, hole_weeks=0):
    out = []
    for tid, u, prefix, target, category in queries:
        train = world.users[u]
        if hole_weeks:
            train = [x for x in train if x[0] < CUTOFF - hole_weeks * 7 * DAY] or train[:1]
        history = train + prefix
        cand = world.candidates(history, history[-1][1])
        # The global statistics contain the user's whole training history: all of it is subtracted.
        F = world.features(history, world.users[u], len(train), cand)
        out.append((tid, u, cand, F, target, category))
    return out


def fit(X, Y, l2, mask):
    Xs = [x[:, mask] for x in X]
    big = np.concatenate(Xs)
    sizes = np.array([len(x) for x in Xs])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    seg = np.repeat(np.arange(len(Xs)), sizes)
    targets = starts + np.array(Y)

    def loss(w):
        z = big @ w
        top = np.maximum.reduceat(z, starts)
        e = np.exp(z - top[seg])
        Z = np.add.reduceat(e, starts)
        prob = e / Z[seg]
        value = -(z[targets] - top - np.log(Z)).sum() / len(Xs) + l2 * w @ w
        grad = -(big[targets].sum(0) - prob @ big) / len(Xs) + 2 * l2 * w
        return value, grad

    w = minimize(loss, np.zeros(mask.sum()), jac=True, method="L-BFGS-B").x
    full = np.zeros(len(mask))
    full[mask] = w
    return full


def rank_of(cand, scores, target):
    order = np.lexsort((cand, -scores))
    hit = np.where(cand[order] == target)[0]
    return hit[0] if len(hit) else math.inf


def metrics(ranks):
    r = np.array(ranks, float)
    return {"acc1": np.mean(r < 1), "acc5": np.mean(r < 5), "acc10": np.mean(r < 10),
            "mrr10": np.mean(np.where(r < 10, 1 / (r + 1), 0)), "n": len(r)}


def fmt(m):
    return f"Acc@1 {m['acc1']:.4f}  Acc@5 {m['acc5']:.4f}  Acc@10 {m['acc10']:.4f}  MRR@10 {m['mrr10']:.4f}  (n={m['n']})"


def paired(ranks, base):
    """Mean difference in MRR@10 and Acc@1 against base, with its paired standard error."""
    def rr(r):
        r = np.array(r, float)
        return np.where(r < 10, 1 / (r + 1), 0), (r < 1).astype(float)
    a_mrr, a_acc = rr(ranks)
    b_mrr, b_acc = rr(base)
    dm, da = a_mrr - b_mrr, a_acc - b_acc
    n = len(dm)
    return {"d_mrr10": dm.mean(), "se_mrr10": dm.std(ddof=1) / math.sqrt(n),
            "d_acc1": da.mean(), "se_acc1": da.std(ddof=1) / math.sqrt(n)}


def train_cv(X, Y, groups, l2, mask, folds=5):
    """MRR@10 on held-out fitting instances (folds by user): a second, independent check."""
    ranks = []
    users = sorted(set(groups))
    fold_of = {u: i % folds for i, u in enumerate(users)}
    f = np.array([fold_of[g] for g in groups])
    for k in range(folds):
        tr = np.where(f != k)[0]
        w = fit([X[i] for i in tr], [Y[i] for i in tr], l2, mask)
        for i in np.where(f == k)[0]:
            s = X[i] @ w
            ranks.append(int((s > s[Y[i]]).sum()))
    return metrics(ranks)


def lgbm_ranker(X, Y, groups, mask, rounds=None, seed=0, **overrides):
    """LightGBM lambdarank on the same instances and features: small regularised trees."""
    try:
        import lightgbm as lgb
    except ImportError:
        import subprocess
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "lightgbm==4.7.0"])
        import lightgbm as lgb
    params = dict(objective="lambdarank", metric="map", eval_at=[10], learning_rate=0.05, num_leaves=7,
                  min_data_in_leaf=50, lambda_l2=10.0, feature_fraction=0.8, bagging_fraction=0.8,
                  bagging_freq=1, max_bin=63, num_threads=1, seed=seed, verbose=-1,
                  lambdarank_truncation_level=20)
    params.update(overrides)

    def dataset(ix):
        data = np.concatenate([X[i][:, mask] for i in ix])
        label = np.concatenate([(np.arange(len(X[i])) == Y[i]).astype(int) for i in ix])
        return lgb.Dataset(data, label, group=[len(X[i]) for i in ix], free_raw_data=False)

    if rounds is None:
        # choose the number of rounds on held-out *training* users (never on the validation file)
        users = sorted(set(groups))
        held = {u for i, u in enumerate(users) if i % 5 == 0}
        tr = [i for i, g in enumerate(groups) if g not in held]
        te = [i for i, g in enumerate(groups) if g in held]
        dtr, dte = dataset(tr), dataset(te)
        booster = lgb.train(params, dtr, num_boost_round=1000, valid_sets=[dte],
                            callbacks=[lgb.early_stopping(100, verbose=False)])
        rounds = max(booster.best_iteration, 20)
    booster = lgb.train(params, dataset(range(len(X))), num_boost_round=rounds)
    return booster, rounds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/foursquare-nyc")
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--ablation", action="store_true", help="refit without each feature group in turn")
    ap.add_argument("--cf", action="store_true", help="add the fold-in ALS score (the Swift model has it)")
    ap.add_argument("--hole-weeks", type=int, default=0,
                    help="robustness check: drop the user's last N weeks of training from the query history")
    ap.add_argument("--extra", default="", help="comma-separated EXTRA features added to the linear model")
    ap.add_argument("--variants", nargs="?", const="all", default=None,
                    help="baseline + each EXTRA feature alone (or a comma-separated subset)")
    ap.add_argument("--greedy", type=int, default=0, help="forward selection of up to N EXTRA features")
    ap.add_argument("--pool", default="", help="comma-separated EXTRA features greedy may pick (default all)")
    ap.add_argument("--lgbm", action="store_true", help="LightGBM lambdarank on the base features")
    ap.add_argument("--lgbm-extra", action="store_true", help="LightGBM also on base + --extra features")
    ap.add_argument("--lgbm-params", default="{}", help="JSON overrides of the LightGBM parameters")
    ap.add_argument("--cv", action="store_true", help="also report user-fold CV on the fitting instances")
    ap.add_argument("--json", help="write the metrics here")
    ap.add_argument("--set", action="append", default=[], help="override a parameter: name=json-value")
    args = ap.parse_args()

    for item in args.set:
        name, value = item.split("=", 1)
        P[name] = json.loads(value)
    t0 = time.time()
    rows = load_train(find(args.data, "checkins_tsmc2014_format.tsv"))
    world = World(rows, P)
    queries = load_queries(find(args.data, f"getnext_NYC_{args.split}.csv"), set(world.users), world.index)
    print(f"train {len(rows)} check-ins, {len(world.users)} users, {world.S} stores; {len(queries)} {args.split} queries",
          f"({time.time() - t0:.1f} s)")
    t_from = CUTOFF - P["fit_weeks"] * 7 * DAY
    base = np.array([n in FEATURES and (args.cf or n != "cf") for n in ALL])
    if args.cf:
        world.cf_table = cf_table(world, t_from)
    X, Y, G = training_instances(world, t_from)
    if args.cf:
        world.cf_table = cf_table(world, CUTOFF)
    V = query_instances(world, queries, args.hole_weeks)
    recall = np.mean([t in set(c) for _, _, c, _, t, _ in V])
    print(f"{len(X)} fitting instances; candidate recall {recall:.4f}, mean {np.mean([len(c) for _, _, c, _, _, _ in V]):.0f}"
          f" candidates ({time.time() - t0:.1f} s)")

    def ranks_of(score):
        return [rank_of(c, score(F), t) for _, _, c, F, t, _ in V]

    def linear(mask):
        w = fit(X, Y, P["l2"], mask)
        return w, ranks_of(lambda F: F @ w)

    results = {}

    def report(name, ranks, mask=None, extra=None):
        m = metrics(ranks)
        m.update(paired(ranks, base_ranks))
        if args.cv and mask is not None:
            cv = train_cv(X, Y, G, P["l2"], mask)
            m["cv_acc1"], m["cv_mrr10"] = cv["acc1"], cv["mrr10"]
        m.update(extra or {})
        results[name] = m
        cv = f"  cv Acc@1 {m['cv_acc1']:.4f} MRR@10 {m['cv_mrr10']:.4f}" if "cv_mrr10" in m else ""
        print(f"{name:28s} {fmt(m)}  dMRR {m['d_mrr10']:+.4f}±{m['se_mrr10']:.4f} dAcc1 {m['d_acc1']:+.4f}{cv}",
              f"({time.time() - t0:.0f} s)", flush=True)
        return m

    w0, base_ranks = linear(base)
    print("weights", json.dumps({n: round(float(x), 3) for n, x in zip(ALL, w0) if x != 0}))
    report("linear", base_ranks, base)
    if args.ablation:
        for group, names in GROUPS.items():
            if group == "cf" and not args.cf:
                continue
            mask = base & np.array([n not in names for n in ALL])
            report("-" + group, linear(mask)[1], mask)

    extra = [e for e in args.extra.split(",") if e]
    if extra:
        mask = base | np.array([n in extra for n in ALL])
        w, r = linear(mask)
        print("weights", json.dumps({n: round(float(x), 3) for n, x in zip(ALL, w) if x != 0}))
        report("linear+" + ",".join(extra), r, mask)
        if len(extra) > 1:
            for e in extra:  # leave one out
                m = base | np.array([n in extra and n != e for n in ALL])
                report("  -" + e, linear(m)[1], m)

    if args.variants:
        for e in EXTRA if args.variants == "all" else args.variants.split(","):
            mask = base | np.array([n == e for n in ALL])
            report("+" + e, linear(mask)[1], mask)

    if args.greedy:
        chosen, current = [], base.copy()
        best = train_cv(X, Y, G, P["l2"], current)["mrr10"] if args.cv else metrics(base_ranks)["mrr10"]
        for _ in range(args.greedy):
            scores = {}
            for e in (args.pool.split(",") if args.pool else EXTRA):
                if e in chosen:
                    continue
                m = current | np.array([n == e for n in ALL])
                scores[e] = train_cv(X, Y, G, P["l2"], m)["mrr10"] if args.cv else metrics(linear(m)[1])["mrr10"]
            e, s = max(scores.items(), key=lambda kv: kv[1])
            print(f"greedy: best next {e} -> {s:.4f} (was {best:.4f})", flush=True)
            if s <= best:
                break
            chosen.append(e)
            best = s
            current |= np.array([n == e for n in ALL])
            report("  greedy+" + e, linear(current)[1], None)
        print("greedy chose", ",".join(chosen))
        report("greedy:" + ",".join(chosen), linear(current)[1], current)

    if args.lgbm or args.lgbm_extra:
        masks = {"lgbm(base)": base} if args.lgbm else {}
        if args.lgbm_extra and extra:
            masks["lgbm(base+extra)"] = base | np.array([n in extra for n in ALL])
        for name, mask in masks.items():
            for seed in (0,):
                t1 = time.time()
                booster, rounds = lgbm_ranker(X, Y, G, mask, seed=seed, **json.loads(args.lgbm_params))
                r = ranks_of(lambda F: booster.predict(F[:, mask]))
                report(f"{name} {rounds} rounds", r, None, {"rounds": rounds, "fit_seconds": time.time() - t1})
                names = [n for n, k in zip(ALL, mask) if k]
                gain = booster.feature_importance("gain")
                print("  gain", json.dumps({n: round(float(g) / gain.sum(), 3) for n, g in
                                            sorted(zip(names, gain), key=lambda kv: -kv[1])[:12]}))
                # which pairs of features the trees combine (parent split -> child split, by child gain)
                df = booster.trees_to_dataframe()
                nodes = df.set_index("node_index")
                pairs = Counter()
                for _, row in df[df["parent_index"].notna() & df["split_feature"].notna()].iterrows():
                    parent = nodes.loc[row["parent_index"], "split_feature"]
                    pair = tuple(sorted((names[int(parent.split("_")[1])], names[int(row["split_feature"].split("_")[1])])))
                    pairs[pair] += row["split_gain"]
                total = sum(pairs.values())
                print("  pairs", json.dumps({"x".join(k): round(v / total, 3) for k, v in pairs.most_common(15)}))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"split": args.split, "cf": args.cf, "params": P, "results": results}, f, indent=1)


def cf_table(world, t_max):
    """Store factors from implicit ALS on check-ins before t_max (so fitting never sees its targets)."""
    import scipy.sparse as sp
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import implicit
    users = sorted(world.users)
    r, c = [], []
    for i, u in enumerate(users):
        for t, s in world.users[u]:
            if t < t_max:
                r.append(i)
                c.append(s)
    M = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), world.S))
    M.sum_duplicates()
    M.data = 1 + world.p["cf_alpha"] * M.data - 1  # implicit adds 1: confidence = 1 + alpha * count
    model = implicit.als.AlternatingLeastSquares(factors=world.p["cf_factors"], regularization=world.p["cf_reg"],
                                                 iterations=15, random_state=0)
    model.fit(M, show_progress=False)
    Y = np.asarray(model.item_factors)
    return Y, Y.T @ Y


if __name__ == "__main__":
    main()
