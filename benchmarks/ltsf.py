"""ETTh1 on the standard long-horizon protocol, through the real CLI.

Trains each model at each horizon with one fixed command line (only --horizon changes),
scores it with `tsattn evaluate` on the test rows [11520, 14400) beside the baselines, and
prints MSE/MAE next to published numbers. Every test window is kept (no drop_last).

    .venv/bin/python benchmarks/ltsf.py                      # everything (long on a CPU)
    .venv/bin/python benchmarks/ltsf.py --models transformer --horizons 96
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
DATA = ROOT / "sample_data" / "ETTh1.csv"
PROTOCOL = ["--train-end", "8640", "--val-end", "11520", "--lookback", "336"]
TEST = ["--from", "11520", "--to", "14400"]
# The documented defaults of each model for this benchmark: the same for every horizon.
MODEL_ARGS = {
    "transformer": ["--model", "transformer"],
    "lstm-attn": ["--model", "lstm-attn"],
}
PUBLISHED_MSE = {  # lookback 336, every test window kept
    "PatchTST": {96: 0.385, 192: 0.413, 336: 0.440, 720: 0.456},
    "DLinear": {96: 0.384, 192: 0.443, 336: 0.446, 720: 0.504},
}


def tsattn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tsattn", *args], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"tsattn {' '.join(args)} failed:\n{done.stderr}")
    return done


def run_one(model: str, horizon: int, workdir: Path, extra: list[str]) -> dict:
    """Train and evaluate one (model, horizon); returns scores and wall times."""
    path = workdir / f"{model}-{horizon}.tsattn"
    started = time.perf_counter()
    tsattn("train", str(DATA), *PROTOCOL, "--horizon", str(horizon), *MODEL_ARGS[model],
           *extra, "-o", str(path), "--quiet")
    train_seconds = time.perf_counter() - started
    result = json.loads(tsattn("evaluate", str(path), str(DATA), *TEST, "--json",
                               "--quiet").stdout)
    meta = json.loads(tsattn("info", str(path), "--json").stdout)
    scores = result["scores"]
    return {
        "model": model, "horizon": horizon, "windows": result["windows"],
        "train_seconds": round(train_seconds, 1),
        "epochs_run": meta["metrics"]["epochs_run"],
        "val_mse": meta["metrics"]["best_val_mse"],
        **{f"{name}_mse": s["mse"] for name, s in scores.items()},
        **{f"{name}_mae": s["mae"] for name, s in scores.items()},
    }


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':<12}{'H':>5}{'MSE':>8}{'MAE':>8}{'linear':>8}{'seas.':>8}"
            f"{'last':>8}{'PatchTST':>10}{'DLinear':>9}{'train s':>9}{'epochs':>7}")
    print(head)
    for r in rows:
        h = r["horizon"]
        print(f"{r['model']:<12}{h:>5}{r['model_mse']:>8.3f}{r['model_mae']:>8.3f}"
              f"{r['linear_mse']:>8.3f}{r.get('seasonal_naive_mse', float('nan')):>8.3f}"
              f"{r['repeat_last_mse']:>8.3f}{PUBLISHED_MSE['PatchTST'].get(h, float('nan')):>10.3f}"
              f"{PUBLISHED_MSE['DLinear'].get(h, float('nan')):>9.3f}{r['train_seconds']:>9.1f}"
              f"{r['epochs_run']:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="transformer,lstm-attn")
    parser.add_argument("--horizons", default="96,192,336,720")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/ltsf-cpu.json")
    parser.add_argument("extra", nargs="*", help="more train options, after --")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for horizon in map(int, args.horizons.split(",")):
                rows.append(run_one(model, horizon, Path(tmp), args.extra))
                print(json.dumps(rows[-1]), flush=True)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": {"cores": os.cpu_count(),
                                                 "platform": platform.platform()},
                                     "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
