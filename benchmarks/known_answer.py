"""Does the default map point at a known answer? A copy far from the window's end, and spikes.

Writes two generated series (the tasks of tests/test_read_map.py), trains both models on
each through the real CLI with the default settings except `--lookback 96 --horizon 24
--epochs 1`, then measures over the last 200 forecasts how often the top period of the
default map (`read`) holds the answer: the copied covariate row of each step, or, for a
step that lands on a spike, an earlier spike at the same phase. `tsattn explain
--faithfulness --json` adds attention's comprehensiveness as a multiple of random's and
of occlusion's. Prints a table and writes JSON.

    .venv/bin/python benchmarks/known_answer.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from suite import ROOT, tsattn

sys.path.insert(0, str(ROOT))  # run from a checkout without installing tsattn
from tsattn.data import read_frame
from tsattn.forecasting import predict
from tsattn.inference import load_forecaster

LAG, PERIOD, LOOKBACK, HORIZON, ROWS, ORIGINS = 30, 24, 96, 24, 1600, 200
TRAIN = ["--target", "y", "--lookback", str(LOOKBACK), "--horizon", str(HORIZON),
         "--epochs", "1", "--seed", "0", "--quiet"]


def write_tasks(workdir: Path) -> dict[str, Path]:
    """copy.csv (target y repeats covariate x LAG steps later) and spikes.csv."""
    rng = np.random.default_rng(0)
    x = np.zeros(ROWS)
    for t in range(1, ROWS):
        x[t] = 0.6 * x[t - 1] + rng.normal()
    y = np.roll(x, LAG) + 0.05 * rng.normal(size=ROWS)
    y[:LAG] = 0.0
    spikes = (np.arange(ROWS) % PERIOD == 0) + 0.05 * rng.normal(size=ROWS)
    paths = {"copy": workdir / "copy.csv", "spikes": workdir / "spikes.csv"}
    rows = zip(y, x, strict=True)
    paths["copy"].write_text("y,x\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in rows))
    paths["spikes"].write_text("y\n" + "".join(f"{v:.5f}\n" for v in spikes))
    return paths


def hit_rates(model: Path, data: Path, task: str) -> dict[str, float]:
    """Share of steps whose top period (and, on the copy task, top row) holds the answer."""
    loaded = load_forecaster(model)
    frame = read_frame(data, **({"targets": ("y",), "covariates": ("x",)} if task == "copy"
                                else {"targets": ("y",)}))
    maps = predict(loaded, frame, rolling=True).attention[-ORIGINS:]  # (O, H, L)
    stride = loaded.run.model.stride
    starts = maps.reshape(*maps.shape[:2], -1, stride).sum(-1).argmax(-1) * stride
    steps = np.arange(1, HORIZON + 1)
    if task == "copy":
        copied = LOOKBACK - 1 + steps - LAG
        return {"top_period": float(np.mean((starts <= copied) & (copied < starts + stride))),
                "top_row": float(np.mean(np.abs(maps.argmax(-1) - copied) <= 1))}
    last = len(frame.values) - ORIGINS + np.arange(ORIGINS)[:, None]
    due = (last + steps) % PERIOD == 0
    lags = LOOKBACK - 1 + steps[:, None] - starts[..., None] - np.arange(stride)
    return {"top_period": float((lags % PERIOD == 0).any(axis=-1)[due].mean())}


def measure(task: str, kind: str, data: Path, workdir: Path) -> dict:
    model = workdir / f"{task}-{kind}.tsattn"
    tsattn("train", str(data), *TRAIN, "--model", kind, "-o", str(model))
    report = json.loads(tsattn("explain", str(model), str(data), "--faithfulness",
                               "--json").stdout)
    area = {name: r["comprehensiveness"]["area"]["mean"]
            for name, r in report["rankings"].items()}
    return {**hit_rates(model, data, task),
            "comprehensiveness_x_random": area["attention"] / area["random"],
            "occlusion_x_random": area["occlusion"] / area["random"],
            "comprehensiveness": area, "verdict": report["verdict"]["text"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks/results/known-answer-cpu.json")
    args = parser.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores; top period holds the answer, "
          "comprehensiveness x random (occlusion's x random)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task, data in write_tasks(Path(tmp)).items():
            for kind in ("transformer", "lstm-attn"):
                r = results[f"{task}-{kind}"] = measure(task, kind, data, Path(tmp))
                print(f"{task:<7} {kind:<12} {r['top_period']:6.1%}  "
                      f"{r['comprehensiveness_x_random']:.2f}x "
                      f"({r['occlusion_x_random']:.2f}x)", flush=True)
    machine = {"machine": platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version()}
    args.json.write_text(json.dumps({"machine": machine, "runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
