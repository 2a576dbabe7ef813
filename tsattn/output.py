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

from tsattn.forecasting import ForecastResult


def forecast_header(result: ForecastResult, time_col: str | None, rolling: bool) -> list[str]:
    """Leading columns then targets: `time` (or `step`) for one origin; `origin, time (or
    row), step` when rolling."""
    lead = ["origin", time_col or "row", "step"] if rolling else [time_col or "step"]
    return unique_names(lead + result.targets)


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
    """Wide CSV (time, targets...) for one origin; long (origin, time, step, ...) if rolling.

    Values are formatted one row at a time (7 significant digits, float32's precision):
    a rolling forecast over a year of hourly data is hundreds of thousands of rows.
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(forecast_header(result, time_col, rolling))
    n_origins, horizon, n_targets = result.values.shape
    row_format = ",".join(["%.7g"] * n_targets)
    values = [row_format % tuple(row) for row in
              result.values.reshape(n_origins * horizon, n_targets).tolist()]
    lines = []
    for o, origin in enumerate(result.origins):
        for h, when in enumerate(result.forecast_times[o]):
            prefix = f"{origin},{when},{h + 1}," if rolling else f"{when},"
            lines.append(prefix + values[o * horizon + h])
    return header.getvalue() + "\n".join(lines) + "\n"


def forecast_columns(result: ForecastResult, time_col: str | None, rolling: bool
                     ) -> dict[str, list[Any]]:
    """The CSV's columns as lists (for a DataFrame), values as Python floats."""
    names = forecast_header(result, time_col, rolling)
    n_origins, horizon, n_targets = result.values.shape
    lead: list[list[Any]] = [[], [], []] if rolling else [[]]
    for o, origin in enumerate(result.origins):
        times = result.forecast_times[o]
        if rolling:
            lead[0] += [origin] * horizon
            lead[1] += times
            lead[2] += list(range(1, horizon + 1))
        else:
            lead[0] += times
    flat = result.values.reshape(n_origins * horizon, n_targets)
    columns = lead + [flat[:, t].tolist() for t in range(n_targets)]
    return dict(zip(names, columns, strict=True))


def forecast_json(result: ForecastResult, time_col: str | None, summary: dict | None) -> str:
    """One document: targets, and per origin its forecast times and values by target."""
    time_key = time_col or "step"
    forecasts = [
        {"origin": origin, time_key: result.forecast_times[o],
         "values": {name: [float(v) for v in result.values[o, :, t]]
                    for t, name in enumerate(result.targets)}}
        for o, origin in enumerate(result.origins)
    ]
    document = {"targets": result.targets, "time_col": time_key, "forecasts": forecasts}
    if summary is not None:
        document["attention"] = summary
    return json.dumps(document) + "\n"


def scores_json(scores: dict) -> str:
    """`evaluate --json`: numpy scalars as plain numbers."""
    return json.dumps(scores, default=_plain) + "\n"


def _plain(value: object) -> object:
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None:
        return item()
    raise TypeError(type(value).__name__)
