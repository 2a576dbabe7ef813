"""Does attention rank the inputs that move the forecast? `explain --faithfulness` per model.

Trains small quick models through the real CLI (lookback 96, horizon 24, a few epochs) on
ETTh1 (target OT, standard borders) and on the sample data (target load), then runs
`tsattn explain MODEL DATA --faithfulness --json` on 200 windows of the rows after the
validation part. Prints one line per model and writes every report to the JSON.

    .venv/bin/python benchmarks/faithfulness.py
    .venv/bin/python benchmarks/faithfulness.py --only etth1-transformer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from suite import ROOT, tsattn

DATA = ROOT / "sample_data" / "ETTh1.csv"
SAMPLE = ROOT / "sample_data" / "sample.csv"
QUICK = ["--lookback", "96", "--horizon", "24", "--quiet"]
ETTH1 = [str(DATA), "--target", "OT", "--train-end", "8640", "--val-end", "11520",
         "--epochs", "4"]
SAMPLE_RUN = [str(SAMPLE), "--target", "load", "--epochs", "8"]
RUNS = {
    "etth1-transformer": [*ETTH1, "--model", "transformer"],
    "etth1-lstm-attn": [*ETTH1, "--model", "lstm-attn"],
    "sample-transformer": [*SAMPLE_RUN, "--model", "transformer"],
    "sample-lstm-attn": [*SAMPLE_RUN, "--model", "lstm-attn"],
    "sample-transformer-mixing": [*SAMPLE_RUN, "--model", "transformer", "--channel-mixing"],
}


def run(name: str, workdir: Path) -> dict:
    """Train one model, then measure; the report plus the commands and wall times."""
    path = workdir / f"{name}.tsattn"
    train = ["train", *RUNS[name], *QUICK, "-o", str(path)]
    started = time.perf_counter()
    tsattn(*train)
    trained = time.perf_counter()
    explain = ["explain", str(path), RUNS[name][0], "--faithfulness", "--json"]
    report = json.loads(tsattn(*explain).stdout)
    return {"train": _shown(train, workdir), "explain": _shown(explain, workdir),
            "train_seconds": round(trained - started, 1),
            "explain_seconds": round(time.perf_counter() - trained, 1), "report": report}


def _shown(command: list[str], workdir: Path) -> str:
    """The command as a user would type it from the repository root."""
    text = " ".join(["tsattn", *command])
    return text.replace(f"{workdir}/", "").replace(f"{ROOT}/", "")


def line(name: str, result: dict) -> str:
    rankings = result["report"]["rankings"]
    areas = "  ".join(
        f"{r[:4]} {rankings[r]['comprehensiveness']['area']['mean']:.3g}/"
        f"{rankings[r]['sufficiency']['area']['mean']:.3g}" for r in rankings)
    return f"{name:<26} {areas}  {result['explain_seconds']:>5.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks/results/faithfulness-cpu.json")
    args = parser.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores; areas comprehensiveness/"
          "sufficiency per ranking, explain wall time")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            results[name] = run(name, Path(tmp))
            print(line(name, results[name]), flush=True)
            print(f"  {results[name]['report']['verdict']['text']}", flush=True)
    machine = {"machine": platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version()}
    args.json.write_text(json.dumps({"machine": machine, "runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
