"""`predict --rolling` as a stream: each chunk of origins is written as soon as it is made.

The CSV (header once, then every origin's rows) and the attention JSON lines go to their
outputs chunk by chunk, so memory stays bounded by one chunk however long the history is
(README "Memory"). A file output appears whole at the end, or not at all on an error.
"""

from __future__ import annotations

import contextlib
from typing import TextIO

from tsattn.api import Model
from tsattn.cli.streams import open_output
from tsattn.data import Frame
from tsattn.forecasting import ForecastResult, attention_summary
from tsattn.output import attention_lines, csv_line, forecast_header, forecast_rows


def write_rolling(series: list[tuple[str | None, Model, Frame]], *, output: str | None,
                  attention_path: str | None, need_attention: bool, top_k: int,
                  id_col: str | None = None) -> tuple[ForecastResult, dict | None]:
    """Stream the rolling forecast of each (series id, model, history); return the last
    chunk and its attention summary (the table and the plot show the last origin)."""
    last: tuple[ForecastResult, dict | None] | None = None
    with open_output(output) as out, _optional(attention_path) as att:
        for series_id, model, frame in series:
            first = True
            for result in model.forecast_chunks(frame, with_attention=need_attention):
                summary = (attention_summary(model.loaded, result, top_k, weights=False)
                           if need_attention else None)
                if last is None:
                    header = forecast_header(result, model.card.time_col, True, id_col)
                    out.write(csv_line(header))
                out.write(forecast_rows(result, True, series_id))
                if att is not None and summary is not None:
                    att.write(attention_lines(summary, first, series_id))
                first, last = False, (result, summary)
    assert last is not None  # every history has at least one origin (predict checks)
    return last


def _optional(dest: str | None) -> contextlib.AbstractContextManager[TextIO | None]:
    return contextlib.nullcontext() if dest is None else open_output(dest)
