"""mpi4py counterpart of bench-collectives: the same cases, sizes and timing, through mpi4py's buffer API.

Cases: ``Allreduce(send, recv, op=SUM)`` and ``Allreduce(IN_PLACE, buf, op=SUM)`` on float64 numpy
arrays, and ``Alltoallv`` of uint8 numpy arrays split evenly over the ranks, into a preallocated
receive array (what mpi4py users write for speed). For each case and each size of ``--schedule``: one
checked call, the warm-up calls, then ``--repetitions`` times a barrier and ``iterations`` calls timed
with ``MPI.Wtime``, keeping the slowest rank's time per call. Rank 0 writes every repetition as JSON.

MPI is initialised at the thread level the Swift benchmark asks for (funneled), so that both run on
the same MPI configuration; mpi4py's default would be MPI_THREAD_MULTIPLE.
"""

import argparse
import json
import platform
import sys

import mpi4py

mpi4py.rc.thread_level = "funneled"

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

THREAD_LEVELS = {
    MPI.THREAD_SINGLE: "single",
    MPI.THREAD_FUNNELED: "funneled",
    MPI.THREAD_SERIALIZED: "serialized",
    MPI.THREAD_MULTIPLE: "multiple",
}


class WrongResult(Exception):
    """A collective returned values other than the expected ones: the timings would be meaningless."""


def expect_all(values, expected, api):
    if not np.all(values == expected):
        wrong = values[values != expected][0]
        raise WrongResult(f"{api} gave {wrong} where {expected} was expected")


def even_share(total, rank, size):
    """Rank ``rank``'s part when ``total`` items are split evenly, the first ranks taking one more."""
    return total // size + (1 if rank < total % size else 0)


def marker(source, destination):
    """The byte that ``source`` sends to ``destination``, so a misplaced block is noticed."""
    return (16 * source + destination + 1) % 256


def allreduce_separate_buffers(comm, size_bytes):
    """``Allreduce(send, recv, op=SUM)`` on float64 into a separate, reused receive array."""
    count = size_bytes // 8
    send = np.full(count, comm.rank + 1, dtype=np.float64)
    recv = np.zeros(count, dtype=np.float64)
    comm.Allreduce(send, recv, op=MPI.SUM)
    expect_all(recv, comm.size * (comm.size + 1) // 2, "Allreduce")
    return comm.Allreduce, (send, recv, MPI.SUM)


def allreduce_in_place(comm, size_bytes):
    """``Allreduce(IN_PLACE, buf, op=SUM)`` on float64, overwriting its input."""
    count = size_bytes // 8
    values = np.full(count, comm.rank + 1, dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
    expect_all(values, comm.size * (comm.size + 1) // 2, "Allreduce(IN_PLACE)")
    values[:] = 0  # zeros stay zeros, so repeated in-place sums never grow towards infinity
    return comm.Allreduce, (MPI.IN_PLACE, values, MPI.SUM)


def alltoallv_known_counts(comm, size_bytes):
    """``Alltoallv`` of uint8 with counts and displacements given, into a preallocated receive array."""
    size, rank = comm.size, comm.rank
    counts = [even_share(size_bytes, r, size) for r in range(size)]
    displacements = [sum(counts[:r]) for r in range(size)]
    send = np.concatenate([np.full(counts[d], marker(rank, d), dtype=np.uint8) for d in range(size)])
    receive_counts = [counts[rank]] * size
    receive_displacements = [counts[rank] * r for r in range(size)]
    recv = np.empty(sum(receive_counts), dtype=np.uint8)
    send_spec = [send, (counts, displacements), MPI.UINT8_T]
    recv_spec = [recv, (receive_counts, receive_displacements), MPI.UINT8_T]
    comm.Alltoallv(send_spec, recv_spec)
    for source in range(size):
        start = receive_displacements[source]
        expect_all(recv[start:start + receive_counts[source]], marker(source, rank), "Alltoallv")
    return comm.Alltoallv, (send_spec, recv_spec)


# (operation, variant, API, set-up) — operation and variant match the Swift cases' names.
CASES = [
    ("allreduce", "separate-buffers", "Allreduce(send, recv, op=SUM) on float64", allreduce_separate_buffers),
    ("allreduce", "in-place", "Allreduce(IN_PLACE, buf, op=SUM) on float64", allreduce_in_place),
    ("alltoallv", "known-counts", "Alltoallv([send, (counts, displs), UINT8_T], [recv, ...]) on uint8",
     alltoallv_known_counts),
]


def repeat_calls(function, arguments, times):
    for _ in range(times):
        function(*arguments)


def seconds_per_call(comm, function, arguments, iterations):
    """Barrier, then ``iterations`` calls timed with MPI.Wtime; the slowest rank's time per call."""
    comm.Barrier()
    start = MPI.Wtime()
    repeat_calls(function, arguments, iterations)
    elapsed = MPI.Wtime() - start
    return comm.allreduce(elapsed, op=MPI.MAX) / iterations


def measure(comm, case, schedule, repetitions):
    operation, variant, api, set_up = case
    measurements = []
    for entry in schedule:
        function, arguments = set_up(comm, entry["bytes"])
        repeat_calls(function, arguments, entry["warmup"])
        seconds = [seconds_per_call(comm, function, arguments, entry["iterations"]) for _ in range(repetitions)]
        measurements.append({
            "operation": operation, "variant": variant, "api": api, "bytes": entry["bytes"],
            "iterations": entry["iterations"], "warmup": entry["warmup"], "seconds_per_call": seconds,
        })
    return measurements


def parse_schedule(text):
    schedule = []
    for item in text.split(","):
        fields = item.split(":")
        if len(fields) != 3 or not all(field.isdigit() and int(field) > 0 for field in fields):
            raise argparse.ArgumentTypeError(f"schedule entry '{item}' is not BYTES:ITERATIONS:WARMUP")
        schedule.append(dict(zip(("bytes", "iterations", "warmup"), map(int, fields))))
    return schedule


def numpy_advises_huge_pages():
    """Whether numpy madvises arrays of 4 MiB or more to use transparent huge pages (its Linux default)."""
    multiarray = getattr(np, "_core", getattr(np, "core", None)).multiarray
    return bool(multiarray._get_madvise_hugepage())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", type=parse_schedule, required=True, help="BYTES:ITERATIONS:WARMUP[,...]")
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--output", help="JSON file written by rank 0 (default: standard output)")
    options = parser.parse_args()

    comm = MPI.COMM_WORLD
    measurements = []
    for case in CASES:
        measurements += measure(comm, case, options.schedule, options.repetitions)
    if comm.rank != 0:
        return
    report = {
        "implementation": "mpi4py", "ranks": comm.size, "thread_level": THREAD_LEVELS[MPI.Query_thread()],
        "repetitions": options.repetitions, "measurements": measurements,
        "huge_page_advice": numpy_advises_huge_pages(),
        "mpi4py_version": mpi4py.__version__, "numpy_version": np.__version__,
        "python_version": platform.python_version(), "mpi_library_version": MPI.Get_library_version().strip("\x00 \n"),
    }
    text = json.dumps(report, indent=2, sort_keys=True)
    if options.output:
        with open(options.output, "w") as file:
            file.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    try:
        main()
    except WrongResult as error:
        print(f"bench_collectives.py: wrong result: {error}", file=sys.stderr)
        MPI.COMM_WORLD.Abort(1)
