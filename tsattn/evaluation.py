"""Honest scores: the model beside the baselines a user gets for free, on the same windows.

Every stride-1 window whose targets lie in the evaluation rows is kept (no `drop_last`),
errors are averaged over windows, steps and target channels on the z-scored values (the
units of published results), and MAE/RMSE are also given in the data's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tsattn.baselines import (
    apply_linear,
    linear_weights,
    repeat_last,
    season_length,
    seasonal_naive,
)
from tsattn.data import Frame
from tsattn.errors import UsageError
from tsattn.forecasting import LoadedModel
from tsattn.models.linear import NormalEquations
from tsattn.training import autocast_for
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


def model_forecasts(loaded: LoadedModel, windows: Windows, batch_size: int = 512
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs' target channels (W, L, T), model forecasts (W, H, T) and truths (W, H, T)."""
    n_targets = windows.n_targets
    xs, preds, ys = [], [], []
    with torch.inference_mode():
        for x, y in windows.batches(batch_size):
            with autocast_for(loaded.device):
                pred = loaded.model(x, return_attention=False).prediction
            xs.append(x[..., :n_targets].cpu())
            preds.append(pred.float().cpu())
            ys.append(y.cpu())
    return torch.cat(xs).numpy(), torch.cat(preds).numpy(), torch.cat(ys).numpy()


def evaluate(loaded: LoadedModel, frame: Frame, first: int, end: int,
             season: int | None = None) -> dict:
    """Scores of the model and of each baseline on the windows with targets in [first, end)."""
    scaled = loaded.scaler.transform(frame.values).astype(np.float32)
    series = torch.from_numpy(scaled).to(loaded.device)
    x, pred, truth = model_forecasts(loaded, evaluation_windows(loaded, series, first, end))
    train_end = loaded.meta["split"]["train_end"]
    train = NormalEquations.of(_train_windows(loaded, series, train_end).batches(2048),
                               loaded.run.model.n_targets)
    horizon = loaded.horizon
    forecasts = {
        "model": pred,
        "repeat_last": repeat_last(x, horizon),
        "linear": apply_linear(linear_weights(train), x),
    }
    period = season_length(loaded.meta["freq"], season, loaded.lookback)
    if period is not None:
        forecasts["seasonal_naive"] = seasonal_naive(x, horizon, period)
    n_targets = loaded.run.model.n_targets
    scale = loaded.scaler.scale[:n_targets]
    results = {name: score(f, truth, scale).__dict__ for name, f in forecasts.items()}
    return {"windows": len(x), "rows": [first, end], "season": period,
            "targets": loaded.meta["targets"], "scores": results}


def _train_windows(loaded: LoadedModel, series: torch.Tensor, train_end: int) -> Windows:
    """The training windows, for the linear baseline's fit."""
    starts = window_starts(0, train_end, loaded.lookback, loaded.horizon)
    return Windows(series, starts, loaded.lookback, loaded.horizon, loaded.run.model.n_targets)
