"""Does the attention summary rank inputs the way the forecast uses them? Measured, not assumed.

The inputs are the window's periods (consecutive rows of one token stride, as the summary's
`top_periods`). Three rankings of them are compared per window:

- attention: the period mass of the model's default map, averaged over forecast steps;
- random: uniformly random orders (the mean over a few draws per window);
- recency: the latest periods first, the ranking any forecaster of a persistent series
  earns for free; attention that only beats random may just be recency;
- occlusion: the change of the forecast when that one period alone is blanked (a reference
  that is good by construction: it uses the very measurement the curves are made of).

For each ranking, ERASER's curves (DeYoung et al., 2020) over k = 1, 5, 10, 20, 50% of the
periods: comprehensiveness, the forecast change when the top-k are blanked (higher: the
ranking found what the forecast needs), and sufficiency, the change when everything *but*
the top-k is blanked (lower: those periods alone carry the forecast). A change is the mean
squared difference from the untouched forecast over steps and targets, in the model's
z-scored units. The area over a curve is its mean over the k values (ERASER's AOPC).
Intervals are 95% percentile bootstraps over windows, paired (one resampling for every
ranking). Blanked rows are replaced by the straight line between the nearest kept rows of
the window, so the input stays in the window's own range rather than jumping to zero.

Where a model reads several variables (covariates, not channel-independent), each variable
is also blanked alone (replaced by its window mean); attention maps are over time only, so
no attention ranking of variables exists to compare.
Figures on ETTh1 and the sample data: benchmarks/README.md ("Faithfulness").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tsattn.data import Frame
from tsattn.errors import UsageError
from tsattn.explain import token_periods
from tsattn.inference import LoadedModel, scaled_series
from tsattn.models.base import Forecast
from tsattn.windows import Windows, window_starts

SCHEMA = "tsattn.faithfulness/1"
K_PERCENTS = (1, 5, 10, 20, 50)
RANKERS = ("attention", "random", "recency", "occlusion")
BLANKING = ("periods: straight line between the nearest kept rows of the window "
            "(the nearest kept value at its ends); variables: the variable's window mean")

Model = Callable[..., Forecast]


@dataclass(frozen=True)
class Interval:
    """A mean over windows with its 95% bootstrap interval."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Curve:
    """One ERASER curve: a value per k, and the area over it (their mean)."""

    points: tuple[Interval, ...]
    area: Interval


@dataclass(frozen=True)
class RankingScores:
    name: str
    comprehensiveness: Curve
    sufficiency: Curve


@dataclass(frozen=True)
class VariableEffect:
    """How much blanking one whole variable changes the forecast."""

    name: str
    change: Interval


@dataclass(frozen=True)
class Verdict:
    """Attention against the references, on the areas over the curves.

    `vs_random` is "better", "worse" or "indistinguishable" per metric (intervals apart or
    overlapping); `gap_closed` is where attention lies from random (0) to occlusion (1),
    above 1 where it beats occlusion (which blanks one period at a time, so it misses
    periods that matter only together).
    """

    comprehensiveness_vs_random: str
    sufficiency_vs_random: str
    comprehensiveness_gap_closed: float | None
    sufficiency_gap_closed: float | None
    text: str


@dataclass(frozen=True)
class FaithfulnessReport:
    windows: int
    periods: int
    period_rows: int
    k_percents: tuple[int, ...]
    k_periods: tuple[int, ...]
    rankings: tuple[RankingScores, ...]
    variables: tuple[VariableEffect, ...]
    blanking: str
    verdict: Verdict


@dataclass(frozen=True)
class FaithfulnessOptions:
    random_draws: int = 5
    bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 512


