"""Many series, one model: per-series splits and scalers, and windows that never cross series.

A long table (`date,store,sales`) is read into a `Panel` of Frames, one per series. Each
series is split by time on its own (the same options, applied to its rows) and scaled by the
statistics of its own training part; the scaled series are joined into one device tensor,
and each part's windows are start rows inside one series, so no window reads two series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tsattn.config import RunConfig
from tsattn.data import Frame, Panel, Scaler, fit_scaler, split_rows, time_labels
from tsattn.errors import CheckpointError, DataError, TsattnError
from tsattn.windows import window_starts


@dataclass(frozen=True, eq=False)
class SeriesPart:
    """What a model keeps of one training series: its split, scaler and last time."""

    id: str
    n_rows: int
    train_end: int
    val_end: int
    scaler: Scaler
    last_time: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "n_rows": self.n_rows, "last_time": self.last_time,
                "split": {"train_end": self.train_end, "val_end": self.val_end},
                "scaler": self.scaler.to_dict()}

    @classmethod
    def from_dict(cls, raw: Any) -> SeriesPart:
        try:
            return cls(id=str(raw["id"]), n_rows=int(raw["n_rows"]),
                       train_end=int(raw["split"]["train_end"]),
                       val_end=int(raw["split"]["val_end"]),
                       scaler=Scaler.from_dict(raw["scaler"]), last_time=raw["last_time"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"a malformed series entry in the model file ({exc!r}); "
                                  "retrain the model") from exc


@dataclass(frozen=True, eq=False)
class Joined:
    """The kept series scaled and joined: one tensor and the window starts of each part."""

    parts: tuple[SeriesPart, ...]
    series: torch.Tensor  # (sum of rows, C)
    train_starts: torch.Tensor
    val_starts: torch.Tensor
    warnings: tuple[str, ...]


def split_series(panel: Panel, run: RunConfig) -> tuple[list[tuple[Frame, SeriesPart]],
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
        part = SeriesPart(sid, len(frame.values), train_end, val_end,
                          fit_scaler(frame.values[:train_end]), last)
        kept.append((frame, part))
    if not kept:
        raise DataError(f"no series is long enough for lookback {lookback} + horizon "
                        f"{horizon} and a validation part ({len(panel.ids)} series); use a "
                        "shorter --lookback/--horizon or longer series")
    return kept, warnings


def join_series(panel: Panel, run: RunConfig, device: torch.device) -> Joined:
    """Scale each kept series by its own statistics and join them on the device."""
    kept, warnings = split_series(panel, run)
    lookback, horizon = run.model.lookback, run.model.horizon
    blocks, train, val, offset = [], [], [], 0
    for frame, part in kept:
        blocks.append(part.scaler.transform(frame.values).astype(np.float32))
        train.append(window_starts(0, part.train_end, lookback, horizon) + offset)
        val.append(window_starts(part.train_end, part.val_end, lookback, horizon) + offset)
        offset += part.n_rows
    series = torch.from_numpy(np.concatenate(blocks)).to(device)
    return Joined(tuple(p for _, p in kept), series, torch.cat(train), torch.cat(val),
                  tuple(warnings))


def select_series(panel: Panel, parts: dict[str, SeriesPart], wanted: list[str]
                  ) -> tuple[list[tuple[Frame, SeriesPart]], list[str]]:
    """The series to forecast, each with the part the model kept of it, and warnings.

    Named ones (`--id`) must be known to the model and present in the data, else one clear
    error; without names, every series of the data the model knows, and a warning naming
    those it does not know (new, or skipped in training as too short).
    """
    in_data = dict(zip(panel.ids, panel.frames, strict=True))
    unknown = [n for n in wanted if n not in parts]
    if unknown:
        raise DataError(f"unknown series {', '.join(map(repr, unknown[:5]))}: not in the "
                        f"training data; the model knows {len(parts)} series ("
                        f"{', '.join(map(repr, list(parts)[:5]))}"
                        f"{', ...' if len(parts) > 5 else ''}); choose them with --id")
    absent = [n for n in wanted if n not in in_data]
    if absent:
        raise DataError(f"series {', '.join(map(repr, absent[:5]))} not found in the data's "
                        f"column {panel.id_col!r}; give history rows of every --id")
    names = wanted or [n for n in panel.ids if n in parts]
    notes = [] if wanted else [f"series {n!r} skipped: the model was not trained on it"
                               for n in panel.ids if n not in parts]
    if not names:
        raise DataError(f"none of the data's series ({', '.join(map(repr, panel.ids[:5]))}) "
                        "was in the training data; give history of the series the model knows")
    return [(in_data[n], parts[n]) for n in names], notes
