"""The linear path every model carries beside its attention path, and its closed-form fit.

A linear map of the window, anchored on the last value (NLinear, Zeng et al., 2023), is
the free baseline that deep forecasters most often fail to beat on data nobody tuned on.
Each model therefore starts *as* that baseline: the path's weights are solved in closed
form by ridge regression before training, with the penalty chosen on the validation part,
and the attention path is trained to forecast what it misses. A huge penalty gives
repeat-last, a small one the least-squares model, so both free baselines are special
cases. The weights are buffers, not parameters: least squares is already the optimum of
the training loss for this family, and letting gradient steps move it only added noise
(benchmarks/README.md, "The linear path").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

# Penalties tried, as multiples of the mean diagonal of the training Gram matrix: from
# plain least squares to a map so shrunk that it is repeat-last.
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
DEFAULT_RIDGE = 1e-3  # the linear baseline's: conditioning only, not a tuned prior
# A choice away from the default (another penalty, or reading the covariates) must lower
# the validation error by this share: smaller gains were noise that cost up to 10% on
# ETTh1's test part (benchmarks/README.md, "The linear path").
MARGIN = 0.02


COVARIATE_FEATURES = 2048  # most covariate inputs the path reads: bounds its (F, F) solve
# A known covariate is read at the forecast step itself and the step before (a holiday's
# effect, a price's, often lasts into the next step); one weight per target, covariate and
# offset, shared by every step, because the effect of a known value does not depend on how
# far ahead the forecast is.
KNOWN_OFFSETS = 2


class LinearPath(nn.Module):
    """(B, L, C) windows, targets first -> base forecast (B, H, T) and its parts.

    Each target's forecast is its last value, plus (window - last value) @ W with one
    (L, H) matrix shared by every target (the linear baseline of `tsattn evaluate`), plus,
    when the data has covariates, each covariate's recent change (its last Lc values minus
    its last one) through per-target weights V (T, Lc, K, H). Zero until fitted, which
    makes it repeat-last. The parts are additive, so how much each variable moved a
    forecast is exact: that is what the variable weights of the attention summary read.
    """

    def __init__(self, lookback: int, horizon: int, n_targets: int, n_covariates: int,
                 n_known: int = 0) -> None:
        super().__init__()
        self.n_targets, self.n_covariates, self.n_known = n_targets, n_covariates, n_known
        self.horizon = horizon
        self.covariate_lookback = min(lookback, max(1, COVARIATE_FEATURES // max(1, n_covariates)))
        self.register_buffer("weight", torch.zeros(lookback, horizon))
        self.register_buffer("covariate_weight", torch.zeros(
            n_targets, self.covariate_lookback, n_covariates, horizon))
        if n_known:  # only then: model files without known covariates keep their tensors
            self.register_buffer("known_weight", torch.zeros(n_targets, KNOWN_OFFSETS * n_known))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, L, C) -> base (B, H, T) and parts (B, H, T, 1 + K): each target's own
        change, then each covariate's contribution; base = last value + Σ parts."""
        targets = x[..., : self.n_targets]
        last = targets[:, -1:]  # (B, 1, T)
        own = torch.einsum("blt,lh->bht", targets - last, self.weight.to(x.dtype))
        parts = own.unsqueeze(-1)  # (B, H, T, 1)
        if self.n_covariates:
            features = self.covariate_features(x)  # (B, Lc, K)
            weight = self.covariate_weight.to(x.dtype)
            covariates = torch.einsum("blk,tlkh->bhtk", features, weight)
            parts = torch.cat([parts, covariates], dim=-1)
        if self.n_known:
            features = self.known_features(x)  # (B, H, J·Kn)
            B, H, _ = features.shape
            weight = self.known_weight.to(x.dtype).view(self.n_targets, KNOWN_OFFSETS, -1)
            known = torch.einsum("bhjk,tjk->bhtk", features.view(B, H, KNOWN_OFFSETS, -1),
                                 weight)
            parts = torch.cat([parts, known], dim=-1)
        return last + parts.sum(dim=-1), parts

    def known_features(self, x: Tensor) -> Tensor:
        """(B, H, J·Kn) in (J, Kn) order: each known covariate at forecast step h and the
        J-1 steps before it, less its value at the forecast origin.

        Known channels are read H rows ahead (`tsattn/known.py`), so the value at origin
        + s sits in row L-1-H+s of the window.
        """
        L, H = x.shape[1], self.horizon
        known = x[..., x.shape[2] - self.n_known :]  # (B, L, Kn)
        origin = known[:, L - 1 - H : L - H]  # (B, 1, Kn)
        steps = [known[:, L - H - j : L - j] - origin for j in range(KNOWN_OFFSETS)]
        return torch.cat(steps, dim=-1)

    def row_coefficients(self) -> Tensor:
        """(L, H) weight of each target row in the forecast: W, and on the last row the
        anchor 1 - Σ_l W_lh as well (last + Σ_l W_lh·(x_l - last) = Σ_l coef_lh·x_l)."""
        coefficients = self.weight.clone()
        coefficients[-1] += 1 - self.weight.sum(dim=0)
        return coefficients

    def covariate_row_coefficients(self) -> Tensor:
        """(T, Lc, K, H) weight of each covariate row: V, less Σ_l V on the last row."""
        coefficients = self.covariate_weight.clone()
        coefficients[:, -1] -= self.covariate_weight.sum(dim=1)
        return coefficients

    def covariate_features(self, x: Tensor) -> Tensor:
        """The covariates' last Lc values minus their last one: (B, Lc, K)."""
        T, K = self.n_targets, self.n_covariates
        recent = x[:, -self.covariate_lookback :, T : T + K]
        return recent - recent[:, -1:]

    def load_solution(self, weight: Tensor, covariate_weight: Tensor | None = None,
                      known_weight: Tensor | None = None) -> None:
        self.weight.copy_(weight.to(self.weight))
        if covariate_weight is not None:  # (T, Lc·K, H), features in (Lc, K) order
            self.covariate_weight.copy_(covariate_weight.view_as(self.covariate_weight))
        if known_weight is not None:  # (T, J·Kn, 1), features in (J, Kn) order
            self.known_weight.copy_(known_weight.view_as(self.known_weight))

    @property
    def reads_covariates(self) -> bool:
        """Whether any covariate, past or known, has a weight after fitting."""
        return bool(self.covariate_weight.any()) or (
            self.n_known > 0 and bool(self.known_weight.any()))