def measure_faithfulness(model: Model, x: Tensor, periods: Sequence[tuple[int, int]],
                         variables: Sequence[str] = (),
                         options: FaithfulnessOptions = FaithfulnessOptions()
                         ) -> FaithfulnessReport:
    """ERASER curves of the three rankings over windows x (B, L, C) (module docstring).

    `periods` are the rows [start, stop) that tile the window; `variables` name the first
    channels the model reads, when it reads more than one (else leave it empty).
    """
    if len(periods) < 2:
        raise UsageError("the window is a single period, so there is nothing to rank; "
                         "use a model with a --lookback longer than its --stride")
    generator = torch.Generator().manual_seed(options.seed)
    members = period_matrix(periods, x.shape[1]).to(x.device)  # (L, P)
    with torch.inference_mode():
        out = model(x)
        base = out.prediction.float()
        attention = out.attention.float().mean(dim=1) @ members  # (B, P)
        scores = {
            "attention": attention,
            "recency": torch.arange(len(periods), device=x.device).float().expand_as(attention),
            "occlusion": occlusion_scores(model, x, base, members, options.batch_size),
        }
        counts = k_counts(len(periods))
        per_window = {name: _curves(model, x, base, members, s, counts, options.batch_size)
                      for name, s in scores.items()}
        draws = [_curves(model, x, base, members,
                         torch.rand(attention.shape, generator=generator).to(x.device),
                         counts, options.batch_size) for _ in range(options.random_draws)]
        per_window["random"] = tuple(np.mean([d[i] for d in draws], axis=0) for i in (0, 1))
        effects = _variable_changes(model, x, base, len(variables), options.batch_size)
    resample = np.random.default_rng(options.seed).integers(0, len(x), (options.bootstrap,
                                                                        len(x)))
    rankings = tuple(RankingScores(name, _curve(per_window[name][0], resample),
                                   _curve(per_window[name][1], resample)) for name in RANKERS)
    return FaithfulnessReport(
        windows=len(x), periods=len(periods), period_rows=periods[0][1] - periods[0][0],
        k_percents=K_PERCENTS, k_periods=counts, rankings=rankings,
        variables=tuple(VariableEffect(name, _interval(effects[:, c], resample))
                        for c, name in enumerate(variables)),
        blanking=BLANKING, verdict=verdict(rankings),
    )


def faithfulness_on_rows(loaded: LoadedModel, frame: Frame, first: int, end: int,
                         n_windows: int, options: FaithfulnessOptions = FaithfulnessOptions()
                         ) -> FaithfulnessReport:
    """Measure on up to `n_windows` windows whose targets lie in rows [first, end).

    The windows are drawn at random without replacement (seeded), so a few hundred of a
    test part's thousands give intervals narrow enough to decide, in seconds on a CPU.
    """
    L, H = loaded.lookback, loaded.horizon
    starts = window_starts(first, end, L, H)
    if len(starts) == 0:
        raise UsageError(f"no window has its {H} targets inside rows [{first}, {end}); "
                         "measure on more rows (an earlier --from) or more data")
    rng = np.random.default_rng(options.seed)
    pick = np.sort(rng.choice(len(starts), size=min(n_windows, len(starts)), replace=False))
    series = scaled_series(loaded, frame)
    x, _ = Windows(series, starts[torch.from_numpy(pick)], L, H, frame.n_targets).batch(
        torch.arange(len(pick), device=series.device))
    n_read = loaded.model.n_read  # > n_targets when covariates are read
    variables = list(frame.columns[:n_read]) if n_read > 1 else []
    periods = token_periods(loaded.model.token_spans, L)
    return measure_faithfulness(loaded.model, x, periods, variables, options)


def period_matrix(periods: Sequence[tuple[int, int]], lookback: int) -> Tensor:
    """(L, P) 0/1 matrix: row l belongs to period p. Periods must tile the window."""
    members = torch.zeros(lookback, len(periods))
    for p, (start, stop) in enumerate(periods):
        members[start:stop, p] = 1.0
    if not torch.equal(members.sum(dim=1), torch.ones(lookback)):
        raise ValueError(f"periods {list(periods)} do not tile rows 0..{lookback}")
    return members


def k_counts(n_periods: int) -> tuple[int, ...]:
    """Periods in the top-k% for each k: rounded, at least 1 and fewer than all."""
    return tuple(min(n_periods - 1, max(1, round(k * n_periods / 100))) for k in K_PERCENTS)


