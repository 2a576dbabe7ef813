"""How fast a rolling calibration ranks its sets, and what each way of ranking costs.

Why: on long, wide data, ranking the rolling calibration sets (`intervals.rolling_offsets`)
is most of `evaluate`'s time and much of `predict --rolling`'s. This times, on sets the
size of the public weather set at 720 steps (21 targets, 4551 validation windows; scores
drawn at random, which ranking does not care about):

- one refresh, step by step as `_offsets_at` ranks it: `np.partition` at the ranks of
  0.1/0.5/0.9 (2 distinct ranks) and of the CRPS grid (10), and a full `np.sort`, each on
  float64 and float32 scores;
- `rolling_offsets` over several refreshes on 1 thread and on `--threads` threads.

A script, not a test: it prints a table and writes JSON (benchmarks/README.md, "Ranking").

    PYTHONPATH=. .venv/bin/python benchmarks/ranking.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tsattn.intervals import (
    CRPS_LEVELS,
    Calibration,
    KnownScores,
    conformal_ranks,
    refresh_rows,
    rolling_offsets,
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--horizon", type=int, default=720)
    p.add_argument("--targets", type=int, default=21)
    p.add_argument("--windows", type=int, default=4551, help="calibration set size n")
    p.add_argument("--refreshes", type=int, default=8)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results"
                   / "ranking-cpu.json")
    return p.parse_args()


def seconds(work: Callable[[], object]) -> float:
    """The best of three runs: the machines are shared, the best run is the least disturbed."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def one_refresh(sets: np.ndarray, rank: Callable[[np.ndarray], np.ndarray]) -> None:
    for step in sets:  # (T, n) per step, as `_offsets_at` slices them
        rank(step)


def ranking_cases(opts: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    sets = np.abs(rng.normal(size=(opts.horizon, opts.targets, opts.windows)))
    few, many = (sorted(set(conformal_ranks(levels, opts.windows)))
                  for levels in ((0.1, 0.5, 0.9), CRPS_LEVELS))
    cases = []
    for dtype in (np.float64, np.float32):
        typed = sets.astype(dtype)
        for name, rank in (
                (f"partition, {len(few)} ranks", lambda a: np.partition(a, few, axis=-1)),
                (f"partition, {len(many)} ranks", lambda a: np.partition(a, many, axis=-1)),
                ("sort", lambda a: np.sort(a, axis=-1))):
            cases.append({"case": f"one refresh: {name}", "dtype": np.dtype(dtype).name,
                          "seconds": round(seconds(lambda r=rank, t=typed: one_refresh(t, r)), 3)})
    return cases


def rolling_cases(opts: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    step = refresh_rows(opts.windows)
    total = opts.windows + opts.horizon + step * opts.refreshes
    scores = rng.normal(size=(total, opts.horizon, opts.targets))
    known = KnownScores.of(scores, np.arange(total))
    origins = total - step * opts.refreshes + np.arange(step * opts.refreshes)
    calibration = Calibration(CRPS_LEVELS, np.zeros((len(CRPS_LEVELS), opts.horizon,
                                                     opts.targets)),
                              np.ones(opts.targets), opts.windows)
    cases = []
    for threads in sorted({1, opts.threads}):
        os.environ["OMP_NUM_THREADS"] = str(threads)
        took = seconds(lambda: rolling_offsets(calibration, known, origins))
        cases.append({"case": f"rolling_offsets, {opts.refreshes} refreshes, CRPS grid",
                      "dtype": "float32", "threads": threads, "seconds": round(took, 3)})
    return cases


def main() -> None:
    opts = parse_args()
    rng = np.random.default_rng(0)
    print(f"sets of {opts.windows} scores, {opts.horizon} steps x {opts.targets} targets")
    cases = ranking_cases(opts, rng) + rolling_cases(opts, rng)
    for case in cases:
        threads = f"{case['threads']} threads" if "threads" in case else ""
        print(f"{case['case']:<52} {case['dtype']:<8} {threads:<10} {case['seconds']:8.3f} s")
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "numpy": np.__version__},
              "settings": {k: v for k, v in vars(opts).items() if k != "json"},
              "cases": cases}
    opts.json.parent.mkdir(parents=True, exist_ok=True)
    opts.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {opts.json}")


if __name__ == "__main__":
    main()
