"""Prediction intervals for any point forecaster, from its own validation residuals.

Split-conformal calibration, per forecast step and target: the residual of each validation
window is divided by a scale read from that window's inputs (so a calm history gets a narrow
band and a volatile one a wide band), and the level-q quantile of those normalised residuals,
with the finite-sample correction, becomes the offset added to the point forecast. Why this
normaliser and not another is measured in benchmarks/README.md ("Prediction intervals").

Quantiles never cross: the offsets are order statistics taken at ranks that grow with the
level, and the scale is positive, so the forecast quantiles are sorted by construction.
Everything here is numpy on z-scored values, (W, H, T) arrays; quantiles are a last axis Q.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsattn import card

DEFAULT_LEVELS = (0.1, 0.5, 0.9)
# an even grid for the CRPS estimate: CRPS = 2 * the integral of the pinball loss over levels
CRPS_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))
_FLOOR_SHARE = 0.1  # scales below a tenth of the typical one are raised to it
_MIN_FLOOR = 1e-6  # z-scored units; a flat history must not divide by zero


def interval_pairs(levels: Sequence[float]) -> list[tuple[float, float]]:
    """The nested intervals the levels form: lowest with highest, and so on inwards."""
    ordered = sorted(levels)
    return [(ordered[i], ordered[-1 - i]) for i in range(len(ordered) // 2)]


def level_name(level: float) -> str:
    """`0.1` -> `q0.1`: the suffix of a quantile column (`OT_q0.1`)."""
    return f"q{level:g}"


def window_scale(x: np.ndarray) -> np.ndarray:
    """How much each target moves inside each input window: (W, L, T) -> (W, T).

    The standard deviation of the whole window; see benchmarks/README.md for the choice.
    """
    return x.std(axis=1)


def conformal_offsets(scores: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Finite-sample conformal quantiles of (W, H, T) scores at each level: (Q, H, T).

    With n scores sorted, an upper level q takes the ceil((n+1)q)-th smallest and a lower
    level the floor((n+1)q)-th, so each one-sided bound holds with probability at least
    its level on exchangeable data (Vovk et al.; Romano et al. 2019). Ranks past the ends
    are clipped to the extreme score: with very few windows no finite bound is guaranteed.
    """
    n = scores.shape[0]
    ordered = np.sort(scores, axis=0)
    ranks = [math.ceil((n + 1) * q) if q >= 0.5 else math.floor((n + 1) * q) for q in levels]
    index = [min(max(rank, 1), n) - 1 for rank in ranks]
    return ordered[index]


@dataclass(frozen=True)
class Calibration:
    """What turns one point forecast into quantiles: offsets per level, step and target."""

    levels: tuple[float, ...]
    offsets: np.ndarray  # (Q, H, T) quantiles of residual / window scale
    floor: np.ndarray  # (T,) smallest window scale used, in z-scored units
    n_windows: int

    def quantiles(self, pred: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """(W, H, T) forecasts and their inputs' `window_scale` (W, T) -> (W, H, T, Q)."""
        scale = np.maximum(scale, self.floor)
        spread = scale[:, None, :, None] * np.moveaxis(self.offsets, 0, -1)[None]
        return pred[..., None] + spread

    def to_card(self) -> card.Calibration:
        """The plain, typed form stored on the model card (checked when read back)."""
        return card.Calibration(
            levels=tuple(self.levels), offsets=_nested(self.offsets),
            floor=tuple(float(v) for v in self.floor), n_windows=self.n_windows)

    @classmethod
    def from_card(cls, stored: card.Calibration) -> Calibration:
        """Arrays from a card's calibration (its shape was checked when the card was read)."""
        return cls(stored.levels, np.asarray(stored.offsets, dtype=np.float64),
                   np.asarray(stored.floor, dtype=np.float64), stored.n_windows)


def _nested(offsets: np.ndarray) -> tuple[tuple[tuple[float, ...], ...], ...]:
    return tuple(tuple(tuple(float(v) for v in row) for row in step) for step in offsets)


def calibrate(pred: np.ndarray, truth: np.ndarray, x: np.ndarray,
              levels: Sequence[float]) -> Calibration:
    """Calibrate on validation windows: forecasts and truths (W, H, T), inputs (W, L, T)."""
    scale = window_scale(x)
    floor = np.maximum(_FLOOR_SHARE * np.median(scale, axis=0), _MIN_FLOOR)
    scores = (truth - pred) / np.maximum(scale, floor)[:, None, :]
    return Calibration(tuple(levels), conformal_offsets(scores, levels), floor, len(pred))
