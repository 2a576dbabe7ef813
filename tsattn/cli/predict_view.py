"""`tsattn predict` and `tsattn evaluate` after option parsing: load, run, render."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from tsattn.cli.attention_tables import attention_table
from tsattn.cli.render import console, scores_table, warn
from tsattn.cli.streams import write_output
from tsattn.data import Frame, read_frame, resolve_row
from tsattn.errors import UsageError
from tsattn.explain import (
    describe_concentration,
    explain_rows,
    map_concentration,
    summarize_attention,
)
from tsattn.forecasting import (
    ForecastResult,
    LoadedModel,
    history_columns,
    load_forecaster,
    predict,
)


def load_history(model_file: Path, source: Path | TextIO, fill: str, device: str,
                 quiet: bool) -> tuple[LoadedModel, Frame]:
    """The model, and the history restricted to the columns it was trained on."""
    return _one_series(load_forecaster(model_file, device), source, fill, quiet)


def _one_series(loaded: LoadedModel, source: Path | TextIO, fill: str,
                quiet: bool) -> tuple[LoadedModel, Frame]:
    if loaded.run.data.id_col:
        raise UsageError(f"this model forecasts many series (--id-col "
                         f"{loaded.run.data.id_col!r}); use predict or evaluate, with --id "
                         "to choose series")
    frame = read_frame(source, fill=fill, **history_columns(loaded))
    if not quiet:
        warn(frame.warnings)
    return loaded, frame


def run_predict(model_file: Path, source: Path | TextIO, *, output: str | None, fmt: str,
                rolling: bool, attention_path: str | None, explain: bool, top_k: int,
                plot: Path | None, fill: str, device: str, quiet: bool,
                ids: list[str] | None = None) -> None:
    _check_plotting(plot)
    loaded = load_forecaster(model_file, device)
    if loaded.run.data.id_col and not (explain or plot):
        from tsattn.cli.panel_view import run_predict_panel

        run_predict_panel(loaded, source, ids=ids or [], output=output, fmt=fmt,
                          rolling=rolling, attention_path=attention_path, top_k=top_k,
                          fill=fill, quiet=quiet)
        return
    _no_ids(ids)
    loaded, frame = _one_series(loaded, source, fill, quiet)
    show_table = explain or (sys.stderr.isatty() and not quiet)
    need_attention = bool(attention_path) or show_table or fmt == "json" or plot is not None
    result = predict(loaded, frame, rolling=rolling, with_attention=need_attention)
    summary = attention_summary(loaded, result, top_k) if need_attention else None
    time_header = loaded.meta["time_col"] or "step"
    if fmt == "json":
        text = forecast_json(result, time_header, summary)
    else:
        text = forecast_csv(result, time_header, rolling)
    write_output(output, text)
    if attention_path:
        write_output(attention_path, json.dumps(summary) + "\n")
    if plot is not None:
        plot_last_forecast(plot, loaded, frame, result)
    if show_table and summary is not None:
        targets = ", ".join(result.targets)
        attention_table(explain_rows(summary, origin=len(result.origins) - 1), targets)


def _check_plotting(plot: Path | None) -> None:
    """Fail before any work when a picture is asked for and matplotlib is missing."""
    if plot is not None:
        from tsattn.plotting import require_matplotlib

        require_matplotlib()


def plot_last_forecast(path: Path, loaded: LoadedModel, frame: Frame,
                       result: ForecastResult) -> None:
    """History, forecast and attention map of the last origin, in the data's units."""
    from tsattn.plotting import plot_forecast

    n_targets = len(result.targets)
    plot_forecast(
        path, targets=result.targets, history_times=result.input_times[-1],
        history=frame.values[-loaded.lookback :, :n_targets],
        forecast_times=result.forecast_times[-1], forecast=result.values[-1],
        attention=result.attention[-1],
        title=f"{loaded.run.model.kind} forecast from {result.origins[-1]} "
              f"(attention: {loaded.model.reduction})",
        attention_note="averaged over the steps: " + describe_concentration(
            map_concentration(result.attention[-1], loaded.model.token_spans)),
    )


