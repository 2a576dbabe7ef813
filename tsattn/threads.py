"""How many CPU threads torch and the interval ranking may use: the CPUs this process may run on.

torch starts one intra-op thread per core of the machine, whatever the process is allowed
to use, and its OpenMP threads spin while they wait for work. Several processes on one
machine (`xargs -P`, a container with a CPU quota, torchrun's ranks) then spin against each
other and each runs many times slower. So the count comes from the process's CPU affinity
and its cgroup quota, and idle threads sleep instead of spinning. Measurements:
benchmarks/README.md ("Many jobs on one machine").

Nothing here imports torch: the choice is made through the environment before torch loads.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def affinity_cpus() -> int:
    """CPUs the scheduler lets this process run on (taskset, cpuset, numactl)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_cpu_limit(proc_cgroup: Path = PROC_CGROUP,
                     root: Path = CGROUP_ROOT) -> float | None:
    """The tightest CPU quota on this process's cgroup and its parents, in CPUs.

    Reads cgroup v2 `cpu.max` and v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`; None when
    there is no quota or the files cannot be read (not Linux, no cgroup mount).
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        if hierarchy == "0" and controllers == "":
            limits += _quotas(root, path, _v2_quota)
        elif "cpu" in controllers.split(","):
            for mount in {root / controllers, root / "cpu"}:
                limits += _quotas(mount, path, _v1_quota)
    return min(limits) if limits else None


def _quotas(base: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The quota of the cgroup directory and of each parent up to the mount point.

    Inside a container the mount may already be the container's own cgroup, so the
    process's path need not exist below it; the mount point itself is always tried.
    """
    folder = base / path.lstrip("/")
    found: list[float] = []
    while True:
        quota = read(folder)
        if quota is not None:
            found.append(quota)
        if folder == base or base not in folder.parents:
            return found
        folder = folder.parent


def _v2_quota(folder: Path) -> float | None:
    fields = _read(folder / "cpu.max").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(folder: Path) -> float | None:
    return _ratio(_read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us"))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cpus() -> int:
    """Affinity capped by the cgroup quota, rounded up (1.5 CPUs keep 2 threads busy)."""
    cpus = affinity_cpus()
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def choose_threads(requested: int | None, environ: dict[str, str] | os._Environ) -> int:
    """`--threads`, else OMP_NUM_THREADS, else the usable CPUs shared by the local ranks.

    torchrun sets LOCAL_WORLD_SIZE (and OMP_NUM_THREADS=1 unless it was already set);
    several ranks on one machine split its CPUs instead of each taking all of them.
    """
    if requested is not None:
        return requested
    from_env = _positive(environ.get("OMP_NUM_THREADS", ""))
    if from_env is not None:
        return from_env
    ranks = _positive(environ.get("LOCAL_WORLD_SIZE", "")) or 1
    return max(1, usable_cpus() // ranks)


def _positive(text: str) -> int | None:
    return int(text) if text.strip().isdigit() and int(text) > 0 else None


def worker_threads() -> int:
    """The threads numpy work outside torch may use: the count `use_threads` chose (it
    leaves it in the environment), else what `choose_threads` would choose."""
    return choose_threads(None, os.environ)


def use_threads(requested: int | None) -> int:
    """Apply the thread count before torch (or numpy's BLAS) starts its thread pools.

    The environment is what a fresh torch reads at import; a torch already imported (the
    library used in-process) is told directly. OMP_WAIT_POLICY=PASSIVE lets idle OpenMP
    threads sleep, unless the user chose a policy.
    """
    threads = choose_threads(requested, os.environ)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return threads
