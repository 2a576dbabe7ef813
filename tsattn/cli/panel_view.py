"""`tsattn predict` and `tsattn evaluate` for a model of many series (trained with --id-col).

Each series is forecast or scored with its own scaler; output is long format with the id
column first, and evaluation reports every series and the windows of all of them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from tsattn.api import Model
from tsattn.cli.render import console, interval_table, scores_table, warn
from tsattn.cli.streams import write_output
from tsattn.forecasting import attention_summary
from tsattn.output import (
    csv_line,
    forecast_document,
    forecast_header,
    forecast_rows,
    scores_json,
    series_json,
)


def run_predict_series(model: Model, source: Path | TextIO, *, ids: list[str],
                       output: str | None, fmt: str, rolling: bool,
                       attention_path: str | None, top_k: int, fill: str, quiet: bool) -> None:
    """Every wanted series forecast in turn; one CSV (id column first) or JSON document."""
    series, notes = model.read_series(source, fill, ids)
    if not quiet:
        warn(notes)
    need_attention = bool(attention_path) or fmt == "json"
    id_col, time_col = model.card.id_col or "", model.card.time_col
    if rolling and fmt == "csv":
        from tsattn.cli.rolling_view import write_rolling

        write_rolling([(one.id, one.model, one.frame) for one in series], output=output,
                      attention_path=attention_path, need_attention=need_attention,
                      top_k=top_k, id_col=id_col)
        return
    texts, documents, summaries = [], {}, {}
    for one in series:
        result = one.model.forecast(one.frame, rolling=rolling, with_attention=need_attention)
        summary = attention_summary(one.model.loaded, result, top_k) if need_attention else None
        if summary is not None:
            summaries[one.id] = summary
        if fmt == "json":
            documents[one.id] = forecast_document(result, time_col, summary)
        else:
            if not texts:
                texts.append(csv_line(forecast_header(result, time_col, rolling, id_col)))
            texts.append(forecast_rows(result, rolling, one.id))
    write_output(output, series_json(id_col, documents) if fmt == "json" else "".join(texts))
    if attention_path:
        write_output(attention_path, series_json(id_col, summaries))


def run_evaluate_series(model: Model, source: Path | TextIO, *, ids: list[str],
                        start: str | None, end: str | None, season: int | None,
                        json_out: bool, fill: str, quiet: bool) -> None:
    """Every series scored on its own rows, and all windows of all series together."""
    series, notes = model.read_series(source, fill, ids)
    result, skipped = model.score_series(series, start, end, season)
    if not quiet:
        warn(notes + skipped)
    if json_out:
        write_output(None, scores_json(result))
    if not quiet:
        scores_table(result)
        interval_table(result)
        console.print(f"{result['series_count']} series; per-series scores with --json")
