"""The model card: everything in a model file but its tensors, typed, frozen, validated once.

Training builds a `ModelCard`; the checkpoint stores `card.to_dict()` as JSON in the model
file's header; `ModelCard.from_dict` is the one place that reads that JSON back and checks
it (types, finiteness, sizes, consistency with the run configuration), so a damaged or
hand-made file is one clear `CheckpointError` and every other module reads typed fields.

Adding a field: declare it on the right dataclass with a default (`None` for an optional
section such as `baselines` or `calibration`), and `from_dict`/`to_dict` handle it: the reader
walks the type hints, so a nested frozen dataclass, `tuple[X, ...]`, `X | None`, str, int,
float and bool need no hand-written parsing. A change that old files cannot satisfy bumps
`FORMAT_VERSION`, and files of another version are refused with a "retrain" message.
Nothing here imports torch, numpy or pandas: `tsattn info` reads cards in a blink.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from tsattn.config import CALENDAR_PHASES, RunConfig, calendar_columns, from_dict, validate_model
from tsattn.errors import CheckpointError, TsattnError

# 3: typed model card (format_version in the JSON, no 'columns'); 'id_col' and 'series'
# came later as optional fields, so files without them still read
FORMAT_VERSION = 3
# the rows of a quantile head's weights, in the file's order (`intervals.head_features`)
HEAD_FEATURES = ("window_std", "seasonal_change", "recent_change", "forecast_move")
_MODEL_FIX = "retrain the model or copy the file again"
_RESUME_FIX = "delete it to train from the start"


@dataclass(frozen=True)
class Split:
    """Chronological split of the training file: rows [0, train_end) trained the model,
    [train_end, val_end) chose its epoch, and evaluation starts at `val_end` by default."""

    train_end: int
    val_end: int


@dataclass(frozen=True)
class ScalerStats:
    """Per-channel z-score statistics of the training rows, targets first."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]


@dataclass(frozen=True)
class EpochRecord:
    """One line of the training history (losses on z-scored values)."""

    epoch: int
    train_loss: float | None  # None for epoch 0, the untrained start
    val_loss: float


@dataclass(frozen=True)
class Metrics:
    """How training went; `best_val_mse` is the validation MSE of the stored weights."""

    best_val_mse: float
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    history: tuple[EpochRecord, ...] = ()
    linear_ridge: float | None = None  # the linear path's penalty, None without one
    covariate_ridge: tuple[float | None, ...] | None = None  # per target; None: unread
    known_ridge: tuple[float | None, ...] | None = None  # the same for known covariates
    attention_share: float | None = None  # of the forecast's movement, beside the linear path


@dataclass(frozen=True)
class DataSource:
    """The file a model was trained on: its name ('-' for stdin), data rows, content hash."""

    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Baselines:
    """Validation MSE of the free baselines on the model's validation windows (z-scored)."""

    repeat_last: float
    linear: float
    seasonal_naive: float | None = None


@dataclass(frozen=True)
class Calibration:
    """Split-conformal calibration of prediction intervals on the validation windows.

    `offsets[q][h][t]` is the level-q quantile of the validation residuals at step h of
    target t divided by their step's scale (see `tsattn.intervals`); `floor[t]` the
    smallest scale used, all in z-scored units. `start` is the time of the first
    validation target row (None without a time column): predict recalibrates on the
    history's windows from there on. `period`: the season, in rows, whose phases set each
    step's scale; None (and files written before it existed): the window's std. `method`
    "pinball": the scale is a quantile head's, `head_weights` and `head_floor` (J, T);
    "residuals" (or "conformal", files written before the head existed): a fixed scale.
    """

    levels: tuple[float, ...]
    offsets: tuple[tuple[tuple[float, ...], ...], ...]  # (Q, H, T)
    floor: tuple[float, ...]  # (T,)
    n_windows: int
    method: str = "residuals"
    start: str | None = None
    period: int | None = None
    head_weights: tuple[tuple[float, ...], ...] | None = None
    head_floor: tuple[tuple[float, ...], ...] | None = None


@dataclass(frozen=True)
class SeriesEntry:
    """One series of a model trained on many (`--id-col`): its own rows, split, scaler and
    last time, which predict and evaluate use in place of the card's single-series ones."""

    id: str
    n_rows: int
    last_time: str | None
    split: Split
    scaler: ScalerStats


