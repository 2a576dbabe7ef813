"""The resume file of a run, checked before it is trusted: its own shape, the options
given with `--resume`, and the data it is asked to continue on.

A resumed run must take the very steps the interrupted run would have taken, so it keeps
its saved options and refuses, with the fix, any option given now that differs (only
where it runs may change) and any data that differ from the data it started on. A
damaged resume file is a model-file error (exit 4) that says to delete it, never an
option error about an option nobody gave.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsattn.checkpoint import read_resume_metadata, resume_path
from tsattn.config import RunConfig, from_dict, validate_model, validate_train
from tsattn.data import Frame
from tsattn.errors import CheckpointError, DataError, TsattnError, UsageError

FREE_ON_RESUME = ("device", "compile")  # where and how fast it runs, not what it computes
_FLAGS = {"targets": "--target", "kind": "--model"}
_STATE_TYPES = {"epoch": int, "step": int, "best_val": (int, float, type(None)),
                "bad_epochs": int, "history": list, "stopped_early": bool}


@dataclass(frozen=True)
class DataPrint:
    """What identifies the data a run trained on: columns, rows and a digest of values."""

    columns: tuple[str, ...]
    n_rows: int
    sha256: str

    @classmethod
    def of(cls, frame: Frame) -> DataPrint:
        digest = hashlib.sha256(frame.values.tobytes()).hexdigest()
        return cls(tuple(frame.columns), len(frame.values), digest)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "n_rows": self.n_rows, "sha256": self.sha256}


@dataclass(frozen=True)
class ResumeInfo:
    """The JSON part of a resume file, validated once."""

    run: RunConfig
    param_groups: list[dict[str, Any]]
    state: dict[str, Any]
    data: DataPrint


def read_resume_info(model_path: Path) -> ResumeInfo:
    """The resume file beside `model_path`, or a clear error when it is missing or damaged."""
    path = resume_path(model_path)
    if not path.exists():
        raise UsageError(
            f"nothing to resume: {str(path)!r} does not exist; train without --resume first"
        )
    raw = read_resume_metadata(path)
    try:
        return _parse(raw)
    except (TsattnError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"resume file {str(path)!r} is damaged ({exc}); delete it to "
                              "train from the start") from exc


def _parse(raw: dict[str, Any]) -> ResumeInfo:
    run = from_dict(raw["config"])
    validate_model(run.model)
    validate_train(run.train)
    groups = raw["param_groups"]
    if not (isinstance(groups, list) and groups and all(isinstance(g, dict) for g in groups)):
        raise ValueError("no optimizer 'param_groups'")
    state = raw["state"]
    for key, kind in _STATE_TYPES.items():
        if not isinstance(state[key], kind):
            raise ValueError(f"a malformed 'state.{key}'")
    data = raw["data"]
    columns, n_rows, digest = data["columns"], data["n_rows"], data["sha256"]
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)
            and isinstance(n_rows, int) and isinstance(digest, str)):
        raise ValueError("a malformed 'data'")
    return ResumeInfo(run, groups, state, DataPrint(tuple(columns), n_rows, digest))


def resumed_run(info: ResumeInfo, given: RunConfig, explicit: frozenset[str]) -> RunConfig:
    """The saved run, after refusing any option given now (`explicit`) that differs."""
    saved = info.run
    for name in sorted(explicit - set(FREE_ON_RESUME)):
        now, then = _field(given, name), _field(saved, name)
        if now != then:
            flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
            raise UsageError(f"{flag} {_show(now)} differs from the run being resumed "
                             f"({flag} {_show(then)}); resume without it, since a resumed "
                             "run keeps its options, or train without --resume")
    train = dataclasses.replace(saved.train, device=given.train.device,
                                compile=given.train.compile)
    return dataclasses.replace(saved, train=train)


def check_resumed_data(info: ResumeInfo, frame: Frame) -> None:
    """Refuse to continue a run on data other than the data it started on."""
    now = DataPrint.of(frame)
    if now == info.data:
        return
    if now.columns != info.data.columns:
        what = f"columns {', '.join(now.columns)}, not {', '.join(info.data.columns)}"
    elif now.n_rows != info.data.n_rows:
        what = f"{now.n_rows} rows, not {info.data.n_rows}"
    else:
        what = "the same columns and rows, other values"
    raise DataError(f"the data differ from those of the run being resumed ({what}); resume "
                    "on the same data, or train without --resume")


def _field(run: RunConfig, name: str) -> Any:
    for section in (run.data, run.model, run.train):
        if hasattr(section, name):
            return getattr(section, name)
    raise KeyError(name)


def _show(value: Any) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)
