"""One global model over many series (`--id-col`) against one model per series.

Why: a long table of many short series is where one shared model should pay off: each
series alone has few windows, and all of them together teach the shape they share. The
data is generated (hourly series with their own level, amplitude, phase and noise, of
different lengths), so the script needs no download. Both approaches train with the same
options through the real CLI; each series is scored on the rows after its own validation
part, and the scores are window-weighted means of z-scored MSE. A script, not a test: it
prints a table and writes JSON.

    .venv/bin/python benchmarks/many_series.py
    .venv/bin/python benchmarks/many_series.py --series 20 --rows 600
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["--lookback", "48", "--horizon", "12", "--epochs", "8", "--d-model", "16",
           "--n-heads", "2", "--d-ff", "32", "--patch-len", "8", "--stride", "8",
           "--batch-size", "64", "--device", "cpu", "--quiet", "--threads", "1"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--rows", type=int, default=300, help="rows of the longest series")
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "many_series-cpu.json")
    return p.parse_args(argv)


def make_table(path: Path, n_series: int, rows: int) -> list[str]:
    """A long CSV `date,id,y`: series of 60-100% of `rows`, starting at different hours."""
    rng = np.random.default_rng(0)
    lines, ids = ["date,id,y"], []
    for k in range(n_series):
        sid, n, start = f"s{k:03d}", int(rows * rng.uniform(0.6, 1.0)), int(rng.integers(0, 48))
        t = np.arange(start, start + n)
        level, amp, phase = rng.uniform(5, 500), rng.uniform(0.1, 0.5), rng.uniform(0, 6.3)
        y = level * (1 + amp * np.sin(2 * np.pi * t / 24 + phase)
                     + 0.1 * np.sin(2 * np.pi * t / 168)) + 0.05 * level * rng.normal(size=n)
        stamps = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[h]")
        lines += [f"{str(s).replace('T', ' ')},{sid},{v:.4f}" for s, v in zip(stamps, y,
                                                                             strict=True)]
        ids.append(sid)
    path.write_text("\n".join(lines) + "\n")
    return ids


def tsattn(*args: str) -> str:
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tsattn", *args], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"tsattn {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def global_model(table: Path, folder: Path) -> dict:
    model = folder / "global.tsattn"
    started = time.perf_counter()
    tsattn("train", str(table), "--id-col", "id", "-o", str(model), *OPTIONS)
    seconds = time.perf_counter() - started
    result = json.loads(tsattn("evaluate", str(model), str(table), "--json", "--quiet"))
    return {"seconds": round(seconds, 1), "windows": result["windows"],
            "mse": result["scores"]["model"]["mse"],
            "linear_mse": result["scores"]["linear"]["mse"], **interval_summary(result)}


def interval_summary(result: dict) -> dict:
    """The model's 80% interval over all series, and its spread from series to series."""
    def eighty(scores: dict) -> float:
        (found,) = [i["coverage"] for i in scores["intervals"]["scores"]["model"]["intervals"]
                    if abs(i["lower"] - 0.1) < 1e-9 and abs(i["upper"] - 0.9) < 1e-9]
        return found

    per_series = [eighty(r) for r in result["series"].values()]
    return {"coverage_80": eighty(result), "coverage_80_series_min": min(per_series),
            "coverage_80_series_max": max(per_series),
            "series_within_5pts": sum(abs(c - 0.8) <= 0.05 for c in per_series),
            "pinball": result["intervals"]["scores"]["model"]["pinball"]}


def per_series_models(table: Path, ids: list[str], folder: Path) -> dict:
    """One file and one model per series, as a script with one job per series would do."""
    header, *rows = table.read_text().splitlines()
    total_s, weighted, linear, windows = 0.0, 0.0, 0.0, 0
    for sid in ids:
        part = folder / f"{sid}.csv"
        part.write_text("\n".join([header.replace(",id", "")] + [
            r.replace(f",{sid},", ",") for r in rows if f",{sid}," in r]) + "\n")
        model = folder / f"{sid}.tsattn"
        started = time.perf_counter()
        tsattn("train", str(part), "-o", str(model), *OPTIONS)
        total_s += time.perf_counter() - started
        result = json.loads(tsattn("evaluate", str(model), str(part), "--json", "--quiet"))
        windows += result["windows"]
        weighted += result["scores"]["model"]["mse"] * result["windows"]
        linear += result["scores"]["linear"]["mse"] * result["windows"]
    return {"seconds": round(total_s, 1), "windows": windows, "mse": weighted / windows,
            "linear_mse": linear / windows}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = folder / "long.csv"
        ids = make_table(table, args.series, args.rows)
        rows = {"global (--id-col)": global_model(table, folder),
                "one model per series": per_series_models(table, ids, folder)}
    for name, r in rows.items():
        print(f"{name:<22} train {r['seconds']:>7.1f} s  test MSE {r['mse']:.4f} "
              f"(linear baseline {r['linear_mse']:.4f}, {r['windows']} windows)")
    r = rows["global (--id-col)"]
    print(f"global 80% interval: covers {r['coverage_80']:.1%} (series "
          f"{r['coverage_80_series_min']:.1%} to {r['coverage_80_series_max']:.1%}, "
          f"{r['series_within_5pts']} of {args.series} within 80 +/- 5), pinball "
          f"{r['pinball']:.4f}")
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "series": args.series, "rows": args.rows, "options": OPTIONS, "results": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
