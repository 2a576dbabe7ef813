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
    tally = QuantileTally.of(levels, truth.shape[1], [pair])
    tally.add(quantiles, truth)
    return tally.interval(0)


@dataclass
class QuantileTally:
    """Running sums behind `QuantileScores`, so forecasts can be scored block by block:
    evaluating wide or long data never holds every window's quantiles at once."""

    levels: tuple[float, ...]
    pairs: list[tuple[float, float]]
    cells: int  # window x target cells per step added so far
    pinball: np.ndarray  # (H,) summed over windows, targets and levels
    inside: np.ndarray  # (P, H) points inside each pair's interval
    width: np.ndarray  # (P, H) summed widths
    median_squares: float  # summed squared errors of the 0.5 level, when it is one

    @classmethod
    def of(cls, levels: Sequence[float], horizon: int,
           pairs: list[tuple[float, float]] | None = None) -> QuantileTally:
        """An empty tally; by default of every nested interval the levels form."""
        pairs = interval_pairs(levels) if pairs is None else pairs
        return cls(tuple(levels), pairs, 0, np.zeros(horizon), np.zeros((len(pairs), horizon)),
                   np.zeros((len(pairs), horizon)), 0.0)

    def add(self, quantiles: np.ndarray, truth: np.ndarray) -> None:
        """Quantiles (W, H, T, Q) of one block of windows and their truths (W, H, T)."""
        n = truth.shape[0] * truth.shape[2]
        self.pinball += pinball(quantiles, truth, self.levels) * n
        for i, pair in enumerate(self.pairs):
            lo = quantiles[..., self.levels.index(pair[0])]
            hi = quantiles[..., self.levels.index(pair[1])]
            self.inside[i] += ((truth >= lo) & (truth <= hi)).sum(axis=(0, 2))
            self.width[i] += (hi - lo).sum(axis=(0, 2))
        if 0.5 in self.levels:
            median = quantiles[..., self.levels.index(0.5)]
            self.median_squares += float(np.sum((median - truth) ** 2))
        self.cells += n

    def interval(self, i: int) -> IntervalScore:
        """The scores of the i-th pair."""
        lower, upper = self.pairs[i]
        cover, width = self.inside[i] / self.cells, self.width[i] / self.cells
        return IntervalScore(lower=lower, upper=upper, nominal=round(upper - lower, 10),
                             coverage=float(cover.mean()), width=float(width.mean()),
                             coverage_per_step=cover.tolist(), width_per_step=width.tolist())

    def scores(self, crps_per_step: np.ndarray) -> QuantileScores:
        """Everything added so far, beside the CRPS per step (`crps`) of the same windows."""
        per_step = self.pinball / self.cells
        median_mse = (self.median_squares / (self.cells * len(per_step))
                      if 0.5 in self.levels else None)
        return QuantileScores(
            pinball=float(per_step.mean()), crps=float(crps_per_step.mean()),
            median_mse=median_mse,
            intervals=[self.interval(i) for i in range(len(self.pairs))],
            pinball_per_step=per_step.tolist(), crps_per_step=crps_per_step.tolist(),
        )


def crps(grid: np.ndarray, truth: np.ndarray, grid_levels: Sequence[float]) -> np.ndarray:
    """CRPS per step from quantiles on an even grid of levels (0.05, ..., 0.95): (H,).

    The CRPS is twice the pinball loss integrated over all levels; the grid's mean
    estimates it.
    """
    return 2.0 * pinball(grid, truth, grid_levels)
