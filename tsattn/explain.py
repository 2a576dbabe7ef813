"""Attention maps -> a JSON summary of which past time steps each forecast step looked at.

Numpy only (no torch, no pandas), so the summary can be built and tested without a model.
Weights are plain Python floats rounded to 6 digits, so `json.dumps` works directly and the
output stays compact and identical across runs.

Schema `tsattn.attention/2` (keys marked * are optional)::

    {"schema": "tsattn.attention/2",
     "model": str, "reduction": str,        # reduction: how the default map was made
     "reductions": [str, ...],              # the default first, then the alternatives
     "lookback": L, "horizon": H, "top_k": k,   # k = entries in each "top" (<= L)
     *"tokens": [                           # only when a token spans more than one step
         {"index": n, "start": time, "end": time,   # times of the first origin's window
          "rows": [start, stop],            # input rows [start, stop) of the window
          "lags": [max_lag, min_lag]}],     # the same rows as lags (lag 1 = last input)
     "forecasts": [                         # one per forecast origin
         {"origin": time,                   # last input time: the forecast was made there
          "steps": [
              {"step": h, "time": time,     # h = 1..H
               "top": [TOP, ...],           # k largest weights, descending
               *"top_periods": [PERIOD, ...],   # with "tokens": k heaviest periods
               "entropy": nats,             # 0 = one input, log(L) = all inputs equally
               "entropy_ratio": r,          # entropy / log(L) in [0, 1]; 0 when L == 1
               "concentration": CONCENTRATION,
               *"variables": {column: w},   # weight of each input variable, sums to 1
               *"weights": [L floats]}],    # the whole row, oldest input first
          "mean_top": [TOP, ...],           # top inputs of the map averaged over the steps
          *"alternatives": {name: {"mean_top": [TOP, ...]}}}]}

    TOP = {"time": time, "lag": L - i, "weight": w,
           *"values": {column: value or null}}   # input values at that step, when given
    PERIOD = {"start": time, "end": time, "lags": [max_lag, min_lag], "weight": w,
              *"values": {column: mean value or null}}   # mean over the period, when given
    CONCENTRATION = {"top_x_even": m,       # heaviest period's weight / its even share
                     "top10_share": s,      # weight of the heaviest 10% of periods (>= 1)
                     "near_uniform": bool}  # top_x_even < NEAR_UNIFORM_X_EVEN

Version 2 added `concentration` and, for models with a linear path, `variables`: how
much each input column moved the step (its exact additive part; the attention path's part
counts for the target it reads). `entropy_ratio` stays, but with patch tokens it cannot fall
below log(patch_len)/log(L) and reads 0.99 for most maps; `concentration` is measured over
periods (single rows when every token is one step), so it means the same with patches.
A map is "near uniform" when no period gets 1.5x its even share: e.g. 12.5% of the weight
where 12 periods would get 8.3% each. Below that, the map's ranking of periods is too flat
to say the forecast leans on particular inputs.

A patch token spreads its weight evenly over its steps, so a model with tokens has runs of
equal step weights and its top-k steps all come from one patch. `top_periods` ranks the
window's consecutive periods of one token stride each by their summed weight instead, which
is what a reader wants from such a model: the few stretches of time it read.

Ties in weight are ordered oldest input first. Rows of every map must sum to 1: a map that
does not is a programming error upstream, so it raises `ValueError`, not a user error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SCHEMA = "tsattn.attention/2"
NEAR_UNIFORM_X_EVEN = 1.5
NEAR_UNIFORM_TEXT = "near uniform: this forecast does not lean on particular inputs"
_DIGITS = 6
_ROW_TOLERANCE = 1e-3
_STEP_KEYS = ("step", "time", "top", "top_periods", "entropy", "entropy_ratio", "concentration",
              "variables")


def attention_entropy(weights: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis, with 0·log 0 = 0 (a one-hot row is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    return -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)


def top_inputs(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of the `k` largest entries along the last axis, descending.

    The sort is stable, so ties keep the oldest input first and the output is reproducible.
    """
    w = np.asarray(weights)
    indices = np.argsort(-w, axis=-1, kind="stable")[..., : min(k, w.shape[-1])]
    return indices, np.take_along_axis(w, indices, axis=-1)


