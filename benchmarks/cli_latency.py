"""Cold-start latency of the tsattn CLI, as ratios to `python -c "import torch, pandas"`.

Why: a forecast is often one short process in a pipeline (`tail -n 400 new.csv | tsattn
predict m.tsattn -`), so its start-up is most of its cost. The floor for any tool built on
torch and pandas is importing them; the target is `predict` within 1.3x of that floor, and
`--help`/`info` well below it because they must not import torch at all.

Every command runs as a fresh process; the commands are interleaved in rounds (order
rotating) and the report gives medians, so a busy machine slows all of them alike.
A script, not a test: it prints a table and writes JSON.

    .venv/bin/python benchmarks/cli_latency.py                 # trains a small model first
    .venv/bin/python benchmarks/cli_latency.py --model etth1.tsattn --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ETTH1 = ROOT / "sample_data" / "ETTh1.csv"
TRAIN_END, VAL_END, TEST_END = 8640, 11520, 14400
LOOKBACK, HORIZON = 336, 96
HEAVY = ("torch", "pandas", "numpy", "sklearn", "scipy", "safetensors", "rich", "typer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="rounds; medians are reported")
    p.add_argument("--model", type=Path, default=None,
                   help="a model file with lookback 336 (default: train one, 1 epoch)")
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "cli_latency-cpu.json")
    return p.parse_args(argv)


def env() -> dict[str, str]:
    """Run `python -m tsattn` from this checkout even when tsattn is not installed."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def run(cmd: list[str], stdin: bytes | None = None,
        extra: tuple[str, ...] = ()) -> tuple[float, bytes, bytes]:
    """Run one fresh process; returns (seconds, stdout, stderr). Fails loudly on errors."""
    full = [sys.executable, *extra, *cmd]
    start = time.perf_counter()
    done = subprocess.run(full, input=stdin, capture_output=True, cwd=ROOT, env=env())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(full)} failed ({done.returncode}):\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return seconds, done.stdout, done.stderr


def train_model(directory: Path) -> Path:
    """A small model through the real CLI: ETTh1 split, lookback 336, horizon 96, 1 epoch."""
    path = directory / "etth1.tsattn"
    cmd = ["-m", "tsattn", "train", str(ETTH1), "--lookback", str(LOOKBACK),
           "--horizon", str(HORIZON), "--epochs", "1", "--quiet",
           "--train-end", str(TRAIN_END), "--val-end", str(VAL_END), "-o", str(path)]
    seconds, _, _ = run(cmd)
    print(f"trained {path.name} in {seconds:.1f} s (1 epoch)", file=sys.stderr)
    return path


def inputs(directory: Path) -> tuple[bytes, Path, int]:
    """The last 400 rows of ETTh1 for stdin, and the test part (with its lookback) as a file.

    Returns (stdin bytes, rolling file, number of rolling windows).
    """
    lines = ETTH1.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    tail = header + b"".join(rows[-400:])
    test = rows[VAL_END - LOOKBACK : TEST_END]
    rolling = directory / "etth1-test.csv"
    rolling.write_bytes(header + b"".join(test))
    return tail, rolling, len(test) - LOOKBACK + 1


def commands(model: Path, tail: bytes, rolling: Path) -> dict[str, tuple[list[str], bytes]]:
    """Name -> (arguments after the interpreter, stdin)."""
    return {
        "baseline": (["-c", "import torch, pandas"], b""),
        "help": (["-m", "tsattn", "--help"], b""),
        "info": (["-m", "tsattn", "info", str(model)], b""),
        "predict": (["-m", "tsattn", "predict", str(model), "-"], tail),
        "rolling": (["-m", "tsattn", "predict", str(model), str(rolling), "--rolling"], b""),
    }


def check_outputs(outputs: dict[str, bytes], n_windows: int) -> None:
    """The timed commands must have done the work: one forecast, or one per window."""
    expected = {"predict": 1 + HORIZON, "rolling": 1 + n_windows * HORIZON}
    for name, lines in expected.items():
        got = outputs[name].count(b"\n")
        if got != lines:
            raise SystemExit(f"{name} wrote {got} lines, expected {lines}")


