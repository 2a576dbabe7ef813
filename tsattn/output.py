"""Forecast output formats: CSV and JSON text, and the columns a DataFrame is built from.

The CLI writes these to stdout or a file and the Python API turns the columns into a
DataFrame, so a forecast reads the same through both. Column names are unique: a rolling
forecast without a time column has `origin,row,step` (not two columns named `step`), and a
target named like a leading column gets a `_2` suffix.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from tsattn.forecasting import ForecastResult
from tsattn.intervals import level_name


def forecast_header(result: ForecastResult, time_col: str | None, rolling: bool,
                    id_col: str | None = None) -> list[str]:
    """Leading columns then targets: `time` (or `step`) for one origin; `origin, time (or
    row), step` when rolling; the series id column first for a model of many series."""
    lead = ["origin", time_col or "row", "step"] if rolling else [time_col or "step"]
    return unique_names([id_col] * (id_col is not None) + lead + output_columns(result)[0])


def output_columns(result: ForecastResult) -> tuple[list[str], np.ndarray]:
    """Column names and (O, H, K) values: each target, then its quantiles beside it.

    `OT, OT_q0.1, OT_q0.5, OT_q0.9`: the point forecast keeps the target's own name, so a
    reader of the plain forecast is unchanged.
    """
    if result.quantiles is None:
        return list(result.targets), result.values
    names, blocks = [], []
    for t, target in enumerate(result.targets):
        names += [target] + [f"{target}_{level_name(q)}" for q in result.levels]
        blocks += [result.values[..., t, None], result.quantiles[..., t, :]]
    return names, np.concatenate(blocks, axis=-1)


def unique_names(names: list[str]) -> list[str]:
    """`names` with each repeat renamed `name_2`, `name_3`, ... so every column is unique."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, k = name, 1
        while candidate in seen:
            k += 1
            candidate = f"{name}_{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def forecast_csv(result: ForecastResult, time_col: str | None, rolling: bool) -> str:
    """Wide CSV (time, targets...) for one origin; long (origin, time, step, ...) if rolling."""
    return csv_line(forecast_header(result, time_col, rolling)) + forecast_rows(result, rolling)


def csv_line(fields: list[str]) -> str:
    """One CSV line, quoted where a field needs it."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def forecast_rows(result: ForecastResult, rolling: bool, series_id: str | None = None) -> str:
    """The CSV's data lines, each led by `series_id` when given (a model of many series).

    Values are formatted one row at a time (7 significant digits, float32's precision):
    a rolling forecast over a year of hourly data is hundreds of thousands of rows.
    """
    lead = "" if series_id is None else csv_line([series_id])[:-1] + ","
    table = output_columns(result)[1]
    n_origins, horizon, n_columns = table.shape
    row_format = ",".join(["%.7g"] * n_columns)
    values = [row_format % tuple(row) for row in
              table.reshape(n_origins * horizon, n_columns).tolist()]
    lines = []
    for o, origin in enumerate(result.origins):
        for h, when in enumerate(result.forecast_times[o]):
            prefix = f"{origin},{when},{h + 1}," if rolling else f"{when},"
            lines.append(lead + prefix + values[o * horizon + h])
    return "".join(line + "\n" for line in lines)


def forecast_columns(result: ForecastResult, time_col: str | None, rolling: bool,
                     id_col: str | None = None, series_id: str = "") -> dict[str, list[Any]]:
    """The CSV's columns as lists (for a DataFrame), values as Python floats; with `id_col`,
    a first column holding `series_id`."""
    names = forecast_header(result, time_col, rolling, id_col)
    table = output_columns(result)[1]
    n_origins, horizon, n_columns = table.shape
    lead: list[list[Any]] = [[], [], []] if rolling else [[]]
    for o, origin in enumerate(result.origins):
        times = result.forecast_times[o]
        if rolling:
            lead[0] += [origin] * horizon
            lead[1] += times
            lead[2] += list(range(1, horizon + 1))
        else:
            lead[0] += times
    flat = table.reshape(n_origins * horizon, n_columns)
    ids = [] if id_col is None else [[series_id] * (n_origins * horizon)]
    columns = ids + lead + [flat[:, k].tolist() for k in range(n_columns)]
    return dict(zip(names, columns, strict=True))


def forecast_json(result: ForecastResult, time_col: str | None, summary: dict | None) -> str:
    """One document: targets, quantile levels, and per origin its forecast times and values
    by column (the same columns as the CSV: each target, then its quantiles)."""
    return json.dumps(forecast_document(result, time_col, summary)) + "\n"


def forecast_document(result: ForecastResult, time_col: str | None, summary: dict | None
                      ) -> dict[str, Any]:
    """The `forecast_json` document as a dict."""
    time_key = time_col or "step"
    names, table = output_columns(result)
    forecasts = [
        {"origin": origin, time_key: result.forecast_times[o],
         "values": {name: [float(v) for v in table[o, :, k]] for k, name in enumerate(names)}}
        for o, origin in enumerate(result.origins)
    ]
    document = {"targets": result.targets, "quantiles": list(result.levels),
                "time_col": time_key, "forecasts": forecasts}
    if summary is not None:
        document["attention"] = summary
    return document


def series_json(id_col: str, documents: dict[str, Any]) -> str:
    """Many series in one JSON document: `{"id_col": ..., "series": {id: document}}`."""
    return json.dumps({"id_col": id_col, "series": documents}) + "\n"


def attention_lines(summary: dict, with_header: bool, series_id: str | None = None) -> str:
    """A rolling forecast's attention as JSON lines, written chunk by chunk: the summary's
    header (everything but `forecasts`) when `with_header`, then one line per origin; with
    `series_id` every line names its series under `series`."""
    tag = {} if series_id is None else {"series": series_id}
    head = [{**tag, **{k: v for k, v in summary.items() if k != "forecasts"}}]
    lines = (head if with_header else []) + [{**tag, **f} for f in summary["forecasts"]]
    return "".join(json.dumps(line) + "\n" for line in lines)


def scores_json(scores: dict) -> str:
    """`evaluate --json`: numpy scalars as plain numbers."""
    return json.dumps(scores, default=_plain) + "\n"


def _plain(value: object) -> object:
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None:
        return item()
    raise TypeError(type(value).__name__)
