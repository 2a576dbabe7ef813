"""The CLI through real subprocesses with pipes: stdout carries data only."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from tests.conftest import TINY, run_cli


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_help_lists_commands():
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("train", "predict", "evaluate", "info"):
        assert command in done.stdout


def test_train_writes_model_and_keeps_stdout_empty(hourly_csv: Path, tmp_path: Path):
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(hourly_csv), "-o", str(model), *TINY[:-1])
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "epoch   1/2" in done.stderr and "saved" in done.stderr
    assert model.exists() and not (tmp_path / "m.tsattn.resume").exists()


def test_train_reads_stdin_and_names_default_output(hourly_csv: Path, tmp_path: Path):
    done = run_cli("train", "-", *TINY, stdin=hourly_csv.read_text(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.tsattn").exists()


def test_piped_history_gives_exactly_horizon_rows(tiny_model: Path, hourly_csv: Path):
    done = run_cli("predict", str(tiny_model), "-", stdin=hourly_csv.read_text())
    assert done.returncode == 0, done.stderr
    rows = parse_csv(done.stdout)
    assert rows[0] == ["date", "load", "load_q0.1", "load_q0.5", "load_q0.9",
                       "temp", "temp_q0.1", "temp_q0.5", "temp_q0.9"]
    assert len(rows) == 1 + 6
    # the hour after the last input row, written like the input's times ("2024-01-01 00:00")
    assert rows[1][0] == "2024-01-26 00:00"
    assert rows[-1][0] == "2024-01-26 05:00"
    assert all(np.isfinite(float(v)) for row in rows[1:] for v in row[1:])
    assert "epoch" not in done.stderr and "Traceback" not in done.stderr


def test_predict_is_repeatable_and_uses_only_the_last_lookback(tiny_model: Path, hourly_csv: Path):
    lines = hourly_csv.read_text().splitlines()
    short = "\n".join([lines[0], *lines[-24:]]) + "\n"
    full = run_cli("predict", str(tiny_model), str(hourly_csv))
    tail = run_cli("predict", str(tiny_model), "-", stdin=short)
    assert full.returncode == tail.returncode == 0
    assert run_cli("predict", str(tiny_model), str(hourly_csv)).stdout == full.stdout

    def points(text: str) -> list[list[str]]:  # the intervals also read the older rows
        rows = [line.split(",") for line in text.splitlines()]
        keep = [i for i, name in enumerate(rows[0]) if "_q" not in name]
        return [[row[i] for i in keep] for row in rows]

    assert points(full.stdout) == points(tail.stdout)


def test_predict_json_and_attention_file(tiny_model: Path, hourly_csv: Path, tmp_path: Path):
    att = tmp_path / "att.json"
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "--format", "json",
                   "--attention", str(att))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["targets"] == ["load", "temp"]
    assert len(doc["forecasts"]) == 1 and len(doc["forecasts"][0]["values"]["load"]) == 6
    summary = json.loads(att.read_text())
    assert summary["schema"] == "tsattn.attention/2"
    steps = summary["forecasts"][0]["steps"]
    assert len(steps) == 6
    for step in steps:
        assert len(step["weights"]) == 24
        assert abs(sum(step["weights"]) - 1) < 1e-3


def test_rolling_forecasts_every_origin(tiny_model: Path, hourly_csv: Path):
    lines = hourly_csv.read_text().splitlines()
    history = "\n".join([lines[0], *lines[-30:]]) + "\n"
    done = run_cli("predict", str(tiny_model), "-", "--rolling", stdin=history)
    assert done.returncode == 0, done.stderr
    rows = parse_csv(done.stdout)
    assert rows[0][:4] == ["origin", "date", "step", "load"] and "temp_q0.9" in rows[0]
    origins = 30 - 24 + 1
    assert len(rows) == 1 + origins * 6
    assert [r[2] for r in rows[1:7]] == ["1", "2", "3", "4", "5", "6"]


def test_predict_output_file_and_explain_table(tiny_model: Path, hourly_csv: Path,
                                               tmp_path: Path):
    out = tmp_path / "fc.csv"
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "-o", str(out), "--explain")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert len(parse_csv(out.read_text())) == 7
    assert "most attended periods" in done.stderr


def test_info_json_does_not_need_torch(tiny_model: Path):
    done = run_cli("info", str(tiny_model), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["targets"] == ["load", "temp"] and shown["freq"] == "h"
    assert shown["config"]["model"]["lookback"] == 24


def test_evaluate_reports_model_and_baselines(tiny_model: Path, hourly_csv: Path):
    done = run_cli("evaluate", str(tiny_model), str(hourly_csv), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["scores"]) == {"model", "repeat_last", "linear", "seasonal_naive"}
    assert result["season"] == 24
    assert result["windows"] == 600 - 480 - 6 + 1  # targets inside rows [480, 600)
    # a noiseless-ish daily cycle: the seasonal naive must beat repeating the last value
    scores = result["scores"]
    assert scores["seasonal_naive"]["mse"] < scores["repeat_last"]["mse"]


def test_config_file_supplies_options_and_flags_win(hourly_csv: Path, tmp_path: Path):
    config = tmp_path / "run.toml"
    config.write_text('model = "lstm-attn"\nlookback = 24\nhorizon = 4\nepochs = 1\n'
                      'd-model = 8\nattention = "additive"\n')
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(hourly_csv), "--config", str(config), "--horizon", "3",
                   "-o", str(model), "--quiet")
    assert done.returncode == 0, done.stderr
    stored = json.loads(run_cli("info", str(model), "--json").stdout)["config"]["model"]
    assert (stored["kind"], stored["lookback"], stored["horizon"]) == ("lstm-attn", 24, 3)
    assert (stored["d_model"], stored["attention"]) == (8, "additive")


def test_bad_input_is_one_error_line(hourly_csv: Path, tmp_path: Path):
    done = run_cli("train", str(hourly_csv), "--target", "nope", "-o", str(tmp_path / "m"))
    assert done.returncode == 3
    assert done.stderr.count("error:") == 1 and "Traceback" not in done.stderr
    assert "'nope'" in done.stderr and "load" in done.stderr
    assert not (tmp_path / "m").exists()


def test_explain_shows_times_and_values(tiny_model: Path, hourly_csv: Path):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--step", "2", "--top-k", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "most attended periods" in done.stderr  # the tiny model has 4-step patches
    assert "load=" in done.stderr and "mean inputs" in done.stderr
    assert "2024-01-25" in done.stderr


def test_explain_rejects_a_step_beyond_the_horizon(tiny_model: Path, hourly_csv: Path):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--step", "7")
    assert done.returncode == 2
    assert done.stderr.count("error:") == 1 and "between 1 and 6" in done.stderr


def test_plots_are_png_files(tiny_model: Path, hourly_csv: Path, tmp_path: Path):
    forecast_png, layers_png = tmp_path / "fc.png", tmp_path / "layers.png"
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "--plot", str(forecast_png))
    assert done.returncode == 0, done.stderr
    assert len(parse_csv(done.stdout)) == 7
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--plot", str(layers_png))
    assert done.returncode == 0, done.stderr
    for png in (forecast_png, layers_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
