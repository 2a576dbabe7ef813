"""Known covariates as a model reads them: calendar features, and the shift by the horizon.

A model's window holds `lookback` rows. A known covariate enters it as its value `horizon`
rows ahead, so the window's last H rows hold its values over the forecast horizon (known
when the forecast is made) and the rows before them its recent past. The model's forward
contract, the windows and every summary stay the same as for past covariates; the price is
that the lookback must exceed the horizon (`config.validate_model`). Calendar features are
known covariates computed from the timestamps, so they need no future rows at all.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TextIO

import numpy as np

from tsattn.card import ModelCard
from tsattn.config import DataConfig, calendar_columns
from tsattn.data import Frame, Future, Panel, Scaler, future_times, read_frame, read_panel
from tsattn.errors import DataError, UsageError

_DAY_NS = 86_400 * 10**9
_YEAR_DAYS = 365.2425


def calendar_features(frame: Frame) -> tuple[str, ...]:
    """The phases a series' spacing can resolve: time of day and day of week below a day,
    day of week and of year for daily data, day of year for weekly or monthly data."""
    if frame.times is None or len(frame.times) < 2:
        raise UsageError("--calendar needs a time column with at least two rows; "
                         "drop --calendar or add timestamps")
    step = int(np.median(np.diff(frame.times).astype(np.int64)))
    if step < _DAY_NS:
        return ("day", "week")
    if step < 7 * _DAY_NS:
        return ("week", "year")
    if step < 300 * _DAY_NS:
        return ("year",)
    raise UsageError("--calendar: yearly or coarser data has no calendar phase to read; "
                     "drop --calendar")


def calendar_values(times: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """(N, 2F) sine and cosine of each phase (in [0, 1) of a day, week or year)."""
    ns = times.astype("datetime64[ns]").astype(np.int64)
    days = ns / _DAY_NS
    years = times.astype("datetime64[Y]")
    phases = {
        "day": days % 1.0,
        "week": ((days + 3.0) % 7.0) / 7.0,  # 1970-01-01 was a Thursday: Monday is 0
        "year": (times - years).astype("timedelta64[ns]").astype(np.int64)
        / (_YEAR_DAYS * _DAY_NS),
    }
    angle = [2 * np.pi * phases[name] for name in features]
    return np.column_stack([f(a) for a in angle for f in (np.sin, np.cos)]).astype(np.float32)


def with_calendar(frame: Frame, features: tuple[str, ...], horizon: int = 0) -> Frame:
    """`frame` with calendar channels appended as known covariates (last, after the file's
    known columns), with their values in the future rows. Without future rows and without
    known file columns, `horizon` continues the times at the frequency; with known file
    columns but no future rows there is no future (`require_future` says what is missing)."""
    if not features:
        return frame
    if frame.times is None:
        raise DataError("the model reads calendar features but the data has no time column; "
                        "give history with the time column it was trained on")
    values = np.hstack([frame.values, calendar_values(frame.times, features)])
    future = frame.future
    if future is not None and future.times is not None:
        future = Future(np.hstack([future.values, calendar_values(future.times, features)]),
                        future.times)
    elif horizon and not frame.n_known:  # calendar alone: continue the times
        times = future_times(frame, horizon)
        future = Future(calendar_values(times, features), times)
    return dataclasses.replace(
        frame, values=np.ascontiguousarray(values), columns=frame.columns
        + calendar_columns(features), n_known=frame.n_known + 2 * len(features), future=future,
        calendar=features)


def model_input(frame: Frame, scaler: Scaler, horizon: int) -> np.ndarray:
    """(N, C) z-scored series as the model reads it: known covariates `horizon` rows ahead.

    Rows whose value ahead lies beyond the data repeat the last one; only windows that
    forecast past the history read them, and `require_future` refuses those first.
    """
    scaled = scaler.transform(frame.values)
    k = frame.n_known
    if not k:
        return scaled
    known = frame.values[:, -k:]
    if frame.future is not None:
        known = np.vstack([known, frame.future.values])
    ahead = known[horizon : horizon + len(frame.values)]
    if len(ahead) < len(frame.values):
        pad = np.repeat(known[-1:], len(frame.values) - len(ahead), axis=0)
        ahead = np.vstack([ahead, pad])
    scaled[:, -k:] = scaler.transform(np.hstack([frame.values[:, :-k], ahead]))[:, -k:]
    return scaled


def require_future(frame: Frame, horizon: int) -> None:
    """A forecast past the history needs every known covariate over the whole horizon (the
    message names the file's columns: calendar features continue by themselves)."""
    if not frame.n_known:
        return
    have = 0 if frame.future is None else len(frame.future.values)
    if have >= horizon:
        return
    raise DataError(
        f"the model reads known covariates ({', '.join(frame.known_columns)}) over its "
        f"{horizon}-step "
        f"horizon, but the input has {have} future row(s); add {horizon - have} more row(s) "
        "after the history with those columns filled and the targets empty (or give them "
        "with --future FILE)")


def read_training(source: Path | TextIO, cfg: DataConfig) -> Frame | Panel:
    """The training data with the columns `cfg` names, calendar features appended: one
    Frame, or with `--id-col` a Panel of one Frame per series."""
    columns = {"time_col": cfg.time_col, "targets": cfg.targets, "fill": cfg.fill,
               "known": cfg.known}
    if cfg.id_col is None:
        frame = read_frame(source, **columns)
        return with_calendar(frame, calendar_features(frame)) if cfg.calendar else frame
    panel = read_panel(source, id_col=cfg.id_col, **columns)
    features = calendar_features(panel.frames[0]) if cfg.calendar else ()
    return _panel_with_calendar(panel, features, 0)


def read_history(source: Path | TextIO, card: ModelCard, fill: str = "none",
                 future: Path | TextIO | None = None) -> Frame:
    """History for a trained model: its columns (the training header names a headerless
    `tail -n 400` of the file), the rows after it as known values over the horizon, and
    the calendar features it reads, continued over the horizon."""
    frame = read_frame(source, future=future, **_model_columns(card, fill))
    return with_calendar(frame, card.calendar, card.horizon)


def read_history_panel(source: Path | TextIO, card: ModelCard, fill: str = "none") -> Panel:
    """`read_history` for a model of many series: each series of the long table, its own
    rows after its last target value as its future."""
    panel = read_panel(source, id_col=str(card.id_col), **_model_columns(card, fill))
    return _panel_with_calendar(panel, card.calendar, card.horizon)


def _model_columns(card: ModelCard, fill: str) -> dict:
    return {"time_col": card.time_col, "targets": card.targets, "covariates": card.covariates,
            "fill": fill, "names": card.header or None, "known": card.known}


def _panel_with_calendar(panel: Panel, features: tuple[str, ...], horizon: int) -> Panel:
    return dataclasses.replace(panel, frames=tuple(
        with_calendar(frame, features, horizon) for frame in panel.frames))
