"""Prediction intervals for any point forecaster, from its own recent residuals.

Split-conformal calibration, per forecast step and target: the residual of each calibration
window at each step is divided by a scale read from that window's inputs for that step (so a
calm history gets a narrow band and a volatile one a wide band, and with a season, a step
that falls in the busy part of the day or year a wider band than one in a quiet part), and
the quantile of their absolute values at coverage |2q - 1|, with the finite-sample
correction, becomes the offset of level q: added above the point forecast for q > 0.5,
taken away below it for q < 0.5.

The calibration set rolls forward: the offsets of step h are the quantiles of the latest
`n_windows` residuals at step h known at the forecast's origin (as many windows as the
validation part holds; step h of a window is known h + 1 rows after its origin, so the
early steps follow a change sooner than the late ones), and the validation offsets stored in
the model file when the history holds fewer. Residuals of one season do not describe the
next (validation and test parts of real data differ in how fast the error grows with the
step); the measurements behind these choices are in benchmarks/README.md ("Prediction
intervals").

The scale is either fixed (`interval_scale`: the seasonal change at the step's phase, or the
window's std) or learned: a `QuantileHead`, whose weights `tsattn.quantile_head` fits with
the pinball loss on the training windows; the conformal step is the same for both, so the
head's quantiles are conformalized (Romano et al. 2019) and coverage does not rest on how
well it was trained.

Quantiles never cross: on each side the offsets are order statistics taken at ranks that
grow with the distance from the median, and the scale is positive, so the forecast
quantiles are sorted by construction.
Everything here is numpy on z-scored values, (W, H, T) arrays; quantiles are a last axis Q.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tsattn import card
from tsattn.threads import worker_threads

DEFAULT_LEVELS = (0.1, 0.5, 0.9)
# an even grid for the CRPS estimate: CRPS = 2 * the integral of the pinball loss over levels
CRPS_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))
_FLOOR_SHARE = 0.1  # scales below a tenth of the typical one are raised to it
_MIN_FLOOR = 1e-6  # z-scored units; a flat history must not divide by zero
_NEIGHBOURS = 3  # rows either side of a step's phase whose changes set its seasonal scale
_PARTITION_RANKS = 4  # more distinct ranks than this: sort instead (`_ranked`)
_CHUNK_CELLS = 1_000_000  # window x row x target values per block when computing scales


def interval_pairs(levels: Sequence[float]) -> list[tuple[float, float]]:
    """The nested intervals the levels form: lowest with highest, and so on inwards."""
    ordered = sorted(levels)
    return [(ordered[i], ordered[-1 - i]) for i in range(len(ordered) // 2)]


def level_name(level: float) -> str:
    """`0.1` -> `q0.1`: the suffix of a quantile column (`OT_q0.1`)."""
    return f"q{level:g}"


def interval_scale(x: np.ndarray, horizon: int, period: int | None) -> np.ndarray:
    """How much each target moves, as seen from each forecast step: (W, L, T) -> (W, H, T)
    float32, like the forecasts it scales.

    With a season (`period` rows), `seasonal_scale`; without one, the standard deviation
    of the whole window at every step. See benchmarks/README.md for the choice.
    """
    if period is None:
        return np.repeat(x.std(axis=1).astype(np.float32, copy=False)[:, None, :], horizon, axis=1)
    return np.concatenate([seasonal_scale(x[part], horizon, period)
                           for part in _blocks(x, horizon)], dtype=np.float32)


def _blocks(x: np.ndarray, horizon: int) -> list[slice]:
    """Consecutive windows of `x` (W, L, T) in blocks of about `_CHUNK_CELLS` values per
    array: the scales' temporaries are several (W, max(L, H), T) float64 arrays, and the
    head's four times that (one per feature), which at 720 steps of 21 targets took
    gigabytes in blocks of a fixed 1024 windows."""
    size = max(1, _CHUNK_CELLS // (max(x.shape[1], horizon) * x.shape[2]))
    return [slice(i, i + size) for i in range(0, max(len(x), 1), size)]


def head_features(x: np.ndarray, pred: np.ndarray, period: int | None) -> np.ndarray:
    """What a `QuantileHead` reads of each step: (W, L, T), (W, H, T) -> (W, H, T, J).

    In `card.HEAD_FEATURES` order: the window's std, the seasonal change at the step's phase
    (the whole window's mean change without a season), the mean change of the last eighth
    of the window, and how far the forecast moves from the last value.
    """
    lookback, horizon = x.shape[1], pred.shape[1]
    std = np.repeat(x.std(axis=1)[:, None, :], horizon, axis=1)
    seasonal = seasonal_scale(x, horizon, period if period is not None else lookback + horizon)
    recent = np.zeros_like(std)  # a one-row window has no change
    if lookback > 1:
        tail = np.abs(np.diff(x[:, -max(2, lookback // 8) - 1:], axis=1))
        recent += tail.mean(axis=1)[:, None, :]
    move = np.abs(pred - x[:, -1:, :])
    return np.stack([std, seasonal, recent, move], axis=-1)


@dataclass(frozen=True)
class QuantileHead:
    """A learned scale: exp(sum over features j of weights[j, t] * log max(f_j, floor[j, t])).

    A power law in the `head_features`, per target; fit by `tsattn.quantile_head`.
    """

    weights: np.ndarray  # (J, T)
    floor: np.ndarray  # (J, T) in z-scored units; keeps the logarithms finite

    def scale(self, x: np.ndarray, pred: np.ndarray, period: int | None) -> np.ndarray:
        """(W, L, T) inputs and (W, H, T) forecasts -> (W, H, T) float32, block by block."""
        return np.concatenate([self.log_scale(head_features(x[part], pred[part], period))
                               for part in _blocks(x, pred.shape[1])], dtype=np.float32)

    def log_scale(self, features: np.ndarray) -> np.ndarray:
        """exp of the weighted log features (W, H, T, J) -> (W, H, T)."""
        logs = np.log(np.maximum(features, self.floor.T))
        return np.exp((logs * self.weights.T).sum(axis=-1))


def seasonal_scale(x: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The mean absolute change of the input rows at each step's phase: (W, H, T).

    For step h the rows `period`, 2·`period`, ... before it that the window holds, each
    with its `_NEIGHBOURS` rows either side: influenza in January and electricity load at
    noon are harder to forecast than in July and at night, and last season says by how
    much. A step with no such row in the window takes the whole window's mean change.
    """
    n, lookback, n_targets = x.shape
    change = np.abs(np.diff(x, axis=1))  # change[:, r - 1] is row r's change
    total = np.concatenate([np.zeros((n, 1, n_targets)), np.cumsum(change, axis=1)], axis=1)
    steps = np.arange(horizon)
    reach = max(1, min(_NEIGHBOURS, period // 4))
    sums, counts = np.zeros((n, horizon, n_targets)), np.zeros(horizon)
    for back in range(1, (lookback + horizon) // period + 1):
        centre = lookback + steps - back * period
        inside = (centre >= 1) & (centre <= lookback - 1)
        first = np.clip(centre - reach, 1, lookback - 1) - 1
        last = np.clip(centre + reach, 1, lookback - 1)
        mean = (total[:, last] - total[:, first]) / (last - first)[None, :, None]
        sums += np.where(inside[None, :, None], mean, 0.0)
        counts += inside
    whole = change.mean(axis=1)[:, None, :] if lookback > 1 else np.zeros((n, 1, n_targets))
    return np.where(counts[None, :, None] > 0, sums / np.maximum(counts, 1)[None, :, None],
                    whole)


def symmetric_offsets(scores: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Finite-sample conformal offsets of each level from (W, H, T) scores: (Q, H, T).

    Level q sits at sign(q - 0.5) times the ceil((n+1)c)-th smallest of the n absolute
    scores, c = |2q - 1|: the interval between levels q and 1 - q then holds a new point
    with probability at least 1 - 2q on exchangeable data (Vovk et al.; Lei et al. 2018).
    The point forecast stays the median (its offset is 0). Why not each side's signed
    quantile: overlapping windows' residuals share the drift of their stretch of the
    series, and the band moved with it (benchmarks/README.md, "Symmetric offsets"). Ranks
    past the end are clipped to the largest score: with very few windows no bound holds.
    """
    n = scores.shape[0]
    # one allocation, not |scores| and its transpose
    columns = np.empty((scores[0].size, n), dtype=scores.dtype)
    np.abs(scores.reshape(n, -1).T, out=columns)
    return _ranked(columns, levels, overwrite=True).reshape(len(levels), *scores.shape[1:])


def conformal_ranks(levels: Sequence[float], n: int) -> list[int]:
    """Where each level's offset lies among n sorted absolute scores (0-based): the
    ceil((n + 1)|2q - 1|)-th smallest, clipped to the first and the last."""
    return [min(max(math.ceil(round((n + 1) * abs(2 * q - 1), 9)), 1), n) - 1
            for q in levels]


def _ranked(magnitudes: np.ndarray, levels: Sequence[float], overwrite: bool = False
            ) -> np.ndarray:
    """`symmetric_offsets` of (C, n) absolute scores, n per column: (Q, C). Each column
    contiguous, as numpy partitions a last axis about twice as fast as a first. A partition
    costs about a pass per rank while numpy's vectorised sort costs a fixed few, so many
    ranks (the CRPS grid's) are read from a full sort (benchmarks/README.md, "Ranking").
    `overwrite`: reorder `magnitudes` in place rather than a copy of them."""
    index = conformal_ranks(levels, magnitudes.shape[-1])
    ranks = sorted(set(index))
    ordered = magnitudes if overwrite else magnitudes.copy()
    if len(ranks) > _PARTITION_RANKS:
        ordered.sort(axis=-1)
    else:
        ordered.partition(ranks, axis=-1)
    return np.sign(np.asarray(levels) - 0.5)[:, None] * ordered[:, index].T


@dataclass(frozen=True)
class Calibration:
    """What turns one point forecast into quantiles: offsets per level, step and target."""

    levels: tuple[float, ...]
    offsets: np.ndarray  # (Q, H, T) quantiles of residual / scale
    floor: np.ndarray  # (T,) smallest scale used, in z-scored units
    n_windows: int
    start: str | None = None  # time of the first calibration target row, when known
    period: int | None = None  # the season `interval_scale` reads; None: the window's std
    head: QuantileHead | None = None  # a learned scale in place of `interval_scale`

    def scale(self, x: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Inputs' target channels (W, L, T) and forecasts (W, H, T) -> each step's scale."""
        if self.head is not None:
            return self.head.scale(x, pred, self.period)
        return interval_scale(x, self.offsets.shape[1], self.period)

    def quantiles(self, pred: np.ndarray, scale: np.ndarray,
                  offsets: np.ndarray | None = None) -> np.ndarray:
        """(W, H, T) forecasts and their inputs' `scale` (W, H, T) -> (W, H, T, Q).

        `offsets` (W, Q, H, T): each forecast's own, from `rolling_offsets`; by default
        the stored ones of the validation part.
        """
        scale = np.maximum(scale, self.floor)
        own = self.offsets[None] if offsets is None else offsets
        return pred[..., None] + scale[..., None] * np.moveaxis(own, 1, -1)

    def scores(self, pred: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Residuals (W, H, T) divided by their steps' scales, floored as at calibration."""
        return scaled_residuals(pred, truth, scale, self.floor)

    def to_card(self) -> card.Calibration:
        """The plain, typed form stored on the model card (checked when read back)."""
        return card.Calibration(
            levels=tuple(self.levels), offsets=_nested(self.offsets),
            floor=tuple(float(v) for v in self.floor), n_windows=self.n_windows,
            method="residuals" if self.head is None else "pinball", start=self.start,
            period=self.period,
            head_weights=None if self.head is None else _rows(self.head.weights),
            head_floor=None if self.head is None else _rows(self.head.floor))

    @classmethod
    def from_card(cls, stored: card.Calibration) -> Calibration:
        """Arrays from a card's calibration (its shape was checked when the card was read)."""
        head = None if stored.head_weights is None or stored.head_floor is None else (
            QuantileHead(np.asarray(stored.head_weights, dtype=np.float64),
                         np.asarray(stored.head_floor, dtype=np.float64)))
        return cls(stored.levels, np.asarray(stored.offsets, dtype=np.float64),
                   np.asarray(stored.floor, dtype=np.float64), stored.n_windows, stored.start,
                   stored.period, head)


def _rows(values: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in values)


def _nested(offsets: np.ndarray) -> tuple[tuple[tuple[float, ...], ...], ...]:
    return tuple(tuple(tuple(float(v) for v in row) for row in step) for step in offsets)


def calibrate(pred: np.ndarray, truth: np.ndarray, x: np.ndarray, levels: Sequence[float],
              start: str | None = None, period: int | None = None) -> Calibration:
    """Calibrate on validation windows: forecasts and truths (W, H, T), inputs (W, L, T)."""
    return calibrate_scaled(pred, truth, interval_scale(x, pred.shape[1], period), levels,
                            start, period)


def calibrate_scaled(pred: np.ndarray, truth: np.ndarray, scale: np.ndarray,
                     levels: Sequence[float], start: str | None = None,
                     period: int | None = None, head: QuantileHead | None = None
                     ) -> Calibration:
    """`calibrate` with the windows' scales (W, H, T) already computed (by `head`, if any)."""
    floor = scale_floor(scale)
    scores = scaled_residuals(pred, truth, scale, floor)
    return Calibration(tuple(levels), symmetric_offsets(scores, levels), floor, len(pred),
                       start, period, head)


def scale_floor(scale: np.ndarray) -> np.ndarray:
    """(T,) the smallest scale a calibration divides by: a tenth of each target's median
    scale over the calibration windows (W, H, T), so a flat stretch cannot blow a residual up."""
    return np.maximum(_FLOOR_SHARE * np.median(scale, axis=(0, 1)), _MIN_FLOOR)


def calibrate_known(known: KnownScores, count: int, floor: np.ndarray,
                    levels: Sequence[float]) -> Calibration:
    """`calibrate_scaled` from the first `count` windows of `known` (the validation part's),
    scored under `floor` (`scale_floor` of their scales): evaluate ranks the scores it rolls
    over anyway, instead of holding the validation forecasts, truths and scales as well
    (README, "Memory"). The offsets equal `calibrate_scaled`'s to float32 precision."""
    ends = np.full(known.magnitudes.shape[0], count)
    return Calibration(tuple(levels), _ranked_steps(known, ends, count, levels), floor, count)


def scaled_residuals(pred: np.ndarray, truth: np.ndarray, scale: np.ndarray,
                     floor: np.ndarray) -> np.ndarray:
    """Residuals (W, H, T) in units of their steps' scales, raised to `floor` (T,)."""
    residuals = np.subtract(truth, pred, dtype=np.result_type(truth, pred, scale, floor))
    residuals /= np.maximum(scale, floor)  # in place: long, wide data holds gigabytes here
    return residuals


@dataclass(frozen=True)
class KnownScores:
    """Absolute normalised residuals (`Calibration.scores`) of consecutive windows, in time
    order, step-major: the windows of one step and target lie side by side, so each set a
    rolling calibration ranks is a slice, not a copy (`KnownScores.of` builds it).

    Only windows whose targets lie after the training part: the model was fit on the
    earlier ones, and their residuals would make the intervals too narrow. Step h of the
    window from origin s is known from row s + h + 1 on; steps past the history are NaN
    and never read. Held as float32, like the forecasts they come from: half the memory of
    float64 on long, wide data, and numpy sorts it about twice as fast.
    """

    magnitudes: np.ndarray  # (H, T, W) float32
    origins: np.ndarray  # (W,) each window's first target row

    @classmethod
    def of(cls, scores: np.ndarray, origins: np.ndarray) -> KnownScores:
        """From (W, H, T) scores and their windows' origins."""
        return cls(step_major(scores), origins)


def step_major(scores: np.ndarray) -> np.ndarray:
    """|scores| (W, H, T) as `KnownScores.magnitudes` (H, T, W) float32, in one allocation."""
    magnitudes = np.empty((*scores.shape[1:], scores.shape[0]), dtype=np.float32)
    np.abs(scores.transpose(1, 2, 0), out=magnitudes, casting="same_kind")
    return magnitudes


def fewest_windows(levels: Sequence[float]) -> int:
    """The fewest residuals whose finite-sample ranks reach every level without clipping:
    ceil((n+1)c) <= n for the widest coverage c = |2q - 1|, so n >= c / (1 - c); 4 for
    0.1..0.9."""
    widest = max(abs(2 * q - 1) for q in levels)
    return max(1, math.ceil(round(widest / (1 - widest), 9)))


def for_one_series(calibration: Calibration, own_windows: int) -> Calibration:
    """A many-series model's calibration as one series rolls it: on that series' own
    latest `own_windows` residuals (its validation count) from its own validation start.

    The stored offsets pool every series' validation windows; a series whose errors run
    larger or smaller than the pool's would keep bands too narrow or too wide. With fewer
    own windows than the levels need, the series keeps the pooled offsets.
    """
    if own_windows < fewest_windows(calibration.levels):
        return calibration
    return dataclasses.replace(calibration, n_windows=own_windows, start=None)


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
    """Each forecast's offsets from the latest residuals known at its origin, step by step.

    `origins` are the rows of the forecasts' first steps. The set of an origin is fixed at
    the latest multiple of `refresh_rows` at or before it, `cut`: step h takes the last
    `n_windows` windows whose origin is at most cut - 1 - h. When any step has fewer, the
    origin keeps the stored validation offsets. The sets are ranked on the threads
    `--threads` allows: numpy sorts without the GIL, and on long data ranking is most of a
    rolling evaluation's time.
    """
    cuts, which = np.unique(origins - origins % refresh_rows(calibration.n_windows),
                            return_inverse=True)
    rank = functools.partial(_offsets_at, calibration, known)
    workers = min(worker_threads(), len(cuts))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            sets = list(pool.map(rank, cuts.tolist()))
    else:
        sets = [rank(cut) for cut in cuts.tolist()]
    return RollingOffsets(np.stack(sets), which.reshape(-1))


def _offsets_at(calibration: Calibration, known: KnownScores, cut: int) -> np.ndarray:
    n, horizon = calibration.n_windows, calibration.offsets.shape[1]
    steps = np.arange(horizon)
    ends = np.searchsorted(known.origins, cut - 1 - steps, side="right")  # (H,)
    if ends.min() < n:
        return calibration.offsets
    return _ranked_steps(known, ends, n, calibration.levels)


def _ranked_steps(known: KnownScores, ends: np.ndarray, n: int, levels: Sequence[float]
                  ) -> np.ndarray:
    """(Q, H, T) offsets of each step h from the n windows of `known` before `ends[h]`."""
    return np.stack([_ranked(known.magnitudes[h, :, end - n: end], levels)
                     for h, end in enumerate(ends)], axis=1)
