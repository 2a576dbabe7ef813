"""Fit a quantile head with the pinball loss: the learned scale of `intervals.QuantileHead`.

The head's quantile of level q at step h of target t is the point forecast plus
sigma * c[q, h, t], where sigma is a weighted geometric mean of the
`intervals.head_features` (weights per target, positive and summing to one: a softmax) and
c grows with the level on each side of the median (cumulative softplus), so the head's own
quantiles never cross. Every feature moves in proportion to the data's scale, and so does
a geometric mean: a series twice as large gets bands twice as wide, however far the test
rows stray from the training ones (unconstrained exponents reached 2 on national_illness
and over-widened its larger test seasons). Both are fit together
with the pinball loss on the training windows' residuals of the trained point model.
Only sigma is kept: the conformal step then sets each level's offsets on the validation
windows, which conformalizes the head's quantiles (CQR, Romano et al. 2019) and keeps the
point forecast as the median. Why the head is the default: benchmarks/README.md
("Prediction intervals").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tsattn.intervals import QuantileHead, head_features

_ELEMENTS = 2_000_000  # window x step x target cells the fit reads at most (spread evenly)
_FLOOR_SHARE = 0.1  # a feature below a tenth of its median counts as that tenth
_STEPS = 200
_LR = 0.05
_START_LOGIT = 5.0  # the fixed scale's feature starts with 99% of the weight


def fit_quantile_head(x: np.ndarray, pred: np.ndarray, truth: np.ndarray,
                      levels: Sequence[float], period: int | None) -> QuantileHead:
    """Inputs (W, L, T), forecasts and truths (W, H, T) of the training windows.

    Starts next to the fixed scale (`intervals.interval_scale`: the seasonal change with a
    season, else the window's std), so a head that learns nothing is about that scale.
    """
    keep = spread_windows(len(x), pred.shape[1] * pred.shape[2])
    x, pred, truth = x[keep], pred[keep], truth[keep]
    features = head_features(x, pred, period)  # (W, H, T, J)
    floor = np.maximum(_FLOOR_SHARE * np.median(features, axis=(0, 1)), 1e-6)  # (T, J)
    logs = torch.as_tensor(np.log(np.maximum(features, floor)), dtype=torch.float32)
    residual = torch.as_tensor(truth - pred, dtype=torch.float32)
    logits = torch.zeros(features.shape[-1], features.shape[2])
    logits[1 if period is not None else 0] = _START_LOGIT
    logits.requires_grad_(True)
    lower = sorted((q for q in levels if q < 0.5), reverse=True)  # nearest the median first
    upper = sorted(q for q in levels if q > 0.5)
    steps = _initial_steps(logs, torch.softmax(logits.detach(), 0), residual, lower, upper)
    optimizer = torch.optim.Adam([logits, steps], lr=_LR)
    q = torch.tensor(sorted(lower) + upper).view(-1, 1, 1, 1)  # the offsets' order
    for _ in range(_STEPS):
        optimizer.zero_grad()
        sigma = torch.exp((logs * torch.softmax(logits, 0).T).sum(-1))  # (W, H, T)
        offsets = _offsets(steps, len(lower))  # (Q, H, T)
        diff = residual[None] - sigma[None] * offsets[:, None]
        loss = torch.maximum(q * diff, (q - 1) * diff).mean()
        loss.backward()
        optimizer.step()
    weights = torch.softmax(logits.detach().double(), 0).numpy()
    return QuantileHead(weights, floor.T.astype(np.float64))


def spread_windows(n_windows: int, cells: int) -> np.ndarray:
    """Evenly spaced windows of `cells` step x target cells each, as many as the fit reads
    (all of them when few): the indices to forecast, so a long training part is never
    forecast whole only to be thinned here (weather-sized data at 720 steps held 23 GB)."""
    count = min(n_windows, max(1, _ELEMENTS // max(cells, 1)))
    return np.unique(np.linspace(0, n_windows - 1, count).round().astype(int))


def _offsets(steps: torch.Tensor, n_lower: int) -> torch.Tensor:
    """Cumulative softplus outwards from the median: (Q, H, T) sorted by level."""
    grow = torch.nn.functional.softplus(steps)
    lower = -torch.cumsum(grow[:n_lower], dim=0).flip(0)
    upper = torch.cumsum(grow[n_lower:], dim=0)
    return torch.cat([lower, upper])


def _initial_steps(logs: torch.Tensor, weights: torch.Tensor, residual: torch.Tensor,
                   lower: list[float], upper: list[float]) -> torch.Tensor:
    """Softplus inputs whose offsets are the empirical quantiles under the start scale."""
    score = residual / torch.exp((logs * weights.T).sum(-1))
    steps = []
    for side, sign in ((lower, -1.0), (upper, 1.0)):
        previous = torch.zeros(score.shape[1:])
        for level in side:
            reach = (sign * torch.quantile(score, level, dim=0)).clamp(min=0)
            grow = (reach - previous).clamp(min=1e-3)
            steps.append(torch.log(torch.expm1(grow)))  # softplus inverse
            previous = previous + grow
    return torch.stack(steps).requires_grad_(True)
