"""Prediction intervals: conformal calibration, their scores, and the CLI that shows them."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import TINY, run_cli, sample_card
from tsattn.calibration import calibrate_model
from tsattn.card import HEAD_FEATURES, ModelCard
from tsattn.config import parse_quantiles
from tsattn.errors import CheckpointError, UsageError
from tsattn.evaluation import evaluate, scored_rows
from tsattn.inference import load_forecaster, model_windows, run_model, scaled_series
from tsattn.interval_scores import QuantileScores, QuantileTally, crps, interval_score, pinball
from tsattn.intervals import (
    CRPS_LEVELS,
    Calibration,
    KnownScores,
    RollingOffsets,
    calibrate,
    calibrate_known,
    calibrate_scaled,
    fewest_windows,
    for_one_series,
    interval_pairs,
    refresh_rows,
    rolling_offsets,
    scale_floor,
    scaled_residuals,
    seasonal_scale,
    symmetric_offsets,
)
from tsattn.known import read_history
from tsattn.quantile_head import fit_quantile_head
from tsattn.recent_scores import RecentScores
from tsattn.windows import Windows

LEVELS = (0.1, 0.5, 0.9)


def heteroscedastic(n: int, seed: int, horizon: int = 4, lookback: int = 12
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows whose spread sets the forecast noise: a known answer for adaptive intervals.

    Each window's inputs have standard deviation s (drawn per window and target); the truth
    is the point forecast plus Gaussian noise of s * (1 + step / horizon).
    """
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.2, 3.0, size=(n, 1, 2))
    x = s * rng.normal(size=(n, lookback, 2))
    pred = rng.normal(size=(n, horizon, 2))
    growth = (1 + np.arange(horizon) / horizon)[None, :, None]
    truth = pred + s * growth * rng.normal(size=(n, horizon, 2))
    return pred, truth, x


def test_coverage_holds_on_new_data_with_known_noise():
    pred, truth, x = heteroscedastic(3000, seed=0)
    calibration = calibrate(pred, truth, x, LEVELS)
    new_pred, new_truth, new_x = heteroscedastic(20000, seed=1)
    q = calibration.scale(new_x, new_pred)
    q = calibration.quantiles(new_pred, q)
    score = interval_score(q, new_truth, LEVELS, (0.1, 0.9))
    assert all(abs(c - 0.8) < 0.025 for c in score.coverage_per_step)
    # the noise grows with the step, so must the width
    assert np.all(np.diff(score.width_per_step) > 0)
    # adaptive: a calm window (small s) gets a much narrower interval than a wild one
    calm, wild = np.argmin(new_x.std(axis=1)[:, 0]), np.argmax(new_x.std(axis=1)[:, 0])
    width = q[..., 0, 2] - q[..., 0, 0]
    assert width[wild].mean() > 5 * width[calm].mean()


def test_upper_quantile_of_gaussian_noise_matches_its_offset():
    pred, truth, x = heteroscedastic(20000, seed=2, horizon=1)
    offsets = calibrate(pred, truth, x, LEVELS).offsets[:, 0, :]  # residual / window std
    # noise / window std is N(0, 1) scaled by s / sample std of the window, about 1
    assert np.allclose(offsets[1], 0.0, atol=0.05)
    assert np.allclose(offsets[2], -offsets[0], atol=0.08)


def test_finite_sample_ranks_by_hand():
    scores = -np.arange(1.0, 10.0)[:, None, None]  # n = 9: |score| 1..9, whatever the sign
    offsets = symmetric_offsets(scores, (0.1, 0.5, 0.9))[:, 0, 0]
    # 0.1 and 0.9: coverage 0.8, the ceil(10 * 0.8) = 8th smallest |score|, either side
    assert offsets.tolist() == [-8.0, 0.0, 8.0]
    wider = symmetric_offsets(scores, (0.05, 0.25, 0.75, 0.95))[:, 0, 0]
    assert wider.tolist() == [-9.0, -5.0, 5.0, 9.0]  # ceil(10 * 0.9) = 9, ceil(10 * 0.5) = 5
    few = symmetric_offsets(np.array([3.0, -1.0, 2.0])[:, None, None], (0.1, 0.9))[:, 0, 0]
    assert few.tolist() == [-3.0, 3.0]  # ranks past the end take the largest score


