"""Prediction intervals for any point forecaster, from its own recent residuals.

Split-conformal calibration, per forecast step and target: the residual of each calibration
window is divided by a scale read from that window's inputs (so a calm history gets a narrow
band and a volatile one a wide band), and the level-q quantile of those normalised residuals,
with the finite-sample correction, becomes the offset added to the point forecast.

The calibration set rolls forward: a forecast is calibrated on the latest `n_windows`
windows whose truths are known at its origin (as many as the validation part holds), and
on the validation windows stored in the model file when the history holds fewer. Residuals
of one season do not describe the next (validation and test parts of real data differ in
how fast the error grows with the step); the measurements behind both choices are in
benchmarks/README.md ("Prediction intervals").

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
    ranks = [math.ceil((n + 1) * q) if q >= 0.5 else math.floor((n + 1) * q) for q in levels]
    index = [min(max(rank, 1), n) - 1 for rank in ranks]
    return np.partition(scores, sorted(set(index)), axis=0)[index]


def centred_offsets(scores: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """`conformal_offsets` around the point forecast, which stays the median (Q, H, T).

    Offsets below the median are at most 0 and above it at least 0, the median's is 0:
    the point model was fit for squared error, and moving it by the median residual of a
    few dozen overlapping windows adds noise, not accuracy (benchmarks/README.md).
    """
    offsets = conformal_offsets(scores, levels)
    q = np.asarray(levels)[:, None, None]
    above = np.where(q > 0.5, np.maximum(offsets, 0.0), 0.0)
    return np.where(q < 0.5, np.minimum(offsets, 0.0), above)


@dataclass(frozen=True)
class Calibration:
    """What turns one point forecast into quantiles: offsets per level, step and target."""

    levels: tuple[float, ...]
    offsets: np.ndarray  # (Q, H, T) quantiles of residual / window scale
    floor: np.ndarray  # (T,) smallest window scale used, in z-scored units
    n_windows: int
    start: str | None = None  # time of the first calibration target row, when known

    def quantiles(self, pred: np.ndarray, scale: np.ndarray,
                  offsets: np.ndarray | None = None) -> np.ndarray:
        """(W, H, T) forecasts and their inputs' `window_scale` (W, T) -> (W, H, T, Q).

        `offsets` (W, Q, H, T): each forecast's own, from `rolling_offsets`; by default
        the stored ones of the validation part.
        """
        scale = np.maximum(scale, self.floor)
        own = self.offsets[None] if offsets is None else offsets
        return pred[..., None] + scale[:, None, :, None] * np.moveaxis(own, 1, -1)

    def scores(self, pred: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Residuals (W, H, T) divided by their windows' scales, floored as at calibration."""
        return _normalised(pred, truth, scale, self.floor)

    def to_card(self) -> card.Calibration:
        """The plain, typed form stored on the model card (checked when read back)."""
        return card.Calibration(
            levels=tuple(self.levels), offsets=_nested(self.offsets),
            floor=tuple(float(v) for v in self.floor), n_windows=self.n_windows,
            start=self.start)

    @classmethod
    def from_card(cls, stored: card.Calibration) -> Calibration:
        """Arrays from a card's calibration (its shape was checked when the card was read)."""
        return cls(stored.levels, np.asarray(stored.offsets, dtype=np.float64),
                   np.asarray(stored.floor, dtype=np.float64), stored.n_windows, stored.start)


def _nested(offsets: np.ndarray) -> tuple[tuple[tuple[float, ...], ...], ...]:
    return tuple(tuple(tuple(float(v) for v in row) for row in step) for step in offsets)


def calibrate(pred: np.ndarray, truth: np.ndarray, x: np.ndarray,
              levels: Sequence[float], start: str | None = None) -> Calibration:
    """Calibrate on validation windows: forecasts and truths (W, H, T), inputs (W, L, T)."""
    scale = window_scale(x)
    floor = np.maximum(_FLOOR_SHARE * np.median(scale, axis=0), _MIN_FLOOR)
    scores = _normalised(pred, truth, scale, floor)
    return Calibration(tuple(levels), centred_offsets(scores, levels), floor, len(pred),
                       start)


def _normalised(pred: np.ndarray, truth: np.ndarray, scale: np.ndarray,
                floor: np.ndarray) -> np.ndarray:
    return (truth - pred) / np.maximum(scale, floor)[:, None, :]


@dataclass(frozen=True)
class KnownScores:
    """Normalised residuals (`Calibration.scores`) of windows whose truths are known.

    Only windows whose targets lie after the training part: the model was fit on the
    earlier ones, and their residuals would make the intervals too narrow.
    """

    scores: np.ndarray  # (W, H, T), in time order
    ends: np.ndarray  # (W,) the row after each window's last target: known from there on


def refresh_rows(n_windows: int) -> int:
    """How often (in rows) the rolling set moves forward: when a 50th of it can change.

    Recalibrating at every origin would sort the whole set once per forecast; at this
    pace a rolling evaluation stays seconds long and the set is never more than 2% stale.
    """
    return max(1, -(-n_windows // 50))


@dataclass(frozen=True)
class RollingOffsets:
    """The offsets of O forecasts: K distinct calibration sets and which one each uses."""

    sets: np.ndarray  # (K, Q, H, T)
    which: np.ndarray  # (O,) index into `sets`

    def per_forecast(self) -> np.ndarray:
        """(O, Q, H, T), for `Calibration.quantiles`."""
        return self.sets[self.which]


def rolling_offsets(calibration: Calibration, known: KnownScores,
                    origins: np.ndarray) -> RollingOffsets:
    """Each forecast's offsets from the latest windows whose truths are known at its origin.

    `origins` are the rows of the forecasts' first steps. The set of an origin is the last
    `n_windows` known windows that ended by the latest multiple of `refresh_rows` at or
    before it; an origin with fewer known windows keeps the stored validation offsets.
    """
    n = calibration.n_windows
    cut = origins - origins % refresh_rows(n)
    counts, which = np.unique(np.searchsorted(known.ends, cut, side="right"),
                              return_inverse=True)
    sets = [calibration.offsets if count < n else centred_offsets(
        known.scores[count - n: count], calibration.levels) for count in counts]
    return RollingOffsets(np.stack(sets), which.reshape(-1))
