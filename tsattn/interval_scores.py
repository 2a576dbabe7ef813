"""How good a set of forecast quantiles is: coverage, width, pinball loss and CRPS.

All on z-scored values, averaged over windows and targets, overall and per forecast step,
so intervals of different forecasters on the same windows compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsattn.intervals import interval_pairs


@dataclass
class IntervalScore:
    """One nested interval (lower, upper level): how often it held the truth, how wide."""

    lower: float
    upper: float
    nominal: float
    coverage: float
    width: float
    coverage_per_step: list[float]
    width_per_step: list[float]


@dataclass
class QuantileScores:
    """The probabilistic scores of one forecaster."""

    pinball: float
    crps: float
    median_mse: float | None  # the 0.5 quantile scored as a point forecast, when it is a level
    intervals: list[IntervalScore]
    pinball_per_step: list[float]
    crps_per_step: list[float]


def pinball(quantiles: np.ndarray, truth: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Pinball loss per step, averaged over windows, targets and levels: (H,).

    quantiles (W, H, T, Q), truth (W, H, T); the loss of level q is q·(y−ŷ) above the
    quantile and (1−q)·(ŷ−y) below it.
    """
    q = np.asarray(levels, dtype=np.float64)
    diff = truth[..., None] - quantiles
    loss = np.maximum(q * diff, (q - 1.0) * diff)
    return loss.mean(axis=(0, 2, 3))


def interval_score(quantiles: np.ndarray, truth: np.ndarray, levels: Sequence[float],
                   pair: tuple[float, float]) -> IntervalScore:
    """Empirical coverage and mean width of the interval between two levels."""
    lo = quantiles[..., list(levels).index(pair[0])]
    hi = quantiles[..., list(levels).index(pair[1])]
    inside = (truth >= lo) & (truth <= hi)
    cover, width = inside.mean(axis=(0, 2)), (hi - lo).mean(axis=(0, 2))
    return IntervalScore(lower=pair[0], upper=pair[1], nominal=round(pair[1] - pair[0], 10),
                         coverage=float(inside.mean()), width=float(width.mean()),
                         coverage_per_step=cover.tolist(), width_per_step=width.tolist())


def quantile_scores(quantiles: np.ndarray, levels: Sequence[float], crps_per_step: np.ndarray,
                    truth: np.ndarray) -> QuantileScores:
    """Scores of quantiles at the forecaster's levels, beside its CRPS per step (`crps`)."""
    per_step = pinball(quantiles, truth, levels)
    median = list(levels).index(0.5) if 0.5 in levels else None
    median_mse = None if median is None else float(
        np.mean((quantiles[..., median] - truth) ** 2))
    return QuantileScores(
        pinball=float(per_step.mean()), crps=float(crps_per_step.mean()), median_mse=median_mse,
        intervals=[interval_score(quantiles, truth, levels, p) for p in interval_pairs(levels)],
        pinball_per_step=per_step.tolist(), crps_per_step=crps_per_step.tolist(),
    )


def crps(grid: np.ndarray, truth: np.ndarray, grid_levels: Sequence[float]) -> np.ndarray:
    """CRPS per step from quantiles on an even grid of levels (0.05, ..., 0.95): (H,).

    The CRPS is twice the pinball loss integrated over all levels; the grid's mean
    estimates it.
    """
    return 2.0 * pinball(grid, truth, grid_levels)
