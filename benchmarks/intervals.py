"""Prediction intervals on test parts, through the real CLI, beside the static calibration.

For each data set, horizon and interval method (`--intervals residuals|pinball`): `tsattn
train`, then `tsattn evaluate --json` on the test rows. Reported: coverage of the 80%
interval per horizon step (target: 80 +/- 3 % at every step), its mean width, the MSE of
the 0.5 quantile against the point forecast's, and the mean pinball loss and CRPS of the
model beside each baseline (each calibrated on its own residuals by the fixed-scale
method).

Beside it, the same model's intervals calibrated once on the validation part and never
moved (the method before the rolling one), scored on the same test windows; and where the
80% interval misses over time (`by_period`: spans of target dates, from `predict
--rolling`).

Data: ETTh1 and national_illness on their standard protocols, the generated sample, and two
generated series nobody tuned on: `generated` (hourly; daily season, drifting level,
wandering volatility) and `walk` (business days, no season: exchange-rate-like random walks
whose volatility clusters).

    .venv/bin/python benchmarks/intervals.py                         # everything (~60 min)
    .venv/bin/python benchmarks/intervals.py --sets illness --horizons 24,60
    .venv/bin/python benchmarks/intervals.py --sets etth1 --horizons 96 --etth1-epochs 2
    .venv/bin/python benchmarks/intervals.py --sets generated --seed 14
    .venv/bin/python benchmarks/intervals.py --sets walk
    .venv/bin/python benchmarks/intervals.py --sets sample --methods pinball

Rows of earlier runs in the JSON are kept unless the same (set, horizon, method) is run
again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from suite import ROOT, SETS, tsattn

LEVELS = (0.1, 0.5, 0.9)
TOLERANCE = 0.03
GENERATED = "generated"
WALK = "walk"


@dataclass(frozen=True)
class Made:
    """A generated set: how to write it, its lookback and its horizon (split 70/10/20)."""

    write: Callable[[Path, int], Path]
    lookback: int
    horizon: int


def train_args(name: str, horizon: int, args: argparse.Namespace) -> list[str]:
    """The protocol's split and lookback; epochs as given (ETTh1's are the slow ones)."""
    if name in MADE:
        return ["--lookback", str(MADE[name].lookback), "--horizon", str(horizon),
                "--epochs", "10"]
    p = SETS[name]
    epochs = args.etth1_epochs if name == "etth1" else 10
    return ["--train-end", str(p.train_end), "--val-end", str(p.val_end), "--lookback",
            str(p.lookback), "--horizon", str(horizon), "--epochs", str(epochs)]


def generated_series(path: Path, seed: int, n: int = 8000) -> Path:
    """Hourly demand with a daily season, a drifting level and noise whose scale wanders
    (a log random walk), a supply that follows it, and a temperature: 70/10/20 by default."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    vol = np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    vol /= np.median(vol)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + vol[i] * rng.normal(0, 0.3)
    amplitude = 1.0 + 0.5 * np.sin(2 * np.pi * t / 2000)
    demand = (10 + np.cumsum(rng.normal(0, 0.01, n)) + amplitude * np.sin(2 * np.pi * t / 24)
              + noise)
    supply = (0.6 * np.roll(demand, 3) + 0.3 * np.sin(2 * np.pi * t / 168)
              + rng.normal(0, 0.2, n) * vol)
    temp = 15 + 5 * np.sin(2 * np.pi * t / 24 - 1) + rng.normal(0, 1, n)
    stamps = np.datetime64("2021-01-01T00") + t.astype("timedelta64[h]")
    lines = ["time,demand,supply,temp"] + [
        f"{s},{d:.5f},{p:.5f},{c:.5f}" for s, d, p, c in zip(stamps, demand, supply, temp,
                                                              strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def walk_series(path: Path, seed: int, n: int = 7588) -> Path:
    """Business days of three exchange rates, no season: two random walks whose volatility
    clusters (GARCH(1,1)-like) and share shocks, and a third that reverts to its mean."""
    rng = np.random.default_rng(seed)
    var = np.full(n, 1e-4)
    shocks = np.zeros((n, 3))
    for i in range(1, n):
        var[i] = 2e-6 + 0.08 * shocks[i - 1, 0] ** 2 + 0.9 * var[i - 1]
        common = rng.normal()
        shocks[i] = np.sqrt(var[i]) * np.array([common, 0.6 * common + 0.8 * rng.normal(),
                                                 rng.normal()])
    level = np.exp(np.cumsum(shocks[:, :2], axis=0)) * np.array([1.3, 0.9])
    revert = np.zeros(n)
    for i in range(1, n):
        revert[i] = 0.995 * revert[i - 1] + shocks[i, 2]
    stamps = np.busday_offset("1990-01-01", np.arange(n), roll="forward")
    lines = ["date,usd,gbp,chf"] + [
        f"{s},{a:.6f},{b:.6f},{1.1 + c:.6f}" for s, a, b, c in zip(stamps, *level.T, revert,
                                                                  strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


MADE = {GENERATED: Made(generated_series, 168, 48), WALK: Made(walk_series, 96, 96)}


def test_rows(name: str) -> tuple[int, int] | None:
    """The protocol's test rows; None: from the validation end to the end of the data."""
    return None if name in MADE else (SETS[name].val_end, SETS[name].end)


def run_case(name: str, data: Path, horizon: int, method: str, workdir: Path,
             args: argparse.Namespace) -> dict:
    """Train, evaluate on the test rows, and summarise the interval scores."""
    path = workdir / f"{name}-{horizon}-{method}.tsattn"
    train = [*train_args(name, horizon, args), "--intervals", method]
    rows = test_rows(name)
    started = time.perf_counter()
    tsattn("train", str(data), *train, "-o", str(path), "--quiet")
    seconds = time.perf_counter() - started
    test = [] if rows is None else ["--from", str(rows[0]), "--to", str(rows[1])]
    result = json.loads(tsattn("evaluate", str(path), str(data), *test, "--json",
                               "--quiet").stdout)
    scores, intervals = result["scores"], result["intervals"]["scores"]
    stored = json.loads(tsattn("info", str(path), "--json").stdout)["calibration"]
    model = intervals["model"]
    per_step = np.array(eighty(model)["coverage_per_step"])
    return {
        "data": name, "horizon": horizon, "method": method, "kept": stored["method"],
        "train_args": train,
        "train_seconds": round(seconds, 1), "test_windows": result["windows"],
        "calibration_windows": result["intervals"]["calibration_windows"],
        **coverage_summary(per_step),
        "coverage_80_per_step": per_step.tolist(),
        "point_mse": scores["model"]["mse"], "median_mse": model["median_mse"],
        "pinball": {n: s["pinball"] for n, s in intervals.items()},
        "crps": {n: s["crps"] for n, s in intervals.items()},
        "width_80": {n: eighty(s)["width"] for n, s in intervals.items()},
        "coverage_80_all": {n: eighty(s)["coverage"] for n, s in intervals.items()},
        "static": static_scores(path, data, rows),
        "by_period": by_period(path, data, rows, horizon),
    }


def eighty(scores: dict) -> dict:
    (found,) = [i for i in scores["intervals"] if (i["lower"], i["upper"]) == (0.1, 0.9)]
    return found


def coverage_summary(per_step: np.ndarray) -> dict:
    return {"coverage_80": float(per_step.mean()), "coverage_80_min": float(per_step.min()),
            "coverage_80_max": float(per_step.max()),
            "steps_within_3pts": int((np.abs(per_step - 0.8) <= TOLERANCE + 1e-12).sum()),
            "steps": len(per_step)}


def static_scores(model_path: Path, data: Path, rows: tuple[int, int] | None) -> dict:
    """The model's intervals from its validation offsets alone, on the same test windows."""
    from tsattn.inference import load_forecaster, model_windows, run_model, scaled_series
    from tsattn.interval_scores import interval_score, pinball
    from tsattn.known import read_history

    loaded = load_forecaster(model_path)
    frame = read_history(data, loaded.card)
    first, end = rows or (loaded.card.split.val_end, len(frame.values))
    found = model_windows(loaded, scaled_series(loaded, frame), first, end)
    out = run_model(loaded, found)
    truth = found.everything()[1].cpu().numpy().astype(np.float64)
    q = loaded.calibration.quantiles(out.prediction.astype(np.float64), out.scale)
    cover = interval_score(q, truth, LEVELS, (0.1, 0.9))
    return {**coverage_summary(np.array(cover.coverage_per_step)), "width_80": cover.width,
            "pinball": float(pinball(q, truth, LEVELS).mean())}


def by_period(model_path: Path, data: Path, rows: tuple[int, int] | None, horizon: int,
              blocks: int = 12) -> list[dict] | None:
    """Where the 80% interval misses: the test rows cut into `blocks` spans of target
    dates, each with the share of (forecast, target) points inside, above and below.

    From `predict --rolling` (through the Python API), so the offsets roll as a user's
    would. None without a time column, or where that table would be too large to hold
    (ETTh1: 17k origins x 96+).
    """
    import pandas as pd

    from tsattn.api import load

    model = load(model_path)
    truth = pd.read_csv(data)
    first, end = rows or (model.card.split.val_end, len(truth))
    time_col = model.card.time_col
    if time_col is None or len(truth) * horizon > 1_000_000:
        return None
    dates = pd.DatetimeIndex(pd.to_datetime(truth[time_col]))
    forecast = model.predict(data, rolling=True)
    when = pd.to_datetime(forecast[time_col])
    keep = ((pd.to_datetime(forecast["origin"]) >= dates[first - 1])
            & (when <= dates[end - 1])).to_numpy()
    forecast, where = forecast[keep], dates.get_indexer(when[keep])
    inside, above = [], []
    for target in model.card.targets:
        value = truth[target].to_numpy()[where]
        inside.append((value >= forecast[f"{target}_q0.1"].to_numpy())
                      & (value <= forecast[f"{target}_q0.9"].to_numpy()))
        above.append(value > forecast[f"{target}_q0.9"].to_numpy())
    n_targets = len(model.card.targets)
    inside, above = np.concatenate(inside), np.concatenate(above)
    when = np.tile(where, n_targets)
    edges = np.linspace(first, end, blocks + 1).astype(int)
    out = []
    for lo, hi in itertools.pairwise(edges):
        part = (when >= lo) & (when < hi)
        if part.any():
            out.append({"from": str(dates[lo]), "to": str(dates[hi - 1]), "points": int(part.sum()),
                        "inside": float(inside[part].mean()),
                        "above": float(above[part].mean()),
                        "below": float(1 - inside[part].mean() - above[part].mean())})
    return out


def print_periods(rows: list[dict]) -> None:
    """Coverage of the 80% interval by span of target dates, for the runs that have it."""
    for r in rows:
        if not r.get("by_period"):
            continue
        print(f"\n{r['data']}, horizon {r['horizon']}, {r['method']}: inside / above / below")
        for b in r["by_period"]:
            print(f"  {b['from'][:10]} .. {b['to'][:10]}  {b['inside']:.0%} / {b['above']:.0%}"
                  f" / {b['below']:.0%}  ({b['points']} points)")


def print_table(rows: list[dict]) -> None:
    print("\n| data | H | method | coverage | worst / best step | steps within 80 +/- 3 | "
          "static: coverage, steps within | width | median/point MSE | pinball: model | "
          f"repeat last | seasonal naive | linear |\n|{'---|' * 13}")
    for r in rows:
        pin, st = r["pinball"], r["static"]
        others = " | ".join(f"{pin[n]:.4f}" if n in pin else "-"
                            for n in ("repeat_last", "seasonal_naive", "linear"))
        method = r["method"] + (f" ({r['kept']})" if r["method"] == "auto" else "")
        print(f"| {r['data']} | {r['horizon']} | {method} | {r['coverage_80']:.1%} | "
              f"{r['coverage_80_min']:.1%} / {r['coverage_80_max']:.1%} | "
              f"{r['steps_within_3pts']} of {r['steps']} | {st['coverage_80']:.1%}, "
              f"{st['steps_within_3pts']} | {r['width_80']['model']:.3f} | "
              f"{r['median_mse'] / r['point_mse']:.4f} | {pin['model']:.4f} | {others} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=f"etth1,illness,sample,{GENERATED},{WALK}")
    parser.add_argument("--horizons", default="", help="only these horizons (default: all)")
    parser.add_argument("--etth1-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13, help="of the generated series")
    parser.add_argument("--methods", default="residuals,pinball", help="--intervals values")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/intervals-cpu.json")
    args = parser.parse_args()
    only = {int(h) for h in args.horizons.split(",") if h}
    kept = json.loads(args.json.read_text())["test"] if args.json.exists() else []
    kept = [r for r in kept if "method" in r]  # rows from before the methods were compared
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            made = MADE.get(name)
            data = (made.write(Path(tmp) / f"{name}.csv", args.seed) if made
                    else SETS[name].path)
            horizons = (made.horizon,) if made else SETS[name].horizons
            for horizon in (h for h in horizons if not only or h in only):
                for method in args.methods.split(","):
                    rows.append(run_case(name, data, horizon, method, Path(tmp), args))
                    if made:
                        rows[-1]["data"] = f"{name} (seed {args.seed})"
                    print(json.dumps({k: v for k, v in rows[-1].items()
                                      if k != "coverage_80_per_step"}), flush=True)
    done = {(r["data"], r["horizon"], r["method"]) for r in rows}
    rows = [r for r in kept if (r["data"], r["horizon"], r["method"]) not in done] + rows
    print(f"# {platform.machine()}, {os.cpu_count()} cores")
    print_table(rows)
    print_periods(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {"arch": platform.machine(), "cores": os.cpu_count()},
        "levels": LEVELS, "tolerance": TOLERANCE, "test": rows}, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