def run_explain(model_file: Path, source: Path | TextIO, *, steps: list[int] | None,
                top_k: int, plot: Path | None, json_out: bool, fill: str, device: str,
                quiet: bool) -> None:
    """The most attended inputs of the last forecast, with their values, as a table
    (and as the attention summary on stdout with --json)."""
    _check_plotting(plot)
    loaded, frame = load_history(model_file, source, fill, device, quiet)
    result = predict(loaded, frame)
    lookback = loaded.lookback
    n_read = loaded.model.n_read
    summary = summarize_attention(
        result.attention, result.input_times, result.forecast_times, top_k=top_k,
        model=loaded.run.model.kind, reduction=loaded.model.reduction,
        alternatives=result.alternatives or None, token_spans=loaded.model.token_spans,
        values=frame.values[None, -lookback:, :n_read], columns=list(frame.columns[:n_read]),
        include_weights=False, variables=result.variables, variable_names=list(frame.columns),
    )
    try:
        rows = explain_rows(summary, origin=0, steps=steps)
    except ValueError as exc:
        raise UsageError(f"--step must be between 1 and {loaded.horizon} ({exc})") from exc
    if json_out:
        write_output(None, json.dumps(summary) + "\n")
    attention_table(rows, f"{loaded.model.reduction}, values of the inputs shown")
    if plot is not None:
        _plot_explain(plot, loaded, frame, result)


def _plot_explain(path: Path, loaded: LoadedModel, frame: Frame, result: ForecastResult) -> None:
    """Per layer and head token maps for the transformer; the step map for the LSTM."""
    from tsattn.plotting import plot_attention_layers, token_labels

    if result.last_token_maps is None:
        plot_last_forecast(path, loaded, frame, result)
        return
    labels = token_labels(loaded.model.token_spans, result.input_times[-1])
    plot_attention_layers(path, token_maps=result.last_token_maps, token_labels=labels,
                          title=f"attention per layer and head, forecast from "
                                f"{result.origins[-1]}")


def attention_summary(loaded: LoadedModel, result: ForecastResult, top_k: int) -> dict:
    """The attention summary; full weight rows only for a single origin (they are L×H each)."""
    return summarize_attention(
        result.attention, result.input_times, result.forecast_times, top_k=top_k,
        model=loaded.run.model.kind, reduction=loaded.model.reduction,
        alternatives=result.alternatives or None, token_spans=loaded.model.token_spans,
        include_weights=len(result.origins) == 1, variables=result.variables,
        variable_names=[*loaded.meta["targets"], *loaded.meta["covariates"]],
    )


def forecast_csv(result: ForecastResult, time_header: str, rolling: bool) -> str:
    """Wide CSV (time, targets...) for one origin; long (origin, time, step, ...) if rolling.

    Values are formatted one row at a time (7 significant digits, float32's precision):
    a rolling forecast over a year of hourly data is hundreds of thousands of rows.
    """
    header = io.StringIO()
    lead = ["origin", time_header, "step"] if rolling else [time_header]
    csv.writer(header, lineterminator="\n").writerow(lead + result.targets)
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


def forecast_json(result: ForecastResult, time_header: str, summary: dict | None) -> str:
    forecasts = [
        {"origin": origin, time_header: result.forecast_times[o],
         "values": {name: [float(v) for v in result.values[o, :, t]]
                    for t, name in enumerate(result.targets)}}
        for o, origin in enumerate(result.origins)
    ]
    document = {"targets": result.targets, "time_col": time_header, "forecasts": forecasts}
    if summary is not None:
        document["attention"] = summary
    return json.dumps(document) + "\n"


def run_evaluate(model_file: Path, source: Path | TextIO, *, start: str | None,
                 end: str | None, season: int | None, json_out: bool, fill: str, device: str,
                 quiet: bool, ids: list[str] | None = None) -> None:
    from tsattn.evaluation import evaluate

    loaded = load_forecaster(model_file, device)
    if loaded.run.data.id_col:
        from tsattn.cli.panel_view import run_evaluate_panel

        run_evaluate_panel(loaded, source, ids=ids or [], start=start, end=end, season=season,
                           json_out=json_out, fill=fill, quiet=quiet)
        return
    _no_ids(ids)
    loaded, frame = _one_series(loaded, source, fill, quiet)
    first = resolve_row(frame, start, "--from") if start else loaded.meta["split"]["val_end"]
    stop = resolve_row(frame, end, "--to") if end else len(frame.values)
    if not start and first + loaded.horizon > len(frame.values):
        raise UsageError(f"evaluation starts by default where the model's validation part "
                         f"ended, at row {first}, but the data has {len(frame.values)} rows; "
                         "choose the first evaluated row with --from (a row or a timestamp)")
    result = evaluate(loaded, frame, first, stop, season)
    if json_out:
        write_output(None, json.dumps(result, default=_plain) + "\n")
    if not quiet:
        scores_table(result)
        if "seasonal_naive" not in result["scores"]:
            console.print("seasonal naive skipped: frequency has no known season; use --season")


def _no_ids(ids: list[str] | None) -> None:
    if ids:
        raise UsageError("--id chooses series of a model trained with --id-col; this model "
                         "has one series, so leave --id out")


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)
