"""Known covariates on a task with a known answer: the target alone, with its drivers, and with
a column of noise beside them, through the real CLI with the default settings.

The data is the generated task of `tests/test_known.py`: y follows a driver 30 steps back and
jumps with a known 0/1 flag (given over the horizon with `--known flag`); `noise` is unrelated.
Lookback 96, horizon 24, 2 epochs; test MSE from `tsattn evaluate`.

    .venv/bin/python benchmarks/known_covariates.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from suite import ROOT, tsattn

sys.path.insert(0, str(ROOT))  # the task is the one tests/test_known.py checks
from tests.test_known import SMALL, known_answer_rows, write_columns

RUNS = {"alone": (["y"], []), "driven": (["y", "drive", "flag"], ["flag"]),
        "with_noise": (["y", "drive", "noise", "flag"], ["flag"])}


def test_mse(workdir: Path, kind: str, name: str) -> float:
    columns, known = RUNS[name]
    data = write_columns(workdir / f"{name}.csv", known_answer_rows(), columns)
    model = workdir / f"{name}-{kind}.tsattn"
    flags = [arg for column in known for arg in ("--known", column)]
    tsattn("train", str(data), "-t", "y", "--model", kind, *flags, "-o", str(model), *SMALL)
    scores = json.loads(tsattn("evaluate", str(model), str(data), "--json", "--quiet").stdout)
    return scores["scores"]["model"]["mse"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks/results/known-covariates-cpu.json")
    args = parser.parse_args()
    rows = []
    print("| model | y alone | with driver and flag | with noise too | ratios |\n"
          "|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("transformer", "lstm-attn"):
            mse = {name: test_mse(Path(tmp), kind, name) for name in RUNS}
            rows.append({"model": kind, **mse})
            print(f"| {kind} | {mse['alone']:.4f} | {mse['driven']:.4f} | "
                  f"{mse['with_noise']:.4f} | {mse['driven'] / mse['alone']:.3f}x, "
                  f"{mse['with_noise'] / mse['driven']:.3f}x |", flush=True)
    args.json.write_text(json.dumps({"machine": {"cores": os.cpu_count(),
                                                 "platform": platform.platform()},
                                     "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