def test_many_levels_take_the_same_ranks_as_a_few():
    """Past a few ranks `symmetric_offsets` sorts instead of partitioning; both must read
    the ceil((n + 1)|2q - 1|)-th smallest |score| of every column."""
    scores = np.random.default_rng(3).normal(size=(57, 4, 3))
    offsets = symmetric_offsets(scores, CRPS_LEVELS)
    ordered = np.sort(np.abs(scores), axis=0)
    for q, got in zip(CRPS_LEVELS, offsets, strict=True):
        rank = min(max(math.ceil(round(58 * abs(2 * q - 1), 9)), 1), 57)
        np.testing.assert_array_equal(got, np.sign(q - 0.5) * ordered[rank - 1])
        np.testing.assert_array_equal(got, symmetric_offsets(scores, (q,))[0])


def test_a_calibration_from_known_scores_is_the_one_from_its_first_windows():
    """Evaluate calibrates on the validation windows at the head of the known scores it
    rolls over; the windows after them must not count, and the offsets must be
    `calibrate_scaled`'s but for the float32 the known scores are held in."""
    pred, truth, x = heteroscedastic(300, seed=5)
    scale = seasonal_scale(x, pred.shape[1], 4)
    count = 120
    direct = calibrate_scaled(pred[:count], truth[:count], scale[:count], CRPS_LEVELS)
    floor = scale_floor(scale[:count])
    scores = scaled_residuals(pred, truth, scale, floor)
    scores[count:] = 1e6  # the windows after the first `count`: far outside any band
    got = calibrate_known(KnownScores.of(scores, np.arange(len(pred))), count, floor,
                          CRPS_LEVELS)
    np.testing.assert_array_equal(got.floor, direct.floor)
    np.testing.assert_allclose(got.offsets, direct.offsets, rtol=1e-6)
    assert got.n_windows == count and got.levels == CRPS_LEVELS


@pytest.mark.parametrize(("levels", "fewest"), [((0.1, 0.5, 0.9), 4), ((0.05, 0.95), 9),
                                               ((0.25, 0.75), 1), ((0.2, 0.9), 4),
                                               ((0.025, 0.975), 19), ((0.5,), 1)])
def test_fewest_windows_reach_every_rank(levels, fewest):
    assert fewest_windows(levels) == fewest
    widest = max(abs(2 * q - 1) for q in levels)
    for n in (fewest, fewest - 1):  # with n = fewest no rank is clipped; one fewer, one is
        clipped = math.ceil(round((n + 1) * widest, 9)) > n
        assert clipped == (n < fewest) or n == 0


def test_one_series_of_many_rolls_on_its_own_windows_when_it_has_enough():
    pooled = Calibration((0.1, 0.5, 0.9), np.zeros((3, 2, 1)), np.ones(1), n_windows=120,
                         start="2024-01-05T00:00:00")
    own = for_one_series(pooled, 19)
    assert (own.n_windows, own.start) == (19, None)  # rows counted from its own split
    assert own.offsets is pooled.offsets  # until its history holds 19, the pooled ones
    assert for_one_series(pooled, 3) is pooled  # too few for the 0.8 rank: pooled for good


def test_point_forecast_stays_the_median_and_the_band_does_not_drift():
    # all residuals positive, as in a stretch where the series drifted up: the band is as
    # wide on both sides, not moved up by the stretch's drift
    offsets = symmetric_offsets(np.arange(1.0, 10.0)[:, None, None], (0.1, 0.5, 0.9))
    assert offsets[:, 0, 0].tolist() == [-8.0, 0.0, 8.0]


def tallied(quantiles: np.ndarray, levels: tuple[float, ...], crps_per_step: np.ndarray,
            truth: np.ndarray) -> QuantileScores:
    """The scores of one block of quantiles, as evaluate tallies them."""
    tally = QuantileTally.of(levels, truth.shape[1])
    tally.add(quantiles, truth)
    return tally.scores(crps_per_step)


def scores_by_hand(n_windows: int, horizon: int = 2) -> np.ndarray:
    """Window k's scores are k at every step and target."""
    return np.broadcast_to(np.arange(n_windows, dtype=float)[:, None, None],
                           (n_windows, horizon, 1)).copy()


def known_by_hand(n_windows: int, horizon: int = 2) -> KnownScores:
    """`scores_by_hand`, window k's origin at row 10 + k."""
    return KnownScores.of(scores_by_hand(n_windows, horizon), 10 + np.arange(n_windows))


