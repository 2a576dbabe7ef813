"""Seconds of training to a test MSE, with the command line a user would type.

ETTh1 on the standard borders (8640/11520/14400), lookback 96, horizon 96, all 7 channels,
the documented defaults otherwise. Trains through the real CLI, reads the per-epoch lines
it prints (validation MSE and seconds), then scores the kept model on every stride-1 test
window with `tsattn evaluate`. The peer numbers are neuralforecast 3.3.0 on a machine like
ours (issue 5): PatchTST 122 s to 0.390, iTransformer 35 s to 0.399.

    .venv/bin/python benchmarks/time_to_quality.py
    .venv/bin/python benchmarks/time_to_quality.py -- --epochs 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

from suite import ROOT, tsattn

DATA = ROOT / "sample_data" / "ETTh1.csv"

COMMAND = ["--train-end", "8640", "--val-end", "11520", "--lookback", "96", "--horizon", "96"]
EPOCH_LINE = re.compile(r"epoch\s+(\d+)/\d+\s+train ([\d.]+)\s+val ([\d.]+)\s.*?([\d.]+)s")
TARGET_MSE, TARGET_SECONDS = 0.383, 40.0


def curve(stderr: str) -> list[dict]:
    """(epoch, cumulative training seconds, validation MSE) from the CLI's epoch lines."""
    points, total = [], 0.0
    for epoch, _, val, seconds in EPOCH_LINE.findall(stderr):
        total += float(seconds)
        points.append({"epoch": int(epoch), "seconds": round(total, 1), "val_mse": float(val)})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks/results/time_to_quality-cpu.json")
    parser.add_argument("extra", nargs="*", help="more train options, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tsattn"
        started = time.perf_counter()
        done = tsattn("train", str(DATA), *COMMAND, *args.extra, "-o", str(path))
        wall = time.perf_counter() - started
        meta = json.loads(tsattn("info", str(path), "--json").stdout)
        result = json.loads(tsattn("evaluate", str(path), str(DATA), "--from", "11520",
                                   "--to", "14400", "--json", "--quiet").stdout)
    points = curve(done.stderr)
    train_seconds = meta["metrics"]["train_seconds"]
    test = result["scores"]["model"]["mse"]
    print(f"# {platform.machine()}, {os.cpu_count()} cores; tsattn train ... "
          f"{' '.join(COMMAND + args.extra)}")
    for p in points:
        print(f"epoch {p['epoch']:>3}  {p['seconds']:>6.1f} s  val {p['val_mse']:.4f}")
    met = test <= TARGET_MSE and train_seconds <= TARGET_SECONDS
    print(f"training {train_seconds:.1f} s (process {wall:.1f} s), test MSE {test:.4f} "
          f"(linear {result['scores']['linear']['mse']:.4f}); target <= {TARGET_MSE} in "
          f"<= {TARGET_SECONDS:.0f} s: {'met' if met else 'not met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "command": COMMAND + args.extra, "train_seconds": train_seconds,
        "process_seconds": round(wall, 1), "test_mse": test,
        "linear_mse": result["scores"]["linear"]["mse"], "curve": points,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
