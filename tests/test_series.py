"""Many series in one long table: reading, per-series splits and scalers, and the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY, run_cli, write_csv
from tsattn.config import DataConfig, ModelConfig, RunConfig
from tsattn.data import read_panel
from tsattn.errors import DataError, UsageError
from tsattn.fitting import prepare_panel
from tsattn.plan import resolve
from tsattn.series import split_series

# id -> (first hour, rows, level): different lengths, start dates and scales
STORES = {"north": (0, 300, 10.0), "south": (40, 240, 50.0), "east": (10, 260, 1000.0),
          "tiny": (0, 20, 5.0)}


@pytest.fixture(scope="module")
def stores_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hourly sales of four stores, rows interleaved by time as a long export has them."""
    rng = np.random.default_rng(0)
    rows = []
    for sid, (start, n, level) in STORES.items():
        t = np.arange(start, start + n)
        sales = level * (1 + 0.3 * np.sin(2 * np.pi * t / 24)) + 0.02 * level * rng.normal(
            size=n)
        for hour, value in zip(t, sales, strict=True):
            stamp = str(np.datetime64("2024-01-01T00:00") + np.timedelta64(int(hour), "h"))
            rows.append([stamp.replace("T", " "), sid, f"{value:.4f}",
                         f"{np.cos(2 * np.pi * hour / 24):.4f}"])
    rows.sort(key=lambda r: r[0])
    return write_csv(tmp_path_factory.mktemp("stores") / "stores.csv",
                     ["date", "store", "sales", "temp"], rows)


def run_of(lookback: int = 24, horizon: int = 6) -> RunConfig:
    return RunConfig(data=DataConfig(id_col="store", targets=("sales",)),
                     model=ModelConfig(lookback=lookback, horizon=horizon))


def test_each_series_is_its_own_table(stores_csv: Path):
    panel = read_panel(stores_csv, id_col="store", targets=["sales"])
    assert panel.ids == ("north", "tiny", "east", "south")  # order of first appearance
    north = panel.frames[0]
    assert north.columns == ("sales", "temp") and len(north.values) == 300
    assert north.freq == "h"  # the same hours in other stores are no duplicates


def test_a_duplicate_inside_a_series_names_it_and_the_file_lines(tmp_path: Path):
    path = write_csv(tmp_path / "d.csv", ["date", "store", "v"], [
        ["2024-01-01", "a", 1], ["2024-01-01", "b", 2], ["2024-01-01", "a", 3]])
    with pytest.raises(DataError, match=r"series 'a': duplicate .*\(file line 2\) and row 3 "
                                        r"\(file line 4\)"):
        read_panel(path, id_col="store")


def test_a_missing_id_column_or_cell_is_one_clear_error(tmp_path: Path):
    path = write_csv(tmp_path / "d.csv", ["date", "store", "v"], [
        ["2024-01-01", "a", 1], ["2024-01-02", "", 2]])
    with pytest.raises(DataError, match="id column 'shop' not found; columns are: date, "
                                        "store, v"):
        read_panel(path, id_col="shop")
    with pytest.raises(DataError, match=r"row 2 \(file line 3\) has no series id"):
        read_panel(path, id_col="store")


def test_a_short_series_is_skipped_by_name_and_scalers_are_per_series(stores_csv: Path):
    panel = read_panel(stores_csv, id_col="store", targets=["sales"])
    kept, warnings = split_series(panel, run_of())
    assert [entry.id for _, entry in kept] == ["north", "east", "south"]
    assert len(warnings) == 1 and warnings[0].startswith("series 'tiny' skipped")
    for frame, entry in kept:
        train_end = entry.split.train_end
        assert train_end == int(0.7 * len(frame.values))  # the split is per series
        expected = frame.values[:train_end].mean(axis=0)
        np.testing.assert_allclose(entry.scaler.mean, expected, rtol=1e-5, atol=1e-5)