@dataclass
class NormalEquations:
    """Sufficient statistics of least squares on anchored windows, summed over batches.

    With them the training fit for any penalty, and the validation error of any solution,
    are a few small (L x L) products: the windows themselves are never held at once.
    """

    gram: Tensor  # (L, L)  Σ aᵀa
    cross: Tensor  # (L, H)  Σ aᵀb
    target_power: Tensor  # ()  Σ ‖b‖²
    count: int  # rows of a: windows x targets

    @classmethod
    def of(cls, batches: Iterable[tuple[Tensor, Tensor]], n_targets: int) -> NormalEquations:
        """Accumulate over (x (B, L, C), y (B, H, T)) batches, in float64 for conditioning."""
        gram = cross = power = None
        count = 0
        for x, y in batches:
            x = x[..., :n_targets].double()
            last = x[:, -1:]
            a = (x - last).transpose(1, 2).reshape(-1, x.shape[1])  # (B·T, L)
            b = (y.double() - last).transpose(1, 2).reshape(-1, y.shape[1])  # (B·T, H)
            gram = a.T @ a if gram is None else gram + a.T @ a
            cross = a.T @ b if cross is None else cross + a.T @ b
            power = b.square().sum() if power is None else power + b.square().sum()
            count += a.shape[0]
        if gram is None:
            raise ValueError("no windows to fit the linear path on")
        return cls(gram, cross, power, count)

    def solve(self, ridge: float) -> Tensor:
        """W (L, H) minimising ‖aW - b‖² + ridge·mean(diag Σaᵀa)·‖W‖²."""
        L = self.gram.shape[0]
        scale = torch.diagonal(self.gram).mean().clamp_min(1e-12)
        eye = torch.eye(L, dtype=self.gram.dtype, device=self.gram.device)
        return torch.linalg.solve(self.gram + ridge * scale * eye, self.cross)

    def sse(self, weight: Tensor) -> float:
        """Summed squared error of `weight` on these windows: ‖b‖² - 2⟨W, aᵀb⟩ + ⟨W, aᵀaW⟩."""
        return float(self.target_power - 2 * (weight * self.cross).sum() + (
            weight * (self.gram @ weight)).sum())

    def mse(self, weight: Tensor) -> float:
        """Mean squared error of `weight` on these windows."""
        return self.sse(weight) / (self.count * self.cross.shape[1])

    def __add__(self, other: NormalEquations) -> NormalEquations:
        return NormalEquations(self.gram + other.gram, self.cross + other.cross,
                               self.target_power + other.target_power, self.count + other.count)

    def __sub__(self, other: NormalEquations) -> NormalEquations:
        return NormalEquations(self.gram - other.gram, self.cross - other.cross,
                               self.target_power - other.target_power, self.count - other.count)


