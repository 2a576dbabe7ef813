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
from tsattn.calibration import window_forecasts
from tsattn.data import Frame
from tsattn.errors import DataError, UsageError
from tsattn.forecasting import LoadedModel
from tsattn.interval_scores import quantile_scores
from tsattn.intervals import CRPS_LEVELS, Calibration, calibrate, window_scale
from tsattn.models.linear import NormalEquations
from tsattn.windows import Windows, window_starts


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
    starts = window_starts(first, end, loaded.lookback, loaded.horizon)
    if len(starts) == 0:
        raise UsageError(
            f"no window has its {loaded.horizon} targets inside rows [{first}, {end}); "
            "evaluate on more rows (an earlier --from) or more data"
        )
    return Windows(series, starts, loaded.lookback, loaded.horizon, loaded.run.model.n_targets)


def evaluate(loaded: LoadedModel, frame: Frame, first: int, end: int,
             season: int | None = None) -> dict:
    """Scores of the model and of each baseline on the windows with targets in [first, end).

    Each forecaster's intervals come from its own residuals on the validation windows, by
    the same method; the model uses the calibration stored in its file (what predict shows).
    """
    scaled = loaded.scaler.transform(frame.values).astype(np.float32)
    series = torch.from_numpy(scaled).to(loaded.device)
    split = loaded.meta["split"]
    test = window_forecasts(loaded.model, evaluation_windows(loaded, series, first, end),
                            loaded.device)
    val = window_forecasts(loaded.model, validation_windows(loaded, series, split),
                           loaded.device)
    period = season_length(loaded.meta["freq"], season, loaded.lookback)
    forecasters = point_forecasters(loaded, series, split["train_end"], period)
    n_targets = loaded.run.model.n_targets
    scale = loaded.scaler.scale[:n_targets]
    truth = test[2]
    results, quantile_results = {}, {}
    for name, forecaster in forecasters.items():
        forecast = forecaster(test[0], test[1])
        results[name] = score(forecast, truth, scale).__dict__
        stored = loaded.calibration if name == "model" else None
        quantile_results[name] = _interval_scores(forecast, test[0], truth,
                                                  forecaster(val[0], val[1]), val, stored,
                                                  _levels(loaded))
    return {"windows": len(truth), "rows": [first, end], "season": period,
            "targets": loaded.meta["targets"], "scores": results,
            "intervals": {"levels": list(_levels(loaded)), "calibration_windows": len(val[2]),
                          "scores": quantile_results}}


Forecaster = Callable[[np.ndarray, np.ndarray], np.ndarray]


def point_forecasters(loaded: LoadedModel, series: torch.Tensor, train_end: int,
                      period: int | None) -> dict[str, Forecaster]:
    """The model and each baseline as (inputs' targets (W, L, T), model forecast) -> (W, H, T)."""
    horizon = loaded.horizon
    weights = linear_weights(NormalEquations.of(
        _train_windows(loaded, series, train_end).batches(2048), loaded.run.model.n_targets))
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


def _interval_scores(forecast: np.ndarray, x: np.ndarray, truth: np.ndarray,
                     val_forecast: np.ndarray, val: tuple[np.ndarray, ...],
                     stored: Calibration | None, levels: tuple[float, ...]) -> dict:
    """Coverage, width, pinball and CRPS of one forecaster's calibrated quantiles."""
    val_x, _, val_truth = val
    own = stored or calibrate(val_forecast, val_truth, val_x, levels)
    grid = calibrate(val_forecast, val_truth, val_x, CRPS_LEVELS)
    scale = window_scale(x)
    return asdict(quantile_scores(own.quantiles(forecast, scale), own.levels,
                                  grid.quantiles(forecast, scale), CRPS_LEVELS, truth))


def validation_windows(loaded: LoadedModel, series: torch.Tensor, split: dict) -> Windows:
    """The windows the intervals were calibrated on; their rows must be in the data."""
    val_end = split["val_end"]
    if len(series) < val_end:
        raise DataError(
            f"the data has {len(series)} rows but the model's validation part, where the "
            f"intervals of every forecaster are calibrated, ends at row {val_end}; evaluate "
            "with the file the model was trained on (or one that begins the same way)"
        )
    return evaluation_windows(loaded, series, split["train_end"], val_end)


def _train_windows(loaded: LoadedModel, series: torch.Tensor, train_end: int) -> Windows:
    """The training windows, for the linear baseline's fit."""
    starts = window_starts(0, train_end, loaded.lookback, loaded.horizon)
    return Windows(series, starts, loaded.lookback, loaded.horizon, loaded.run.model.n_targets)