@dataclass(frozen=True)
class ModelCard:
    """Everything a trained model file says besides its tensors."""

    targets: tuple[str, ...]
    covariates: tuple[str, ...]
    header: tuple[str, ...]  # every column of the training file: reads headerless history
    time_col: str | None
    freq: str | None  # pandas offset alias, None when the spacing was irregular
    last_time: str | None  # the last training timestamp, None without a time column
    n_rows: int
    split: Split
    scaler: ScalerStats
    config: RunConfig
    metrics: Metrics
    tsattn_version: str
    source: DataSource | None = None
    baselines: Baselines | None = None
    calibration: Calibration | None = None
    known: tuple[str, ...] = ()  # columns whose values over the horizon are given
    calendar: tuple[str, ...] = ()  # calendar phases read as known covariates
    # many series (--id-col): the id column and every kept series; the single-series fields
    # above (n_rows, split, scaler, last_time) then describe the first of them
    id_col: str | None = None
    series: tuple[SeriesEntry, ...] = ()
    format_version: int = FORMAT_VERSION

    def series_entry(self, series_id: str) -> SeriesEntry | None:
        """The entry of one trained series by id (None: not trained on it)."""
        return next((e for e in self.series if e.id == series_id), None)

    @property
    def columns(self) -> tuple[str, ...]:
        """Channel names in model order: targets, past covariates, known covariates, then
        calendar features."""
        return self.targets + self.covariates + self.known + calendar_columns(self.calendar)

    def baselines_val_mse(self) -> dict[str, float]:
        """Each free baseline's validation MSE by name (none recorded: empty)."""
        if self.baselines is None:
            return {}
        return {k: v for k, v in dataclasses.asdict(self.baselines).items() if v is not None}

    @property
    def lookback(self) -> int:
        return self.config.model.lookback

    @property
    def horizon(self) -> int:
        return self.config.model.horizon

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists, the config its TOML-like sections)."""
        return _plain(self)

    def to_json(self) -> str:
        """Strict JSON (no NaN): every float of a card is finite by construction."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str, where: str = "model card") -> ModelCard:
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:  # ValueError: also 5000-digit integers
            raise CheckpointError(
                f"{where} has no valid JSON in its metadata; {_MODEL_FIX}") from exc
        return cls.from_dict(raw, where)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "model card") -> ModelCard:
        """The one validation of stored metadata; `where` names the file in errors."""
        return _parse(cls, raw, where, _MODEL_FIX)


@dataclass(frozen=True)
class LoopState:
    """Where the training loop stood after an epoch (see `training.TrainState`)."""

    epoch: int
    step: int
    best_val: float | None  # None before any epoch finished
    bad_epochs: int
    stopped_early: bool
    history: tuple[EpochRecord, ...] = ()


@dataclass(frozen=True)
class ResumeCard:
    """What `--resume` needs besides tensors: the resolved run being continued, the data
    columns it was trained on, and the loop's state after its last finished epoch."""

    config: RunConfig
    columns: tuple[str, ...]
    state: LoopState
    source: DataSource | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "resume state") -> ResumeCard:
        return _parse(cls, raw, where, _RESUME_FIX)


def _parse(cls: type, raw: Any, where: str, fix: str) -> Any:
    """Read and check a card of type `cls`; any problem is one CheckpointError naming it."""
    try:
        card = _read(cls, raw, "")
        _check_consistent(card)
    except _Bad as exc:
        raise CheckpointError(f"{where} has {exc} in its metadata; {fix}") from exc
    return card