@dataclass(frozen=True)
class LinearFit:
    """The chosen solution and the held-out error of every penalty tried."""

    weight: Tensor
    ridge: float
    held_out_mse: dict[float, float]
    covariate_ridge: list[float | None] | None = None  # per target; None: covariates unread
    known_ridge: list[float | None] | None = None  # the same for the known covariates


def fit_linear_path(folds: list[NormalEquations], val: NormalEquations,
                    grid: tuple[float, ...] = RIDGE_GRID) -> LinearFit:
    """Solve on all training windows; choose the penalty by its held-out error over the
    validation part and each training fold in turn (fit on the other folds), and keep
    it only when it beats the default penalty there by `MARGIN`.

    A few hundred validation rows (national_illness has 97) make a noisy judge of a
    penalty; the training folds add every training window to it at the cost of a few
    small solves, since the equations of the folds add up.
    """
    train = sum(folds[1:], folds[0])
    errors = {}
    for ridge in sorted({*grid, DEFAULT_RIDGE}):
        sse = val.sse(train.solve(ridge))
        count = val.count
        for fold in folds if len(folds) > 1 else ():
            sse += fold.sse((train - fold).solve(ridge))
            count += fold.count
        errors[ridge] = sse / (count * val.cross.shape[1])
    best = min(errors, key=errors.__getitem__)
    if errors[best] > (1 - MARGIN) * errors[DEFAULT_RIDGE]:
        best = DEFAULT_RIDGE
    return LinearFit(train.solve(best).float(), best, errors)


@dataclass
class CovariateEquations:
    """Normal equations of the second stage: each target's residual after the shared
    target map, regressed on the covariates' recent changes. The features are the same
    for every target, so one (F, F) Gram serves all T regressions."""

    gram: Tensor  # (F, F)
    cross: Tensor  # (T, F, H)
    target_power: Tensor  # (T,)
    count: int  # windows

    @classmethod
    def of(cls, batches: Iterable[tuple[Tensor, Tensor]], path: LinearPath
           ) -> CovariateEquations:
        """Accumulate over (x, y) batches; `path` holds the fitted target map W."""
        gram = cross = power = None
        count = 0
        for x, y in batches:
            B = x.shape[0]
            features = path.covariate_features(x).double().reshape(B, -1)  # (B, Lc·K)
            _, parts = path(x)
            residual = (y - x[:, -1:, : path.n_targets] - parts[..., 0]).double()  # (B, H, T)
            g = features.T @ features
            c = torch.einsum("bf,bht->tfh", features, residual)
            p = residual.square().sum(dim=(0, 1))
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
            power = p if power is None else power + p
            count += B
        if gram is None:
            raise ValueError("no windows to fit the linear path on")
        return cls(gram, cross, power, count)

    def solve_for(self, target: int, ridge: float, keep: Tensor | None = None) -> Tensor:
        """Target's V (F, H) for one penalty (relative to the Gram's mean diagonal), using
        only the features in `keep` (the others get weight 0)."""
        F = self.gram.shape[0]
        keep = torch.ones(F, dtype=torch.bool, device=self.gram.device) if keep is None else keep
        gram = self.gram[keep][:, keep]
        scale = torch.diagonal(gram).mean().clamp_min(1e-12)  # of the features kept only
        eye = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
        weight = torch.zeros_like(self.cross[target])
        weight[keep] = torch.linalg.solve(gram + ridge * scale * eye, self.cross[target][keep])
        return weight

    @classmethod
    def of_known(cls, batches: Iterable[tuple[Tensor, Tensor]], path: LinearPath
                 ) -> CovariateEquations:
        """The third stage: residuals after targets and past covariates, regressed on the
        known covariates; every (window, step) is a row, as the weights are shared by the
        steps (cross is (T, F, 1))."""
        gram = cross = power = None
        count = 0
        for x, y in batches:
            features = path.known_features(x).double().flatten(0, 1)  # (B·H, F)
            base, _ = path(x)
            residual = (y - base).double().flatten(0, 1)  # (B·H, T)
            g = features.T @ features
            c = (features.T @ residual).T.unsqueeze(-1)  # (T, F, 1)
            p = residual.square().sum(dim=0)
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
            power = p if power is None else power + p
            count += features.shape[0]
        if gram is None:
            raise ValueError("no windows to fit the linear path on")
        return cls(gram, cross, power, count)

    def sse_of(self, target: int, weight: Tensor) -> float:
        """Summed squared error of target's V (F, H) on these windows."""
        cross = (weight * self.cross[target]).sum()
        quad = (weight * (self.gram @ weight)).sum()
        return float(self.target_power[target] - 2 * cross + quad)

    def __add__(self, other: CovariateEquations) -> CovariateEquations:
        return CovariateEquations(self.gram + other.gram, self.cross + other.cross,
                                  self.target_power + other.target_power,
                                  self.count + other.count)

    def __sub__(self, other: CovariateEquations) -> CovariateEquations:
        return CovariateEquations(self.gram - other.gram, self.cross - other.cross,
                                  self.target_power - other.target_power,
                                  self.count - other.count)