@dataclass(frozen=True)
class _Inputs:
    """The input side of every origin: timestamps and (optionally) values to label tops."""

    times: list[list[str]]
    lookback: int
    values: np.ndarray | None
    columns: list[str] | None

    def entries(self, origin: int, indices: list[int], weights: list[float]) -> list[dict]:
        out = []
        for i, w in zip(indices, weights, strict=True):
            entry: dict[str, Any] = {
                "time": str(self.times[origin][i]),
                "lag": self.lookback - i,
                "weight": round(w, _DIGITS),
            }
            if self.values is not None:
                entry["values"] = self._named(self.values[origin, i])
            out.append(entry)
        return out

    def period(self, origin: int, rows: tuple[int, int], weight: float) -> dict[str, Any]:
        start, stop = rows
        times = self.times[origin]
        entry: dict[str, Any] = {
            "start": str(times[start]), "end": str(times[stop - 1]),
            "lags": [self.lookback - start, self.lookback - stop + 1],
            "weight": round(weight, _DIGITS),
        }
        if self.values is not None:
            entry["values"] = self._named(self.values[origin, start:stop].mean(axis=0))
        return entry

    def _named(self, row: np.ndarray) -> dict[str, float | None]:
        return {c: v if math.isfinite(v) else None
                for c, v in zip(self.columns or [], row.tolist(), strict=True)}

    def top(self, origin: int, row: np.ndarray, k: int) -> list[dict]:
        indices, weights = top_inputs(row, k)
        return self.entries(origin, indices.tolist(), weights.tolist())


def summarize_attention(
    attention: np.ndarray,
    input_times: list[list[str]],
    forecast_times: list[list[str]],
    *,
    top_k: int = 5,
    model: str,
    reduction: str,
    alternatives: dict[str, np.ndarray] | None = None,
    token_spans: list[tuple[int, int]] | None = None,
    values: np.ndarray | None = None,
    columns: list[str] | None = None,
    include_weights: bool = True,
    variables: np.ndarray | None = None,
    variable_names: list[str] | None = None,
) -> dict[str, Any]:
    """Summarize (O, H, L) attention maps as the `tsattn.attention/1` dict (module docstring).

    `input_times[o]` are the L input timestamps of origin o and `forecast_times[o]` its H
    forecast timestamps. `alternatives` are other (O, H, L) reductions of the same model;
    `values` (O, L, C) are the input values (in the user's units) named by `columns`;
    `variables` (O, H, V) the weight of each input variable per step, named by
    `variable_names`.
    """
    att = _checked_map(attention, "attention")
    n_origins, horizon, lookback = att.shape
    _check_times(input_times, n_origins, lookback, "input_times")
    _check_times(forecast_times, n_origins, horizon, "forecast_times")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    alts = {name: _checked_map(m, name, att.shape) for name, m in (alternatives or {}).items()}
    inputs = _Inputs(input_times, lookback, _checked_values(values, columns, att.shape), columns)
    tokens = _tokens(token_spans, input_times[0], lookback)
    steps = _steps(att, forecast_times, inputs, top_k, include_weights)
    periods = (token_periods(token_spans or [], lookback) if tokens
               else [(i, i + 1) for i in range(lookback)])
    if tokens:
        _add_top_periods(steps, att, inputs, periods, top_k)
    _add_concentration(steps, att, periods)
    if variables is not None:
        _add_variables(steps, _checked_map(variables, "variables"), variable_names or [])
    forecasts = [_forecast(o, steps[o], att, alts, inputs, top_k) for o in range(n_origins)]
    summary: dict[str, Any] = {
        "schema": SCHEMA, "model": model, "reduction": reduction,
        "reductions": [reduction, *alts], "lookback": lookback, "horizon": horizon,
        "top_k": min(top_k, lookback),
    }
    if tokens:
        summary["tokens"] = tokens
    summary["forecasts"] = forecasts
    return summary


