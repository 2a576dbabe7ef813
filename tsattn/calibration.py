"""Run a point model over the windows of one data part and calibrate its intervals there.

Training calls this on the validation windows with the best weights, so every model file
carries intervals; evaluation uses the same window forecasts to score the model on test rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tsattn.device import autocast_for
from tsattn.errors import CheckpointError
from tsattn.intervals import Calibration, calibrate, calibrate_scaled
from tsattn.quantile_head import fit_quantile_head, spread_windows
from tsattn.windows import Windows


def window_forecasts(model: torch.nn.Module, windows: Windows, device: torch.device,
                     batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs' target channels (W, L, T), model forecasts (W, H, T) and truths (W, H, T),
    float32, each written in place (batches joined at the end would hold them twice)."""
    n, n_targets = len(windows), windows.n_targets
    x = np.empty((n, windows.lookback, n_targets), dtype=np.float32)
    pred = np.empty((n, windows.horizon, n_targets), dtype=np.float32)
    truth = np.empty_like(pred)
    done = 0
    with torch.inference_mode():
        for inputs, y in windows.batches(batch_size):
            with autocast_for(device):
                out = model(inputs, return_attention=False).prediction
            rows = slice(done, done + len(y))
            x[rows] = inputs[..., :n_targets].float().cpu().numpy()
            pred[rows] = out.float().cpu().numpy()
            truth[rows] = y.float().cpu().numpy()
            done += len(y)
    return x, pred, truth


def calibrate_model(model: torch.nn.Module, windows: Windows, device: torch.device,
                    levels: Sequence[float], start: str | None = None,
                    period: int | None = None, head_windows: Windows | None = None
                    ) -> Calibration:
    """Conformal offsets from the model's residuals on `windows` (the validation part).

    `start` (`calibration_start`) lets predict find where, in a history, the windows that
    may recalibrate the intervals begin; `period` is the data's season (`season_length`),
    whose phases scale the intervals step by step. With `head_windows` (the training
    part), a quantile head fit there with the pinball loss sets the scale instead.
    """
    was_training = model.training
    model.eval()
    x, pred, truth = window_forecasts(model, windows, device)  # float32 (README, "Memory")
    head = None
    if head_windows is not None:
        read = head_windows.subset(torch.as_tensor(spread_windows(
            len(head_windows), head_windows.horizon * head_windows.n_targets)))
        head = fit_quantile_head(*(a.astype(np.float64) for a in window_forecasts(
            model, read, device)), levels, period)
    model.train(was_training)
    if head is None:
        return calibrate(pred, truth, x, levels, start, period)
    scale = head.scale(x, pred, period)
    del x  # (W, L, T): not needed past the scale, and large on long, wide data
    return calibrate_scaled(pred, truth, scale, levels, start, period, head)


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
    try:
        when = np.datetime64(start)
    except ValueError:
        raise CheckpointError(f"the model file's interval calibration starts at {start!r}, "
                              "which is not a time; retrain the model") from None
    return int(np.searchsorted(times, when, side="left"))
