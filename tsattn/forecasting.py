"""Forecast from recent history, in original units.

Inputs are the last `lookback` rows (or every origin with `rolling`); outputs carry the
timestamps that continue the history's frequency, and the attention maps of each origin
for the explainer. The model runs through the one inference path (`inference.run_model`).
A rolling forecast over a long history comes in chunks of origins (`predict_chunks`), so
its memory is bounded by the chunk, not by the history (README "Memory").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tsattn.data import Frame, format_times, future_labels, time_labels
from tsattn.errors import DataError
from tsattn.explain import summarize_attention
from tsattn.inference import (
    LoadedModel,
    model_windows,
    require_finite,
    run_model,
    scaled_series,
)
from tsattn.known import require_future
from tsattn.recent_scores import RecentScores
from tsattn.windows import Windows

# the most origins in a chunk without and with attention (whose summary is a few dicts per
# step), and the most attention weights (origins x horizon x lookback) one chunk may hold
CHUNK_ORIGINS = 4096
CHUNK_CELLS = 8_000_000  # origins x horizon x targets: with quantiles, a few 100 MB a chunk
CHUNK_ORIGINS_ATTENTION = 512
CHUNK_ATTENTION_FLOATS = 8_000_000


@dataclass
class ForecastResult:
    """Forecasts of O origins: values (O, H, T) in original units plus attention maps."""

    targets: list[str]
    origins: list[str]
    input_times: list[list[str]]
    forecast_times: list[list[str]]
    values: np.ndarray
    attention: np.ndarray | None
    alternatives: dict[str, np.ndarray]
    last_token_maps: np.ndarray | None = None  # (layers, heads, N, N) of the last origin
    variables: np.ndarray | None = None  # (O, H, C) weight of each input variable, rows sum to 1
    levels: tuple[float, ...] = ()
    quantiles: np.ndarray | None = None  # (O, H, T, Q) in original units, sorted along Q


def predict(loaded: LoadedModel, frame: Frame, rolling: bool = False,
            batch_size: int = 512, with_attention: bool = True) -> ForecastResult:
    """Forecast from the last window, or from every window with `rolling`, all in one
    result (a long rolling forecast is better read with `predict_chunks`)."""
    return next(predict_chunks(loaded, frame, rolling, batch_size, with_attention, chunk=0))


def chunk_origins(loaded: LoadedModel, with_attention: bool) -> int:
    """Origins per chunk: a forecast is horizon x targets values per origin (a few copies,
    with its quantiles), attention maps horizon x lookback floats."""
    cells = loaded.horizon * loaded.card.config.model.n_targets
    most = min(CHUNK_ORIGINS, max(1, CHUNK_CELLS // cells))
    if not with_attention:
        return most
    per_origin = loaded.horizon * loaded.lookback
    return max(1, min(most, CHUNK_ORIGINS_ATTENTION, CHUNK_ATTENTION_FLOATS // per_origin))


def predict_chunks(loaded: LoadedModel, frame: Frame, rolling: bool = False,
                   batch_size: int = 512, with_attention: bool = True,
                   chunk: int | None = None) -> Iterator[ForecastResult]:
    """The forecasts of `predict` as results of at most `chunk` origins each, in time order
    (None: `chunk_origins`; 0: every origin in one result)."""
    lookback, horizon = loaded.lookback, loaded.horizon
    n_rows = len(frame.values)
    if n_rows < lookback:
        raise DataError(
            f"the history has {n_rows} rows but this model reads the last {lookback}; "
            f"pass at least {lookback} rows (e.g. tail -n {lookback + 1} with the header)"
        )
    labels = time_labels(frame)
    all_labels = labels + _future_labels(loaded, frame)
    # horizon 0: input windows only, their targets lie beyond the history
    end = _last_origin(frame, horizon, rolling)
    inputs = model_windows(loaded, scaled_series(loaded, frame),
                           lookback if rolling else end, end, horizon=0)
    step = chunk_origins(loaded, with_attention) if chunk is None else chunk or len(inputs)
    recent = (None if loaded.calibration is None else
              RecentScores.over(loaded, loaded.calibration, inputs.series, frame.times))
    for begin in range(0, len(inputs), step):
        part = Windows(inputs.series, inputs.starts[begin : begin + step], lookback, 0,
                       inputs.n_targets)
        yield _forecast(loaded, frame, part, labels, all_labels, batch_size, with_attention,
                        recent)


def _forecast(loaded: LoadedModel, frame: Frame, inputs: Windows, labels: list[str],
              all_labels: list[str], batch_size: int, with_attention: bool,
              recent: RecentScores | None) -> ForecastResult:
    """The forecasts from the windows `inputs`, in the data's units and times; `recent`
    rolls their intervals (None: the model has none)."""
    lookback, horizon = loaded.lookback, loaded.horizon
    out = run_model(loaded, inputs, batch_size, with_attention, with_scale=recent is not None)
    n_targets = frame.n_targets
    # finite in z-scored units can still overflow float32 once scaled back
    values = require_finite(loaded.scaler.inverse(out.prediction, slice(0, n_targets)),
                            "forecasts")
    quantiles = None
    if recent is not None:
        offsets = recent.offsets(inputs.starts.cpu().numpy() + lookback, out)
        z = recent.calibration.quantiles(out.prediction, out.scale,
                                         offsets.per_forecast())  # (O, H, T, Q)
        quantiles = require_finite(np.moveaxis(
            loaded.scaler.inverse(np.moveaxis(z, -1, 0), slice(0, n_targets)), 0, -1),
            "forecast quantiles")
    ends = (inputs.starts.cpu() + lookback).tolist()
    return ForecastResult(
        targets=list(frame.columns[:n_targets]),
        origins=[labels[e - 1] for e in ends],
        input_times=[labels[e - lookback : e] for e in ends] if with_attention else [],
        forecast_times=[all_labels[e : e + horizon] for e in ends],
        values=values, attention=out.attention, alternatives=out.alternatives,
        last_token_maps=out.last_token_maps, variables=out.variables,
        levels=loaded.calibration.levels if loaded.calibration is not None else (),
        quantiles=quantiles,
    )


def _future_labels(loaded: LoadedModel, frame: Frame) -> list[str]:
    """Labels of the steps after the history: the future rows' own times where the input
    has them (known covariates), else the history's times continued at its frequency."""
    horizon = loaded.horizon
    if frame.future is not None and frame.future.times is not None:
        given = format_times(frame.future.times, frame.time_format)
        if len(given) >= horizon:
            return given
    last_time = str(frame.times[-1]) if frame.times is not None else None  # ISO 8601
    return future_labels(last_time, frame.freq or loaded.card.freq, len(frame.values),
                         horizon, frame.time_format)


