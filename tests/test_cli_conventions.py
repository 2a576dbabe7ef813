"""The shell conventions of the CLI, each through the real command line."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, TINY, run_cli, write_csv
from tsattn import __version__
from tsattn.config import ATTENTION_KINDS, MODEL_KINDS, option_sections

cli_app = importlib.import_module("tsattn.cli.app")  # the module, not the Typer app
COMMANDS = ("train", "predict", "explain", "evaluate", "info")
SMALL = ["--lookback", "14", "--horizon", "3", "--epochs", "1", "--d-model", "8",
         "--n-heads", "2", "--d-ff", "8", "--patch-len", "7", "--stride", "7", "--quiet"]


def test_version():
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout == f"tsattn {__version__}\n"


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_short_help_and_one_example_per_command(command: str):
    done = run_cli(*([command] if command else []), "-h")
    assert done.returncode == 0, done.stderr
    assert "Usage: tsattn" in done.stdout and "Example: " in done.stdout


def test_train_help_groups_options_and_reads_at_80_columns():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "tsattn", "train", "--help"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0
    for panel in ("Data", "Model", "Training", "Output"):
        assert f"─ {panel} ─" in done.stdout
    text = " ".join(done.stdout.split())
    for name in (*MODEL_KINDS, *ATTENTION_KINDS):  # from the registries, never cut
        assert name in text
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


def test_shell_completion():
    # typer finds the shell among the parent processes: run under bash (`; true` keeps bash
    # from replacing itself with the command), as a user's terminal would
    command = f"{shlex.quote(sys.executable)} -m tsattn --show-completion; true"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "_TSATTN_COMPLETE" in done.stdout, done.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_TSATTN_COMPLETE": "complete_bash",
           "COMP_WORDS": "tsattn tr", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "tsattn"], env=env, capture_output=True,
                          text=True)
    assert done.stdout.split() == ["train"]


def test_bare_command_prints_help_only():
    done = run_cli()
    assert done.returncode == 2
    assert "Usage: tsattn" in done.stdout and "error" not in done.stderr


def test_every_train_parameter_maps_to_a_config_field():
    params = set(inspect.signature(cli_app.train).parameters)
    fields = {cli_app.FLAG_TO_FIELD.get(p, p) for p in params - cli_app.NOT_CONFIG}
    assert fields <= set(option_sections())
    # and every option of the run has its flag (the channel counts come from the data)
    assert set(option_sections()) - fields == {"n_channels", "n_targets", "n_known"}


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A daily CSV with dates only, and a model trained on it."""
    work = tmp_path_factory.mktemp("daily")
    days = np.arange(np.datetime64("2022-01-01"), np.datetime64("2022-04-01"))
    rows = [[str(d), f"{np.sin(i / 3):.3f}"] for i, d in enumerate(days)]
    data = write_csv(work / "daily.csv", ["date", "y"], rows)
    model = work / "daily.tsattn"
    done = run_cli("train", str(data), "-o", str(model), *SMALL)
    assert done.returncode == 0, done.stderr
    return data, model


def test_forecast_times_keep_the_input_format(daily: tuple[Path, Path]):
    data, model = daily
    done = run_cli("predict", str(model), str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["date,y,y_q0.1,y_q0.5,y_q0.9",
                                            done.stdout.splitlines()[1]]
    assert [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == [
        "2022-04-01", "2022-04-02", "2022-04-03"]
    rolling = run_cli("predict", str(model), str(data), "--rolling").stdout.splitlines()
    assert rolling[1].startswith("2022-01-14,2022-01-15,1,")


def test_rolling_without_time_column_has_unique_columns(tmp_path: Path):
    rows = [[f"{np.sin(i / 3):.3f}", f"{np.cos(i / 3):.3f}"] for i in range(80)]
    data = write_csv(tmp_path / "steps.csv", ["step", "origin"], rows)
    model = tmp_path / "m.tsattn"
    assert run_cli("train", str(data), "-o", str(model), *SMALL).returncode == 0
    done = run_cli("predict", str(model), str(data), "--rolling")
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split(",")
    assert header == ["origin", "row", "step", "step_2", "step_q0.1", "step_q0.5", "step_q0.9",
                      "origin_2", "origin_q0.1", "origin_q0.5", "origin_q0.9"]
    assert done.stdout.splitlines()[1].startswith("13,14,1,")


def test_info_json_round_trips_into_config_and_records_the_data(daily: tuple[Path, Path],
                                                               tmp_path: Path):
    data, model = daily
    shown = json.loads(run_cli("info", str(model), "--json").stdout)
    assert shown["source"] == {"name": str(data), "rows": 90,
                               "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(shown))
    again = tmp_path / "again.tsattn"
    done = run_cli("train", str(data), "--config", str(run_json), "-o", str(again), "-q")
    assert done.returncode == 0, done.stderr
    repeated = json.loads(run_cli("info", str(again), "--json").stdout)
    assert repeated["config"] == shown["config"]
    assert repeated["metrics"]["best_val_mse"] == shown["metrics"]["best_val_mse"]
    nested = tmp_path / "run.toml"  # the same sections, written by hand
    nested.write_text("[model]\nlookback = 14\nhorizon = 2\n[train]\nepochs = 1\n")
    done = run_cli("train", str(data), "--config", str(nested), "-o", str(again), *SMALL[4:])
    assert done.returncode == 0, done.stderr
    assert json.loads(run_cli("info", str(again), "--json").stdout)["config"]["model"][
        "horizon"] == 2


def test_plot_to_stdout(tiny_model: Path, hourly_csv: Path, tmp_path: Path):
    pytest.importorskip("matplotlib")
    done = subprocess.run([sys.executable, "-m", "tsattn", "explain", str(tiny_model),
                           str(hourly_csv), "--plot", "-"], capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    refused = run_cli("predict", str(tiny_model), str(hourly_csv), "--plot", "-")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--plot - and the forecast would both go to stdout" in refused.stderr
    assert not (Path.cwd() / "-").exists()
    forecast = tmp_path / "fc.csv"
    done = subprocess.run([sys.executable, "-m", "tsattn", "predict", str(tiny_model),
                           str(hourly_csv), "--plot", "-", "-o", str(forecast)],
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.startswith(b"\x89PNG")
    assert forecast.read_text().startswith("date,load,load_q0.1,load_q0.5,load_q0.9,temp,")


def test_a_new_model_kind_is_one_file_and_one_registry_line(
        hourly_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    """The toy kind lives in tests/toy_model.py; registering it is the only other change."""
    monkeypatch.setitem(MODEL_KINDS, "toy", "tests.toy_model:ToyForecaster")
    model = tmp_path / "toy.tsattn"
    tiny = [a for a in TINY if a != "--quiet"]
    assert _main("train", str(hourly_csv), "--model", "toy", "-o", str(model), *tiny,
                 "--quiet") == 0, capsys.readouterr().err
    capsys.readouterr()
    assert _main("predict", str(model), str(hourly_csv), "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["attention"]["model"] == "toy"
    assert len(document["forecasts"][0]["date"]) == 6
    assert _main("evaluate", str(model), str(hourly_csv), "--json", "--quiet") == 0
    assert "repeat_last" in json.loads(capsys.readouterr().out)["scores"]


def _main(*argv: str) -> int:
    with pytest.raises(SystemExit) as done:
        cli_app.main(list(argv))
    return done.value.code