def explain_rows(
    summary: dict[str, Any], origin: int = 0, steps: list[int] | None = None
) -> list[dict[str, Any]]:
    """A few representative steps of one origin (first, middle, last by default) for a table.

    `origin` indexes `summary["forecasts"]` (negative counts from the end: -1 is the latest);
    `steps` are 1-based step numbers. Each row is a step dict without its full weights.
    """
    forecasts = summary["forecasts"]
    if not -len(forecasts) <= origin < len(forecasts):
        raise ValueError(f"origin {origin} out of range for {len(forecasts)} forecasts")
    horizon = summary["horizon"]
    wanted = sorted({1, (horizon + 1) // 2, horizon}) if steps is None else steps
    bad = [s for s in wanted if not 1 <= s <= horizon]
    if bad:
        raise ValueError(f"steps {bad} out of range 1..{horizon}")
    rows = forecasts[origin]["steps"]
    return [{key: rows[s - 1][key] for key in _STEP_KEYS if key in rows[s - 1]} for s in wanted]


def _forecast(o: int, steps: list[dict[str, Any]], att: np.ndarray,
              alts: dict[str, np.ndarray], inputs: _Inputs, top_k: int) -> dict[str, Any]:
    forecast = {"origin": str(inputs.times[o][-1]), "steps": steps,
                "mean_top": inputs.top(o, att[o].mean(axis=0), top_k)}
    if alts:
        forecast["alternatives"] = {
            name: {"mean_top": inputs.top(o, m[o].mean(axis=0), top_k)} for name, m in alts.items()
        }
    return forecast


def _steps(att: np.ndarray, forecast_times: list[list[str]], inputs: _Inputs, top_k: int,
           include_weights: bool) -> list[list[dict[str, Any]]]:
    """The per-step dicts of every origin; the numeric work is vectorized over (O, H)."""
    entropy = attention_entropy(att)
    lookback = att.shape[-1]
    ratio = entropy / math.log(lookback) if lookback > 1 else np.zeros_like(entropy)
    indices, weights = top_inputs(att, top_k)
    indices, weights = indices.tolist(), weights.tolist()
    entropy = np.round(entropy, _DIGITS).tolist()
    ratio = np.round(ratio, _DIGITS).tolist()
    rounded = np.round(att, _DIGITS).tolist() if include_weights else None
    out = []
    for o, times in enumerate(forecast_times):
        steps = []
        for h, time in enumerate(times):
            step = {"step": h + 1, "time": str(time),
                    "top": inputs.entries(o, indices[o][h], weights[o][h]),
                    "entropy": entropy[o][h], "entropy_ratio": ratio[o][h]}
            if rounded is not None:
                step["weights"] = rounded[o][h]
            steps.append(step)
        out.append(steps)
    return out


def token_periods(spans: list[tuple[int, int]], lookback: int) -> list[tuple[int, int]]:
    """Consecutive rows [start, stop) of one token stride each, covering the window.

    These are the inputs a reader and the faithfulness check rank: single rows when every
    token is one step, else the stretches of time between two token starts."""
    stride = spans[1][0] - spans[0][0] if len(spans) > 1 else spans[0][1] - spans[0][0]
    return [(start, min(start + stride, lookback)) for start in range(0, lookback, stride)]


def concentration(att: np.ndarray, periods: list[tuple[int, int]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top period's weight as a multiple of its even share, and the heaviest 10%'s weight.

    att (..., L) -> two (...) arrays. The even share of a period is its rows / L, so a
    shorter last period is not mistaken for a light one; "the heaviest 10%" is at least one
    period, so with 12 periods it is the top one.
    """
    lookback = att.shape[-1]
    mass = np.add.reduceat(att, [start for start, _ in periods], axis=-1)  # (..., P)
    even = np.array([stop - start for start, stop in periods]) / lookback
    n_top = max(1, round(0.1 * len(periods)))
    top10 = -np.sort(-mass, axis=-1)[..., :n_top].sum(axis=-1)
    return (mass / even).max(axis=-1), top10


def _add_concentration(steps: list[list[dict[str, Any]]], att: np.ndarray,
                       periods: list[tuple[int, int]]) -> None:
    top_x, top10 = concentration(att, periods)
    top_x, top10 = np.round(top_x, 3).tolist(), np.round(top10, 3).tolist()
    for o, origin_steps in enumerate(steps):
        for h, step in enumerate(origin_steps):
            step["concentration"] = {"top_x_even": top_x[o][h], "top10_share": top10[o][h],
                                     "near_uniform": top_x[o][h] < NEAR_UNIFORM_X_EVEN}


def _add_variables(steps: list[list[dict[str, Any]]], weights: np.ndarray,
                   names: list[str]) -> None:
    if len(names) != weights.shape[-1] or len(weights) != len(steps):
        raise ValueError(f"variables of shape {weights.shape} for {len(steps)} origins and "
                         f"{len(names)} names")
    rounded = np.round(weights, _DIGITS).tolist()
    for o, origin_steps in enumerate(steps):
        for h, step in enumerate(origin_steps):
            step["variables"] = dict(zip(names, rounded[o][h], strict=True))


def map_concentration(att: np.ndarray, token_spans: list[tuple[int, int]] | None
                      ) -> dict[str, Any]:
    """The concentration dict of one (H, L) map averaged over its forecast steps."""
    lookback = att.shape[-1]
    single = token_spans is None or all(b - a == 1 for a, b in token_spans)
    periods = ([(i, i + 1) for i in range(lookback)] if single
               else token_periods(token_spans or [], lookback))
    top_x, top10 = concentration(np.asarray(att, dtype=np.float64).mean(axis=0), periods)
    return {"top_x_even": round(float(top_x), 3), "top10_share": round(float(top10), 3),
            "near_uniform": float(top_x) < NEAR_UNIFORM_X_EVEN}


def describe_concentration(c: dict[str, Any]) -> str:
    """The concentration in words, for tables and plot titles."""
    if c["near_uniform"]:
        return NEAR_UNIFORM_TEXT
    return (f"top period {c['top_x_even']:.1f}x its even share; "
            f"heaviest 10% of periods hold {c['top10_share']:.0%}")


def _add_top_periods(steps: list[list[dict[str, Any]]], att: np.ndarray, inputs: _Inputs,
                     periods: list[tuple[int, int]], top_k: int) -> None:
    """Put the `top_k` heaviest periods of each step's map into its dict."""
    mass = np.add.reduceat(att, [start for start, _ in periods], axis=-1)  # (O, H, periods)
    indices, weights = top_inputs(mass, top_k)
    for o, origin_steps in enumerate(steps):
        for h, step in enumerate(origin_steps):
            step["top_periods"] = [
                inputs.period(o, periods[i], w)
                for i, w in zip(indices[o, h].tolist(), weights[o, h].tolist(), strict=True)
            ]


def _checked_map(m: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.ndim != 3 or 0 in a.shape or (shape is not None and a.shape != shape):
        want = "(origins, horizon, lookback)" if shape is None else str(shape)
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    sums = a.sum(axis=-1)
    if not (a >= 0).all() or not (np.abs(sums - 1.0) <= _ROW_TOLERANCE).all():
        raise ValueError(f"{name} rows must be non-negative and sum to 1 (within 1e-3)")
    return a


def _check_times(times: list[list[str]], n_origins: int, length: int, name: str) -> None:
    if len(times) != n_origins or any(len(row) != length for row in times):
        raise ValueError(f"{name} must be {n_origins} lists of {length} timestamps")


def _checked_values(
    values: np.ndarray | None, columns: list[str] | None, shape: tuple[int, ...]
) -> np.ndarray | None:
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    n_origins, _, lookback = shape
    if columns is None or v.shape != (n_origins, lookback, len(columns)):
        raise ValueError(
            f"values must have shape ({n_origins}, {lookback}, len(columns)) with columns given"
        )
    return v


def _tokens(
    spans: list[tuple[int, int]] | None, times: list[str], lookback: int
) -> list[dict[str, Any]] | None:
    """Input time ranges of each token, or None when every token is a single step."""
    if spans is None:
        return None
    bad = [(a, b) for a, b in spans if not 0 <= a < b <= lookback]
    if bad:
        raise ValueError(f"token spans {bad} are not inside the lookback 0..{lookback}")
    if all(stop - start == 1 for start, stop in spans):
        return None
    return [
        {"index": n, "start": str(times[start]), "end": str(times[stop - 1]),
         "rows": [start, stop], "lags": [lookback - start, lookback - stop + 1]}
        for n, (start, stop) in enumerate(spans)
    ]
