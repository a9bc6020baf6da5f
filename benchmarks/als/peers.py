"""The ALS benchmark's peers on the same triplet file: benfred's `implicit` and Spark MLlib.

    python peers.py implicit --data FILE [--threads N] [model options] [--dump DIR]
    python peers.py spark --data FILE --csv FILE [model options] [--dump DIR]

Both print `name: value` lines (seconds, MiB) for benchmarks/als/run. Model options are the ones
bench-als takes: --factors, --iterations, --regularization, --alpha, --seed.

How the models are matched to GeoPredict's (confidence c = 1 + alpha * count, lambda added to every
row's normal equations):
- implicit multiplies its input by its own `alpha`; we pass `1 + alpha * count` as the matrix and
  alpha = 1, which gives the same c (the feasibility notes' advice). Solver: its default conjugate
  gradient (3 steps), float32 factors, the same lambda.
- Spark computes c = 1 + alpha * |rating| itself (we pass the counts and alpha), but it scales lambda by
  the number of ratings of each row (ALS-WR). There is no exact match for a constant lambda; we pass
  regParam = lambda / (triplets / users), so that a user with the mean number of stores gets our
  lambda. (Stores, with far more ratings each, are then regularised much more than ours.)
"""
import argparse
import os
import resource
import sys
import time

import numpy as np


def load_triplets(path):
    with open(path, "rb") as handle:
        if handle.read(8) != b"GPALSDAT":
            sys.exit(f"{path} is not a GPALSDAT file")
        users, stores, n = np.frombuffer(handle.read(24), dtype="<i8")
        columns = np.frombuffer(handle.read(12 * int(n)), dtype="<i4").reshape(3, int(n))
    return int(users), int(stores), columns[0], columns[1], columns[2]


def status_kib(field, pid="self"):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid="self"):
    """User plus system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def reset_peak(pid="self"):
    """Resets VmHWM to the current RSS (Linux 4.0+), so that a later VmHWM is the peak since now."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def run_implicit(arguments):
    # One BLAS thread: implicit parallelises over users itself (and warns otherwise).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import scipy.sparse
    import implicit
    from implicit.cpu.als import AlternatingLeastSquares, calculate_loss

    start = time.perf_counter()
    user_count, store_count, users, stores, counts = load_triplets(arguments.data)
    confidence = (1.0 + arguments.alpha * counts).astype(np.float32)
    matrix = scipy.sparse.csr_matrix((confidence, (users, stores)), shape=(user_count, store_count), dtype=np.float32)
    del users, stores, counts, confidence
    load_seconds = time.perf_counter() - start
    rss_before = status_kib("VmRSS")
    load_peak = status_kib("VmHWM")
    reset_peak()

    cpu_before = cpu_seconds()
    model = AlternatingLeastSquares(
        factors=arguments.factors, regularization=arguments.regularization, alpha=1.0,
        iterations=arguments.iterations, use_cg=True, use_native=True, calculate_training_loss=False,
        num_threads=arguments.threads, random_state=arguments.seed, dtype=np.float32,
    )
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    fit_seconds = time.perf_counter() - start
    fit_cpu = cpu_seconds() - cpu_before
    fit_peak = status_kib("VmHWM")

    print(f"implicit_version: {implicit.__version__}")
    # 0 is implicit's default: one thread per core.
    print(f"threads: {arguments.threads if arguments.threads > 0 else os.cpu_count()}")
    print(f"threads_requested: {arguments.threads}")
    print(f"load_seconds: {load_seconds:.3f}")
    print(f"fit_seconds: {fit_seconds:.3f}")
    print(f"fit_cpu_seconds: {fit_cpu:.3f}")
    print(f"rss_before_fit_mib: {rss_before / 1024:.3f}")
    print(f"fit_peak_rss_mib: {fit_peak / 1024:.3f}")
    print(f"fit_memory_mib: {(fit_peak - rss_before) / 1024:.3f}")
    print(f"peak_rss_mib: {max(fit_peak, load_peak) / 1024:.3f}")
    if arguments.dump:
        loss = calculate_loss(matrix, model.user_factors, model.item_factors, arguments.regularization)
        print(f"training_loss: {loss:.6f}")
        np.save(os.path.join(arguments.dump, f"{arguments.dump_name}-users.npy"), model.user_factors)
        np.save(os.path.join(arguments.dump, f"{arguments.dump_name}-stores.npy"), model.item_factors)
    sys.stdout.flush()


