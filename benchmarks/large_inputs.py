"""Time and peak memory of tsattn on large inputs: long single series and many series.

Why: a user with a 1M-row file, or a long table of 10k series, needs to know whether a
command fits the machine and how it grows. Every case runs as its own process (the CLI,
or the reader called from Python) and its peak resident memory is read from the kernel
(`wait4`'s ru_maxrss), so a case's figure includes Python, pandas and torch themselves
(the `baseline` rows: the imports alone). The data is generated (one row a minute, so 10M rows
stay inside pandas' years; a cycle of 24 rows plus noise; one covariate), so the script
needs no download. The models are tiny and
train for one epoch: model quality is not the point here, the cost of the data is.

Cases per row count N: reading the CSV and the Parquet file (`read_frame`), `predict
--rolling` to a file (N - lookback + 1 origins, CSV streamed), with `--attention` (JSON
lines) where asked, and `train --epochs 1`. For the many-series table: `train --id-col`
(one epoch) and `predict` of every series. For a wide table (`--wide ROWS COLUMNS`, every
column a target, as a user who names no `--target` gets; 52696 x 21 is the size of the
public weather set): `train` (one epoch, lookback 336, horizon `--wide-horizon`), `predict`
from the last origin (its intervals rolled over the validation count of recent windows),
`evaluate`, which scores every window of the validation and test parts with intervals, and
a rolling forecast with intervals from every origin of the table's last `--wide-rolling`
rows through the Python API (chunk by chunk, no CSV: formatting would dominate).
A script, not a test: it prints a table and writes JSON.

    .venv/bin/python benchmarks/large_inputs.py
    .venv/bin/python benchmarks/large_inputs.py --rows 100000 1000000 10000000 --series 10000
    .venv/bin/python benchmarks/large_inputs.py --rows --series 0 --wide 52696 21
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["--lookback", "24", "--horizon", "6", "--epochs", "1", "--d-model", "16",
         "--n-heads", "2", "--d-ff", "32", "--patch-len", "4", "--stride", "4",
         "--batch-size", "1024", "--device", "cpu", "--threads", "1", "--quiet"]
WIDE_MODEL = ["--lookback", "336", "--epochs", "1", "--d-model", "16", "--n-layers", "1",
              "--device", "cpu", "--quiet"]
ROLLING = ("import pandas as pd; import tsattn.api as api; m = api.load({model!r}); "
           "f = m.read(pd.read_csv({table!r}).tail({rows})); "
           "sum(len(c.origins) for c in m.forecast_chunks(f, with_attention=False))")
READ = ("from pathlib import Path; from tsattn.data import read_frame; "
        "read_frame(Path({path!r}), targets=['v'])")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    p.add_argument("--series", type=int, default=10_000,
                   help="series of the long table (0: none)")
    p.add_argument("--series-rows", type=int, default=500)
    p.add_argument("--attention-rows", type=int, default=100_000,
                   help="largest N for which predict --rolling also writes --attention")
    p.add_argument("--train-rows", type=int, default=1_000_000,
                   help="largest N that is also trained on (one epoch)")
    p.add_argument("--rolling-rows", type=int, default=1_000_000,
                   help="largest N that is also forecast with --rolling")
    p.add_argument("--wide", type=int, nargs=2, metavar=("ROWS", "COLUMNS"),
                   help="also a wide table, every column a target: train and evaluate")
    p.add_argument("--wide-horizon", type=int, default=720)
    p.add_argument("--wide-rolling", type=int, default=8000,
                   help="rows of the wide table's end to forecast from every origin")
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "large_inputs-cpu.json")
    return p.parse_args(argv)


def env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def measure(args: list[str]) -> dict:
    """Wall time and peak resident memory (MB) of one process running `args`."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{error}")
    return {"seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1)}


def tsattn(*args: str) -> list[str]:
    return [sys.executable, "-m", "tsattn", *args]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def one_series(n: int, folder: Path) -> tuple[Path, Path]:
    """A series of n rows a minute apart (target v, covariate x) as CSV and Parquet."""
    rng = np.random.default_rng(n)
    t = np.arange(n)
    df = pd.DataFrame({
        "date": pd.date_range("2000-01-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M"),
        "v": np.round(10 + np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=n), 4),
        "x": np.round(np.cos(2 * np.pi * t / 24), 4)})
    csv, parquet = folder / f"rows{n}.csv", folder / f"rows{n}.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(parquet)
    return csv, parquet


def many_series(n_series: int, rows: int, folder: Path) -> Path:
    """A long table `date,id,v`: n_series hourly series of `rows` rows, each its own level."""
    rng = np.random.default_rng(1)
    t = np.tile(np.arange(rows), n_series)
    level = np.repeat(rng.uniform(1, 100, n_series), rows)
    df = pd.DataFrame({
        "date": np.tile(pd.date_range("2020-01-01", periods=rows, freq="h")
                        .strftime("%Y-%m-%d %H:%M"), n_series),
        "id": np.repeat([f"s{i}" for i in range(n_series)], rows),
        "v": np.round(level * (1 + 0.2 * np.sin(2 * np.pi * t / 24))
                      + rng.normal(size=t.size), 3)})
    path = folder / f"series{n_series}x{rows}.csv"
    df.to_csv(path, index=False)
    return path