def fit_covariates(folds: list[CovariateEquations], val: CovariateEquations,
                   n_covariates: int, grid: tuple[float, ...] = RIDGE_GRID
                   ) -> tuple[Tensor, list[float | None]]:
    """Per target, the covariate weights with the lowest held-out error (validation plus
    each training fold, as for the target map), or none at all (`None` in the returned
    penalties) when no penalty beats ignoring the covariates by `MARGIN`: a covariate
    that does not clearly help is not read. Then each covariate in turn is left out where
    that does not raise the held-out error, so a column of noise beside a useful one is
    not read either."""
    train = sum(folds[1:], folds[0])
    T, F, H = train.cross.shape
    best = torch.zeros(T, F, H, dtype=train.gram.dtype, device=train.gram.device)
    chosen: list[float | None] = [None] * T
    for t in range(T):
        ignored = _held_out(folds, val, t, lambda eq: torch.zeros_like(eq.cross[0]))
        errors = {ridge: _held_out(folds, val, t, lambda eq, r=ridge, t=t: eq.solve_for(t, r))
                  for ridge in grid}
        ridge = min(errors, key=errors.__getitem__)
        if errors[ridge] < (1 - MARGIN) * ignored:
            keep = _useful(folds, val, t, ridge, n_covariates)
            # the penalty again, for the columns kept: one chosen beside a column of noise
            # is heavier than the useful ones alone need
            ridge = _best_ridge(folds, val, t, keep, grid)
            chosen[t] = ridge
            best[t] = train.solve_for(t, ridge, keep)
    return best, chosen


def _held_out(folds: list[CovariateEquations], val: CovariateEquations, t: int,
              fit: Callable[[CovariateEquations], Tensor]) -> float:
    """Target t's mean squared error of `fit` on validation (fit on every fold) and on
    each fold (fit on the others)."""
    train = sum(folds[1:], folds[0])
    sse, count = val.sse_of(t, fit(train)), val.count
    for fold in folds if len(folds) > 1 else ():
        sse += fold.sse_of(t, fit(train - fold))
        count += fold.count
    return sse / (count * train.cross.shape[2])


def _best_ridge(folds: list[CovariateEquations], val: CovariateEquations, t: int,
                keep: Tensor, grid: tuple[float, ...]) -> float:
    """The penalty with target t's lowest held-out error, reading the features `keep`."""
    errors = {ridge: _held_out(folds, val, t, lambda eq, r=ridge: eq.solve_for(t, r, keep))
              for ridge in grid}
    return min(errors, key=errors.__getitem__)


def _useful(folds: list[CovariateEquations], val: CovariateEquations, t: int,
            ridge: float, n_covariates: int) -> Tensor:
    """Target t's features (F,) left after leaving out, one at a time, every covariate whose
    absence does not raise the held-out error; features are in (Lc, K) order."""
    train = sum(folds[1:], folds[0])
    F = train.gram.shape[0]
    owner = torch.arange(F, device=train.gram.device) % n_covariates  # covariate of a feature
    keep = torch.ones(F, dtype=torch.bool, device=train.gram.device)
    error = _held_out(folds, val, t, lambda eq: eq.solve_for(t, ridge, keep))
    for k in range(n_covariates):
        trial = keep & (owner != k)
        if not trial.any():
            continue
        trial_error = _held_out(folds, val, t, lambda eq, m=trial: eq.solve_for(t, ridge, m))
        if trial_error <= error:
            keep, error = trial, trial_error
    return keep
