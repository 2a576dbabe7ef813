"""The linear path and the free baselines: closed-form fits checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsattn.baselines import Comparison, season_length, validation_baselines
from tsattn.models.base import variable_weights
from tsattn.models.linear import (
    DEFAULT_RIDGE,
    MARGIN,
    CovariateEquations,
    LinearPath,
    NormalEquations,
    fit_covariates,
    fit_linear_path,
)
from tsattn.windows import Windows, window_starts


def windows_of(series: np.ndarray, first: int, end: int, lookback: int = 12,
               horizon: int = 4) -> Windows:
    tensor = torch.from_numpy(series.astype(np.float32))
    starts = window_starts(first, end, lookback, horizon)
    return Windows(tensor, starts, lookback, horizon, n_targets=series.shape[1])


def ar_series(n: int = 600, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 8 + np.arange(channels)) + 0.1 * rng.standard_normal(
        (n, channels))


def arrays(windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    x, y = windows.batch(torch.arange(len(windows)))
    return x.double().numpy(), y.double().numpy()


def test_normal_equations_solve_least_squares_like_numpy() -> None:
    train = windows_of(ar_series(), 0, 400)
    equations = NormalEquations.of(train.batches(50), n_targets=2)
    x, y = arrays(train)
    last = x[:, -1:]
    a = (x - last).transpose(0, 2, 1).reshape(-1, 12)
    b = (y - last).transpose(0, 2, 1).reshape(-1, 4)
    expected, *_ = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(equations.solve(1e-12).numpy(), expected, atol=1e-5)


def test_mse_from_statistics_equals_the_direct_error() -> None:
    train, val = windows_of(ar_series(), 0, 400), windows_of(ar_series(), 400, 600)
    weight = NormalEquations.of(train.batches(64), 2).solve(1e-2)
    path = LinearPath(12, 4, n_targets=2, n_covariates=0)
    path.load_solution(weight)
    x, y = val.batch(torch.arange(len(val)))
    direct = float((path(x)[0] - y).square().mean())
    assert NormalEquations.of(val.batches(33), 2).mse(weight) == pytest.approx(direct, rel=1e-4)


def test_a_huge_penalty_is_repeat_last_and_small_gains_keep_the_default() -> None:
    train, val = windows_of(ar_series(), 0, 400), windows_of(ar_series(), 400, 600)
    eq_train, eq_val = NormalEquations.of(train.batches(64), 2), NormalEquations.of(
        val.batches(64), 2)
    assert eq_train.solve(1e9).abs().max() < 1e-6  # W -> 0: last value repeated
    fit = fit_linear_path([eq_train], eq_val, grid=(1e-4, 1.0, 1e6))
    assert set(fit.held_out_mse) == {1e-4, DEFAULT_RIDGE, 1.0, 1e6}
    # least squares forecasts a clean periodic signal far better than repeat-last, and
    # 1e-4 is within MARGIN of the default penalty, so the default is kept
    assert fit.ridge == DEFAULT_RIDGE
    assert fit.held_out_mse[DEFAULT_RIDGE] < 0.2 * fit.held_out_mse[1e6]


def test_a_penalty_that_clearly_wins_on_validation_is_chosen() -> None:
    periodic = windows_of(ar_series(), 0, 400)
    walk = np.cumsum(np.random.default_rng(2).standard_normal((600, 2)), axis=0)
    fit = fit_linear_path([NormalEquations.of(periodic.batches(64), 2)],
                          NormalEquations.of(windows_of(walk, 0, 600).batches(64), 2))
    assert fit.ridge > DEFAULT_RIDGE
    assert fit.held_out_mse[fit.ridge] < (1 - MARGIN) * fit.held_out_mse[DEFAULT_RIDGE]


def test_folds_partition_the_windows_and_their_equations_add_up() -> None:
    train = windows_of(ar_series(), 0, 400)
    folds = train.folds(5)
    assert torch.equal(torch.cat([f.starts for f in folds]), train.starts)
    parts = [NormalEquations.of(f.batches(64), 2) for f in folds]
    whole = NormalEquations.of(train.batches(64), 2)
    summed = sum(parts[1:], parts[0])
    torch.testing.assert_close(summed.gram, whole.gram)
    torch.testing.assert_close((summed - parts[0]).cross, whole.cross - parts[0].cross)
    assert summed.count == whole.count


def test_training_folds_join_validation_in_judging_a_penalty() -> None:
    folds = [NormalEquations.of(f.batches(64), 2)
             for f in windows_of(ar_series(), 0, 400).folds(4)]
    val = NormalEquations.of(windows_of(ar_series(), 400, 600).batches(64), 2)
    fit = fit_linear_path(folds, val, grid=(1.0,))
    train = sum(folds[1:], folds[0])
    sse = val.sse(train.solve(1.0)) + sum(f.sse((train - f).solve(1.0)) for f in folds)
    count = val.count + sum(f.count for f in folds)
    assert fit.held_out_mse[1.0] == pytest.approx(sse / (count * 4))


def test_no_windows_is_refused() -> None:
    empty = windows_of(ar_series(10), 0, 10)
    with pytest.raises(ValueError, match="no windows"):
        NormalEquations.of(empty.batches(8), 2)


def test_validation_baselines_match_hand_computed_errors() -> None:
    series = ar_series()
    train, val = windows_of(series, 0, 400), windows_of(series, 400, 600)
    eq_train, eq_val = NormalEquations.of(train.batches(64), 2), NormalEquations.of(
        val.batches(64), 2)
    scores = validation_baselines(eq_train, eq_val, val, period=8)
    x, y = arrays(val)
    assert scores["repeat_last"] == pytest.approx(np.mean((x[:, -1:] - y) ** 2), rel=1e-5)
    seasonal = x[:, [12 - 8 + h % 8 for h in range(4)]]
    assert scores["seasonal_naive"] == pytest.approx(np.mean((seasonal - y) ** 2), rel=1e-5)
    assert scores["linear"] < scores["repeat_last"]


@pytest.mark.parametrize(("freq", "lookback", "expected"), [
    ("h", 336, 24), ("W-TUE", 104, 52), ("W-SUN", 36, None), ("D", 96, 7), ("7min", 96, None),
    (None, 96, None),
])
def test_season_length_reads_anchored_aliases(freq: str | None, lookback: int,
                                             expected: int | None) -> None:
    assert season_length(freq, None, lookback) == expected


def test_comparison_warns_only_when_a_baseline_wins() -> None:
    better = Comparison(0.30, {"repeat_last": 1.2, "linear": 0.31})
    assert better.warning() is None
    assert "linear 0.3100" in better.describe()
    worse = Comparison(0.35, {"repeat_last": 1.2, "seasonal_naive": 0.33, "linear": 0.34})
    warning = worse.warning()
    assert warning is not None and "seasonal naive" in warning and "0.3300" in warning


def driven_series(n: int = 800, lag: int = 5, seed: int = 0) -> np.ndarray:
    """Columns: a target that copies the driver `lag` steps back, the driver, pure noise."""
    rng = np.random.default_rng(seed)
    driver = rng.standard_normal(n + lag)
    target = driver[:-lag] + 0.05 * rng.standard_normal(n)
    return np.stack([target, driver[lag:], rng.standard_normal(n)], axis=1)


def fitted_path(series: np.ndarray) -> tuple[LinearPath, list[float | None], Windows]:
    def part(first: int, end: int) -> Windows:
        tensor = torch.from_numpy(series.astype(np.float32))
        return Windows(tensor, window_starts(first, end, 12, 4), 12, 4, n_targets=1)

    train, val = part(0, 600), part(600, 800)
    path = LinearPath(12, 4, n_targets=1, n_covariates=2)
    path.load_solution(fit_linear_path([NormalEquations.of(train.batches(64), 1)],
                                       NormalEquations.of(val.batches(64), 1)).weight)
    weight, chosen = fit_covariates([CovariateEquations.of(f.batches(64), path)
                                     for f in train.folds(3)],
                                    CovariateEquations.of(val.batches(64), path), 2)
    path.load_solution(path.weight, weight)
    return path, chosen, val


def test_covariates_that_drive_the_target_are_read() -> None:
    path, chosen, val = fitted_path(driven_series())
    assert chosen[0] is not None
    x, y = val.batch(torch.arange(len(val)))
    base, parts = path(x)
    assert float((base - y).square().mean()) < 0.05  # the copied driver is forecast
    # the driver (part 1) moves the forecast far more than the noise column (part 2)
    assert parts[..., 1].abs().mean() > 20 * parts[..., 2].abs().mean()


def test_covariates_that_do_not_help_are_not_read() -> None:
    rng = np.random.default_rng(1)
    noise = np.stack([np.sin(np.arange(800) / 3.0), *rng.standard_normal((2, 800))], axis=1)
    path, chosen, _ = fitted_path(noise)
    if chosen[0] is None:
        assert path.covariate_weight.abs().max() == 0
    else:  # if some penalty helped on validation, it kept the covariates' part tiny
        assert path.covariate_weight.abs().max() < 0.05


def test_a_covariate_whose_absence_lowers_the_validation_error_is_left_out() -> None:
    series = driven_series()
    series[600:, 2] = np.random.default_rng(9).standard_normal(200) * 5  # wild on validation
    path, chosen, _ = fitted_path(series)
    assert chosen[0] is not None
    assert path.covariate_weight[..., 0, :].abs().max() > 0.5  # the driver is read
    assert path.covariate_weight[..., 1, :].abs().max() == 0  # the wild column is not


def test_variable_weights_are_the_parts_magnitudes() -> None:
    parts = torch.tensor([[[[1.0, 3.0, 0.0], [2.0, 0.0, 2.0]]]])  # (B=1, H=1, T=2, 1+K=3)
    added = torch.tensor([[[1.0, -2.0]]])  # (B, H, T): target 2's own move cancels to 0
    weights = variable_weights(parts, added, n_channels=4)
    # target 1: own |1+1| = 2, cov1 3 -> [0.4, 0, 0.6, 0]; target 2: own 0, cov2 2 -> [0,0,0,1]
    expected = torch.tensor([[[0.2, 0.0, 0.3, 0.5]]])
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
