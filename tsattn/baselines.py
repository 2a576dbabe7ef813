"""The forecasts a user gets for free: repeat-last, seasonal naive and a linear model.

`tsattn evaluate` scores a model beside them on test rows, and training compares the
model with them on the validation part, so that a model never ends silently worse than
something free. The linear baseline is least squares on (window − last value) with a
whisper of ridge, one (L, H) matrix shared by every target, solved from streamed normal
equations (`models/linear.py`) so its memory does not grow with the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tsattn.errors import UsageError
from tsattn.models.linear import DEFAULT_RIDGE, NormalEquations
from tsattn.windows import Windows

SEASONS = {"h": 24, "H": 24, "30min": 48, "15min": 96, "10min": 144, "5min": 288, "min": 1440,
           "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4}
LABELS = {"repeat_last": "repeat-last", "seasonal_naive": "seasonal naive", "linear": "linear"}


def season_length(freq: str | None, override: int | None, lookback: int) -> int | None:
    """The seasonal period for the naive baseline, or None when it is unknown or too long.

    Anchored aliases count as their base frequency: weekly data on Tuesdays is "W-TUE".
    """
    base = (freq or "").split("-")[0]
    period = override if override is not None else SEASONS.get(base)
    if period is None:
        return None
    if period < 1:
        raise UsageError(f"--season must be at least 1, got {period}")
    if period > lookback:
        if override is None:
            return None
        raise UsageError(
            f"--season {period} is longer than the model's lookback {lookback}; "
            "use a shorter season"
        )
    return period


def repeat_last(x: np.ndarray, horizon: int) -> np.ndarray:
    """Every step repeats the last observed value: (W, L, T) -> (W, H, T)."""
    return np.repeat(x[:, -1:, :], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Step h repeats the value one (or more) periods before it, from inside the window."""
    lookback = x.shape[1]
    index = [lookback - period + (h % period) for h in range(horizon)]
    return x[:, index, :]


def linear_weights(train: NormalEquations) -> np.ndarray:
    """The linear baseline's (L, H) matrix from the training windows' normal equations."""
    return train.solve(DEFAULT_RIDGE).cpu().numpy()


def apply_linear(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    last = x[:, -1:, :]
    return np.einsum("wlt,lh->wht", x - last, weights) + last


@dataclass(frozen=True)
class Comparison:
    """Validation MSE of the model beside each free baseline on the same windows."""

    model: float
    baselines: dict[str, float]

    @property
    def best_baseline(self) -> tuple[str, float]:
        name = min(self.baselines, key=self.baselines.__getitem__)
        return name, self.baselines[name]

    def describe(self) -> str:
        """One line for people: the model's MSE, then each baseline's."""
        free = ", ".join(f"{LABELS.get(k, k)} {v:.4f}" for k, v in self.baselines.items())
        return f"{self.model:.4f}; free: {free}"

    def warning(self) -> str | None:
        """The warning line when a free baseline beats the model, else None."""
        name, mse = self.best_baseline
        if mse >= self.model:
            return None
        return (f"the free {LABELS.get(name, name)} forecast beats this model on the "
                f"validation part (MSE {mse:.4f} against {self.model:.4f}); keep "
                "--linear-path on, try a shorter --lookback or more --epochs, or use the "
                "baseline")


def validation_baselines(train: NormalEquations, val: NormalEquations, val_windows: Windows,
                         period: int | None, batch_size: int = 2048) -> dict[str, float]:
    """MSE of each free baseline on the validation windows (z-scored, as the model's)."""
    lookback, horizon = val_windows.lookback, val_windows.horizon
    zero = torch.zeros(lookback, horizon, dtype=val.gram.dtype, device=val.gram.device)
    scores = {"repeat_last": val.mse(zero), "linear": val.mse(train.solve(DEFAULT_RIDGE))}
    if period is not None:
        sse, count = 0.0, 0
        for x, y in val_windows.batches(batch_size):
            x_np = x[..., : val_windows.n_targets].cpu().numpy()
            err = seasonal_naive(x_np, horizon, period) - y.cpu().numpy()
            sse += float(np.square(err.astype(np.float64)).sum())
            count += err.size
        scores["seasonal_naive"] = sse / count
    return scores
