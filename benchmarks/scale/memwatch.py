"""Samples the memory of every rank of one MPI job once a second.

  memwatch.py MPIRUN_PID OUT_TSV [INTERVAL_SECONDS] [LIMIT_MIB]

Writes one line per sample and rank: seconds since start, rank, pid, VmRSS and VmHWM in KiB (from
/proc/PID/status). Ranks are the children of the mpirun process, ranked by OMPI_COMM_WORLD_RANK.
Stops when mpirun exits. With LIMIT_MIB, sends SIGKILL to every rank once the ranks' RSS adds up to
more than that, and writes a line `limit exceeded` (so that a run too large for the machine stops
itself instead of making the kernel's OOM killer pick a process, perhaps someone else's).
"""
import os
import signal
import sys
import time


def ranks_of(parent):
    found = {}
    try:
        children = open(f"/proc/{parent}/task/{parent}/children").read().split()
    except OSError:
        return found
    for pid in children:
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"OMPI_COMM_WORLD_RANK="):
                found[int(entry.split(b"=", 1)[1])] = int(pid)
    return found


def status(pid):
    values = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except OSError:
        return None
    return values


def main():
    parent, out = int(sys.argv[1]), sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    limit_kib = int(sys.argv[4]) * 1024 if len(sys.argv) > 4 else None
    start = time.time()
    ranks = {}
    with open(out, "w") as sink:
        sink.write("seconds\trank\tpid\trss_kib\thwm_kib\n")
        while os.path.exists(f"/proc/{parent}"):
            if len(ranks) == 0 or any(not os.path.exists(f"/proc/{pid}") for pid in ranks.values()):
                ranks = ranks_of(parent)
            now = round(time.time() - start, 1)
            total = 0
            for rank, pid in sorted(ranks.items()):
                values = status(pid)
                if values:
                    total += values.get("VmRSS", 0)
                    sink.write(f"{now}\t{rank}\t{pid}\t{values.get('VmRSS', 0)}\t{values.get('VmHWM', 0)}\n")
            if limit_kib is not None and total > limit_kib:
                sink.write(f"# limit exceeded: {total // 1024} MiB > {limit_kib // 1024} MiB at {now} s\n")
                sink.flush()
                for pid in ranks.values():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                break
            sink.flush()
            time.sleep(interval)


if __name__ == "__main__":
    main()