def java_descendants():
    """Process ids of the java processes started by this one (Spark's driver JVM)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(entry), name))
    found, queue = [], [os.getpid()]
    while queue:
        for pid, name in children.get(queue.pop(), []):
            queue.append(pid)
            if name == "java":
                found.append(pid)
    return found


def run_spark(arguments):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import pyspark
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession
    from pyspark.sql.types import IntegerType, StructField, StructType

    user_count, store_count, users, _, _ = load_triplets(arguments.data)
    mean_ratings_per_user = len(users) / max(1, len(np.unique(users)))
    reg_param = arguments.regularization / mean_ratings_per_user

    start = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{arguments.threads or '*'}]").appName("geopredict-als-bench")
        .config("spark.driver.memory", arguments.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    jvm_seconds = time.perf_counter() - start

    start = time.perf_counter()
    schema = StructType([StructField(name, IntegerType(), False) for name in ("user", "store", "count")])
    frame = spark.read.csv(arguments.csv, schema=schema).cache()
    rows = frame.count()
    load_seconds = time.perf_counter() - start

    java = java_descendants()
    rss_before = sum(status_kib("VmRSS", pid) for pid in java)
    load_peak = sum(status_kib("VmHWM", pid) for pid in java)
    for pid in java:
        reset_peak(pid)
    jvm_cpu_before = sum(cpu_seconds(pid) for pid in java)
    als = ALS(
        rank=arguments.factors, maxIter=arguments.iterations, regParam=reg_param, alpha=arguments.alpha,
        implicitPrefs=True, userCol="user", itemCol="store", ratingCol="count", seed=arguments.seed,
    )
    start = time.perf_counter()
    model = als.fit(frame)
    fit_seconds = time.perf_counter() - start
    jvm_fit_peak_kib = sum(status_kib("VmHWM", pid) for pid in java)
    jvm_fit_cpu = sum(cpu_seconds(pid) for pid in java) - jvm_cpu_before

    print(f"pyspark_version: {pyspark.__version__}")
    print(f"threads: {arguments.threads}")
    print(f"rows: {rows}")
    print(f"reg_param: {reg_param:.6g}")
    print(f"jvm_start_seconds: {jvm_seconds:.3f}")
    print(f"load_seconds: {load_seconds:.3f}")
    print(f"fit_seconds: {fit_seconds:.3f}")
    print(f"fit_cpu_seconds: {jvm_fit_cpu:.3f}")
    print(f"rss_before_fit_mib: {rss_before / 1024:.3f}")
    print(f"jvm_fit_peak_rss_mib: {jvm_fit_peak_kib / 1024:.3f}")
    print(f"fit_memory_mib: {(jvm_fit_peak_kib - rss_before) / 1024:.3f}")
    print(f"jvm_peak_rss_mib: {max(jvm_fit_peak_kib, load_peak) / 1024:.3f}")
    print(f"jvm_processes: {len(java)}")
    print(f"python_peak_rss_mib: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.3f}")
    if arguments.dump:
        stores = np.zeros((store_count, arguments.factors), dtype=np.float32)
        for row in model.itemFactors.collect():
            stores[row["id"]] = row["features"]
        sample = sample_users(user_count)
        users_out = np.zeros((len(sample), arguments.factors), dtype=np.float32)
        position = {user: index for index, user in enumerate(sample)}
        wanted = spark.createDataFrame([(int(u),) for u in sample], ["id"])
        for row in model.userFactors.join(wanted, "id").collect():
            users_out[position[row["id"]]] = row["features"]
        np.save(os.path.join(arguments.dump, "spark-stores.npy"), stores)
        np.save(os.path.join(arguments.dump, "spark-sample-users.npy"), users_out)
    sys.stdout.flush()
    spark.stop()


def sample_users(user_count, size=2000):
    """The users the quality comparison looks at: evenly spaced, the same in every script."""
    return np.linspace(0, user_count - 1, num=min(size, user_count)).astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("peer", choices=["implicit", "spark"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--csv", help="the same triplets as CSV (Spark reads this)")
    parser.add_argument("--threads", type=int, default=0, help="implicit: 0 = its default, one per core")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--regularization", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--dump", help="directory for the trained factors (quality comparison)")
    parser.add_argument("--dump-name", default="implicit", help="file name prefix of implicit's dump")
    arguments = parser.parse_args()
    if arguments.peer == "implicit":
        run_implicit(arguments)
    else:
        if not arguments.csv:
            parser.error("spark needs --csv")
        run_spark(arguments)


if __name__ == "__main__":
    main()
