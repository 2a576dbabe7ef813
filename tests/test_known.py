"""Known covariates: the future rows, the horizon shift, the linear stage, and a known-answer
run through the real CLI with the default settings."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_cli, write_csv
from tsattn.data import fit_scaler, read_frame
from tsattn.errors import DataError
from tsattn.known import calendar_features, calendar_values, model_input, with_calendar
from tsattn.models.linear import LinearPath

LAG, FLAG_EFFECT = 30, 3.0
SMALL = ["--lookback", "96", "--horizon", "24", "--epochs", "2", "--d-model", "16",
         "--n-heads", "2", "--d-ff", "32", "--quiet"]


def known_answer_rows(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """y follows `drive` LAG steps later and jumps with `flag` at the same step (a holiday,
    known in advance); `noise` has nothing to do with y."""
    rng = np.random.default_rng(seed)
    drive = np.zeros(n)
    for t in range(1, n):
        drive[t] = 0.9 * drive[t - 1] + rng.normal()
    flag = (rng.random(n) < 0.3).astype(float)
    y = 0.8 * np.roll(drive, LAG) + FLAG_EFFECT * flag + 0.1 * rng.normal(size=n)
    y[:LAG] = FLAG_EFFECT * flag[:LAG]
    return {"y": y, "drive": drive, "flag": flag, "noise": rng.normal(size=n)}


def write_columns(path: Path, data: dict[str, np.ndarray], names: list[str],
                  rows: slice = slice(None), empty: tuple[str, ...] = ()) -> Path:
    """An hourly CSV of `names`; the `empty` columns' cells left blank (future rows)."""
    n = len(next(iter(data.values())))
    times = (np.datetime64("2020-01-01T00:00") + np.arange(n).astype("timedelta64[h]"))[rows]
    body = [[str(t).replace("T", " ")] + ["" if c in empty else f"{data[c][rows][i]:.5f}"
                                          for c in names] for i, t in enumerate(times)]
    return write_csv(path, ["date", *names], body)


@pytest.fixture(scope="module")
def answer() -> dict[str, np.ndarray]:
    return known_answer_rows()


def test_rows_after_the_last_target_value_are_the_future(tmp_path: Path, answer) -> None:
    history = write_columns(tmp_path / "h.csv", answer, ["y", "drive", "flag"], slice(0, 100))
    future = write_columns(tmp_path / "f.csv", answer, ["y", "drive", "flag"], slice(100, 106),
                           empty=("y", "drive"))
    text = history.read_text() + "".join(future.read_text().splitlines(True)[1:])
    frame = read_frame(io.StringIO(text), targets=["y"], known=["flag"])
    assert frame.columns == ("y", "drive", "flag") and frame.n_known == 1
    assert len(frame.values) == 100 and frame.future is not None
    np.testing.assert_allclose(frame.future.values[:, 0], answer["flag"][100:106], atol=1e-5)
    assert frame.covariates == ("drive",) and frame.known == ("flag",)


def test_a_future_file_gives_the_same_frame_as_rows_after_the_history(tmp_path: Path,
                                                                       answer) -> None:
    history = write_columns(tmp_path / "h.csv", answer, ["y", "drive", "flag"], slice(0, 100))
    future = write_columns(tmp_path / "f.csv", answer, ["flag"], slice(100, 106))
    piped = read_frame(history, targets=["y"], known=["flag"], future=future)
    assert piped.future is not None and len(piped.future.values) == 6
    assert list(piped.future.times) == list(np.datetime64("2020-01-05T04:00")
                                            + np.arange(6).astype("timedelta64[h]"))


def test_an_empty_known_cell_in_a_future_row_is_named(tmp_path: Path, answer) -> None:
    history = write_columns(tmp_path / "h.csv", answer, ["y", "flag"], slice(0, 100))
    future = write_columns(tmp_path / "f.csv", answer, ["y", "flag"], slice(100, 103),
                           empty=("y", "flag"))
    text = history.read_text() + "".join(future.read_text().splitlines(True)[1:])
    with pytest.raises(DataError, match="known covariate 'flag' is empty in future row 1"):
        read_frame(io.StringIO(text), targets=["y"], known=["flag"])


def test_a_target_filled_in_a_future_file_is_refused(tmp_path: Path, answer) -> None:
    history = write_columns(tmp_path / "h.csv", answer, ["y", "flag"], slice(0, 100))
    future = write_columns(tmp_path / "f.csv", answer, ["y", "flag"], slice(100, 103))
    with pytest.raises(DataError, match="target is filled in row 1 of the --future file"):
        read_frame(history, targets=["y"], known=["flag"], future=future)


