"""The Python API gives what the CLI gives, and the README's example runs as written."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, TINY, run_cli
from tsattn.api import load

# each target, then its quantiles beside it
COLUMNS = ["load", "load_q0.1", "load_q0.5", "load_q0.9", "temp", "temp_q0.1", "temp_q0.5",
           "temp_q0.9"]


def test_predict_and_evaluate_match_the_cli(tiny_model: Path, hourly_csv: Path):
    model = load(tiny_model)
    history = pd.read_csv(hourly_csv)
    forecast = model.predict(history)
    done = run_cli("predict", str(tiny_model), str(hourly_csv))
    assert done.returncode == 0, done.stderr
    cli = pd.read_csv(io.StringIO(done.stdout))
    assert list(forecast.columns) == list(cli.columns) == ["date", *COLUMNS]
    assert list(forecast["date"]) == list(cli["date"])
    np.testing.assert_allclose(forecast[cli.columns[1:]], cli[cli.columns[1:]], rtol=1e-6)
    scores = model.evaluate(history)
    done = run_cli("evaluate", str(tiny_model), str(hourly_csv), "--json", "--quiet")
    cli_scores = json.loads(done.stdout)
    assert scores["windows"] == cli_scores["windows"] and scores["rows"] == cli_scores["rows"]
    # the linear baseline's sums run on another thread count in the subprocess
    for name, values in cli_scores["scores"].items():
        assert scores["scores"][name]["mse"] == pytest.approx(values["mse"], rel=1e-5)


def test_rolling_dataframe_has_the_long_format(tiny_model: Path, hourly_csv: Path):
    model = load(tiny_model)
    forecast = model.predict(pd.read_csv(hourly_csv).tail(30), rolling=True)
    assert list(forecast.columns) == ["origin", "date", "step", *COLUMNS]
    assert len(forecast) == (30 - 24 + 1) * 6 and forecast["step"].max() == 6


def test_api_reads_paths_and_refuses_bad_frames(tiny_model: Path, hourly_csv: Path):
    from tsattn.errors import DataError

    model = load(str(tiny_model))
    assert len(model.predict(str(hourly_csv))) == model.card.horizon
    with pytest.raises(DataError, match="temp"):
        model.predict(pd.read_csv(hourly_csv).drop(columns=["temp"]))


@pytest.mark.slow
def test_readme_python_api_example_runs(tmp_path: Path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    (tmp_path / "sample_data").mkdir()
    lines = (ROOT / "sample_data" / "sample.csv").read_text().splitlines()[:601]
    (tmp_path / "sample_data" / "sample.csv").write_text("\n".join(lines) + "\n")
    done = run_cli("train", "sample_data/sample.csv", "-o", "sample.tsattn", *TINY,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    env_path = {"PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=env_path, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "linear" in ran.stdout and "date" in ran.stdout
