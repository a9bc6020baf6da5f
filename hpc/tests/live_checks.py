"""What the live test scripts share: a tally of named checks that prints one line per check, how
to launch and find the ranks of a job under either MPI family, and a served `geopredict` job."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time


def mpi_launcher(ranks):
    """The launch line for `ranks` ranks on this machine, as hpc/lib/common.sh's mpirun_local builds
    it: OpenMPI's mpirun, or MPICH's Hydra under GEOPREDICT_MPI=mpich (`mpirun` stays OpenMPI's
    when both are installed)."""
    if os.environ.get("GEOPREDICT_MPI", "openmpi") == "mpich":
        return ["mpiexec.mpich", "-n", str(ranks)]
    return ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)]


def descendants(pid):
    """Every process below `pid`: OpenMPI's ranks are mpirun's children, MPICH's are Hydra's
    proxy's."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = []
    for child in map(int, children):
        found += [child] + descendants(child)
    return found


def rank_of(pid):
    """The MPI rank of process `pid` (OpenMPI's OMPI_COMM_WORLD_RANK or MPICH's PMI_RANK), or None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            variables = environ.read().split(b"\0")
    except OSError:
        return None
    for variable in variables:
        for name in (b"OMPI_COMM_WORLD_RANK=", b"PMI_RANK="):
            if variable.startswith(name):
                return int(variable[len(name):])
    return None


MASK = (1 << 64) - 1


def stable_hash(text):
    """GeoPredict's StableHash (FNV-1a, then SplitMix64's finaliser), to know each user's owner."""
    state = 0xcbf29ce484222325
    for byte in text.encode():
        state = ((state ^ byte) * 0x100000001b3) & MASK
    z = (state + 0x9e3779b97f4a7c15) & MASK
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def owner(user, ranks, partitions=1024):
    return (stable_hash(user) % partitions) % ranks


def users_of(rank, ranks, count, prefix="slow-rank-user"):
    found, index = [], 0
    while len(found) < count:
        user = f"{prefix}-{index}"
        if owner(user, ranks) == rank:
            found.append(user)
        index += 1
    return found


class ServedJob:
    """`LAUNCHER BINARY serve ARGUMENTS` at `ranks` ranks — `geopredict`, `mpiplug` or a scaffolded
    service — waited for until it prints its 'serving ... on URL' line. Its output goes on being
    drained into `log_path` on a thread, so that a chatty rank can never block on a full pipe; the
    drain also picks up the example call geopredict prints after that line."""

    def __init__(self, binary, ranks, arguments, log_path, timeout=900):
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OPENBLAS_NUM_THREADS="1")
        self.log = open(log_path, "a")
        self.process = subprocess.Popen(
            [*mpi_launcher(ranks), binary, "serve", *arguments],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, start_new_session=True)
        self.url, self.ranks, self.example = None, ranks, None
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.log.write(line)
            # "geopredict: serving on URL (...)", "mpiplug: serving 5 routes on URL with 2 ranks".
            if "serving" in line and " on http" in line:
                self.url = line.split(" on ")[1].split()[0]
                break
        if self.url is None:
            self.kill()
            raise RuntimeError(f"the service did not start; see {log_path}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stdout:
            self.log.write(line)
            if line.startswith("geopredict: try  "):
                self.example = line[len("geopredict: try  "):].strip()

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def rank_pids(self):
        """The ranks' process ids, in rank order."""
        ranked = [(rank_of(pid), pid) for pid in descendants(self.process.pid)]
        return [pid for rank, pid in sorted(item for item in ranked if item[0] is not None)]

    def rank0_pid(self):
        return next((pid for pid in self.rank_pids() if rank_of(pid) == 0), None)

    def stop(self):
        """SIGTERM to the whole job (the drain hpc/serve starts), then kill -9 if it is not over in 30 s."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self):
        """kill -9 of the whole job: mpirun and every rank at once."""
        pids = self.rank_pids()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)



def end_run(checks, job, log_path, work):
    """What every live run does last: kill -9 of a job still up, the log's tail when a check failed,
    and the run's folder removed."""
    if job.process.poll() is None:
        job.kill()
    if checks.failed:
        print(open(log_path).read()[-3000:])
    shutil.rmtree(work, ignore_errors=True)


class Checks:
    def __init__(self, label="", detail_limit=None):
        self.label, self.passed, self.failed = label, 0, 0
        self.detail_limit = detail_limit

    def check(self, condition, name, detail=""):
        if condition:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed += 1
            text = str(detail)
            if self.detail_limit is not None:
                text = text[:self.detail_limit]
            print(f"  FAIL {name} {text}")
        sys.stdout.flush()
        return condition


# Connect unary errors: the HTTP status of each code, as the front door answers them.
CONNECT_STATUS = {
    "canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504, "not_found": 404,
    "already_exists": 409, "permission_denied": 403, "resource_exhausted": 429, "failed_precondition": 400,
    "aborted": 409, "out_of_range": 400, "unimplemented": 501, "internal": 500, "unavailable": 503,
    "data_loss": 500, "unauthenticated": 401,
}
# Statuses HTTP defines for a case, which the front door uses instead of the code's usual one.
HTTP_OVERRIDES = {404: "unimplemented", 405: "unimplemented", 413: "resource_exhausted", 415: "unimplemented"}


def connect_error(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def well_formed_error(response):
    """A Connect error: JSON body, a known code, and the HTTP status for that code."""
    code = connect_error(response)
    if code not in CONNECT_STATUS or response.headers.get("Content-Type") != "application/json":
        return False
    return response.status_code == CONNECT_STATUS[code] or HTTP_OVERRIDES.get(response.status_code) == code