def test_rolling_offsets_use_only_steps_known_at_each_origin():
    stored = Calibration((0.1, 0.9), np.array([[[-9.0]] * 2, [[9.0]] * 2]), np.ones(1), 9)
    known = known_by_hand(40)
    rolled = rolling_offsets(stored, known, np.array([12, 25, 49]))
    assert refresh_rows(9) == 1  # every row: the sets below are exact
    per = rolled.per_forecast()[:, :, :, 0]  # (origin, level, step)
    assert per[0].tolist() == [[-9.0, -9.0], [9.0, 9.0]]  # by row 12: fewer than 9 windows
    # by row 25, step 0 of windows 0..14 (origins up to 24) is known, step 1 of 0..13;
    # the last 9 of each (6..14 and 5..13); the ceil(10 * 0.8) = 8th |score|, either side
    assert per[1].tolist() == [[-13.0, -12.0], [13.0, 12.0]]
    changed = scores_by_hand(40)
    changed[15:, 0] = 1e9  # steps known only after row 25 change nothing there
    changed[14:, 1] = 1e9
    later = KnownScores.of(changed, known.origins)
    assert rolling_offsets(stored, later, np.array([25])).per_forecast()[0, 1, :, 0].tolist(
        ) == [13.0, 12.0]
    assert per[2].tolist() == [[-37.0, -36.0], [37.0, 36.0]]


def test_rolling_set_moves_in_steps_of_a_fiftieth():
    stored = Calibration((0.1, 0.9), np.zeros((2, 2, 1)), np.ones(1), 100)
    assert refresh_rows(100) == 2 and refresh_rows(101) == 3
    rolled = rolling_offsets(stored, known_by_hand(300), np.array([200, 201, 202]))
    assert rolled.which.tolist() == [0, 0, 1] and len(rolled.sets) == 2


def test_rolling_sets_are_the_same_on_any_number_of_threads(monkeypatch: pytest.MonkeyPatch):
    scores = np.random.default_rng(4).normal(size=(400, 3, 2))
    known = KnownScores.of(scores, 10 + np.arange(400))
    stored = Calibration(CRPS_LEVELS, np.zeros((len(CRPS_LEVELS), 3, 2)), np.ones(2), 60)
    origins = np.arange(70, 411)
    rolled = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        rolled[threads] = rolling_offsets(stored, known, origins)
    assert len(rolled["1"].sets) > 3  # several sets, so the threads share the work
    np.testing.assert_array_equal(rolled["1"].sets, rolled["3"].sets)
    np.testing.assert_array_equal(rolled["1"].which, rolled["3"].which)


def test_rolling_calibration_follows_a_change_the_inputs_do_not_show():
    """Residuals double while the inputs stay as calm: the validation offsets under-cover,
    the rolling ones recover 80% once the set has moved past the change."""
    rng = np.random.default_rng(3)
    n_val, n_new, horizon = 500, 4000, 3
    x = rng.normal(size=(n_val + n_new, 24, 1))
    pred = np.zeros((n_val + n_new, horizon, 1))
    noise = np.where(np.arange(n_val + n_new)[:, None, None] < n_val, 1.0, 2.0)
    truth = noise * rng.normal(size=pred.shape)
    calibration = calibrate(pred[:n_val], truth[:n_val], x[:n_val], LEVELS)
    rows = np.arange(n_val + n_new)  # window k's origin; it ends `horizon` rows later
    scale = calibration.scale(x, pred)
    known = KnownScores.of(calibration.scores(pred, truth, scale), rows)
    later = slice(n_val + 2 * n_val, None)  # the set holds only new windows from here on
    offsets = rolling_offsets(calibration, known, rows[later]).per_forecast()
    rolled = calibration.quantiles(pred[later], scale[later], offsets)
    static = calibration.quantiles(pred[later], scale[later])
    coverage = [interval_score(q, truth[later], LEVELS, (0.1, 0.9)).coverage
                for q in (rolled, static)]
    assert abs(coverage[0] - 0.8) < 0.03 and coverage[1] < 0.6


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_never_cross(seed: int):
    rng = np.random.default_rng(seed)
    levels = tuple(sorted(rng.choice(np.arange(1, 100) / 100, size=7, replace=False)))
    pred, truth = rng.normal(size=(50, 3, 2)), rng.standard_cauchy(size=(50, 3, 2))
    x = rng.normal(size=(50, 8, 2)) * rng.uniform(0, 2, size=(50, 1, 2))
    calibration = calibrate(pred, truth, x, levels)
    new = rng.normal(size=(40, 3, 2)) * 100
    q = calibration.quantiles(new, calibration.scale(x[:40], new))
    assert np.all(np.diff(q, axis=-1) >= 0)


