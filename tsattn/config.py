"""Frozen configurations of plain types, passed whole, and their TOML loading.

A run is fully described by one `RunConfig`; it is stored as JSON inside the model file so
that the run can be repeated. Only plain types live here so the JSON round trip is exact.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsattn.errors import UsageError

# The model registry: kind -> "module:Class". A new model kind is one new file in models/
# plus one line here; the CLI's choices, validation and build_model all read this table,
# and keeping it free of imports keeps `tsattn --help` free of torch.
MODEL_KINDS: dict[str, str] = {
    "lstm-attn": "tsattn.models.lstm_attention:LSTMAttentionForecaster",
    "transformer": "tsattn.models.transformer:TransformerForecaster",
}
ATTENTION_KINDS = ("dot", "general", "additive", "scaled-dot")
FILL_METHODS = ("none", "ffill", "interpolate")
REVIN_ANCHORS = ("mean", "last")
# pinball: a quantile head's scale; residuals: a fixed one (seasonal change or window std)
INTERVAL_METHODS = ("pinball", "residuals")
ROW_FIELDS = ("train_end", "val_end")  # a row index or a timestamp: TOML may give an int
# Inclusive bounds of every number a run takes, from flags, a config file or a model file.
# The upper bounds are far beyond any sensible run; they stop a typo or a hand-made model
# file from asking for terabytes before anything is checked against the data.
LIMITS: dict[str, tuple[float, float]] = {
    "lookback": (1, 1_000_000), "horizon": (1, 1_000_000), "n_channels": (1, 100_000),
    "n_targets": (1, 100_000), "d_model": (1, 16_384), "n_heads": (1, 1_024),
    "n_layers": (1, 256), "d_ff": (1, 65_536), "patch_len": (1, 1_000_000),
    "stride": (1, 1_000_000), "dropout": (0.0, 0.99), "epochs": (1, 1_000_000),
    "batch_size": (1, 1_000_000), "lr": (0.0, 1e6), "weight_decay": (0.0, 1e6),
    "clip": (0.0, 1e6), "patience": (0, 1_000_000), "seed": (0, 2**63 - 1),
}


@dataclass(frozen=True)
class DataConfig:
    """Which columns to read and how to split the rows chronologically."""

    time_col: str | None = None
    id_col: str | None = None  # many series in one long table: the column naming each
    targets: tuple[str, ...] = ()
    # columns whose values over the horizon are known when a forecast is made (docs in
    # README, "Covariates"); calendar features of the timestamps are known covariates too
    known: tuple[str, ...] = ()
    calendar: bool = False
    train_end: str | None = None
    val_end: str | None = None
    fill: str = "none"


@dataclass(frozen=True)
class ModelConfig:
    """Everything a model constructor needs; `n_channels`/`n_targets` come from the data.

    Channels are ordered targets first, then past covariates, then the `n_known` known
    covariates, so a model predicts channels `[:n_targets]` and never needs column names.
    """

    kind: str = "transformer"
    lookback: int = 336
    horizon: int = 96
    n_channels: int = 1
    n_targets: int = 1
    n_known: int = 0  # the last channels: known covariates, read H rows ahead
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    dropout: float = 0.2
    revin: bool = True
    revin_anchor: str = "mean"
    linear_path: bool = True
    channel_independent: bool = True
    patch_len: int = 16
    stride: int = 8
    attention: str = "general"
    bidirectional: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop's settings."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    clip: float = 1.0
    patience: int = 3
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # calibrated after training
    intervals: str = "pinball"  # INTERVAL_METHODS: what scales the intervals


@dataclass(frozen=True)
class RunConfig:
    """One training run: data, model and loop settings together."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def validate_model(cfg: ModelConfig) -> None:
    """Reject option combinations a model cannot be built from, naming the fix."""
    if cfg.kind not in MODEL_KINDS:
        raise UsageError(f"unknown model {cfg.kind!r}; choose one of: {', '.join(MODEL_KINDS)}")
    if cfg.attention not in ATTENTION_KINDS:
        raise UsageError(
            f"unknown attention {cfg.attention!r}; choose one of: {', '.join(ATTENTION_KINDS)}"
        )
    if cfg.revin_anchor not in REVIN_ANCHORS:
        raise UsageError(
            f"unknown --revin-anchor {cfg.revin_anchor!r}; choose one of: "
            f"{', '.join(REVIN_ANCHORS)}"
        )
    require_limits(cfg)
    if cfg.d_model % cfg.n_heads:
        raise UsageError(
            f"--n-heads {cfg.n_heads} does not divide --d-model {cfg.d_model}; "
            "pick heads that divide the model width"
        )
    if cfg.patch_len > cfg.lookback:
        raise UsageError(
            f"--patch-len {cfg.patch_len} is longer than --lookback {cfg.lookback}; "
            "use a patch no longer than the lookback"
        )
    if cfg.n_known < 0 or cfg.n_targets + cfg.n_known > cfg.n_channels:
        raise UsageError("more targets and known covariates than channels")
    if cfg.n_known and cfg.lookback <= cfg.horizon:
        raise UsageError(
            f"known covariates need --lookback longer than --horizon (got {cfg.lookback} and "
            f"{cfg.horizon}): a window holds their values over the horizon in its last rows; "
            "raise --lookback or drop --known/--calendar")