def test_the_model_reads_a_known_column_horizon_rows_ahead(tmp_path: Path) -> None:
    data = {"y": np.zeros(50), "k": np.arange(50.0)}
    frame = read_frame(write_columns(tmp_path / "k.csv", data, ["y", "k"], slice(0, 40)),
                       targets=["y"], known=["k"])
    frame = read_frame(io.StringIO(
        (tmp_path / "k.csv").read_text() + "".join(
            write_columns(tmp_path / "f.csv", data, ["y", "k"], slice(40, 50), empty=("y",))
            .read_text().splitlines(True)[1:])), targets=["y"], known=["k"])
    scaler = fit_scaler(frame.values[:30])
    series = model_input(frame, scaler, horizon=5)
    raw = series[:, 1] * scaler.scale[1] + scaler.mean[1]
    np.testing.assert_allclose(raw, np.arange(5.0, 45.0), atol=1e-4)


def test_known_features_are_each_step_and_the_one_before_less_the_origin() -> None:
    L, H = 8, 3
    path = LinearPath(L, H, n_targets=1, n_covariates=0, n_known=1)
    times = torch.arange(L, dtype=torch.float32) + H  # row r holds the value at time r + H
    x = torch.stack([torch.zeros(L), times], dim=-1)[None]  # (1, L, 2); origin time L-1
    features = path.known_features(x)[0]  # (H, 2): offset 0, then offset 1
    steps = torch.arange(1, H + 1, dtype=torch.float32)
    torch.testing.assert_close(features, torch.stack([steps, steps - 1], dim=-1))


def test_calendar_phases_follow_the_clock() -> None:
    times = np.array(["2024-01-01T00:00", "2024-01-01T06:00", "2024-01-03T12:00"],
                     dtype="datetime64[ns]")
    day_sin, day_cos, week_sin, _ = calendar_values(times, ("day", "week")).T
    np.testing.assert_allclose(day_sin, [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(day_cos, [1.0, 0.0, -1.0], atol=1e-6)
    # 2024-01-01 was a Monday: the week's phase starts there
    np.testing.assert_allclose(week_sin[0], 0.0, atol=1e-6)


def test_calendar_features_suit_the_spacing(hourly_csv: Path) -> None:
    frame = read_frame(hourly_csv, targets=["load"])
    assert calendar_features(frame) == ("day", "week")
    extended = with_calendar(frame, ("day",), horizon=4)
    assert extended.columns[-2:] == ("cal:day_sin", "cal:day_cos")
    assert extended.n_known == 2 and extended.future is not None
    assert extended.future.values.shape == (4, 2)


def test_known_needs_a_lookback_longer_than_the_horizon(tmp_path: Path, answer) -> None:
    data = write_columns(tmp_path / "d.csv", answer, ["y", "flag"], slice(0, 400))
    done = run_cli("train", str(data), "-t", "y", "--known", "flag", "--lookback", "24",
                   "--horizon", "24", "-o", str(tmp_path / "m.tsattn"), "--quiet")
    assert done.returncode == 2 and "--lookback longer than --horizon" in done.stderr
    assert not (tmp_path / "m.tsattn").exists()


def train_and_score(tmp: Path, answer: dict, name: str, kind: str, columns: list[str],
                    known: list[str]) -> tuple[float, Path]:
    """Train on `columns` (y first) of the first 2000 rows; the test-part MSE."""
    data = write_columns(tmp / f"{name}.csv", answer, columns)
    model = tmp / f"{name}.tsattn"
    flags = [arg for k in known for arg in ("--known", k)]
    done = run_cli("train", str(data), "-t", "y", "--model", kind, *flags, "-o", str(model),
                   *SMALL)
    assert done.returncode == 0, done.stderr
    scored = run_cli("evaluate", str(model), str(data), "--json", "--quiet")
    assert scored.returncode == 0, scored.stderr
    return json.loads(scored.stdout)["scores"]["model"]["mse"], model


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transformer", "lstm-attn"])
def test_default_model_reads_the_driver_and_the_known_flag(tmp_path: Path, answer,
                                                           kind: str) -> None:
    alone, _ = train_and_score(tmp_path, answer, "alone", kind, ["y"], [])
    driven, _ = train_and_score(tmp_path, answer, "driven", kind, ["y", "drive", "flag"],
                                ["flag"])
    every, model = train_and_score(tmp_path, answer, "all", kind,
                                   ["y", "drive", "noise", "flag"], ["flag"])
    assert driven <= 0.2 * alone, (driven, alone)
    assert every <= 1.02 * driven, (every, driven)

    history = write_columns(tmp_path / "h.csv", answer, ["y", "drive", "noise", "flag"],
                            slice(1500, 1900))
    future = write_columns(tmp_path / "f.csv", answer, ["flag"], slice(1900, 1924))
    attention = tmp_path / "attention.json"
    done = run_cli("predict", str(model), str(history), "--future", str(future),
                   "--attention", str(attention))
    assert done.returncode == 0, done.stderr
    forecast = [line.split(",") for line in done.stdout.splitlines()[1:]]
    assert [row[0] for row in forecast][:2] == ["2020-03-20 04:00", "2020-03-20 05:00"]
    truth = 0.8 * answer["drive"][1900 - LAG : 1924 - LAG] + FLAG_EFFECT * answer["flag"][
        1900:1924]
    assert np.mean((np.array([float(row[1]) for row in forecast]) - truth) ** 2) < 0.5

    shown = run_cli("predict", str(model), str(history), "--future", str(future), "--explain",
                    "--quiet", columns=80)
    assert shown.returncode == 0, shown.stderr
    assert "variables" in shown.stderr and "drive " in shown.stderr, shown.stderr

    # over many origins: in one forecast the flag may stay off over the whole horizon
    done = run_cli("predict", str(model), str(history), "--future", str(future), "--rolling",
                   "--attention", str(attention))
    assert done.returncode == 0, done.stderr
    _, *origins = attention.read_text().splitlines()  # JSON lines: a header, then origins
    steps = [step for line in origins for step in json.loads(line)["steps"]]
    mean = {name: np.mean([step["variables"][name] for step in steps])
            for name in ("y", "drive", "noise", "flag")}
    assert sum(mean.values()) == pytest.approx(1.0, abs=1e-4)
    # the drivers carry most of the weight, the noise column none; the target's own history
    # keeps about a third: the stagewise fit gives it the mean reversion that the driver
    # explains too (benchmarks/README.md, "Known covariates")
    assert mean["drive"] + mean["flag"] > 0.6 and min(mean["drive"], mean["flag"]) > 0.2, mean
    assert mean["noise"] < 0.01, mean


def test_the_forecast_plot_draws_the_variables_panel(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tsattn.plotting import plot_forecast

    times = [f"2024-01-01 {h:02d}:00" for h in range(12)]
    common = dict(targets=["y"], history_times=times[:8], history=np.zeros((8, 1)),
                  forecast_times=times[8:], forecast=np.ones((4, 1)), attention=None)
    png = plot_forecast(None, **common, variables=(["y", "$x$"], np.full((4, 2), 0.5)))
    assert png is not None and png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="variables must have shape"):
        plot_forecast(None, **common, variables=(["y", "x"], np.full((3, 2), 0.5)))


def test_info_lists_each_role_and_predict_takes_piped_future_rows(tmp_path: Path,
                                                                  hourly_csv: Path) -> None:
    from tests.conftest import TINY

    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(hourly_csv), "-t", "load", "--known", "temp", "--calendar",
                   "-o", str(model), *TINY)
    assert done.returncode == 0, done.stderr
    shown = run_cli("info", str(model))
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in shown.stderr.splitlines() if line.count("│") >= 3}
    assert lines["targets"] == "load" and lines["past covariates"] == "-"
    assert lines["known covariates"] == "temp"
    assert lines["calendar"] == "day phase, week phase"

    *_, last = hourly_csv.read_text().splitlines()
    history = hourly_csv.read_text()
    future = "".join(f"2024-01-26 {h:02d}:00,,{20 + h / 10:.1f}\n" for h in range(6))
    assert last.startswith("2024-01-25 23:00")
    forecast = run_cli("predict", str(model), "-", "--quiet", stdin=history + future)
    assert forecast.returncode == 0, forecast.stderr
    times = [line.split(",")[0] for line in forecast.stdout.splitlines()[1:]]
    assert times == [f"2024-01-26 {h:02d}:00" for h in range(6)]
    none = run_cli("predict", str(model), "-", "--quiet", stdin=history)
    assert none.returncode == 3 and "known covariates (temp)" in none.stderr, none.stderr
    two = "".join(future.splitlines(True)[:2])
    short = run_cli("predict", str(model), "-", "--quiet", stdin=history + two)
    assert short.returncode == 3 and "add 4 more row(s)" in short.stderr, short.stderr