def test_flat_history_does_not_divide_by_zero():
    pred, truth, x = heteroscedastic(200, seed=3)
    x[:20] = 1.0  # constant windows: std 0
    calibration = calibrate(pred, truth, x, LEVELS)
    assert np.isfinite(calibration.offsets).all() and (calibration.floor > 0).all()


def test_calibration_round_trip_and_refuses_crossing_offsets():
    pred, truth, x = heteroscedastic(100, seed=4)
    # sample_card: horizon 2, one target
    calibration = calibrate(pred[:, :2, :1], truth[:, :2, :1], x[..., :1], LEVELS)
    raw = json.loads(sample_card(calibration=calibration.to_card()).to_json())
    back = Calibration.from_card(ModelCard.from_dict(raw).calibration)
    assert back.levels == LEVELS and np.array_equal(back.offsets, calibration.offsets)
    assert np.array_equal(back.floor, calibration.floor) and back.n_windows == 100
    raw["calibration"]["offsets"][0][0][0] = raw["calibration"]["offsets"][2][0][0] + 1
    with pytest.raises(CheckpointError, match="cross"):
        ModelCard.from_dict(raw)
    other = calibrate(pred, truth, x, LEVELS).to_card()  # horizon 4, two targets
    with pytest.raises(CheckpointError, match="match"):
        ModelCard.from_dict(sample_card(calibration=other).to_dict())


def test_pinball_coverage_and_crps_by_hand():
    truth = np.array([[[1.0]], [[3.0]]])  # (W=2, H=1, T=1)
    q = np.array([[[[0.0, 2.0]]], [[[0.0, 2.0]]]])  # levels 0.2, 0.8
    # window 1 inside: losses 0.2*1, 0.2*1; window 2 above both: 0.2*3, 0.8*1
    assert pinball(q, truth, (0.2, 0.8)).tolist() == pytest.approx([(0.2 + 0.2 + 0.6 + 0.8) / 4])
    score = interval_score(q, truth, (0.2, 0.8), (0.2, 0.8))
    assert (score.coverage, score.width, score.nominal) == (0.5, 2.0, 0.6)
    grid = np.repeat(truth[..., None], len(CRPS_LEVELS), axis=-1)  # a perfect forecast
    scores = tallied(q, (0.2, 0.8), crps(grid, truth, CRPS_LEVELS), truth)
    assert scores.crps == 0.0 and scores.pinball == pytest.approx(0.45)
    assert scores.median_mse is None
    median = tallied(q, (0.2, 0.5), crps(grid, truth, CRPS_LEVELS), truth).median_mse
    assert median == pytest.approx((1.0 + 1.0) / 2)  # the 0.5 column is 2.0, truths 1 and 3


def test_interval_pairs_nest_from_the_outside():
    assert interval_pairs((0.05, 0.1, 0.5, 0.9, 0.95)) == [(0.05, 0.95), (0.1, 0.9)]
    assert interval_pairs((0.1, 0.5)) == [(0.1, 0.5)]


@pytest.mark.parametrize(("value", "message"), [
    ("0.1,1.2", "outside (0, 1)"), ("0,0.5", "outside (0, 1)"), ("nan,0.5", "outside (0, 1)"),
    ("0.1,0.9,0.1", "given twice"), ("0.5", "at least two levels"), ("", "at least two"),
    ("0.1,x", "not a number"), ([0.1, True], "not a number"),
])
def test_bad_levels_are_one_clear_error(value: object, message: str):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_quantiles(value)


def test_levels_are_sorted():
    assert parse_quantiles(" 0.9, 0.1,0.5") == (0.1, 0.5, 0.9)
    assert parse_quantiles([0.9, 0.025]) == (0.025, 0.9)


@pytest.mark.parametrize(("value", "message"), [
    ("0.1,1.5", "outside (0, 1)"), ("0.1,0.1", "given twice"), ("0.8", "at least two levels"),
])
def test_train_refuses_bad_quantiles(hourly_csv: Path, tmp_path: Path, value: str,
                                     message: str):
    done = run_cli("train", str(hourly_csv), "-o", str(tmp_path / "m.tsattn"), *TINY,
                   "--quantiles", value)
    assert done.returncode == 2
    assert done.stderr.count("error:") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "m.tsattn").exists()