def time_all(cmds: dict, runs: int) -> tuple[dict[str, list[float]], dict[str, bytes]]:
    """Every command once per round, the order rotated each round; keeps the last outputs."""
    names = list(cmds)
    times: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, bytes] = {}
    for r in range(runs):
        for name in names[r % len(names):] + names[: r % len(names)]:
            seconds, out, _ = run(*cmds[name])
            times[name].append(seconds)
            outputs[name] = out
        print(f"round {r + 1}/{runs} done", file=sys.stderr)
    return times, outputs


def import_times(cmd: list[str], stdin: bytes) -> dict[str, float]:
    """Cumulative import time (ms) of every module, from one `python -X importtime` run.

    A module is listed once, where it is first imported (often nested inside tsattn's own
    modules), so a package's line holds the whole cost of bringing it in.
    """
    _, _, err = run(cmd, stdin, extra=("-X", "importtime"))
    times: dict[str, float] = {}
    for line in err.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        times[name.strip()] = int(cumulative) / 1000
    return times


def import_report(cmds: dict) -> dict[str, dict]:
    """For help, info and predict: is torch imported, and which packages cost the most."""
    report = {}
    for name in ("help", "info", "predict"):
        times = import_times(*cmds[name])
        packages = {m: ms for m, ms in times.items() if "." not in m and m != "tsattn"}
        costly = sorted(packages.items(), key=lambda kv: -kv[1])[:10]
        report[name] = {
            "imports_torch": "torch" in times,
            "imported": {m: m in times for m in HEAVY},
            "tsattn_cli_import_ms": round(times.get("tsattn.cli", 0.0), 1),
            "top_packages_ms": {m: round(ms, 1) for m, ms in costly},
        }
    return report


def summarize(times: dict[str, list[float]], n_windows: int) -> dict:
    """Medians, the ratios to the import floor, and rolling windows per second."""
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["baseline"]
    return {
        "median_s": med,
        "ratio_to_baseline": {n: med[n] / base for n in med if n != "baseline"},
        "rolling_windows": n_windows,
        "rolling_windows_per_s": n_windows / med["rolling"],
        "rolling_windows_per_s_beyond_predict": (n_windows - 1)
        / max(1e-9, med["rolling"] - med["predict"]),
    }


def print_report(info: dict, summary: dict, imports: dict, times: dict) -> None:
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    head = f"\n{'command':<10} {'median s':>9} {'x baseline':>11}   runs (s)"
    print(head + "\n" + "-" * (len(head) + 20))
    for name, seconds in summary["median_s"].items():
        ratio = summary["ratio_to_baseline"].get(name, 1.0)
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:<10} {seconds:>9.3f} {ratio:>10.2f}x   {runs}")
    predict = summary["ratio_to_baseline"]["predict"]
    print(f"\npredict / baseline = {predict:.2f} (target <= 1.3: "
          f"{'met' if predict <= 1.3 else 'NOT met'})")
    print(f"rolling over the test part: {summary['rolling_windows']} windows, "
          f"{summary['rolling_windows_per_s']:.0f} windows/s end to end, "
          f"{summary['rolling_windows_per_s_beyond_predict']:.0f} windows/s beyond start-up")
    for name, rep in imports.items():
        top = ", ".join(f"{m} {ms:.0f}" for m, ms in rep["top_packages_ms"].items())
        print(f"{name}: imports torch: {rep['imports_torch']}; tsattn.cli "
              f"{rep['tsattn_cli_import_ms']:.0f} ms; costliest packages (ms, cumulative "
              f"at first import): {top}")


def machine_info() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "executable": sys.executable}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        model = args.model or train_model(directory)
        tail, rolling, n_windows = inputs(directory)
        cmds = commands(model, tail, rolling)
        run(*cmds["predict"])  # fill the OS file cache before anything is timed
        times, outputs = time_all(cmds, args.runs)
        check_outputs(outputs, n_windows)
        imports = import_report(cmds)
    summary = summarize(times, n_windows)
    info = machine_info()
    print_report(info, summary, imports, times)
    document = {"machine": info, "runs": args.runs,
                "model": str(args.model) if args.model else "trained by the script (1 epoch)",
                "times_s": times, **summary, "imports": imports}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
