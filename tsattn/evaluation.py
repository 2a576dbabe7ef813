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
from tsattn.data import Frame, resolve_row
from tsattn.errors import UsageError
from tsattn.inference import LoadedModel, model_windows, run_model, scaled_series
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
    """Scores of the model and of each baseline on the windows with targets in [first, end)."""
    series = scaled_series(loaded, frame.values)
    evaluated = evaluation_windows(loaded, series, first, end)
    pred = run_model(loaded, evaluated).prediction
    x, truth = _target_channels(evaluated)
    training = model_windows(loaded, series, 0, loaded.card.split.train_end)
    train = NormalEquations.of(training.batches(2048), loaded.run.model.n_targets)
    horizon = loaded.horizon
    forecasts = {
        "model": pred,
        "repeat_last": repeat_last(x, horizon),
        "linear": apply_linear(linear_weights(train), x),
    }
    period = season_length(loaded.card.freq, season, loaded.lookback)
    if period is not None:
        forecasts["seasonal_naive"] = seasonal_naive(x, horizon, period)
    n_targets = loaded.run.model.n_targets
    scale = loaded.scaler.scale[:n_targets]
    results = {name: score(f, truth, scale).__dict__ for name, f in forecasts.items()}
    return {"windows": len(x), "rows": [first, end], "season": period,
            "targets": list(loaded.card.targets), "scores": results}


def _target_channels(found: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Inputs' target channels (W, L, T) and truths (W, H, T) of every window."""
    x, y = found.everything()
    return x[..., : found.n_targets].cpu().numpy(), y.cpu().numpy()