def test_train_refuses_an_unknown_interval_method(hourly_csv: Path, tmp_path: Path):
    done = run_cli("train", str(hourly_csv), "-o", str(tmp_path / "m.tsattn"), *TINY,
                   "--intervals", "bootstrap")
    assert done.returncode == 2 and done.stderr.count("error:") == 1
    assert "pinball, residuals" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.tsattn").exists()


@pytest.mark.slow
def test_the_default_pinball_head_is_trained_stored_and_used(hourly_csv: Path, tmp_path: Path):
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(hourly_csv), "-o", str(model), *TINY, "--epochs", "1")
    assert done.returncode == 0, done.stderr
    meta = json.loads(run_cli("info", str(model), "--json").stdout)
    assert meta["calibration"]["method"] == "pinball"
    assert len(meta["calibration"]["head_weights"]) == len(HEAD_FEATURES)
    assert meta["config"]["train"]["intervals"] == "pinball"
    assert "pinball" in run_cli("info", str(model)).stderr
    rows = parse(run_cli("predict", str(model), str(hourly_csv)).stdout)
    assert all(float(r["load_q0.1"]) <= float(r["load"]) <= float(r["load_q0.9"])
               for r in rows)
    scored = json.loads(run_cli("evaluate", str(model), str(hourly_csv), "--json").stdout)
    assert set(scored["intervals"]["scores"]) >= {"model", "linear"}


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_writes_quantile_columns_beside_each_target(tiny_model: Path, hourly_csv: Path):
    done = run_cli("predict", str(tiny_model), str(hourly_csv))
    assert done.returncode == 0, done.stderr
    rows = parse(done.stdout)
    assert list(rows[0]) == ["date", "load", "load_q0.1", "load_q0.5", "load_q0.9",
                             "temp", "temp_q0.1", "temp_q0.5", "temp_q0.9"]
    for row in rows:
        for target in ("load", "temp"):
            low, mid, high = (float(row[f"{target}_q{q}"]) for q in ("0.1", "0.5", "0.9"))
            assert low <= mid <= high and low < high


def test_rolling_and_json_carry_the_same_columns(tiny_model: Path, hourly_csv: Path):
    single = parse(run_cli("predict", str(tiny_model), str(hourly_csv)).stdout)
    rolling = parse(run_cli("predict", str(tiny_model), str(hourly_csv), "--rolling").stdout)
    assert list(rolling[0])[:4] == ["origin", "date", "step", "load"]
    assert rolling[-6:] == [{"origin": "2024-01-25 23:00", "step": str(h + 1), **row}
                            for h, row in enumerate(single)]
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "--format", "json")
    document = json.loads(done.stdout)
    assert document["quantiles"] == [0.1, 0.5, 0.9]
    values = document["forecasts"][0]["values"]
    assert list(values) == list(single[0])[1:]
    assert [f"{v:.7g}" for v in values["temp_q0.9"]] == [
        f"{float(r['temp_q0.9']):.7g}" for r in single]


def test_evaluate_scores_intervals_of_model_and_every_baseline(tiny_model: Path,
                                                               hourly_csv: Path):
    done = run_cli("evaluate", str(tiny_model), str(hourly_csv), "--json")
    assert done.returncode == 0, done.stderr
    intervals = json.loads(done.stdout)["intervals"]
    assert intervals["levels"] == [0.1, 0.5, 0.9] and intervals["calibration_windows"] > 0
    assert set(intervals["scores"]) == {"model", "repeat_last", "linear", "seasonal_naive"}
    for scores in intervals["scores"].values():
        (interval,) = scores["intervals"]
        assert (interval["lower"], interval["upper"], interval["nominal"]) == (0.1, 0.9, 0.8)
        assert 0 <= interval["coverage"] <= 1 and interval["width"] > 0
        assert len(interval["coverage_per_step"]) == len(scores["pinball_per_step"]) == 6
        assert math.isclose(np.mean(interval["coverage_per_step"]), interval["coverage"])
        assert 0 < scores["pinball"] < scores["crps"]
    assert "80% covers" in done.stderr and "CRPS" in done.stderr


def test_evaluate_scores_the_same_block_by_block(tiny_model: Path, hourly_csv: Path,
                                                 monkeypatch):
    """Wide or long data is scored a block of windows at a time; one window a block
    must give what one block of every window gives."""
    loaded = load_forecaster(tiny_model)
    frame = read_history(hourly_csv.open(), loaded.card, "none")
    first, end = scored_rows(loaded, frame, None, None)
    whole = evaluate(loaded, frame, first, end)
    monkeypatch.setattr("tsattn.evaluation._BLOCK_CELLS", 1)
    blocks = evaluate(loaded, frame, first, end)
    assert whole["windows"] > 10
    assert_nested_close(blocks, whole)