def test_each_series_of_a_long_table_has_its_own_future_rows(tmp_path: Path, answer) -> None:
    one = write_columns(tmp_path / "one.csv", answer, ["y", "flag"], slice(0, 600))
    header, *rows = one.read_text().splitlines()
    long = tmp_path / "long.csv"
    long.write_text("\n".join([f"store,{header}"] + [f"{s},{r}" for s in "ab" for r in rows])
                    + "\n")
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(long), "--id-col", "store", "-t", "y", "--known", "flag",
                   "--lookback", "48", "--horizon", "12", "--epochs", "1", "--quiet",
                   "-o", str(model))
    assert done.returncode == 0, done.stderr
    future = write_columns(tmp_path / "f.csv", answer, ["y", "flag"], slice(600, 612),
                           empty=("y",))
    _, *ahead = future.read_text().splitlines()
    history = "\n".join([f"store,{header}"] + [f"{s},{r}" for s in "ab"
                                               for r in rows[-100:] + ahead]) + "\n"
    forecast = run_cli("predict", str(model), "-", "--quiet", stdin=history)
    assert forecast.returncode == 0, forecast.stderr
    lines = forecast.stdout.splitlines()
    assert lines[0].startswith("store,date,y") and len(lines) == 1 + 2 * 12
    assert lines[1].startswith("a,2020-01-26 00:00") and lines[13].startswith("b,2020-01-26 00:00")