class _Bad(Exception):
    """What is wrong, phrased to follow 'model file X has ...'."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _read(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass `cls` from `raw`, checking every field's type; unknown keys are bad."""
    if cls is RunConfig:
        return _read_config(raw)
    if not isinstance(raw, dict):
        raise _Bad(f"no table as {prefix.rstrip('.')!r}" if prefix else "no JSON object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise _Bad(f"unknown entries {', '.join(repr(prefix + k) for k in unknown)}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING:
                raise _Bad(f"no {prefix + name!r}")
            continue
        values[name] = _value(raw[name], hints[name], prefix + name)
    return cls(**values)


def _value(value: Any, hint: Any, key: str) -> Any:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    kind = next(a for a in allowed if a is not type(None))
    if dataclasses.is_dataclass(kind):
        return _read(kind, value, key + ".")
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list):
            raise _Bad(f"no {_describe(kind)} as {key!r}")
        item = typing.get_args(kind)[0]
        return tuple(_value(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if _is(value, kind):
        return float(value) if kind is float else value
    raise _Bad(f"no {_describe(kind)} as {key!r}")


def _is(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        try:  # an integer past float's range (10**400) is an OverflowError, not infinity
            return isinstance(value, (int, float)) and math.isfinite(value)
        except OverflowError:
            return False
    return isinstance(value, kind)


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return "list of column names" if item is str else "list of numbers"
    return {int: "whole number", float: "finite number", bool: "true or false",
            str: "string"}.get(kind, "table")


def _read_config(raw: Any) -> RunConfig:
    if not isinstance(raw, dict):
        raise _Bad("no 'config'")
    try:
        run = from_dict(raw)
        validate_model(run.model)  # bounds every size before a model is ever built
    except (TsattnError, TypeError, ValueError) as exc:
        raise _Bad(f"an unusable 'config' ({exc})") from exc
    return run


def _check_consistent(card: ModelCard | ResumeCard) -> None:
    """Cross-field rules: the card's columns, config, scaler and split describe one model."""
    if card.format_version != FORMAT_VERSION:
        raise _Bad(f"format version {card.format_version} (this tsattn reads {FORMAT_VERSION})")
    model = card.config.model
    if isinstance(card, ResumeCard):
        if len(card.columns) != model.n_channels:
            raise _Bad("columns that do not match its 'config'")
        return
    if not card.targets or (model.n_targets, model.n_channels, model.n_known) != (
            len(card.targets), len(card.columns), len(card.known) + 2 * len(card.calendar)):
        raise _Bad("columns that do not match its 'config'")
    if not set(card.calendar) <= set(CALENDAR_PHASES):
        raise _Bad(f"calendar features other than {', '.join(CALENDAR_PHASES)}")
    n = model.n_channels
    if len(card.scaler.mean) != n or len(card.scaler.scale) != n or min(card.scaler.scale) <= 0:
        raise _Bad("scaler statistics that do not match its columns")
    if not 0 < card.split.train_end < card.split.val_end <= card.n_rows:
        raise _Bad("a 'split' outside its rows")
    if card.calibration is not None:
        _check_calibration(card.calibration, model.horizon, model.n_targets)
    _check_series(card)


def _check_series(card: ModelCard) -> None:
    """A many-series card names its id column (as its config does) and at least one series,
    each with its own scaler for every channel and a split inside its rows, ids unique."""
    if card.id_col != card.config.data.id_col or bool(card.id_col) != bool(card.series):
        raise _Bad("an 'id_col' and 'series' that do not match its 'config'")
    n = card.config.model.n_channels
    for entry in card.series:
        stats = entry.scaler
        if len(stats.mean) != n or len(stats.scale) != n or min(stats.scale) <= 0:
            raise _Bad(f"scaler statistics of series {entry.id!r} that do not match its columns")
        if not 0 < entry.split.train_end < entry.split.val_end <= entry.n_rows:
            raise _Bad(f"a 'split' of series {entry.id!r} outside its rows")
    if len({e.id for e in card.series}) != len(card.series):
        raise _Bad("a series id listed twice")


def _check_head(cal: Calibration, n_targets: int) -> None:
    """A fixed-scale method has no head; "pinball" has weights and positive floors (J, T)."""
    parts = (cal.head_weights, cal.head_floor)
    if cal.method in ("residuals", "conformal") and parts == (None, None):
        return
    if cal.method != "pinball" or None in parts:
        raise _Bad(f"a 'calibration' of an unknown method {cal.method!r}")
    if any(len(part) != len(HEAD_FEATURES) or any(len(row) != n_targets for row in part)
           for part in parts) or min(min(row) for row in cal.head_floor) <= 0:
        raise _Bad("a 'calibration' whose quantile head does not match its targets")


def _check_calibration(cal: Calibration, horizon: int, n_targets: int) -> None:
    """Levels sorted inside (0, 1), offsets shaped (Q, H, T) and not crossing, floor > 0."""
    levels = cal.levels
    if not levels or not all(0 < q < 1 for q in levels) or any(
            a >= b for a, b in itertools.pairwise(levels)):
        raise _Bad("an unusable 'calibration' (levels)")
    _check_head(cal, n_targets)
    shaped = len(cal.offsets) == len(levels) and all(
        len(step) == horizon and all(len(row) == n_targets for row in step)
        for step in cal.offsets)
    if not shaped or len(cal.floor) != n_targets or min(cal.floor) <= 0 or (
            cal.period is not None and cal.period < 1):
        raise _Bad("a 'calibration' that does not match its horizon and targets")
    for lower, upper in itertools.pairwise(cal.offsets):
        if any(a > b for lo, up in zip(lower, upper, strict=True)
               for a, b in zip(lo, up, strict=True)):
            raise _Bad("a 'calibration' whose quantiles cross")
