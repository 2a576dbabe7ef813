"""Run a point model over the windows of one data part and calibrate its intervals there.

Training calls this on the validation windows with the best weights, so every model file
carries intervals; evaluation uses the same window forecasts to score the model on test rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tsattn.device import autocast_for
from tsattn.intervals import Calibration, calibrate
from tsattn.windows import Windows


def window_forecasts(model: torch.nn.Module, windows: Windows, device: torch.device,
                     batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs' target channels (W, L, T), model forecasts (W, H, T) and truths (W, H, T)."""
    n_targets = windows.n_targets
    xs, preds, ys = [], [], []
    with torch.inference_mode():
        for x, y in windows.batches(batch_size):
            with autocast_for(device):
                pred = model(x, return_attention=False).prediction
            xs.append(x[..., :n_targets].float().cpu())
            preds.append(pred.float().cpu())
            ys.append(y.float().cpu())
    return torch.cat(xs).numpy(), torch.cat(preds).numpy(), torch.cat(ys).numpy()


def calibrate_model(model: torch.nn.Module, windows: Windows, device: torch.device,
                    levels: Sequence[float], start: str | None = None) -> Calibration:
    """Conformal offsets from the model's residuals on `windows` (the validation part).

    `start` (`calibration_start`) lets predict find where, in a history, the windows that
    may recalibrate the intervals begin.
    """
    was_training = model.training
    model.eval()
    x, pred, truth = window_forecasts(model, windows, device)
    model.train(was_training)
    return calibrate(pred.astype(np.float64), truth.astype(np.float64), x.astype(np.float64),
                     levels, start)


def calibration_start(times: np.ndarray | None, row: int) -> str | None:
    """The time of the first validation target row as ISO 8601, None without times."""
    return None if times is None else str(np.datetime_as_string(times[row]))


def start_row(times: np.ndarray | None, start: str | None, fallback: int) -> int:
    """The first row of a history whose windows may recalibrate the intervals.

    With times on both sides, the first row at or after `start`; otherwise rows are
    counted as in the training file (`fallback`, its validation start). A history that is
    a later slice of that file then starts its count late, never early, so windows the
    model was fit on are never mistaken for new ones.
    """
    if times is None or start is None:
        return fallback
    return int(np.searchsorted(times, np.datetime64(start), side="left"))
