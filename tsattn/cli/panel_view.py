"""`tsattn predict` and `tsattn evaluate` for a model of many series (trained with --id-col).

Each series is forecast or scored with its own scaler; output is long format with the id
column first, and evaluation reports every series and the windows of all of them together.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TextIO

from tsattn.cli.render import console, scores_table, warn
from tsattn.cli.streams import write_output
from tsattn.data import Frame, read_panel, resolve_row
from tsattn.errors import TsattnError, UsageError
from tsattn.forecasting import LoadedModel, for_series, predict, series_parts
from tsattn.series import select_series


def load_series(loaded: LoadedModel, source: Path | TextIO, fill: str, ids: list[str],
                quiet: bool) -> list[tuple[Frame, LoadedModel]]:
    """Each wanted series of the history with the model as that series sees it."""
    meta = loaded.meta
    panel = read_panel(source, id_col=loaded.run.data.id_col or "", time_col=meta["time_col"],
                       targets=meta["targets"], covariates=meta["covariates"], fill=fill)
    chosen, notes = select_series(panel, series_parts(loaded), ids)
    if not quiet:
        warn(notes + [f"series {part.id!r}: {w}" for frame, part in chosen
                      for w in frame.warnings])
    return [(frame, for_series(loaded, part)) for frame, part in chosen]


def run_predict_panel(loaded: LoadedModel, source: Path | TextIO, *, ids: list[str],
                      output: str | None, fmt: str, rolling: bool,
                      attention_path: str | None, top_k: int, fill: str, quiet: bool) -> None:
    from tsattn.cli.predict_view import attention_summary, forecast_csv, forecast_json

    need_attention = bool(attention_path) or fmt == "json"
    id_col = loaded.run.data.id_col or "id"
    time_header = loaded.meta["time_col"] or "step"
    texts, documents, summaries = [], [], {}
    for frame, model in load_series(loaded, source, fill, ids, quiet):
        sid = _series_id(model)
        result = predict(model, frame, rolling=rolling, with_attention=need_attention)
        summary = attention_summary(model, result, top_k) if need_attention else None
        if summary is not None:
            summaries[sid] = summary
        if fmt == "json":
            documents.append({id_col: sid, **json.loads(forecast_json(result, time_header,
                                                                         summary))})
        else:
            texts.append(_with_id(sid, forecast_csv(result, time_header, rolling)))
    if fmt == "json":
        text = json.dumps({"id_col": id_col, "series": documents}) + "\n"
    else:
        header = forecast_csv_header(id_col, time_header, rolling, loaded.meta["targets"])
        text = header + "".join(texts)
    write_output(output, text)
    if attention_path:
        write_output(attention_path, json.dumps({"id_col": id_col, "series": summaries}) + "\n")


def forecast_csv_header(id_col: str, time_header: str, rolling: bool,
                        targets: list[str]) -> str:
    lead = [id_col, "origin", time_header, "step"] if rolling else [id_col, time_header]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(lead + targets)
    return out.getvalue()


def _with_id(sid: str, text: str) -> str:
    """The rows of one series' forecast CSV (its header dropped), each led by its id."""
    cell = io.StringIO()
    csv.writer(cell, lineterminator="").writerow([sid])
    prefix = cell.getvalue() + ","
    return "".join(prefix + line + "\n" for line in text.splitlines()[1:])


def _series_id(model: LoadedModel) -> str:
    return str(model.meta["series_id"])


def run_evaluate_panel(loaded: LoadedModel, source: Path | TextIO, *, ids: list[str],
                       start: str | None, end: str | None, season: int | None,
                       json_out: bool, fill: str, quiet: bool) -> None:
    """Every series scored on its own rows, and all windows of all series together."""
    from tsattn.evaluation import evaluate

    per_series, skipped = {}, []
    for frame, model in load_series(loaded, source, fill, ids, quiet):
        first = resolve_row(frame, start, "--from") if start else model.meta["split"]["val_end"]
        stop = resolve_row(frame, end, "--to") if end else len(frame.values)
        try:
            per_series[_series_id(model)] = evaluate(model, frame, first, stop, season)
        except TsattnError as exc:
            skipped.append(f"series {_series_id(model)!r} not scored: {exc}")
    if not quiet:
        warn(skipped)
    result = combine(per_series)
    if json_out:
        write_output(None, json.dumps(result) + "\n")
    if not quiet:
        scores_table(result)
        console.print(f"{len(per_series)} series; per-series scores with --json")


def combine(per_series: dict[str, dict]) -> dict:
    """Scores over every window of every series: window-weighted means of each series'
    z-scored errors (each series in the units of its own scaler)."""
    if not per_series:
        raise UsageError("no series has a window to score; choose rows with --from/--to")
    total = sum(r["windows"] for r in per_series.values())
    names = [n for n in next(iter(per_series.values()))["scores"]
             if all(n in r["scores"] for r in per_series.values())]
    scores = {name: {metric: sum(r["scores"][name][metric] * r["windows"]
                                 for r in per_series.values()) / total
                     for metric in ("mse", "mae")} for name in names}
    return {"windows": total, "rows": None, "series_count": len(per_series),
            "scores": scores, "series": per_series}
