"""Many series, one model: per-series splits and scalers, and windows that never cross series.

A long table (`date,store,sales`) is read into a `Panel` of Frames, one per series. Each
series is split by time on its own (the same options, applied to its rows) and scaled by the
statistics of its own training part (`fitting.prepare_panel` then joins the scaled series
into one device tensor, each window a start row inside one series). What the model keeps
of each series is a `card.SeriesEntry`. No torch here: train checks the series before
torch is imported.
"""

from __future__ import annotations

import numpy as np

from tsattn.card import ScalerStats, SeriesEntry, Split
from tsattn.config import RunConfig
from tsattn.data import Frame, Panel, Scaler, fit_scaler, split_rows, time_labels
from tsattn.errors import DataError, TsattnError


def stats_of(scaler: Scaler) -> ScalerStats:
    """A scaler as the card stores it."""
    return ScalerStats(tuple(map(float, scaler.mean)), tuple(map(float, scaler.scale)))


def scaler_of(stats: ScalerStats) -> Scaler:
    """The scaler a card stores, ready to transform arrays."""
    return Scaler(np.asarray(stats.mean, dtype=np.float32),
                  np.asarray(stats.scale, dtype=np.float32))


def split_series(panel: Panel, run: RunConfig) -> tuple[list[tuple[Frame, SeriesEntry]],
                                                         list[str]]:
    """Each series' split and scaler; a series too short for a training window and a
    validation part is skipped with a warning that names it."""
    lookback, horizon = run.model.lookback, run.model.horizon
    kept, warnings = [], []
    for sid, frame in zip(panel.ids, panel.frames, strict=True):
        if frame.columns != panel.frames[0].columns:
            raise DataError(f"series {sid!r} has the columns {', '.join(frame.columns)} but "
                            f"series {panel.ids[0]!r} has {', '.join(panel.frames[0].columns)}; "
                            "give every series the same numeric columns")
        try:
            train_end, val_end = split_rows(frame, run.data.train_end, run.data.val_end)
        except TsattnError as exc:
            warnings.append(f"series {sid!r} skipped: {exc}")
            continue
        if train_end < lookback + horizon or val_end - train_end < horizon:
            warnings.append(
                f"series {sid!r} skipped: its {len(frame.values)} rows leave {train_end} "
                f"training and {val_end - train_end} validation rows; a window needs "
                f"{lookback + horizon} (lookback {lookback} + horizon {horizon}) and "
                f"validation {horizon}")
            continue
        last = time_labels(frame, slice(-1, None))[0] if frame.times is not None else None
        entry = SeriesEntry(sid, len(frame.values), last, Split(train_end, val_end),
                            stats_of(fit_scaler(frame.values[:train_end])))
        kept.append((frame, entry))
    if not kept:
        raise DataError(f"no series is long enough for lookback {lookback} + horizon "
                        f"{horizon} and a validation part ({len(panel.ids)} series); use a "
                        "shorter --lookback/--horizon or longer series")
    return kept, warnings


def select_series(panel: Panel, entries: tuple[SeriesEntry, ...], wanted: list[str]
                  ) -> tuple[list[tuple[Frame, SeriesEntry]], list[str]]:
    """The series to forecast, each with the entry the model kept of it, and warnings.

    Named ones (`--id`) must be known to the model and present in the data, else one clear
    error; without names, every series of the data the model knows, and a warning naming
    those it does not know (new, or skipped in training as too short).
    """
    known = {e.id: e for e in entries}
    in_data = dict(zip(panel.ids, panel.frames, strict=True))
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise DataError(f"unknown series {', '.join(map(repr, unknown[:5]))}: not in the "
                        f"training data; the model knows {len(known)} series ("
                        f"{', '.join(map(repr, list(known)[:5]))}"
                        f"{', ...' if len(known) > 5 else ''}); choose them with --id")
    absent = [n for n in wanted if n not in in_data]
    if absent:
        raise DataError(f"series {', '.join(map(repr, absent[:5]))} not found in the data's "
                        f"column {panel.id_col!r}; give history rows of every --id")
    names = list(dict.fromkeys(wanted)) or [n for n in panel.ids if n in known]
    notes = [] if wanted else [f"series {n!r} skipped: the model was not trained on it"
                               for n in panel.ids if n not in known]
    if not names:
        raise DataError(f"none of the data's series ({', '.join(map(repr, panel.ids[:5]))}) "
                        "was in the training data; give history of the series the model knows")
    return [(in_data[n], known[n]) for n in names], notes