def blank_rows(x: Tensor, rows: Tensor) -> Tensor:
    """x (B, L, C) with rows (B, L) bool replaced by the line between the nearest kept rows.

    A blanked span at the window's start or end takes the nearest kept value; a window with
    every row blanked takes its own mean.
    """
    B, L, _ = x.shape
    index = torch.arange(L, device=x.device).expand(B, L)
    kept = ~rows
    before = torch.where(kept, index, -1).cummax(dim=1).values
    after = torch.where(kept, index, L).flip(1).cummin(dim=1).values.flip(1)
    left = torch.where(before >= 0, before, after).clamp(0, L - 1)
    right = torch.where(after < L, after, before).clamp(0, L - 1)
    span = (right - left).clamp(min=1)
    t = ((index - left) / span).clamp(0, 1).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
    fill = torch.lerp(_gather_rows(x, left), _gather_rows(x, right), t)
    none_kept = ~kept.any(dim=1)
    fill[none_kept] = x[none_kept].mean(dim=1, keepdim=True).expand(-1, L, -1)
    return torch.where(rows.unsqueeze(-1), fill, x)


def _gather_rows(x: Tensor, index: Tensor) -> Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def forecast_change(model: Model, x: Tensor, base: Tensor, rows: Tensor,
                    batch_size: int) -> Tensor:
    """(B,) mean squared change of the forecast over steps and targets when `rows` are blanked.

    x (B, L, C) and rows (B, L) may repeat base's B windows any number of times.
    """
    changes = []
    for begin in range(0, len(x), batch_size):
        part = slice(begin, begin + batch_size)
        pred = model(blank_rows(x[part], rows[part]), return_attention=False).prediction
        changes.append(pred.float())
    pred = torch.cat(changes)
    repeats = len(x) // len(base)
    return (pred - base.repeat(repeats, 1, 1)).square().mean(dim=(1, 2))


def occlusion_scores(model: Model, x: Tensor, base: Tensor, members: Tensor,
                     batch_size: int) -> Tensor:
    """(B, P) forecast change when each period alone is blanked."""
    B = len(x)
    P = members.shape[1]
    rows = members.T.bool().repeat_interleave(B, dim=0)  # (P·B, L): period-major
    change = forecast_change(model, x.repeat(P, 1, 1), base, rows, batch_size)
    return change.view(P, B).T


