"""Parquet input: chosen by content or extension, checked like a CSV, same Frame as a CSV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, TINY, run_cli
from tsattn.data import read_frame, read_panel
from tsattn.errors import DataError

SAMPLE = ROOT / "sample_data" / "sample.csv"


@pytest.fixture(scope="module")
def sample_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pq") / "sample.parquet"
    pd.read_csv(SAMPLE).to_parquet(path)
    return path


def same_frame(a, b) -> None:
    assert a.columns == b.columns and a.freq == b.freq and a.time_format == b.time_format
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.times, b.times)


def test_parquet_reads_as_the_same_frame_as_its_csv(sample_parquet: Path):
    same_frame(read_frame(SAMPLE, targets=["load"]), read_frame(sample_parquet, targets=["load"]))


def test_parquet_is_known_by_its_content_whatever_its_name(tmp_path: Path):
    df = pd.read_csv(SAMPLE)
    df["date"] = pd.to_datetime(df["date"])  # a typed time column, as Parquet usually has
    path = tmp_path / "export.bin"
    df.to_parquet(path)
    same_frame(read_frame(SAMPLE), read_frame(path))


def test_a_parquet_name_with_other_content_is_one_clear_error(tmp_path: Path):
    path = tmp_path / "broken.parquet"
    path.write_text("date,v\n2024-01-01,1\n")
    with pytest.raises(DataError, match=r"broken\.parquet is not a readable Parquet file"):
        read_frame(path)


def test_a_bad_cell_is_named_by_its_row(tmp_path: Path):
    df = pd.read_csv(SAMPLE).head(50)
    df.loc[7, "load"] = np.nan
    path = tmp_path / "gap.parquet"
    df.to_parquet(path)
    with pytest.raises(DataError, match=r"'load' at row 8 \(1 such") as info:
        read_frame(path)
    assert "file line" not in str(info.value)
    assert read_frame(path, fill="ffill").values[7, 0] == np.float32(df.loc[6, "load"])


def test_a_long_parquet_table_splits_into_series(tmp_path: Path):
    times = pd.date_range("2024-01-01", periods=30, freq="D")
    df = pd.DataFrame({"date": list(times) * 2, "store": ["a"] * 30 + ["b"] * 30,
                       "sales": np.arange(60, dtype=float)})
    path = tmp_path / "long.parquet"
    df.to_parquet(path)
    panel = read_panel(path, id_col="store")
    assert panel.ids == ("a", "b") and panel.frames[1].values[0, 0] == 30.0
    assert panel.frames[0].freq == "D"


@pytest.mark.slow
def test_train_and_predict_from_parquet_also_through_a_pipe(sample_parquet: Path,
                                                            tmp_path: Path):
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(sample_parquet), "-t", "load", "-o", str(model), *TINY)
    assert done.returncode == 0, done.stderr
    from_file = run_cli("predict", str(model), str(SAMPLE), "--quiet")
    piped = subprocess.run([sys.executable, "-m", "tsattn", "predict", str(model), "-",
                            "--quiet"], input=sample_parquet.read_bytes(), capture_output=True,
                           env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == from_file.stdout
