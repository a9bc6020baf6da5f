"""`geopredict evaluate` end to end, as a researcher runs it, on check-ins generated here (the real
Foursquare files stay out of the tests): a TSMC training file and GETNext-layout validation and test
files, at 1 and 2 ranks.

Checks: the tables (the model, the three baselines, the shopping slice, the as-served and
earlier-trajectories tables) are printed; the predictions CSV has 10 ranked stores per scored
trajectory and is byte-identical at 1 and 2 ranks, as are the metrics; on users with strong habits,
weeks after training, the model beats the baselines; `--all-protocols --time-folds` prints every protocol and
the time-ordered folds, the same at 1 and 2 ranks and consistent with the plain tables; malformed lines are counted with their line numbers and do not
stop the run; a wrong format name is refused with a message.

  evaluate_cli.py --binary .build/debug/geopredict
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

from live_checks import Checks

CUTOFF = datetime(2012, 11, 1, tzinfo=timezone.utc)
CATEGORIES = ["Clothing Store", "Grocery Store", "Coffee Shop", "Office", "Gym / Fitness Center", "Bar",
              "Pharmacy", "Park"]


def venues(rng, count=60):
    """(venue id, category, latitude, longitude) around Manhattan."""
    return [(f"v{index:03d}", CATEGORIES[index % len(CATEGORIES)], 40.70 + rng.random() * 0.1,
             -74.02 + rng.random() * 0.08) for index in range(count)]


def check_ins(rng, places, users=40, days=130):
    """Each user has a few habitual venues visited in a fixed daily order, plus some noise, from
    `days` days before the cut-off to 60 days after it. Returns (user, venue, time) sorted by time."""
    start = CUTOFF - timedelta(days=days - 60)
    rows = []
    for user in range(1, users + 1):
        habits = rng.sample(places, 4)
        for day in range(days):
            if rng.random() < 0.35:
                continue
            moment = start + timedelta(days=day, hours=7 + rng.random())
            for step, place in enumerate(habits):
                if rng.random() < 0.2:
                    place = rng.choice(places)
                rows.append((str(user), place, moment + timedelta(hours=3 * step, minutes=rng.randint(0, 50))))
    rows.sort(key=lambda row: row[2])
    return rows


def write_tsmc(path, rows):
    with open(path, "w") as out:
        for user, (venue, category, latitude, longitude), moment in rows:
            stamp = moment.strftime("%a %b %d %H:%M:%S +0000 %Y")
            out.write(f"{user}\t{venue}\tcat-{category}\t{category}\t{latitude}\t{longitude}\t-300\t{stamp}\n")


def write_getnext(path, rows):
    """GETNext's layout: one trajectory per user and day (the generator's visits of a day)."""
    header = ["user_id", "POI_id", "POI_catid", "POI_catid_code", "POI_catname", "latitude", "longitude",
              "timezone", "UTC_time", "local_time", "day_of_week", "norm_in_day_time", "trajectory_id",
              "norm_day_shift", "norm_relative_time"]
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for user, (venue, category, latitude, longitude), moment in rows:
            local = moment - timedelta(hours=5)
            trajectory = f"{user}_{(moment - CUTOFF).days}"
            writer.writerow([user, venue, f"cat-{category}", CATEGORIES.index(category), category, latitude, longitude,
                             -300, moment.strftime("%Y-%m-%d %H:%M:%S+00:00"), local.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                             local.weekday(), 0.5, trajectory, 0, 0.5])


def evaluate(binary, ranks, folder, extra=(), predictions=None, metrics=None):
    command = [binary, "evaluate", "--train", f"{folder}/train.tsv", "--train-format", "tsmc",
               "--validation", f"{folder}/val.csv", "--test", f"{folder}/test.csv", "--test-format", "getnext",
               "--train-before", CUTOFF.strftime("%Y-%m-%dT%H:%M:%SZ"), "--top", "10", "--als-iterations", "3",
               "--recent-history", "--earlier-trajectories", *extra]
    if predictions:
        command += ["--predictions-out", predictions]
    if metrics:
        command += ["--json-out", metrics]
    if ranks > 1:
        command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), *command]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def check_all_protocols(checks, binary, folder, plain):
    """`--all-protocols --time-folds`: one table of every protocol at both query times with both rankers,
    and the time-ordered folds inside the training data; the same at 1 and 2 ranks, and its linear rows
    at the last check-in's time are the plain run's tables (`plain`: that run's metrics JSON)."""
    reports, outputs = {}, {}
    for ranks in (1, 2):
        path = f"{folder}/all{ranks}.json"
        result = evaluate(binary, ranks, folder, extra=("--all-protocols", "--time-folds", "2", "--fold-days", "20",
                                                         "--no-timing"), metrics=path)
        checks.check(result.returncode == 0, f"--all-protocols --time-folds at {ranks} rank(s) exits 0", result.stderr[-1500:])
        if result.returncode != 0:
            return
        reports[ranks], outputs[ranks] = json.load(open(path)), result.stdout
    report, out = reports[1], outputs[1]
    rows = report["all_protocols"]
    rankers = sorted({row["ranker"] for row in rows})
    keys = {(row["protocol"], row["query_time"], row["ranker"]) for row in rows}
    checks.check(len(rows) == 6 * len(rankers) == len(keys) and all(row["validation"] and row["test"] for row in rows),
                 f"the protocol table has every protocol x query time x ranker ({rankers}) with validation and test", rows[:2])
    by_key = {(row["protocol"], row["query_time"], row["ranker"]): row for row in rows}
    same = all(by_key[(name, "last", "linear")]["test"] == plain[table]["metrics"]["all"]["GeoPredict model"]
               for name, table in (("trajectory only", "test"), ("as served", "test_as_served"),
                                   ("earlier trajectories", "test_earlier_trajectories")))
    checks.check(same, "its linear rows at the last check-in's time equal the plain run's three tables")
    checks.check("| Protocol | query time | fit time | ranker | validation | test |" in out
                 and "ROTAN (KDD 2024) with the target time, as published" in out and "| goal (NYC test)" in out,
                 "the table is printed as Markdown beside the published rows and the goals", out[-2500:])
    folds = report["time_folds"]
    checks.check(len(folds["folds"]) == 2 and all(fold["sessions"] > 20 for fold in folds["folds"])
                 and len(folds["rows"]) == 4 * len(rankers)
                 and all(len(row["folds"]) == 2 and row["validation"] for row in folds["rows"]),
                 "the time-ordered folds score every choice on 2 folds of held-out training sessions and on validation",
                 folds["folds"])
    for row in folds["rows"]:
        if row["fit_time"] == row["query_time"]:
            match = by_key[("trajectory only", row["query_time"], row["ranker"])]["validation"]
            checks.check(row["validation"] == match, f"the folds' validation column ({row['query_time']}, "
                         f"{row['ranker']}) is the protocol table's")
    checks.check(reports[1]["all_protocols"] == reports[2]["all_protocols"]
                 and reports[1]["time_folds"] == reports[2]["time_folds"],
                 "the protocol table and the folds are identical at 1 and 2 ranks")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    arguments = parser.parse_args()
    checks = Checks("evaluate-cli")
    rng = random.Random(11)
    folder = tempfile.mkdtemp(prefix="geopredict-evaluate-")
    try:
        rows = check_ins(rng, venues(rng))
        write_tsmc(f"{folder}/train.tsv", rows)
        validation_end = CUTOFF + timedelta(days=30)
        write_getnext(f"{folder}/val.csv", [row for row in rows if CUTOFF <= row[2] < validation_end])
        write_getnext(f"{folder}/test.csv", [row for row in rows if row[2] >= validation_end])
        # Two malformed lines in the training file: counted and reported, never fatal.
        with open(f"{folder}/train.tsv", "a") as out:
            out.write("not a check-in\n1\tv001\tcat\tShop\tnorth\t-74.0\t-300\tTue Apr 03 18:00:09 +0000 2012\n")

        outputs = {}
        for ranks in (1, 2):
            result = evaluate(arguments.binary, ranks, folder, predictions=f"{folder}/p{ranks}.csv",
                              metrics=f"{folder}/m{ranks}.json")
            outputs[ranks] = result.stdout
            checks.check(result.returncode == 0, f"evaluate at {ranks} rank(s) exits 0", result.stderr[-1500:])
        out = outputs[1]
        checks.check(all(name in out for name in ("GeoPredict model", "most popular", "user's most frequent",
                                                   "last-venue transitions", "shopping slice")),
                     "the table lists the model, the three baselines and the shopping slice", out[-1500:])
        checks.check("test as served" in out and "test with earlier trajectories" in out,
                     "the as-served and earlier-trajectories tables are printed", out[-800:])
        lines_after = out.split("train.tsv: 2 bad line(s) skipped", 1)[-1].splitlines()[1:3]
        checks.check("train.tsv: 2 bad line(s) skipped" in out and len(lines_after) == 2
                     and all(line.strip().startswith("line ") for line in lines_after),
                     "the two malformed training lines are reported, each with its place", out[:1200])

        with open(f"{folder}/p1.csv") as predictions:
            lines = predictions.read().splitlines()
        trajectories = {line.split(",")[0] for line in lines[1:]}
        checks.check(lines[0] == "trajectory_id,rank,venue_id,score" and len(trajectories) > 50
                     and len(lines) - 1 == 10 * len(trajectories),
                     f"the predictions CSV has 10 ranked stores for each of {len(trajectories)} trajectories", lines[:3])
        checks.check(open(f"{folder}/p1.csv").read() == open(f"{folder}/p2.csv").read(),
                     "the predictions are byte-identical at 1 and 2 ranks")
        metrics = [json.load(open(f"{folder}/m{ranks}.json")) for ranks in (1, 2)]
        same = all(metrics[0][key]["metrics"] == metrics[1][key]["metrics"]
                   for key in ("test", "test_as_served", "test_earlier_trajectories"))
        checks.check(same, "the metrics of all three tables are identical at 1 and 2 ranks")
        # The test file lies 30 to 60 days after the cut-off, with nothing in between in the history: a
        # model that reads the pause as stale habits ranks the habits last (it did, Acc@1 0.105, before
        # recency ran on the activity clock).
        table = metrics[0]["test"]["metrics"]["all"]
        model, popular, frequent = table["GeoPredict model"], table["most popular"], table["user's most frequent"]
        checks.check(model["acc1"] > max(popular["acc1"], frequent["acc1"]) + 0.1 and math.isfinite(model["mrr10"]),
                     f"on habitual users weeks after training the model beats most-popular and the user's most frequent "
                     f"(Acc@1 {model['acc1']:.3f} vs {popular['acc1']:.3f}, {frequent['acc1']:.3f})", table)

        check_all_protocols(checks, arguments.binary, folder, metrics[0])

        refused = evaluate(arguments.binary, 1, folder, extra=("--train-format", "nope"))
        checks.check(refused.returncode != 0 and "--train-format" in refused.stderr,
                     "a wrong format name is refused with a message naming the option", refused.stderr[-400:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"evaluate-cli: passed={checks.passed} failed={checks.failed}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
