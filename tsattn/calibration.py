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
from tsattn.interval_scores import pinball
from tsattn.intervals import Calibration, calibrate, calibrate_scaled
from tsattn.quantile_head import fit_quantile_head
from tsattn.windows import Windows

# the head must beat the fixed scale by this share to be kept ("auto"): it is the more
# complex of the two, fit on other windows (benchmarks/README.md, "Prediction intervals")
HEAD_MARGIN = 0.02


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
                    levels: Sequence[float], start: str | None = None,
                    period: int | None = None, method: str = "residuals",
                    head_windows: Windows | None = None) -> Calibration:
    """Conformal offsets from the model's residuals on `windows` (the validation part).

    `start` (`calibration_start`) lets predict find where, in a history, the windows that
    may recalibrate the intervals begin; `period` is the data's season (`season_length`),
    whose phases scale the intervals step by step. `method` (`config.INTERVAL_METHODS`):
    "pinball" scales them by a quantile head fit on `head_windows` (the training part)
    with the pinball loss, "auto" keeps that head only when its intervals' pinball loss
    on `windows` is `HEAD_MARGIN` below the fixed scale's.
    """
    was_training = model.training
    model.eval()
    x, pred, truth = (a.astype(np.float64) for a in window_forecasts(model, windows, device))
    fitted = None
    if method != "residuals" and head_windows is not None:
        fitted = fit_quantile_head(*(a.astype(np.float64) for a in window_forecasts(
            model, head_windows, device)), levels, period)
    model.train(was_training)
    fixed = calibrate(pred, truth, x, levels, start, period)
    if fitted is None:
        return fixed
    learned = calibrate_scaled(pred, truth, fitted.scale(x, pred, period), levels, start,
                               period, fitted)
    return learned if method == "pinball" else better_scale(fixed, learned, x, pred, truth)


def better_scale(fixed: Calibration, learned: Calibration, x: np.ndarray, pred: np.ndarray,
                 truth: np.ndarray) -> Calibration:
    """`learned` (a quantile head's) when its pinball loss on the windows both were
    calibrated on, x (W, L, T), pred and truth (W, H, T), is `HEAD_MARGIN` below `fixed`'s."""
    if _loss(learned, x, pred, truth) < (1 - HEAD_MARGIN) * _loss(fixed, x, pred, truth):
        return learned
    return fixed


def _loss(calibration: Calibration, x: np.ndarray, pred: np.ndarray, truth: np.ndarray
          ) -> float:
    """Mean pinball loss of the calibration's own quantiles on the windows it was set on."""
    quantiles = calibration.quantiles(pred, calibration.scale(x, pred))
    return float(pinball(quantiles, truth, calibration.levels).mean())


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
