"""`predict --rolling` streams: chunks of origins equal the whole forecast, outputs appear
whole or not at all, and the attention comes as JSON lines, one per origin."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import run_cli
from tsattn.cli.streams import open_output
from tsattn.data import read_frame
from tsattn.explain import SCHEMA
from tsattn.forecasting import (
    CHUNK_CELLS,
    CHUNK_ORIGINS,
    attention_summary,
    chunk_origins,
    predict,
    predict_chunks,
)
from tsattn.inference import load_forecaster, run_model
from tsattn.output import attention_lines, forecast_csv, forecast_rows


def test_chunks_make_the_same_forecast_as_one_piece(tiny_model: Path, hourly_csv: Path):
    loaded = load_forecaster(tiny_model)
    frame = read_frame(hourly_csv, targets=["load"], covariates=list(loaded.card.covariates))
    whole = predict(loaded, frame, rolling=True, with_attention=False)
    chunks = list(predict_chunks(loaded, frame, rolling=True, with_attention=False, chunk=37))
    assert [len(c.origins) for c in chunks[:-1]] == [37] * (len(chunks) - 1)
    assert sum(len(c.origins) for c in chunks) == len(whole.origins)
    header = forecast_csv(whole, "date", True).split("\n", 1)[0] + "\n"
    streamed = header + "".join(forecast_rows(c, True) for c in chunks)
    assert streamed == forecast_csv(whole, "date", True)


def test_a_rolling_forecast_runs_the_model_once_per_window(tiny_model: Path, hourly_csv: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """The windows whose residuals roll the intervals are the forecast's own: each chunk
    hands their scores on instead of forecasting them again (and scores them in blocks)."""
    loaded = load_forecaster(tiny_model)
    frame = read_frame(hourly_csv, targets=["load"], covariates=list(loaded.card.covariates))
    whole = predict(loaded, frame, rolling=True, with_attention=False)
    forecast = []

    def counted(loaded, windows, *args, **kwargs):
        forecast.append(len(windows))
        return run_model(loaded, windows, *args, **kwargs)

    monkeypatch.setattr("tsattn.forecasting.run_model", counted)
    monkeypatch.setattr("tsattn.recent_scores.run_model", counted)
    monkeypatch.setattr("tsattn.recent_scores._BLOCK_WINDOWS", 7)  # scored in many blocks
    chunks = list(predict_chunks(loaded, frame, rolling=True, with_attention=False, chunk=37))
    assert loaded.calibration is not None and len(chunks) > 3
    assert sum(forecast) == len(whole.origins)  # no window before the first origin is new
    quantiles = np.concatenate([c.quantiles for c in chunks])
    np.testing.assert_allclose(quantiles, whole.quantiles, rtol=1e-5, atol=1e-5)


def test_chunks_of_wide_long_forecasts_stay_a_few_million_values():
    def model(horizon: int, targets: int) -> SimpleNamespace:
        config = SimpleNamespace(model=SimpleNamespace(n_targets=targets))
        return SimpleNamespace(horizon=horizon, lookback=336, card=SimpleNamespace(config=config))

    assert chunk_origins(model(720, 21), with_attention=False) * 720 * 21 <= CHUNK_CELLS
    assert chunk_origins(model(96, 7), with_attention=False) == CHUNK_ORIGINS
    assert chunk_origins(model(720, 21), with_attention=True) * 720 * 21 <= CHUNK_CELLS


def test_attention_lines_hold_one_origin_each(tiny_model: Path, hourly_csv: Path):
    loaded = load_forecaster(tiny_model)
    frame = read_frame(hourly_csv, targets=["load"], covariates=list(loaded.card.covariates))
    chunks = list(predict_chunks(loaded, frame, rolling=True, chunk=50))
    text = "".join(attention_lines(attention_summary(loaded, c, 3, weights=False), i == 0)
                   for i, c in enumerate(chunks))
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["schema"] == SCHEMA and "forecasts" not in lines[0]
    origins = [o for c in chunks for o in c.origins]
    assert [line["origin"] for line in lines[1:]] == origins
    assert all(len(line["steps"]) == loaded.horizon for line in lines[1:])


def test_a_streamed_file_appears_whole_or_not_at_all(tmp_path: Path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), open_output(str(path)) as out:
        out.write("half of it\n")
        raise RuntimeError("the model failed mid-way")
    assert path.read_text() == "old\n" and list(tmp_path.iterdir()) == [path]
    with open_output(str(path)) as out:
        out.write("a,b\n")
        out.write("1,2\n")
    assert path.read_text() == "a,b\n1,2\n"


def test_rolling_cli_streams_csv_and_attention_lines(tiny_model: Path, hourly_csv: Path,
                                                     tmp_path: Path):
    att = tmp_path / "att.jsonl"
    out = tmp_path / "backtest.csv"
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "--rolling", "-o", str(out),
                   "--attention", str(att), "--quiet")
    assert done.returncode == 0, done.stderr
    rows = out.read_text().splitlines()
    lines = att.read_text().splitlines()
    assert rows[0].startswith("origin,date,step,load")
    assert (len(rows) - 1) == (len(lines) - 1) * 6  # horizon 6 rows per origin
    assert json.loads(lines[-1])["origin"] == rows[-1].split(",")[0]