def _curves(model: Model, x: Tensor, base: Tensor, members: Tensor, scores: Tensor,
            counts: tuple[int, ...], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-window comprehensiveness and sufficiency (B, len(counts)) for one ranking.

    Equal counts (1%, 5% and 10% of 12 periods are all one period) are measured once.
    """
    B, P = scores.shape
    order = torch.argsort(-scores, dim=1, stable=True)  # ties: oldest period first
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(P, device=x.device)
                                            .expand(B, P))
    unique = sorted(set(counts))
    top = torch.cat([rank < n for n in unique])  # (K·B, P)
    top_rows = (top.float() @ members.T).bool()  # (K·B, L)
    xs = x.repeat(len(unique), 1, 1)
    shape = (len(unique), B)
    removed = forecast_change(model, xs, base, top_rows, batch_size).view(shape).T
    kept_only = forecast_change(model, xs, base, ~top_rows, batch_size).view(shape).T
    columns = [unique.index(n) for n in counts]
    return removed[:, columns].cpu().numpy(), kept_only[:, columns].cpu().numpy()


def _variable_changes(model: Model, x: Tensor, base: Tensor, n_variables: int,
                      batch_size: int) -> np.ndarray:
    """(B, V) forecast change when each of the first V channels is its window mean."""
    if n_variables == 0:
        return np.zeros((len(x), 0))
    changes = []
    for c in range(n_variables):
        blanked = x.clone()
        blanked[..., c] = x[..., c].mean(dim=1, keepdim=True)
        none = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        changes.append(forecast_change(model, blanked, base, none, batch_size))
    return torch.stack(changes, dim=1).cpu().numpy()


def _interval(values: np.ndarray, resample: np.ndarray) -> Interval:
    """Mean of per-window values with its 95% percentile bootstrap interval."""
    means = values[resample].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(values.mean()), float(low), float(high))


def _curve(values: np.ndarray, resample: np.ndarray) -> Curve:
    """values (B, K) -> the curve's intervals and the interval of its area (mean over k)."""
    points = tuple(_interval(values[:, k], resample) for k in range(values.shape[1]))
    return Curve(points, _interval(values.mean(axis=1), resample))


def _versus(attention: Interval, random: Interval, higher_is_better: bool) -> str:
    if attention.low > random.high:
        return "better" if higher_is_better else "worse"
    if attention.high < random.low:
        return "worse" if higher_is_better else "better"
    return "indistinguishable"


def _gap_closed(attention: float, random: float, occlusion: float) -> float | None:
    """Attention's place on the line from random (0) to occlusion (1); None without a gap."""
    gap = occlusion - random
    return None if abs(gap) < 1e-12 else (attention - random) / gap


def verdict(rankings: Sequence[RankingScores]) -> Verdict:
    """The one-line answer: better than random (intervals apart?) and how close to occlusion."""
    by_name = {r.name: r for r in rankings}
    att, rnd, rec, occ = (by_name[n] for n in RANKERS)
    comp = _versus(att.comprehensiveness.area, rnd.comprehensiveness.area, True)
    suff = _versus(att.sufficiency.area, rnd.sufficiency.area, False)
    areas = [r.comprehensiveness.area.mean for r in (att, rnd, occ)]
    return Verdict(comp, suff, _gap_closed(*areas),
                   _gap_closed(*(r.sufficiency.area.mean for r in (att, rnd, occ))),
                   _verdict_text(comp, suff, *areas, rec.comprehensiveness.area.mean))


def _verdict_text(comp: str, suff: str, attention: float, random: float,
                  occlusion: float, recency: float) -> str:
    if comp == suff == "better":
        head = "attention ranks inputs better than random (intervals apart on both curves)"
    elif "better" in (comp, suff):
        which = "comprehensiveness" if comp == "better" else "sufficiency"
        head = f"attention beats random on {which} only (intervals apart there)"
    elif "worse" in (comp, suff):
        head = "attention ranks inputs worse than random (intervals apart)"
    else:
        head = "attention is no better than random (intervals overlap)"
    if occlusion <= 0:
        return f"{head}; blanking no single period changes the forecast"
    ratios = [f"{attention / area:.{digits}f}x {name}'s"
              for name, area, digits in (("random", random, 1), ("recency", recency, 2),
                                         ("occlusion", occlusion, 2)) if area > 0]
    return f"{head}; its comprehensiveness is {', '.join(ratios)}"


def report_json(report: FaithfulnessReport) -> dict:
    """The report as plain JSON types, schema `tsattn.faithfulness/1` (README)."""

    def interval(i: Interval) -> dict:
        return {"mean": _round(i.mean), "low": _round(i.low), "high": _round(i.high)}

    def curve(c: Curve) -> dict:
        return {"points": [interval(p) for p in c.points], "area": interval(c.area)}

    v = report.verdict
    return {
        "schema": SCHEMA, "windows": report.windows, "periods": report.periods,
        "period_rows": report.period_rows, "k_percents": list(report.k_percents),
        "k_periods": list(report.k_periods), "blanking": report.blanking,
        "change": "mean squared change of the forecast, z-scored units",
        "rankings": {r.name: {"comprehensiveness": curve(r.comprehensiveness),
                              "sufficiency": curve(r.sufficiency)} for r in report.rankings},
        "variables": {e.name: interval(e.change) for e in report.variables},
        "verdict": {"comprehensiveness_vs_random": v.comprehensiveness_vs_random,
                    "sufficiency_vs_random": v.sufficiency_vs_random,
                    "comprehensiveness_gap_closed": _round(v.comprehensiveness_gap_closed),
                    "sufficiency_gap_closed": _round(v.sufficiency_gap_closed),
                    "text": v.text},
    }


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(f"{value:.6g}")