def require_limits(cfg: object) -> None:
    """Every number of a config section finite and inside `LIMITS`, named by its flag.

    The one range check for values from flags, a `--config` file and a model file alike.
    """
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if f.name not in LIMITS or isinstance(value, bool):
            continue
        low, high = LIMITS[f.name]
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, got {value}; give a value "
                             f"from {_short(low)} to {_short(high)}")
        if not low <= value <= high:
            raise UsageError(f"{flag} must be from {_short(low)} to {_short(high)}, got "
                             f"{_short(value)}; give a value in that range")


def _short(value: float) -> str:
    """A number for a message: a 5000-digit integer is shown by its size, not in full."""
    if isinstance(value, int) and abs(value) >= 10**20:
        try:
            return f"an integer of {len(str(abs(value)))} digits"
        except ValueError:  # str() refuses over 4300 digits
            return "an integer of over 4300 digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


def validate_train(cfg: TrainConfig) -> None:
    """Reject loop settings that cannot train."""
    require_limits(cfg)
    if cfg.lr <= 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr}")
    if parse_quantiles(cfg.quantiles) != cfg.quantiles:
        raise UsageError("--quantiles must be listed in increasing order")
    if cfg.intervals not in INTERVAL_METHODS:
        raise UsageError(f"unknown --intervals {cfg.intervals!r}; choose one of: "
                         f"{', '.join(INTERVAL_METHODS)}")


def validate_data(cfg: DataConfig) -> None:
    if cfg.fill not in FILL_METHODS:
        raise UsageError(f"unknown --fill {cfg.fill!r}; choose one of: {', '.join(FILL_METHODS)}")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """A JSON-ready dict of the whole run (tuples become lists)."""
    return dataclasses.asdict(cfg)


