"""Total training throughput when 1, 2 and 4 tsattn trainings run at once on one machine.

Why: shell scripts run one tsattn command per series, horizon or market with `xargs -P` or
GNU parallel. Each process must leave the other processes' cores alone, or adding jobs
makes the whole batch slower instead of faster. The claim to check: trainings per minute
do not fall as jobs are added. Every job is the same small training (national_illness,
lookback 104, horizon 24, default options), started together as fresh processes.

Modes: `auto` (no flag: the thread count tsattn chooses) and `threads-1` (`--threads 1`,
what a careful script would pass). A script, not a test: it prints a table and writes JSON.

    .venv/bin/python benchmarks/parallel_jobs.py --data national_illness.csv
    .venv/bin/python benchmarks/parallel_jobs.py --data national_illness.csv --jobs 1 2 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"auto": [], "threads-1": ["--threads", "1"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="national_illness.csv (the Autoformer collection of data sets)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=sorted(MODES))
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "parallel_jobs-cpu.json")
    return p.parse_args(argv)


def env() -> dict[str, str]:
    """Run `python -m tsattn` from this checkout; no inherited thread settings."""
    path = os.environ.get("PYTHONPATH")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    return {**clean, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def run_batch(data: Path, n_jobs: int, flags: list[str], folder: Path) -> dict:
    """Start `n_jobs` identical trainings together; wall time of the whole batch."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tsattn", "train", str(data), "--lookback", "104",
             "--horizon", "24", "--device", "cpu", "--quiet", "-o",
             str(folder / f"job{i}.tsattn"), *flags],
            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(n_jobs)
    ]
    finished = []
    for proc in procs:
        _, err = proc.communicate()
        finished.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"a training failed ({proc.returncode}):\n{err.decode()}")
    wall = time.perf_counter() - started
    return {"jobs": n_jobs, "wall_s": round(wall, 2),
            "slowest_job_s": round(max(finished), 2),
            "trainings_per_min": round(60 * n_jobs / wall, 2)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found; pass --data PATH/national_illness.csv")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            for n_jobs in args.jobs:
                row = {"mode": mode, **run_batch(args.data, n_jobs, MODES[mode], Path(tmp))}
                rows.append(row)
                print(f"{mode:>10} {row['jobs']:>4} jobs  {row['wall_s']:>7.1f} s  "
                      f"{row['trainings_per_min']:>6.2f} trainings/min", flush=True)
    result = {
        "machine": {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
                    "platform": platform.platform(), "python": platform.python_version()},
        "command": "tsattn train national_illness.csv --lookback 104 --horizon 24 "
                   "--device cpu --quiet",
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
