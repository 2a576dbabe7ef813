"""`tsattn predict`, `explain` and `evaluate` after option parsing: call the API, render."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

from tsattn.api import Model, load
from tsattn.cli.attention_tables import attention_table
from tsattn.cli.render import console, interval_table, scores_table, warn
from tsattn.cli.streams import plot_target, write_output, write_png
from tsattn.data import Frame
from tsattn.errors import UsageError
from tsattn.explain import describe_concentration, explain_rows, map_concentration
from tsattn.forecasting import ForecastResult, attention_summary
from tsattn.intervals import interval_pairs
from tsattn.output import forecast_csv, forecast_json, json_text, scores_json


def load_history(model_file: Path, source: Path | TextIO, fill: str, device: str,
                 quiet: bool, future: Path | None = None) -> tuple[Model, Frame]:
    """The model, and the history restricted to the columns it was trained on (with the
    known covariates' future rows, from the history or the `future` file)."""
    model = load(model_file, device)
    return model, _read(model, source, fill, quiet, future)


def _read(model: Model, source: Path | TextIO, fill: str, quiet: bool,
          future: Path | None = None) -> Frame:
    frame = model.read(source, fill, future)
    if not quiet:
        warn(frame.warnings)
    return frame


def _no_ids(ids: list[str] | None) -> None:
    if ids:
        raise UsageError("--id chooses series of a model trained with --id-col; this model "
                         "has one series, so leave --id out")


def run_predict(model_file: Path, source: Path | TextIO, *, output: str | None, fmt: str,
                rolling: bool, attention_path: str | None, explain: bool, top_k: int,
                plot: Path | None, fill: str, device: str, quiet: bool,
                ids: list[str] | None = None, future: Path | None = None) -> None:
    _check_plotting(plot)
    model = load(model_file, device)
    if model.card.id_col is not None and not (explain or plot):
        if future is not None:
            raise UsageError("--future is for a model of one series; give each series' "
                             "future rows after its history in the long table instead")
        from tsattn.cli.panel_view import run_predict_series

        run_predict_series(model, source, ids=ids or [], output=output, fmt=fmt,
                           rolling=rolling, attention_path=attention_path, top_k=top_k,
                           fill=fill, quiet=quiet)
        return
    _no_ids(ids)
    frame = _read(model, source, fill, quiet, future)
    show_table = explain or (sys.stderr.isatty() and not quiet)
    need_attention = bool(attention_path) or show_table or fmt == "json" or plot is not None
    if rolling and fmt == "csv":
        from tsattn.cli.rolling_view import write_rolling

        result, summary = write_rolling([(None, model, frame)], output=output,
                                        attention_path=attention_path,
                                        need_attention=need_attention, top_k=top_k)
    else:
        result, summary = _write_whole(model, frame, output=output, fmt=fmt, rolling=rolling,
                                       attention_path=attention_path,
                                       need_attention=need_attention, top_k=top_k)
    if plot is not None:
        plot_last_forecast(plot, model, frame, result)
    if show_table and summary is not None:
        targets = ", ".join(result.targets)
        attention_table(explain_rows(summary, origin=len(result.origins) - 1), targets)


def _write_whole(model: Model, frame: Frame, *, output: str | None, fmt: str, rolling: bool,
                 attention_path: str | None, need_attention: bool, top_k: int
                 ) -> tuple[ForecastResult, dict | None]:
    """The forecast made and written in one piece (one origin, or JSON: one document)."""
    result = model.forecast(frame, rolling=rolling, with_attention=need_attention)
    summary = attention_summary(model.loaded, result, top_k) if need_attention else None
    time_col = model.card.time_col
    if fmt == "json":
        text = forecast_json(result, time_col, summary)
    else:
        text = forecast_csv(result, time_col, rolling)
    write_output(output, text)
    if attention_path:
        write_output(attention_path, json_text(summary))
    return result, summary


def _check_plotting(plot: Path | None) -> None:
    """Fail before any work when a picture is asked for and matplotlib is missing."""
    if plot is not None:
        from tsattn.plotting import require_matplotlib

        require_matplotlib()


def plot_last_forecast(path: Path, model: Model, frame: Frame, result: ForecastResult) -> None:
    """History, forecast and attention map of the last origin, in the data's units."""
    from tsattn.plotting import plot_forecast

    n_targets = len(result.targets)
    band, label = None, "prediction interval"
    pairs = interval_pairs(result.levels)
    if result.quantiles is not None and pairs:
        lower, upper = pairs[0]  # the widest interval the model was calibrated for
        band = (result.quantiles[-1, ..., 0], result.quantiles[-1, ..., -1])
        label = f"{(upper - lower) * 100:.0f}% interval (q{lower:g}..q{upper:g})"
    png = plot_forecast(
        plot_target(path), targets=result.targets, history_times=result.input_times[-1],
        history=frame.values[-model.loaded.lookback :, :n_targets],
        forecast_times=result.forecast_times[-1], forecast=result.values[-1],
        attention=result.attention[-1],
        title=f"{model.card.config.model.kind} forecast from {result.origins[-1]} "
              f"(attention: {model.loaded.model.reduction})",
        band=band, band_label=label,
        attention_note="averaged over the steps: " + describe_concentration(
            map_concentration(result.attention[-1], model.loaded.model.token_spans)),
        variables=None if result.variables is None or result.variables.shape[-1] < 2 else (
            list(model.card.columns), result.variables[-1]),
    )
    write_png(path, png)


def run_explain(model_file: Path, source: Path | TextIO, *, steps: list[int] | None,
                top_k: int, plot: Path | None, json_out: bool, fill: str, device: str,
                quiet: bool, future: Path | None = None) -> None:
    """The most attended inputs of the last forecast, with their values, as a table
    (and as the attention summary on stdout with --json)."""
    _check_plotting(plot)
    model, frame = load_history(model_file, source, fill, device, quiet, future)
    result = model.forecast(frame)
    summary = attention_summary(model.loaded, result, top_k, frame=frame)
    try:
        rows = explain_rows(summary, origin=0, steps=steps)
    except ValueError as exc:
        raise UsageError(f"--step must be between 1 and {model.loaded.horizon} ({exc})") from exc
    if json_out:
        write_output(None, json_text(summary))
    attention_table(rows, f"{model.loaded.model.reduction}, values of the inputs shown")
    if plot is not None:
        _plot_explain(plot, model, frame, result)


def _plot_explain(path: Path, model: Model, frame: Frame, result: ForecastResult) -> None:
    """Per layer and head token maps for the transformer; the step map for the LSTM."""
    from tsattn.plotting import plot_attention_layers, token_labels

    if result.last_token_maps is None:
        plot_last_forecast(path, model, frame, result)
        return
    labels = token_labels(model.loaded.model.token_spans, result.input_times[-1])
    png = plot_attention_layers(plot_target(path), token_maps=result.last_token_maps,
                                token_labels=labels, title=f"attention per layer and head, "
                                f"forecast from {result.origins[-1]}")
    write_png(path, png)


def run_evaluate(model_file: Path, source: Path | TextIO, *, start: str | None,
                 end: str | None, season: int | None, json_out: bool, fill: str, device: str,
                 quiet: bool, ids: list[str] | None = None) -> None:
    model = load(model_file, device)
    if model.card.id_col is not None:
        from tsattn.cli.panel_view import run_evaluate_series

        run_evaluate_series(model, source, ids=ids or [], start=start, end=end, season=season,
                            json_out=json_out, fill=fill, quiet=quiet)
        return
    _no_ids(ids)
    frame = _read(model, source, fill, quiet)
    with nullcontext() if quiet else console.status(
            "scoring the model and the baselines, each with rolling intervals"):
        result = model.score(frame, start, end, season)
    if json_out:
        write_output(None, scores_json(result))
    if not quiet:
        scores_table(result)
        interval_table(result)
        if "seasonal_naive" not in result["scores"]:
            console.print("seasonal naive skipped: frequency has no known season; use --season")