def wide_table(rows: int, columns: int, folder: Path) -> Path:
    """`rows` rows ten minutes apart of `columns` series: a daily cycle of its own amplitude,
    a slow random walk and noise each."""
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    values = (np.sin(2 * np.pi * t / 144)[:, None] * rng.uniform(0.5, 2, columns)
              + np.cumsum(rng.normal(0, 0.05, (rows, columns)), axis=0)
              + rng.normal(0, 0.3, (rows, columns)))
    df = pd.DataFrame(np.round(values, 4), columns=[f"c{i}" for i in range(columns)])
    df.insert(0, "date", pd.date_range("2020-01-01", periods=rows, freq="10min")
              .strftime("%Y-%m-%d %H:%M"))
    path = folder / f"wide{rows}x{columns}.csv"
    df.to_csv(path, index=False)
    return path


def wide_cases(opts: argparse.Namespace, folder: Path) -> list[dict]:
    rows, columns = opts.wide
    table = wide_table(rows, columns, folder)
    model = folder / "wide.tsattn"
    label = f"{rows:,} x {columns} columns"
    result = []
    for name, args in (
            (f"train (1 epoch, horizon {opts.wide_horizon})", tsattn(
                "train", str(table), "-o", str(model), "--horizon", str(opts.wide_horizon),
                *WIDE_MODEL)),
            ("predict (last origin)", tsattn("predict", str(model), str(table), "-o",
                                             str(folder / "wide.csv"), "--quiet")),
            ("evaluate", tsattn("evaluate", str(model), str(table), "--json")),
            (f"rolling forecast of the last {opts.wide_rolling:,} rows (API, no CSV)",
             python(ROLLING.format(model=str(model), table=str(table),
                                   rows=opts.wide_rolling)))):
        result.append({"data": label, "rows": rows, "case": name, **measure(args)})
        print_row(result[-1])
    return result


def single_cases(n: int, opts: argparse.Namespace, folder: Path, model: Path) -> list[dict]:
    csv, parquet = one_series(n, folder)
    cases = [("read CSV", python(READ.format(path=str(csv)))),
             ("read Parquet", python(READ.format(path=str(parquet))))]
    out = str(folder / "out.csv")
    if n <= opts.rolling_rows:
        cases.append(("predict --rolling", tsattn("predict", str(model), str(parquet),
                                                  "--rolling", "-o", out, "--quiet")))
    if n <= opts.attention_rows:
        cases.append(("predict --rolling --attention", tsattn(
            "predict", str(model), str(parquet), "--rolling", "-o", out, "--attention",
            str(folder / "att.jsonl"), "--quiet")))
    if n <= opts.train_rows:
        cases.append(("train (1 epoch)", tsattn("train", str(parquet), "-t", "v", "-o",
                                                str(folder / "big.tsattn"), *MODEL)))
    rows = []
    for name, args in cases:
        rows.append({"data": f"{n:,} rows", "rows": n, "case": name, **measure(args)})
        print_row(rows[-1])
    for path in (csv, parquet, folder / "out.csv", folder / "att.jsonl"):
        path.unlink(missing_ok=True)
    return rows


def series_cases(opts: argparse.Namespace, folder: Path) -> list[dict]:
    table = many_series(opts.series, opts.series_rows, folder)
    model = folder / "series.tsattn"
    label, n = f"{opts.series:,} series x {opts.series_rows}", opts.series * opts.series_rows
    rows = []
    for name, args in (
            ("train --id-col (1 epoch)", tsattn("train", str(table), "--id-col", "id", "-o",
                                                str(model), *MODEL)),
            ("predict every series", tsattn("predict", str(model), str(table), "-o",
                                            str(folder / "series.csv"), "--quiet"))):
        rows.append({"data": label, "rows": n, "case": name, **measure(args)})
        print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    print(f"{r['data']:<22} {r['case']:<32} {r['seconds']:>9.1f} s {r['peak_mb']:>9.0f} MB",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, code in (("import pandas (baseline)", "import tsattn.data"),
                           ("import torch (baseline)", "import tsattn.inference")):
            rows.append({"data": "-", "rows": 0, "case": name, **measure(python(code))})
            print_row(rows[-1])
        small, _ = one_series(5_000, folder)
        model = folder / "small.tsattn"
        measure(tsattn("train", str(small), "-t", "v", "-o", str(model), *MODEL))
        for n in opts.rows:
            rows += single_cases(n, opts, folder, model)
            save(opts.json, rows)  # a long run keeps what it measured
        if opts.series:
            rows += series_cases(opts, folder)
        if opts.wide:
            rows += wide_cases(opts, folder)
    save(opts.json, rows)
    print(f"wrote {opts.json}")


def save(path: Path, rows: list[dict]) -> None:
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "model": MODEL, "cases": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
