"""Should calendar features be on by default? Every set of the suite with and without
`--calendar`, through the real CLI; the default is chosen on the validation MSE only.

Calendar phases (time of day and week for hourly data, week and year for daily, year for
weekly) are known covariates read by the linear path's third stage, kept per target only
where they beat ignoring them on held-out windows. Horizons longer than the lookback are
skipped: a known covariate needs a lookback longer than the horizon.

    .venv/bin/python benchmarks/calendar_features.py
    .venv/bin/python benchmarks/calendar_features.py --sets illness --models transformer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import ROOT, SETS, run_one, tsattn


def compare(name: str, model: str, horizon: int, workdir: Path) -> dict:
    """One (set, model, horizon) trained without and with calendar features."""
    without = run_one(name, model, horizon, workdir / "without", [])
    with_ = run_one(name, model, horizon, workdir / "with", ["--calendar"])
    path = workdir / "with" / f"{name}-{model}-{horizon}.tsattn"
    kept = json.loads(tsattn("info", str(path), "--json").stdout)["metrics"]["known_ridge"]
    return {"set": name, "model": model, "horizon": horizon,
            "val_without": without["val_mse"], "val_with": with_["val_mse"],
            "test_without": without["model_mse"], "test_with": with_["model_mse"],
            "targets_reading_calendar": sum(r is not None for r in kept or []),
            "targets": len(kept or []),
            "seconds_without": without["train_seconds"],
            "seconds_with": with_["train_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--models", default="transformer")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/calendar-cpu.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            protocol = SETS[name]
            for model in args.models.split(","):
                for horizon in protocol.horizons:
                    if horizon >= protocol.lookback:
                        continue
                    for part in ("without", "with"):
                        (Path(tmp) / part).mkdir(exist_ok=True)
                    rows.append(compare(name, model, horizon, Path(tmp)))
                    r = rows[-1]
                    print(f"| {name} | {model} | {horizon} | {r['val_without']:.4f} | "
                          f"{r['val_with']:.4f} | {r['test_without']:.4f} | "
                          f"{r['test_with']:.4f} | {r['targets_reading_calendar']}/"
                          f"{r['targets']} |", flush=True)
    args.json.write_text(json.dumps({"machine": {"cores": os.cpu_count(),
                                                 "platform": platform.platform()},
                                     "rows": rows}, indent=2) + "\n")
    better = sum(r["val_with"] < r["val_without"] for r in rows)
    print(f"\nvalidation MSE lower with --calendar in {better} of {len(rows)} runs")


if __name__ == "__main__":
    main()