def assert_nested_close(got: object, want: object) -> None:
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            assert_nested_close(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_nested_close(a, b)
    elif isinstance(want, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    else:
        assert got == want


def test_rolling_predict_gives_the_intervals_evaluate_scores(tiny_model: Path,
                                                             hourly_csv: Path):
    """Step by step, the same residuals are known at each origin to both commands."""
    scored = json.loads(run_cli("evaluate", str(tiny_model), str(hourly_csv), "--json").stdout)
    first, end = scored["rows"]
    horizon = len(scored["intervals"]["scores"]["model"]["pinball_per_step"])
    source = parse(hourly_csv.read_text())
    row_of = {r["date"]: i for i, r in enumerate(source)}
    inside = []
    for r in parse(run_cli("predict", str(tiny_model), str(hourly_csv), "--rolling").stdout):
        origin = row_of[r["origin"]] + 1  # the row of the first forecast step
        if first <= origin and origin + horizon <= end:
            truth = source[origin + int(r["step"]) - 1]
            inside += [float(r[f"{t}_q0.1"]) <= float(truth[t]) <= float(r[f"{t}_q0.9"])
                       for t in ("load", "temp")]
    assert len(inside) == 2 * horizon * scored["windows"]
    (interval,) = scored["intervals"]["scores"]["model"]["intervals"]
    assert abs(np.mean(inside) - interval["coverage"]) <= 2 / len(inside)  # CSV rounding


@pytest.mark.slow
def test_chosen_levels_are_stored_and_shown(hourly_csv: Path, tmp_path: Path):
    model = tmp_path / "m.tsattn"
    done = run_cli("train", str(hourly_csv), "-o", str(model), *TINY, "--epochs", "1",
                   "--quantiles", "0.95,0.05,0.25,0.75", "-t", "load", "--intervals",
                   "residuals")
    assert done.returncode == 0, done.stderr
    meta = json.loads(run_cli("info", str(model), "--json").stdout)
    assert meta["calibration"]["levels"] == [0.05, 0.25, 0.75, 0.95]
    assert meta["calibration"]["method"] == "residuals"
    assert meta["calibration"]["head_weights"] is None and meta["calibration"]["period"] == 24
    assert meta["config"]["train"]["quantiles"] == [0.05, 0.25, 0.75, 0.95]
    header = run_cli("predict", str(model), str(hourly_csv)).stdout.splitlines()[0]
    assert header == "date,load,load_q0.05,load_q0.25,load_q0.75,load_q0.95"
    plot = tmp_path / "f.png"
    drawn = run_cli("predict", str(model), str(hourly_csv), "--plot", str(plot), "-q")
    assert drawn.returncode == 0, drawn.stderr
    assert plot.stat().st_size > 10_000


def test_predict_recalibrates_on_a_long_history_and_not_on_a_short_one(tiny_model: Path,
                                                                       hourly_csv: Path):
    loaded = load_forecaster(tiny_model)
    frame = read_history(hourly_csv, loaded.card)
    calibration, horizon, n = loaded.calibration, loaded.horizon, loaded.calibration.n_windows
    series = scaled_series(loaded, frame)
    last = len(frame.values)
    assert calibration.start == "2024-01-18T12:00:00.000000000"  # row 420 of 600
    rolled = offsets_at_the_end(loaded, series, frame.times)
    found = model_windows(loaded, series, 420, last)  # complete windows: origins to 594
    out = run_model(loaded, found)
    scores = calibration.scores(out.prediction, found.everything()[1].cpu().numpy(),
                                out.scale)
    # step h of the window from origin s is known at the last origin when s + h < 600:
    # the last step's latest windows are complete ones, the first step's are not
    deepest = symmetric_offsets(scores[-n:], calibration.levels)[:, -1]
    assert np.allclose(rolled.sets[0][:, -1], deepest)
    assert not np.allclose(rolled.sets[0][:, 0], symmetric_offsets(scores[-n:],
                                                                   calibration.levels)[:, 0])
    assert not np.allclose(rolled.sets[0], calibration.offsets)
    assert horizon > 1
    tail = slice(-loaded.lookback - 20, None)  # too short to hold the validation's count
    short = offsets_at_the_end(loaded, series[tail], frame.times[tail])
    assert np.array_equal(short.per_forecast()[0], calibration.offsets)


def offsets_at_the_end(loaded, series: torch.Tensor, times: np.ndarray) -> RollingOffsets:
    """The interval offsets of `predict` from the last origin of `series`."""
    last = len(series)
    out = run_model(loaded, model_windows(loaded, series, last, last, horizon=0))
    recent = RecentScores.over(loaded, loaded.calibration, series, times)
    return recent.offsets(np.array([last]), out)


def test_seasonal_scale_by_hand():
    """Period 4, lookback 9: changes 1 everywhere but 10 at row 5; step 0 (row 9) sits at
    rows 5 and 1 one and two seasons back, step 1 (row 10) at rows 6 and 2."""
    x = np.zeros((1, 9, 1))
    x[0, :, 0] = np.cumsum([0, 1, 1, 1, 1, 10, 1, 1, 1])  # row r's change: x[r] - x[r-1]
    scale = seasonal_scale(x, 2, 4)[0, :, 0]
    # reach: max(1, min(3, 4 // 4)) = 1 row either side; rows clipped to 1..8
    step0 = (np.mean([1, 10, 1]) + np.mean([1, 1])) / 2  # rows 4-6 and rows 1-2
    step1 = (np.mean([10, 1, 1]) + np.mean([1, 1, 1])) / 2  # rows 5-7 and rows 1-3
    assert scale.tolist() == pytest.approx([step0, step1])


def test_seasonal_scale_widens_the_busy_phase():
    """Noise whose size follows the phase of a period-24 season: the seasonal scale gives
    the busy phase the wider band, and both phases hold their coverage."""
    rng = np.random.default_rng(5)
    period, lookback, horizon, n = 24, 72, 24, 4000
    amplitude = lambda rows: 0.2 + 2.0 * (rows % period < 6)  # noqa: E731
    origins = rng.integers(0, period, size=n)
    rows_in = origins[:, None] + np.arange(-lookback, 0)[None, :]
    rows_out = origins[:, None] + np.arange(horizon)[None, :]
    x = np.cumsum(amplitude(rows_in) * rng.normal(size=rows_in.shape), axis=1)[..., None]
    pred = np.zeros((n, horizon, 1))
    truth = (amplitude(rows_out) * rng.normal(size=rows_out.shape))[..., None]
    calibration = calibrate(pred[:2000], truth[:2000], x[:2000], LEVELS, period=period)
    q = calibration.quantiles(pred[2000:], calibration.scale(x[2000:], pred[2000:]))
    busy = amplitude(rows_out[2000:]) > 1
    width = (q[..., 0, 2] - q[..., 0, 0])
    assert width[busy].mean() > 3 * width[~busy].mean()  # 11x apart; the edges blur it
    plain = calibrate(pred[:2000], truth[:2000], x[:2000], LEVELS)  # the window's std
    same = plain.quantiles(pred[2000:], plain.scale(x[2000:], pred[2000:]))
    flat = same[..., 0, 2] - same[..., 0, 0]
    assert flat[busy].mean() < 1.5 * flat[~busy].mean()  # it cannot tell the phases apart
    new = truth[2000:, :, 0]
    inside = (new >= q[..., 0, 0]) & (new <= q[..., 0, 2])
    inside_flat = (new >= same[..., 0, 0]) & (new <= same[..., 0, 2])
    assert abs(inside.mean() - 0.8) < 0.03 and abs(inside_flat.mean() - 0.8) < 0.03
    # both hold 80% overall; the flat band does it by covering nearly every quiet step
    # and missing the busy ones, the seasonal band comes much closer in each phase
    # (measured: busy 64% against 26%, quiet 85% against 98%)
    assert inside[busy].mean() > inside_flat[busy].mean() + 0.25
    assert inside[~busy].mean() < inside_flat[~busy].mean() - 0.08


def moving_noise(n: int, seed: int, horizon: int = 4, lookback: int = 12
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calm, equally spread inputs; the error grows with how far the forecast moves from
    the last input value, which only the quantile head's `forecast_move` feature sees."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, lookback, 1))
    move = rng.uniform(0.05, 4.0, size=(n, 1, 1)) * rng.choice([-1, 1], size=(n, 1, 1))
    pred = x[:, -1:, :] + move * np.ones((1, horizon, 1))
    truth = pred + np.abs(move) * rng.normal(size=pred.shape)
    return pred, truth, x


def test_quantile_head_learns_the_feature_that_sets_the_noise():
    pred, truth, x = moving_noise(3000, seed=6)
    head = fit_quantile_head(x, pred, truth, LEVELS, period=None)
    weights = dict(zip(HEAD_FEATURES, head.weights[:, 0], strict=True))
    assert weights["forecast_move"] > 0.7  # started at 0, the std's weight at 1
    assert abs(weights["window_std"]) < 0.4
    calibration = calibrate_scaled(pred, truth, head.scale(x, pred, None), LEVELS, head=head)
    new_pred, new_truth, new_x = moving_noise(20000, seed=7)
    q = calibration.quantiles(new_pred, calibration.scale(new_x, new_pred))
    assert np.all(np.diff(q, axis=-1) >= 0)
    learned = interval_score(q, new_truth, LEVELS, (0.1, 0.9))
    fixed = calibrate(pred, truth, x, LEVELS)
    flat = interval_score(fixed.quantiles(new_pred, fixed.scale(new_x, new_pred)), new_truth,
                          LEVELS, (0.1, 0.9))
    assert abs(learned.coverage - 0.8) < 0.02 and abs(flat.coverage - 0.8) < 0.02
    score = [pinball(a, new_truth, LEVELS).mean() for a in (
        q, fixed.quantiles(new_pred, fixed.scale(new_x, new_pred)))]
    assert score[0] < 0.92 * score[1]  # same coverage, sharper where the forecast is calm


def test_quantile_head_round_trips_and_bad_heads_are_refused():
    pred, truth, x = moving_noise(200, seed=8, horizon=2)
    head = fit_quantile_head(x, pred, truth, LEVELS, period=None)
    calibration = calibrate_scaled(pred, truth, head.scale(x, pred, None), LEVELS, head=head)
    raw = json.loads(sample_card(calibration=calibration.to_card()).to_json())
    assert raw["calibration"]["method"] == "pinball"
    back = Calibration.from_card(ModelCard.from_dict(raw).calibration)
    assert np.array_equal(back.head.weights, head.weights)
    assert np.allclose(back.scale(x, pred), calibration.scale(x, pred))
    for key, value in (("head_floor", [[0.0]] * 4), ("head_weights", [[1.0]] * 3),
                       ("head_weights", None), ("method", "magic")):
        broken = json.loads(json.dumps(raw))
        broken["calibration"][key] = value
        with pytest.raises(CheckpointError, match="calibration"):
            ModelCard.from_dict(broken)


def test_files_before_the_season_and_the_head_keep_the_window_std(tiny_model: Path):
    raw = json.loads(load_forecaster(tiny_model).card.to_json())
    for key in ("period", "head_weights", "head_floor"):
        raw["calibration"].pop(key)
    raw["calibration"]["method"] = "conformal"  # the name before "residuals"
    old = Calibration.from_card(ModelCard.from_dict(raw).calibration)
    x = np.random.default_rng(0).normal(size=(5, 12, 2))
    scale = old.scale(x, np.zeros((5, old.offsets.shape[1], 2)))
    assert np.allclose(scale, x.std(axis=1)[:, None, :])


class _LastValue(torch.nn.Module):
    """Repeat-last as a model, counting the windows it forecasts."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon, self.seen = horizon, 0

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> SimpleNamespace:
        self.seen += len(x)
        return SimpleNamespace(prediction=x[:, -1:, :1].expand(-1, self.horizon, -1))


def test_the_head_forecasts_only_the_training_windows_it_reads(monkeypatch):
    rng = np.random.default_rng(3)
    series = torch.as_tensor(np.cumsum(rng.normal(size=(900, 2)), axis=0), dtype=torch.float32)
    train = Windows.between(series, 0, 700, lookback=24, horizon=6, n_targets=1)
    val = Windows.between(series, 700, 900, lookback=24, horizon=6, n_targets=1)
    monkeypatch.setattr("tsattn.quantile_head._ELEMENTS", 6 * 50)  # 50 windows of 6 cells
    model = _LastValue(horizon=6)
    calibration = calibrate_model(model, val, torch.device("cpu"), LEVELS, head_windows=train)
    assert model.seen == len(val) + 50  # not the 671 training windows
    x, y = train.everything()
    pred = x[:, -1:, :1].expand(-1, 6, -1)
    whole = fit_quantile_head(*(a.double().numpy() for a in (x[..., :1], pred, y)), LEVELS,
                              period=None)
    assert np.allclose(calibration.head.weights, whole.weights, atol=1e-6)
    assert np.allclose(calibration.head.floor, whole.floor)