def test_windows_never_cross_series(stores_csv: Path):
    panel = read_panel(stores_csv, id_col="store", targets=["sales"])
    prep, _ = prepare_panel(panel, resolve(run_of(), panel.frames[0]), torch.device("cpu"))
    edges = np.cumsum([0] + [e.n_rows for e in prep.series])
    size = 24 + 6
    for windows in (prep.train, prep.val):
        for s in windows.starts.tolist():
            k = np.searchsorted(edges, s, side="right") - 1
            assert edges[k] <= s and s + size <= edges[k + 1]
    # every training window of every kept series is there
    assert len(prep.train) == sum(e.split.train_end - size + 1 for e in prep.series)
    # each series is z-scored by its own training part: mean 0 there
    x, _ = prep.train.everything()
    assert abs(float(x[..., 0].mean())) < 0.2


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def stores_model(stores_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "stores.tsattn"
    done = run_cli("train", str(stores_csv), "--id-col", "store", "--target", "sales",
                   "-o", str(path), *TINY[:-1])
    assert done.returncode == 0, done.stderr
    assert "warning: series 'tiny' skipped" in done.stderr
    return path


@pytest.mark.slow
def test_predict_every_series_in_long_format_with_the_id_first(stores_model: Path,
                                                               stores_csv: Path):
    done = run_cli("predict", str(stores_model), str(stores_csv))
    assert done.returncode == 0, done.stderr
    rows = parse(done.stdout)
    assert rows[0][:3] == ["store", "date", "sales"]  # then the quantiles of sales
    assert [r[0] for r in rows[1:]] == ["north"] * 6 + ["east"] * 6 + ["south"] * 6
    # each series continues from its own last row
    assert rows[1][1] == "2024-01-13 12:00" and rows[13][1] == "2024-01-12 16:00"
    north = [float(r[2]) for r in rows[1:7]]
    east = [float(r[2]) for r in rows[7:13]]
    assert max(north) < 30 and min(east) > 300  # each in its own scale
    assert "series 'tiny' skipped: the model was not trained on it" in done.stderr


@pytest.mark.slow
def test_predict_chosen_series_and_unknown_ids(stores_model: Path, stores_csv: Path):
    done = run_cli("predict", str(stores_model), str(stores_csv), "--id", "south",
                   "--rolling")
    assert done.returncode == 0, done.stderr
    rows = parse(done.stdout)
    assert rows[0][:5] == ["store", "origin", "date", "step", "sales"]
    assert {r[0] for r in rows[1:]} == {"south"}
    assert len(rows) - 1 == (240 - 24 + 1) * 6
    info = run_cli("info", str(stores_model))
    assert "3 by column store" in info.stdout + info.stderr
    bad = run_cli("predict", str(stores_model), str(stores_csv), "--id", "west")
    assert bad.returncode == 3 and bad.stdout == ""
    assert bad.stderr.count("error:") == 1 and "unknown series 'west'" in bad.stderr


@pytest.mark.slow
def test_evaluate_overall_and_per_series(stores_model: Path, stores_csv: Path):
    done = run_cli("evaluate", str(stores_model), str(stores_csv), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    per = result["series"]
    assert set(per) == {"north", "east", "south"}
    assert result["windows"] == sum(r["windows"] for r in per.values())
    expected = sum(r["scores"]["model"]["mse"] * r["windows"] for r in per.values())
    assert result["scores"]["model"]["mse"] == pytest.approx(expected / result["windows"])
    # each series is scored after its own validation part: rows [val_end, n)
    assert per["south"]["rows"] == [int(0.8 * 240), 240]
    levels = result["intervals"]["levels"]  # the same in every series: not averaged
    assert levels == per["south"]["intervals"]["levels"] == [0.1, 0.5, 0.9]
    assert [(i["lower"], i["upper"]) for i in result["intervals"]["scores"]["model"][
        "intervals"]] == [(0.1, 0.9)]


@pytest.mark.slow
def test_each_series_rolls_its_intervals_on_its_own_residuals(stores_model: Path,
                                                              stores_csv: Path):
    from tsattn.api import load

    model = load(stores_model)
    pooled = model.loaded.calibration
    series, _ = model.read_series(stores_csv)
    assert [one.id for one in series] == ["north", "east", "south"]
    for one in series:
        split, own = one.model.card.split, one.model.loaded.calibration
        assert own.n_windows == split.val_end - split.train_end - 6 + 1 < pooled.n_windows
        assert own.start is None and own.head is pooled.head


def test_a_long_table_read_as_one_series_points_at_id_col(stores_csv: Path):
    from tsattn.data import read_frame

    with pytest.raises(DataError, match="--id-col store"):
        read_frame(stores_csv, targets=["sales"])


@pytest.mark.slow
def test_json_and_attention_per_series(stores_model: Path, stores_csv: Path, tmp_path: Path):
    attention = tmp_path / "att.json"
    done = run_cli("predict", str(stores_model), str(stores_csv), "--format", "json",
                   "--id", "east", "--id", "north", "--attention", str(attention), "--quiet")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["id_col"] == "store" and list(document["series"]) == ["east", "north"]
    east = document["series"]["east"]["forecasts"][0]
    assert min(east["values"]["sales"]) > 300  # east's own scale
    summaries = json.loads(attention.read_text())["series"]
    assert list(summaries) == ["east", "north"]
    # each summary points at its own series' history
    assert summaries["east"] != summaries["north"]


@pytest.mark.slow
def test_the_api_forecasts_many_series_as_one_dataframe(stores_model: Path,
                                                        stores_csv: Path):
    import pandas as pd

    from tsattn.api import load

    model = load(stores_model)
    assert model.card.id_col == "store"
    assert [e.id for e in model.card.series] == ["north", "east", "south"]
    forecast = model.predict(pd.read_csv(stores_csv), ids=["south", "north"])
    assert list(forecast.columns[:3]) == ["store", "date", "sales"]
    assert forecast["store"].tolist() == ["south"] * 6 + ["north"] * 6
    with pytest.raises(UsageError, match="many series"):
        model.read(stores_csv)


@pytest.mark.slow
def test_id_with_a_single_series_model_is_a_usage_error(tmp_path: Path):
    data = tmp_path / "one.csv"
    t = np.arange(200)
    write_csv(data, ["date", "v"], [
        [str(np.datetime64("2024-01-01") + np.timedelta64(int(i), "D")), f"{np.sin(i / 5):.4f}"]
        for i in t])
    model = tmp_path / "one.tsattn"
    assert run_cli("train", str(data), "-o", str(model), *TINY[:-1]).returncode == 0
    done = run_cli("predict", str(model), str(data), "--id", "a")
    assert done.returncode == 2 and "leave --id out" in done.stderr


def test_the_card_keeps_each_series_typed_and_refuses_a_broken_one(stores_csv: Path):
    from tsattn.card import ModelCard
    from tsattn.errors import CheckpointError

    card = _card(stores_csv)
    again = ModelCard.from_json(card.to_json())
    assert again == card and again.series_entry("east").split == card.series[1].split
    raw = json.loads(card.to_json())
    raw["series"][0]["scaler"]["scale"][0] = 0.0
    with pytest.raises(CheckpointError, match="series 'north'"):
        ModelCard.from_dict(raw)
    raw = json.loads(card.to_json())
    raw["id_col"] = None
    with pytest.raises(CheckpointError, match="'id_col'"):
        ModelCard.from_dict(raw)


def _card(stores_csv: Path):
    """A many-series card built the way training builds it (no training needed)."""
    from tsattn.fitting import FreeBaselines, make_card
    from tsattn.training import TrainState

    panel = read_panel(stores_csv, id_col="store", targets=["sales"])
    prep, frame = prepare_panel(panel, resolve(run_of(), panel.frames[0]), torch.device("cpu"))
    state = TrainState(best_val=1.0)
    free = FreeBaselines(None, {"repeat_last": 1.0, "linear": 1.0})
    return make_card(frame, prep, state, 0.0, free)
