"""Honest scores: the model beside the baselines a user gets for free, on the same windows.

Every stride-1 window whose targets lie in the evaluation rows is kept (no `drop_last`),
errors are averaged over windows, steps and target channels on the z-scored values (the
units of published results), and MAE/RMSE are also given in the data's own units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from tsattn.baselines import (
    apply_linear,
    linear_weights,
    repeat_last,
    season_length,
    seasonal_naive,
)
from tsattn.card import Split
from tsattn.data import Frame, resolve_row
from tsattn.errors import DataError, UsageError
from tsattn.inference import LoadedModel, model_windows, run_model, scaled_series
from tsattn.interval_scores import crps, quantile_scores
from tsattn.intervals import (
    CRPS_LEVELS,
    Calibration,
    KnownScores,
    calibrate_scaled,
    interval_scale,
    rolling_offsets,
)
from tsattn.models.linear import NormalEquations
from tsattn.windows import Windows


@dataclass
class Scores:
    """Errors of one forecaster, overall and per target."""

    mse: float
    mae: float
    mse_per_target: list[float]
    mae_per_target: list[float]
    mae_original: list[float]
    rmse_original: list[float]


def score(pred: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> Scores:
    """Scores of (W, H, T) forecasts on z-scored values; `scale` converts to original units."""
    err = pred - truth
    mse_t = np.mean(err**2, axis=(0, 1))
    mae_t = np.mean(np.abs(err), axis=(0, 1))
    return Scores(
        mse=float(mse_t.mean()), mae=float(mae_t.mean()),
        mse_per_target=mse_t.tolist(), mae_per_target=mae_t.tolist(),
        mae_original=(mae_t * scale).tolist(), rmse_original=(np.sqrt(mse_t) * scale).tolist(),
    )


def evaluation_windows(loaded: LoadedModel, series: torch.Tensor, first: int, end: int
                       ) -> Windows:
    """The windows whose targets lie in rows [first, end); at least one must exist."""
    found = model_windows(loaded, series, first, end)
    if len(found) == 0:
        raise UsageError(
            f"no window has its {loaded.horizon} targets inside rows [{first}, {end}); "
            "evaluate on more rows (an earlier --from) or more data"
        )
    return found


def scored_rows(loaded: LoadedModel, frame: Frame, start: str | None, end: str | None
                ) -> tuple[int, int]:
    """Rows [first, end) whose targets are scored: by default from where the model's
    validation part ended to the end of the data. `start`/`end`: row index or timestamp."""
    n_rows = len(frame.values)
    first = resolve_row(frame, start, "--from") if start else loaded.card.split.val_end
    stop = resolve_row(frame, end, "--to") if end else n_rows
    if not start and first + loaded.horizon > n_rows:
        raise UsageError(f"evaluation starts by default where the model's validation part "
                         f"ended, at row {first}, but the data has {n_rows} rows; "
                         "choose the first evaluated row with --from (a row or a timestamp)")
    return first, stop


def evaluate(loaded: LoadedModel, frame: Frame, first: int, end: int,
             season: int | None = None) -> dict:
    """Scores of the model and of each baseline on the windows with targets in [first, end).

    Each forecaster's intervals come from its own residuals by the same method: calibrated
    on the validation windows, then rolled forward over the windows whose truths are known
    at each origin (`intervals.rolling_offsets`), as predict does on the same history; the
    model starts from the calibration stored in its file and keeps its own scale (its
    quantile head's, if it has one); the baselines take the fixed scale of the model's
    season (`intervals.interval_scale`).
    """
    series = scaled_series(loaded, frame)
    split = loaded.card.split
    evaluation_windows(loaded, series, first, end)  # at least one window to score
    validation_windows(loaded, series)  # and the rows the intervals were calibrated on
    span = _span_forecasts(loaded, model_windows(loaded, series, min(first, split.train_end),
                                                 end))
    period = season_length(loaded.card.freq, season, loaded.lookback)
    forecasters = point_forecasters(loaded, series, split.train_end, period)
    scale = loaded.scaler.scale[: loaded.run.model.n_targets]
    test = span.rows >= first
    truth = span.truth[test]
    results, quantile_results = {}, {}
    stored = loaded.calibration
    steps = interval_scale(span.x, loaded.horizon, stored.period if stored else period)
    for name, forecaster in forecasters.items():
        forecast = forecaster(span.x, span.pred)
        results[name] = score(forecast[test], truth, scale).__dict__
        own = stored if name == "model" else None
        learned = own is not None and own.head is not None  # a quantile head: the model's
        quantile_results[name] = _interval_scores(
            span, forecast, test, own.scale(span.x, forecast) if learned else steps, own,
            _levels(loaded), split)
    return {"windows": len(truth), "rows": [first, end], "season": period,
            "targets": list(loaded.card.targets), "scores": results,
            "intervals": {"levels": list(_levels(loaded)),
                          "calibration_windows": int(span.validation(split).sum()),
                          "scores": quantile_results}}


Forecaster = Callable[[np.ndarray, np.ndarray], np.ndarray]


def point_forecasters(loaded: LoadedModel, series: torch.Tensor, train_end: int,
                      period: int | None) -> dict[str, Forecaster]:
    """The model and each baseline as (inputs' targets (W, L, T), model forecast) -> (W, H, T)."""
    horizon = loaded.horizon
    training = model_windows(loaded, series, 0, train_end)
    weights = linear_weights(NormalEquations.of(training.batches(2048),
                                                loaded.run.model.n_targets))
    forecasters: dict[str, Forecaster] = {
        "model": lambda x, pred: pred,
        "repeat_last": lambda x, pred: repeat_last(x, horizon),
        "linear": lambda x, pred: apply_linear(weights, x),
    }
    if period is not None:
        forecasters["seasonal_naive"] = lambda x, pred: seasonal_naive(x, horizon, period)
    return forecasters


def _levels(loaded: LoadedModel) -> tuple[float, ...]:
    return loaded.calibration.levels if loaded.calibration else loaded.run.train.quantiles


def _interval_scores(span: _Span, forecast: np.ndarray, test: np.ndarray, scale: np.ndarray,
                     stored: Calibration | None, levels: tuple[float, ...],
                     split: Split) -> dict:
    """Coverage, width, pinball and CRPS of one forecaster's rolling calibrated quantiles;
    `scale` (W, H, T) is every window's `interval_scale`."""
    val = span.validation(split)
    own = stored or _calibrate_on(span, forecast, val, scale, levels)
    grid = _calibrate_on(span, forecast, val, scale, CRPS_LEVELS)
    known = span.rows >= split.train_end
    origins = span.rows[test]
    quantiles = own.quantiles(forecast[test], scale[test], rolling_offsets(
        own, span.known(own, forecast, scale, known), origins).per_forecast())
    grid_offsets = rolling_offsets(grid, span.known(grid, forecast, scale, known), origins)
    per_step = np.zeros(forecast.shape[1])
    for k in range(len(grid_offsets.sets)):  # one set at a time: 19 levels per forecast add up
        rows = np.flatnonzero(test)[grid_offsets.which == k]
        part = grid.quantiles(forecast[rows], scale[rows], grid_offsets.sets[k][None])
        per_step += crps(part, span.truth[rows], CRPS_LEVELS) * len(rows)
    return asdict(quantile_scores(quantiles, own.levels, per_step / len(origins),
                                  span.truth[test]))


def _calibrate_on(span: _Span, forecast: np.ndarray, val: np.ndarray, scale: np.ndarray,
                  levels: tuple[float, ...]) -> Calibration:
    """`intervals.calibrate` on the validation windows, with scales already computed."""
    return calibrate_scaled(forecast[val], span.truth[val], scale[val], levels)


def validation_windows(loaded: LoadedModel, series: torch.Tensor) -> Windows:
    """The windows the intervals were calibrated on; their rows must be in the data."""
    split = loaded.card.split
    if len(series) < split.val_end:
        raise DataError(
            f"the data has {len(series)} rows but the model's validation part, where the "
            f"intervals of every forecaster are calibrated, ends at row {split.val_end}; "
            "evaluate with the file the model was trained on (or one that begins the same way)"
        )
    return evaluation_windows(loaded, series, split.train_end, split.val_end)


@dataclass
class _Span:
    """Forecasts of every window from the validation part (or `first`) to the end, in
    float64 so the interval arithmetic matches predict's."""

    x: np.ndarray  # (W, L, T) inputs' target channels
    pred: np.ndarray  # (W, H, T) model forecasts
    truth: np.ndarray  # (W, H, T)
    rows: np.ndarray  # (W,) each window's first target row: its forecast origin

    def validation(self, split: Split) -> np.ndarray:
        """Which windows are the validation part's, where the intervals were calibrated."""
        return (self.rows >= split.train_end) & (self.rows + self.truth.shape[1]
                                                  <= split.val_end)

    def known(self, calibration: Calibration, forecast: np.ndarray, scale: np.ndarray,
              which: np.ndarray) -> KnownScores:
        """The normalised residuals of windows `which`, for `rolling_offsets`."""
        return KnownScores(calibration.scores(forecast[which], self.truth[which],
                                              scale[which]),
                           self.rows[which])


def _span_forecasts(loaded: LoadedModel, found: Windows) -> _Span:
    """One inference run over `found`, for the scores and the rolling calibration alike."""
    x, truth = _target_channels(found)
    pred = run_model(loaded, found).prediction
    return _Span(x.astype(np.float64), pred.astype(np.float64), truth.astype(np.float64),
                 found.starts.cpu().numpy() + loaded.lookback)


def _target_channels(found: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Inputs' target channels (W, L, T) and truths (W, H, T) of every window."""
    x, y = found.everything()
    return x[..., : found.n_targets].cpu().numpy(), y.cpu().numpy()


def combine(per_series: dict[str, dict]) -> dict:
    """The scores of every window of every series of a many-series model.

    Each number is the window-weighted mean of the series' own (z-scored, so a series
    weighs by its windows, not by its size); the series' results stay under `series`.
    """
    if not per_series:
        raise UsageError("no series has a window to score; choose rows with --from/--to")
    results = list(per_series.values())
    windows = np.array([r["windows"] for r in results], dtype=np.float64)
    merged = _weighted(results, windows / windows.sum())
    merged["intervals"]["calibration_windows"] = sum(
        r["intervals"]["calibration_windows"] for r in results)
    merged.update(windows=int(windows.sum()), rows=None, series_count=len(results),
                  season=_same([r["season"] for r in results]), series=per_series)
    return merged


def _weighted(values: list, weights: np.ndarray) -> object:
    """Weighted mean of numbers found at the same place in each of `values` (dicts and lists
    walked alike); anything else kept where all agree, else None."""
    first = values[0]
    if isinstance(first, dict):
        keys = [k for k in first if all(isinstance(v, dict) and k in v for v in values)]
        return {k: _weighted([v[k] for v in values], weights) for k in keys}
    if isinstance(first, list) and all(
            isinstance(v, list) and len(v) == len(first) for v in values):
        return [_weighted([v[i] for v in values], weights) for i in range(len(first))]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if all(v == first for v in values):  # levels, counts: kept exact, not 0.0999...
            return first
        return float(np.dot(weights, values))
    return _same(values)


def _same(values: list) -> object:
    return values[0] if all(v == values[0] for v in values) else None