def from_dict(raw: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from `to_dict` output or a TOML table; unknown keys are errors."""
    return RunConfig(
        data=_section(DataConfig, raw.get("data", {}), "data"),
        model=_section(ModelConfig, raw.get("model", {}), "model"),
        train=_section(TrainConfig, raw.get("train", {}), "train"),
    )


def _section(cls: type, values: dict[str, Any], name: str) -> Any:
    if not isinstance(values, dict):
        raise UsageError(f"[{name}] must be a table of options")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UsageError(
            f"unknown option(s) in [{name}]: {', '.join(unknown)}; known: {', '.join(known)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _typed(v, hints[k], k) for k, v in values.items()}
    return cls(**kwargs)


def _typed(value: Any, hint: Any, name: str) -> Any:
    """`value` as the field's plain type (a TOML list becomes a tuple), or a UsageError:
    a wrong type would otherwise fail deep inside as a bare TypeError."""
    flag = name.replace("_", "-")
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    if str in allowed and isinstance(value, str):
        return value
    if name in ROW_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if bool in allowed and isinstance(value, bool):
        return value
    if int in allowed and isinstance(value, int) and not isinstance(value, bool):
        return value
    if float in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _as_float(value, flag)
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):
        item = typing.get_args(hint)[0]
        if item is str and all(isinstance(v, str) for v in value):
            return tuple(value)
        if item is float and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in value):
            return tuple(_as_float(v, flag) for v in value)
    wanted = {int: "a whole number", float: "a number", bool: "true or false",
              str: "a string"}.get(allowed[0], _list_kind(hint))
    if name in ROW_FIELDS:
        wanted = "a row number or a timestamp"
    raise UsageError(f"{flag} must be {wanted}, got {value!r}; fix its value")


def _as_float(value: int | float, flag: str) -> float:
    """`value` as a float; an integer too large for one is a usage error, not a crash."""
    try:
        return float(value)
    except OverflowError:
        raise UsageError(f"{flag} is too large, got {_short(value)}; fix its value") from None


def _list_kind(hint: Any) -> str:
    return "a list of numbers" if typing.get_args(hint)[:1] == (float,) else "a list of names"


# derived from the data when a run is planned, never options (`info --json` shows them)
_DERIVED = ("n_channels", "n_targets", "n_known")


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a `--config` file into one flat table of option names (snake case).

    TOML, or JSON (a `.json` name): flat option names as the flags spell them (kebab or
    snake case), or nested `[data]`/`[model]`/`[train]` sections as the model file stores
    them; `tsattn info --json` output is accepted as it is (its `config` is used), so a
    stored run can be repeated. The CLI sorts the names into the three sections.
    """
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        with path.open("rb") as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"config file {str(path)!r} not found; check the --config path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UsageError(f"cannot read config file {str(path)!r} ({reason}); give a UTF-8 "
                         f"{kind} file") from exc
    try:
        raw = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as exc:
        # the parsers recurse once per nesting level: 5000 `[` end in a RecursionError; an
        # integer of over 4300 digits is a ValueError of int() itself
        detail = {RecursionError: "nested too deeply", ValueError: "a number too long to read"
                  }.get(type(exc), str(exc))
        raise UsageError(
            f"config file {str(path)!r} is not valid {kind} ({detail}); fix its syntax"
        ) from exc
    if not isinstance(raw, dict):
        raise UsageError(f"config file {str(path)!r} is not a table of options; fix it")
    if isinstance(raw.get("config"), dict):  # a model card from `tsattn info --json`
        raw = raw["config"]
    flat: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in _entries(raw):
        name = key.replace("-", "_")
        if name in flat:  # `n-heads` and `n_heads`, or a flat name and a section's
            how = (f"spelled {spelled[name]!r} and {key!r}" if key != spelled[name] else
                   "at the top and in a [data], [model] or [train] section")
            raise UsageError(f"config file {str(path)!r} sets {key!r} twice ({how}); keep "
                             "one of them")
        flat[name], spelled[name] = value, key
    return {name: value for name, value in flat.items() if name not in _DERIVED}


def _entries(raw: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The (name, value) pairs of a config table, flat or in [data]/[model]/[train]."""
    for key, value in raw.items():
        if key in ("data", "model", "train") and isinstance(value, dict):
            yield from value.items()
        else:
            yield key, value


def option_sections() -> dict[str, str]:
    """Map each option name to the section ('data', 'model', 'train') that holds it."""
    sections: dict[str, str] = {}
    for name, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            sections[f.name] = name
    return sections


def parse_quantiles(value: Any) -> tuple[float, ...]:
    """Quantile levels from `0.1,0.5,0.9` (or a list), checked and sorted.

    Each level must lie strictly between 0 and 1, none may repeat, and there must be at
    least two, since an interval needs a lower and an upper end.
    """
    items = [i for i in value.split(",") if i.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise UsageError(f"--quantiles must be levels like 0.1,0.5,0.9, got {value!r}")
    levels = [_level(item) for item in items]
    repeated = sorted({x for x in levels if levels.count(x) > 1})
    if repeated:
        raise UsageError(f"--quantiles: level {repeated[0]:g} is given twice; list each "
                         "level once")
    if len(levels) < 2:
        raise UsageError(f"--quantiles needs at least two levels for an interval, got "
                         f"{len(levels)}; give e.g. 0.1,0.9 (an 80% interval)")
    return tuple(sorted(levels))


def _level(item: Any) -> float:
    try:
        if isinstance(item, bool):
            raise TypeError
        level = float(item.strip() if isinstance(item, str) else item)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"--quantiles: {_short(item)} is not a number; give levels like "
                         "0.1,0.5,0.9") from None
    if not 0.0 < level < 1.0:  # also refuses nan
        raise UsageError(f"--quantiles: level {level:g} is outside (0, 1); give levels "
                         "strictly between 0 and 1, like 0.1,0.5,0.9")
    return level


CALENDAR_PHASES = ("day", "week", "year")  # of a day, a week, a year: see tsattn/known.py


def calendar_columns(features: tuple[str, ...]) -> tuple[str, ...]:
    """Channel names of calendar features: a sine and a cosine of each phase."""
    return tuple(f"cal:{name}_{part}" for name in features for part in ("sin", "cos"))
