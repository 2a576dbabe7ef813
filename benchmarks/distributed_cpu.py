"""One process against torchrun with 2 processes (gloo) on the CPU: throughput and quality.

Why: data-parallel training must give the same model quality as one process (the same
batches and steps, each rank computing a share of every batch), and the question on a CPU
is whether splitting a batch over processes beats torch's own threads inside one process.
Both run the same training through the real CLI; the loop's own time and the best
validation MSE are read from the model file. Rounds alternate the two so that a busy
machine slows both alike. A script, not a test: it prints a table and writes JSON.

    .venv/bin/python benchmarks/distributed_cpu.py --data national_illness.csv
    .venv/bin/python benchmarks/distributed_cpu.py --data ETTh1.csv --args "--lookback 96"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARGS = "--lookback 104 --horizon 24 --patience 0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a CSV, e.g. national_illness.csv")
    p.add_argument("--args", default=DEFAULT_ARGS, help="training options for both runs")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "distributed-cpu.json")
    return p.parse_args(argv)


def env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS")}
    return {**clean, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


LAUNCH = {
    "1 process": [sys.executable, "-m", "tsattn"],
    "torchrun 2": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node=2", "-m", "tsattn"],
}


def train(mode: str, data: Path, options: str, model: Path) -> dict:
    cmd = [*LAUNCH[mode], "train", str(data), *shlex.split(options), "--device", "cpu",
           "--quiet", "-o", str(model)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    info = subprocess.run([sys.executable, "-m", "tsattn", "info", str(model), "--json"],
                          capture_output=True, text=True, env=env(), check=True)
    meta = json.loads(info.stdout)
    metrics, split = meta["metrics"], meta["split"]
    lookback, horizon = (meta["config"]["model"][k] for k in ("lookback", "horizon"))
    windows = split["train_end"] - lookback - horizon + 1
    return {"mode": mode, "train_seconds": metrics["train_seconds"],
            "epochs": metrics["epochs_run"], "best_val_mse": metrics["best_val_mse"],
            "windows_per_s": round(windows * metrics["epochs_run"] / metrics["train_seconds"],
                                   1)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for mode in (LAUNCH if r % 2 == 0 else reversed(LAUNCH)):
                row = train(mode, args.data, args.args, Path(tmp) / "m.tsattn")
                runs.append(row)
                print(f"round {r + 1}  {mode:<11} {row['train_seconds']:>7.1f} s  "
                      f"{row['windows_per_s']:>8.1f} windows/s  best val MSE "
                      f"{row['best_val_mse']:.4f} ({row['epochs']} epochs)", flush=True)
    summary = {mode: {"median_windows_per_s": statistics.median(
        r["windows_per_s"] for r in runs if r["mode"] == mode),
        "best_val_mse": [r["best_val_mse"] for r in runs if r["mode"] == mode]}
        for mode in LAUNCH}
    for mode, s in summary.items():
        print(f"{mode:<11} median {s['median_windows_per_s']:.1f} windows/s, best val MSE "
              f"{', '.join(f'{v:.4f}' for v in s['best_val_mse'])}")
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "data": args.data.name, "options": args.args, "runs": runs, "summary": summary}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
