"""The development suite: every data set of ../shared/data plus the generated sample, both
models, on each set's standard protocol, through the real CLI, beside the free baselines.

Only `--lookback`/`--horizon` (and the protocol's split) change from the documented
defaults. Each run is scored by `tsattn evaluate` on the test rows, every test window kept.

    .venv/bin/python benchmarks/suite.py                         # everything (~20 min, 2 cores)
    .venv/bin/python benchmarks/suite.py --sets illness --models transformer
    .venv/bin/python benchmarks/suite.py --sets etth1 --horizons 96 -- --no-linear-path
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Protocol:
    """One data set's standard protocol: file, split rows, lookback, horizons, test rows."""

    path: Path
    train_end: int
    val_end: int
    end: int
    lookback: int
    horizons: tuple[int, ...]


SETS = {
    # 12/4/4 months (DESIGN.md, "The standard protocol")
    "etth1": Protocol(SHARED / "ETTh1.csv", 8640, 11520, 14400, 336, (96, 192, 336, 720)),
    # 70/10/20 of 966 weekly rows; lookback 104 as PatchTST
    "illness": Protocol(SHARED / "national_illness.csv", 676, 773, 966, 104, (24, 36, 48, 60)),
    # 70/10/20 of 2016 hourly rows; the quick start's lookback and horizon
    "sample": Protocol(ROOT / "sample_data" / "sample.csv", 1411, 1612, 2016, 168, (24,)),
}
MODELS = ("transformer", "lstm-attn")
BASELINES = ("repeat_last", "seasonal_naive", "linear")


def tsattn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tsattn", *args], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"tsattn {' '.join(args)} failed:\n{done.stderr}")
    return done


def run_one(name: str, model: str, horizon: int, workdir: Path, extra: list[str]) -> dict:
    """Train one (set, model, horizon), score it on the test rows; scores and seconds."""
    p = SETS[name]
    path = workdir / f"{name}-{model}-{horizon}.tsattn"
    started = time.perf_counter()
    tsattn("train", str(p.path), "--train-end", str(p.train_end), "--val-end", str(p.val_end),
           "--lookback", str(p.lookback), "--horizon", str(horizon), "--model", model,
           *extra, "-o", str(path), "--quiet")
    seconds = time.perf_counter() - started
    result = json.loads(tsattn("evaluate", str(path), str(p.path), "--from", str(p.val_end),
                               "--to", str(p.end), "--json", "--quiet").stdout)
    card = json.loads(tsattn("info", str(path), "--json").stdout)
    metrics = card["metrics"]
    scores = result["scores"]
    best_free = min(scores[b]["mse"] for b in BASELINES if b in scores)
    return {
        "set": name, "model": model, "horizon": horizon, "windows": result["windows"],
        "train_seconds": round(seconds, 1),
        **{f"{key}_mse": s["mse"] for key, s in scores.items()},
        **{f"{key}_mae": s["mae"] for key, s in scores.items()},
        "best_free_mse": best_free,
        "ratio_to_best_free": scores["model"]["mse"] / best_free,
        "val_mse": metrics["best_val_mse"], "val_baselines": card["baselines"],
        "val_start_mse": metrics["history"][0]["val_loss"],
        "epochs_run": metrics["epochs_run"], "attention_share": metrics["attention_share"],
        "linear_ridge": metrics["linear_ridge"],
    }


def print_table(rows: list[dict]) -> None:
    print(f"\n| set | model | H | MSE | MAE | repeat-last | seasonal | linear | "
          f"ratio to best free | train s |\n|{'---|' * 10}")
    for r in rows:
        seasonal = r.get("seasonal_naive_mse")
        print(f"| {r['set']} | {r['model']} | {r['horizon']} | {r['model_mse']:.3f} | "
              f"{r['model_mae']:.3f} | {r['repeat_last_mse']:.3f} | "
              f"{'-' if seasonal is None else f'{seasonal:.3f}'} | {r['linear_mse']:.3f} | "
              f"{r['ratio_to_best_free']:.3f} | {r['train_seconds']:.0f} |")
    for name in dict.fromkeys(r["set"] for r in rows):
        for model in dict.fromkeys(r["model"] for r in rows):
            part = [r["model_mse"] for r in rows if r["set"] == name and r["model"] == model]
            if part:
                print(f"average {name} {model}: {sum(part) / len(part):.4f} "
                      f"over {len(part)} horizons")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--horizons", default="", help="only these horizons (default: all)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/suite-cpu.json")
    parser.add_argument("extra", nargs="*", help="more train options, after --")
    args = parser.parse_args()
    only = {int(h) for h in args.horizons.split(",") if h}
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            for model in args.models.split(","):
                for horizon in SETS[name].horizons:
                    if only and horizon not in only:
                        continue
                    rows.append(run_one(name, model, horizon, Path(tmp), args.extra))
                    print(json.dumps(rows[-1]), flush=True)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "extra": args.extra, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
