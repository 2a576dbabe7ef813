"""Prediction intervals on test parts, through the real CLI, and how their method was chosen.

For each data set: `tsattn train` (short settings), then `tsattn evaluate --json` on the test
rows. Reported: coverage of the 80% interval per horizon step (target: 80 +/- 3 % at every
step), the MSE of the 0.5 quantile against the point forecast's, and the mean pinball loss
and CRPS of the model beside each baseline (each calibrated on its own validation residuals).

The second table uses validation rows only: the validation windows are cut in two halves
in time, each candidate normaliser is calibrated on the first and scored on the second.
That is how the default (the window's standard deviation) was chosen; test rows play no part.

    .venv/bin/python benchmarks/intervals.py --illness PATH/national_illness.csv
    .venv/bin/python benchmarks/intervals.py --illness ... --etth1-epochs 2 --skip-choice
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from suite import ROOT, SHARED, tsattn

DATA = SHARED / "ETTh1.csv"

LEVELS = (0.1, 0.5, 0.9)
TOLERANCE = 0.03


@dataclass(frozen=True)
class Case:
    """One data set: how to train on it and which rows are its test part."""

    name: str
    data: Path
    train: list[str]
    test: list[str]


def cases(args: argparse.Namespace) -> list[Case]:
    etth1 = Case("ETTh1", DATA, ["--train-end", "8640", "--val-end", "11520", "--lookback",
                                 "96", "--horizon", "96", "--epochs", str(args.etth1_epochs)],
                 ["--from", "11520", "--to", "14400"])
    found = [etth1]
    if args.illness is not None:
        found.append(Case("national_illness", args.illness,
                          ["--lookback", "104", "--horizon", "24", "--epochs",
                           str(args.illness_epochs)], []))
    found.append(Case("sample", ROOT / "sample_data" / "sample.csv",
                      ["--lookback", "96", "--horizon", "24", "--epochs",
                       str(args.sample_epochs)], []))
    return found


def run_case(case: Case, workdir: Path) -> dict:
    """Train, evaluate on the test rows, and summarise the interval scores."""
    path = workdir / f"{case.name}.tsattn"
    started = time.perf_counter()
    tsattn("train", str(case.data), *case.train, "-o", str(path), "--quiet")
    seconds = time.perf_counter() - started
    result = json.loads(tsattn("evaluate", str(path), str(case.data), *case.test, "--json",
                               "--quiet").stdout)
    scores, intervals = result["scores"], result["intervals"]["scores"]
    model = intervals["model"]
    (eighty,) = [i for i in model["intervals"] if (i["lower"], i["upper"]) == (0.1, 0.9)]
    per_step = np.array(eighty["coverage_per_step"])
    return {
        "data": case.name, "train_args": case.train, "test_args": case.test,
        "train_seconds": round(seconds, 1), "test_windows": result["windows"],
        "coverage_80": eighty["coverage"], "coverage_80_min": float(per_step.min()),
        "coverage_80_max": float(per_step.max()),
        "steps_within_3pts": int((np.abs(per_step - 0.8) <= TOLERANCE).sum()),
        "steps": len(per_step), "coverage_80_per_step": per_step.tolist(),
        "point_mse": scores["model"]["mse"], "median_mse": model["median_mse"],
        "pinball": {name: s["pinball"] for name, s in intervals.items()},
        "crps": {name: s["crps"] for name, s in intervals.items()},
        "width_80": {name: s["intervals"][0]["width"] for name, s in intervals.items()},
        "coverage_80_all": {name: s["intervals"][0]["coverage"]
                            for name, s in intervals.items()},
        "model_path": path,
    }


def print_test_table(rows: list[dict]) -> None:
    print("\n# test parts: 80% interval (q0.1..q0.9) of the model; pinball/CRPS vs baselines")
    print(f"{'data':<17}{'cover':>7}{'min':>7}{'max':>7}{'steps ok':>10}{'med/pt MSE':>12}"
          f"  pinball (model, repeat_last, seasonal_naive, linear)")
    for r in rows:
        pin = r["pinball"]
        others = ", ".join(f"{pin[n]:.4f}" for n in ("repeat_last", "seasonal_naive", "linear")
                           if n in pin)
        print(f"{r['data']:<17}{r['coverage_80']:>7.3f}{r['coverage_80_min']:>7.3f}"
              f"{r['coverage_80_max']:>7.3f}{r['steps_within_3pts']:>5}/{r['steps']:<4}"
              f"{r['median_mse'] / r['point_mse']:>12.4f}  {pin['model']:.4f}; {others}")


# candidate per-window scales, (W, L, T) inputs -> (W, T); "window_std" is the default
NORMALISERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda x: np.ones((x.shape[0], x.shape[2])),
    "window_std": lambda x: x.std(axis=1),
    "recent_std": lambda x: x[:, -max(2, x.shape[1] // 4):].std(axis=1),
    "mean_abs_diff": lambda x: np.abs(np.diff(x, axis=1)).mean(axis=1),
}


def validation_forecasts(model_path: Path, data: Path) -> dict[str, tuple]:
    """(inputs, forecast, truth) on the validation windows for the model and each baseline."""
    from tsattn.baselines import season_length
    from tsattn.evaluation import point_forecasters, validation_windows
    from tsattn.inference import load_forecaster, run_model, scaled_series
    from tsattn.known import read_history

    loaded = load_forecaster(model_path)
    frame = read_history(data, loaded.card)
    series = scaled_series(loaded, frame)
    found = validation_windows(loaded, series)
    inputs, targets = found.everything()
    x, truth = inputs[..., : found.n_targets].cpu().numpy(), targets.cpu().numpy()
    pred = run_model(loaded, found).prediction
    period = season_length(loaded.card.freq, None, loaded.lookback)
    forecasters = point_forecasters(loaded, series, loaded.card.split.train_end, period)
    return {name: (x.astype(np.float64), f(x, pred).astype(np.float64), truth.astype(np.float64))
            for name, f in forecasters.items()}


def half_split_scores(x: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> dict:
    """Each normaliser calibrated on the first half of validation, scored on the second."""
    from tsattn.interval_scores import interval_score, pinball
    from tsattn.intervals import conformal_offsets

    half = len(pred) // 2
    found = {}
    for name, normaliser in NORMALISERS.items():
        s = normaliser(x)
        s = np.maximum(s, np.maximum(0.1 * np.median(s[:half], axis=0), 1e-6))
        offsets = conformal_offsets((truth[:half] - pred[:half]) / s[:half, None, :], LEVELS)
        q = pred[half:, ..., None] + s[half:, None, :, None] * np.moveaxis(offsets, 0, -1)[None]
        cover = interval_score(q, truth[half:], LEVELS, (0.1, 0.9))
        steps = np.array(cover.coverage_per_step)
        found[name] = {"coverage": cover.coverage, "worst_step_gap": float(
            np.abs(steps - 0.8).max()), "width": cover.width,
            "pinball": float(pinball(q, truth[half:], LEVELS).mean())}
    return found


def print_choice_table(choice: dict) -> None:
    print("\n# validation only: calibrate on its first half, score on its second half")
    print(f"{'data/forecaster':<30}{'normaliser':<15}{'cover':>7}{'worst gap':>10}"
          f"{'width':>8}{'pinball':>9}")
    for key, by_name in choice.items():
        for name, s in by_name.items():
            print(f"{key:<30}{name:<15}{s['coverage']:>7.3f}{s['worst_step_gap']:>10.3f}"
                  f"{s['width']:>8.3f}{s['pinball']:>9.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--illness", type=Path, help="national_illness.csv (Autoformer set)")
    parser.add_argument("--etth1-epochs", type=int, default=3)
    parser.add_argument("--illness-epochs", type=int, default=10)
    parser.add_argument("--sample-epochs", type=int, default=5)
    parser.add_argument("--skip-choice", action="store_true",
                        help="only the test-part table, not the normaliser comparison")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/intervals-cpu.json")
    args = parser.parse_args()
    rows, choice = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(args):
            row = run_case(case, Path(tmp))
            rows.append(row)
            if not args.skip_choice:
                for name, arrays in validation_forecasts(row["model_path"], case.data).items():
                    choice[f"{case.name}/{name}"] = half_split_scores(*arrays)
            del row["model_path"]
    print(f"# {platform.machine()}, {os.cpu_count()} cores")
    print_test_table(rows)
    if choice:
        print_choice_table(choice)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {"arch": platform.machine(), "cores": os.cpu_count()},
        "levels": LEVELS, "tolerance": TOLERANCE, "test": rows, "validation_choice": choice,
    }, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
