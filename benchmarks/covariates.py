"""Does reading covariates help, or at least never hurt? A set's `OT` with and without its
other columns as past covariates (ETTh1's six loads: the literature's "MS" setting;
national_illness's ILI counts and shares), through the real CLI.

Each horizon trains twice on the set's standard protocol with the documented defaults:
once on `date,OT` alone and once on the whole file with `--target OT` (the other columns
are past covariates), and scores both on the test rows with `tsattn evaluate`. The bar:
with covariates never worse than without by more than 1%.

    .venv/bin/python benchmarks/covariates.py
    .venv/bin/python benchmarks/covariates.py --set illness
    .venv/bin/python benchmarks/covariates.py --models lstm-attn --horizons 96
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import ROOT, SETS, tsattn


def target_only(source: Path, dest: Path, columns: tuple[str, ...]) -> Path:
    with source.open(newline="") as fin, dest.open("w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.writer(fout)
        writer.writerow(columns)
        for row in reader:
            writer.writerow([row[c] for c in columns])
    return dest


def score(name: str, data: Path, model: str, horizon: int, workdir: Path, tag: str) -> dict:
    p = SETS[name]
    path = workdir / f"{tag}-{model}-{horizon}.tsattn"
    started = time.perf_counter()
    tsattn("train", str(data), "--target", "OT", "--train-end", str(p.train_end),
           "--val-end", str(p.val_end), "--lookback", str(p.lookback), "--horizon",
           str(horizon), "--model", model, "-o", str(path), "--quiet")
    seconds = time.perf_counter() - started
    result = json.loads(tsattn("evaluate", str(path), str(data), "--from", str(p.val_end),
                               "--to", str(p.end), "--json", "--quiet").stdout)
    metrics = json.loads(tsattn("info", str(path), "--json").stdout)["metrics"]
    return {"mse": result["scores"]["model"]["mse"],
            "linear_mse": result["scores"]["linear"]["mse"], "val_mse": metrics["best_val_mse"],
            "covariate_ridge": metrics.get("covariate_ridge"), "train_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="etth1", choices=("etth1", "illness"))
    parser.add_argument("--models", default="transformer,lstm-attn")
    parser.add_argument("--horizons", default="", help="default: the set's protocol")
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/"
                        "covariates-cpu.json (etth1), covariates-illness-cpu.json")
    args = parser.parse_args()
    suffix = "" if args.set == "etth1" else f"-{args.set}"
    json_path = args.json or ROOT / f"benchmarks/results/covariates{suffix}-cpu.json"
    horizons = (tuple(map(int, args.horizons.split(","))) if args.horizons
                else SETS[args.set].horizons)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = SETS[args.set].path
        alone = target_only(full, work / "ot.csv", ("date", "OT"))
        for model in args.models.split(","):
            for horizon in horizons:
                without = score(args.set, alone, model, horizon, work, "alone")
                with_cov = score(args.set, full, model, horizon, work, "covariates")
                rows.append({"model": model, "horizon": horizon, "without": without,
                             "with": with_cov, "ratio": with_cov["mse"] / without["mse"]})
                print(json.dumps(rows[-1]), flush=True)
    print("\n| model | H | MSE without | MSE with covariates | ratio | covariates kept |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        kept = r["with"]["covariate_ridge"]
        print(f"| {r['model']} | {r['horizon']} | {r['without']['mse']:.4f} | "
              f"{r['with']['mse']:.4f} | {r['ratio']:.3f} | "
              f"{'no' if not kept or kept[0] is None else f'yes (ridge {kept[0]:g})'} |")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
