"""Combines the raw runs of bench-collectives and bench_collectives.py into one side-by-side report.

Reads every round's JSON of both implementations, pools the repetitions of each (case, size), and
compares them. On a shared machine the repetitions are far from normal (most are quick, some are
stretched by other jobs' time slices), so "slower beyond noise" is decided with a rank-sum
(Mann-Whitney) test on the pooled repetitions: Swift is called slower or faster at a size only when
the test rejects "neither tends to be faster" at the 1 % level. Prints a Markdown table and writes
the combined JSON with the machine it ran on.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
from collections import defaultdict

IMPLEMENTATIONS = ("swift", "mpi4py")


def load_runs(paths):
    """{implementation: [run report, ...]} from the raw JSON files."""
    runs = defaultdict(list)
    for path in paths:
        with open(path) as file:
            run = json.load(file)
        runs[run["implementation"]].append(run)
    missing = [name for name in IMPLEMENTATIONS if not runs[name]]
    if missing:
        raise SystemExit(f"report.py: no runs of {', '.join(missing)}")
    return runs


def pooled_samples(runs):
    """{(operation, variant, bytes): {"api", "iterations", "warmup", "samples"}} over all rounds."""
    pooled = {}
    for run in runs:
        for m in run["measurements"]:
            key = (m["operation"], m["variant"], m["bytes"])
            entry = pooled.setdefault(key, {"api": m["api"], "iterations": m["iterations"],
                                            "warmup": m["warmup"], "samples": []})
            entry["samples"] += m["seconds_per_call"]
    return pooled


def summary(entry, size_bytes):
    samples = sorted(entry["samples"])
    quartile_1, median, quartile_3 = statistics.quantiles(samples, n=4, method="inclusive")
    return {
        "api": entry["api"], "iterations": entry["iterations"], "warmup": entry["warmup"],
        "median_us": median * 1e6, "p25_us": quartile_1 * 1e6, "p75_us": quartile_3 * 1e6,
        "min_us": samples[0] * 1e6, "bandwidth_mb_per_s": size_bytes / median / 1e6,
        "repetitions": len(samples), "seconds_per_call": entry["samples"],
    }


def probability_swift_faster(swift_samples, mpi4py_samples):
    """P(a Swift repetition is quicker than an mpi4py one), ties counting half, and the rank-sum z."""
    wins = sum((s < p) + 0.5 * (s == p) for s in swift_samples for p in mpi4py_samples)
    n, m = len(swift_samples), len(mpi4py_samples)
    z = (wins - n * m / 2) / math.sqrt(n * m * (n + m + 1) / 12)
    return wins / (n * m), z


def verdict(z):
    """Two-sided rank-sum test at the 1 % level (|z| > 2.576)."""
    if z < -2.576:
        return "slower"
    if z > 2.576:
        return "faster"
    return "no clear difference"


def compare(runs):
    swift, mpi4py = pooled_samples(runs["swift"]), pooled_samples(runs["mpi4py"])
    if swift.keys() != mpi4py.keys():
        raise SystemExit("report.py: the two implementations measured different cases or sizes")
    comparisons = []
    for key in sorted(swift, key=lambda k: (k[0], k[1] != "separate-buffers", k[2])):
        a, b = swift[key], mpi4py[key]
        if (a["iterations"], a["warmup"]) != (b["iterations"], b["warmup"]):
            raise SystemExit(f"report.py: different iteration counts for {key}")
        operation, variant, size_bytes = key
        s, p = summary(a, size_bytes), summary(b, size_bytes)
        probability, z = probability_swift_faster(a["samples"], b["samples"])
        comparisons.append({
            "operation": operation, "variant": variant, "bytes": size_bytes, "swift": s, "mpi4py": p,
            "ratio_swift_to_mpi4py": s["median_us"] / p["median_us"],
            "probability_swift_faster": probability, "rank_sum_z": z, "swift_is": verdict(z),
        })
    return comparisons


def human_size(size_bytes):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= scale:
            return f"{size_bytes // scale} {unit}"
    return f"{size_bytes} B"


def markdown_table(comparisons):
    lines = [
        "| operation | variant | size | Swift µs | mpi4py µs | Swift/mpi4py | Swift MB/s | mpi4py MB/s "
        "| best Swift µs | best mpi4py µs | P(Swift faster) | Swift is |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for c in comparisons:
        s, p = c["swift"], c["mpi4py"]
        lines.append(
            f"| {c['operation']} | {c['variant']} | {human_size(c['bytes'])} | {s['median_us']:,.2f} | "
            f"{p['median_us']:,.2f} | {c['ratio_swift_to_mpi4py']:.2f} | {s['bandwidth_mb_per_s']:,.1f} | "
            f"{p['bandwidth_mb_per_s']:,.1f} | {s['min_us']:,.2f} | {p['min_us']:,.2f} | "
            f"{c['probability_swift_faster']:.2f} | {c['swift_is']} |")
    return "\n".join(lines)


def first_line(command):
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        return f"unavailable ({error})"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def machine(options, mpi4py_run):
    with open("/proc/cpuinfo") as file:
        cpu_lines = file.read().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("model name")]
    caches = [line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("cache size")]
    with open("/proc/meminfo") as file:
        memory_kib = int(next(line.split()[1] for line in file if line.startswith("MemTotal:")))
    linked = subprocess.run(["ldd", options.swift_binary], capture_output=True, text=True).stdout
    libmpi = [line.split("=>")[1].split("(")[0].strip() for line in linked.splitlines() if "libmpi.so" in line]
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cpu_cache": caches[0] if caches else "unknown",
        "logical_cores": len(models), "memory_gib": round(memory_kib / 2**20, 1),
        "kernel": platform.release(), "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "open_mpi_version": first_line(["mpirun", "--version"]),
        "swift_version": first_line(["swift", "--version"]),
        "swift_binary_links": libmpi[0] if libmpi else "unknown",
        "mpi4py_version": mpi4py_run["mpi4py_version"], "numpy_version": mpi4py_run["numpy_version"],
        "python_version": mpi4py_run["python_version"],
        "mpi4py_mpi_library": mpi4py_run["mpi_library_version"],
        "load_average_before": options.load_before,
        "load_average_after": "%.2f %.2f %.2f" % os.getloadavg(),
        "cpu_busy_percent_before_each_run": read_conditions(options.conditions),
    }


def read_conditions(path):
    if not path:
        return []
    with open(path) as file:
        header, *rows = [line.rstrip("\n").split("\t") for line in file if line.strip()]
    return [dict(zip(header, row)) for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="raw JSON files of both implementations")
    parser.add_argument("--output", required=True, help="the combined JSON to write")
    parser.add_argument("--launcher", required=True, help="the mpirun command line both ran under")
    parser.add_argument("--load-before", required=True, help="1, 5 and 15 minute load averages at the start")
    parser.add_argument("--swift-binary", required=True, help="bench-collectives, to record the libmpi it links")
    parser.add_argument("--conditions", help="TSV of the CPU load measured before each program ran")
    options = parser.parse_args()

    runs = load_runs(options.runs)
    comparisons = compare(runs)
    slower = [c for c in comparisons if c["swift_is"] == "slower"]
    result = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(options, runs["mpi4py"][0]),
        "settings": {
            "ranks": runs["swift"][0]["ranks"], "launcher": options.launcher,
            "rounds": len(runs["swift"]), "repetitions_per_round": runs["swift"][0]["repetitions"],
            "thread_level": {name: runs[name][0]["thread_level"] for name in IMPLEMENTATIONS},
            "huge_page_advice": {name: runs[name][0].get("huge_page_advice") for name in IMPLEMENTATIONS},
            "timing": "barrier, then N calls timed with MPI_Wtime; slowest rank; median over repetitions",
            "bandwidth": "bytes per rank / median seconds per call, MB = 10^6 bytes",
            "verdict": "two-sided Mann-Whitney rank-sum test on pooled repetitions, 1 % level",
        },
        "goal_swift_never_slower": not slower,
        "comparisons": comparisons,
    }
    with open(options.output, "w") as file:
        json.dump(result, file, indent=2)
        file.write("\n")

    m = result["machine"]
    print(f"\n{m['cpu_model']}, {m['logical_cores']} cores, {m['memory_gib']} GiB; {m['open_mpi_version']}; "
          f"{m['swift_version']}; mpi4py {m['mpi4py_version']}; load {m['load_average_before']} -> "
          f"{m['load_average_after']}; CPUs busy before each program: "
          f"{', '.join(c['cpu_busy_percent_before'] + '%' for c in m['cpu_busy_percent_before_each_run'])}\n")
    print(markdown_table(comparisons))
    faster = sum(c["swift_is"] == "faster" for c in comparisons)
    if slower:
        verdict_text = "does NOT hold: Swift is slower beyond noise at " + ", ".join(
            f"{c['operation']}/{c['variant']} {human_size(c['bytes'])}" for c in slower)
    else:
        verdict_text = "holds: Swift is slower beyond noise nowhere"
    print(f"\nGoal 'never slower than mpi4py at any size' {verdict_text} "
          f"(faster at {faster}, no clear difference at {len(comparisons) - faster - len(slower)} "
          f"of {len(comparisons)}; rank-sum test, 1 % level).")
    print(f"Results: {options.output}")


if __name__ == "__main__":
    main()