def _last_origin(frame: Frame, horizon: int, rolling: bool) -> int:
    """The row after the last origin: the history's end, or with known covariates and a
    rolling forecast, the last origin whose horizon the known values cover."""
    n_rows = len(frame.values)
    if not frame.n_known:
        return n_rows
    have = 0 if frame.future is None else len(frame.future.values)
    if not rolling or have >= horizon:
        require_future(frame, horizon)
        return n_rows
    return n_rows - (horizon - have)


def attention_summary(loaded: LoadedModel, result: ForecastResult, top_k: int,
                      frame: Frame | None = None, weights: bool | None = None) -> dict:
    """The attention summary of `result` (the `tsattn.attention/1` document).

    Full weight rows by default only for a single origin (they are L x H each; `weights`
    decides otherwise). With `frame`, the last origin's input values are named beside
    each attended time (for `explain`).
    """
    values = columns = None
    if frame is not None:
        n_read = loaded.model.n_read  # a channel-independent model does not read covariates
        values = frame.values[None, -loaded.lookback:, :n_read]
        columns = list(frame.columns[:n_read])
    return summarize_attention(
        result.attention, result.input_times, result.forecast_times, top_k=top_k,
        model=loaded.run.model.kind, reduction=loaded.model.reduction,
        alternatives=result.alternatives or None, token_spans=loaded.model.token_spans,
        values=values, columns=columns,
        include_weights=(len(result.origins) == 1 and frame is None) if weights is None
        else weights,
        variables=result.variables, variable_names=list(loaded.card.columns),
    )
