"""The plan: options + data (+ a resume file) -> the one resolved, validated run.

The CLI calls these before any work starts (a bad option fails before the data is read,
a bad combination with the data before torch is imported), and `fitting.fit` calls
`resolve` again for library callers; it is idempotent. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path

from tsattn.card import ResumeCard
from tsattn.config import RunConfig, validate_data, validate_model, validate_train
from tsattn.data import Frame
from tsattn.errors import DataError, UsageError

# How to run, not what to train: a run may be resumed on another device.
_FREE_ON_RESUME = ("device", "compile")


def check_options(run: RunConfig) -> None:
    """Every check that needs no data (the channel counts are still placeholders)."""
    validate_data(run.data)
    validate_train(run.train)
    validate_model(run.model)


def resolve(run: RunConfig, frame: Frame) -> RunConfig:
    """`run` with the data's channel counts filled in, validated once as a whole."""
    model = dataclasses.replace(run.model, n_channels=len(frame.columns),
                                n_targets=frame.n_targets, n_known=frame.n_known)
    run = dataclasses.replace(run, model=model)
    check_options(run)
    return run


def resumed_run(given: RunConfig, explicit: Collection[str], model_path: Path) -> RunConfig:
    """The stored run that `--resume -o model_path` continues.

    Options the user gave explicitly (`explicit`: config field names) must agree with the
    stored ones: silently training with other values than asked would be worse than
    refusing. Only the device and `compile` may change.
    """
    from tsattn.checkpoint import read_resume_card, resume_path

    path = resume_path(model_path)
    if not path.exists():
        raise UsageError(
            f"nothing to resume: {str(path)!r} does not exist; train without --resume first"
        )
    stored = read_resume_card(path).config
    differing = _differences(given, stored, explicit)
    if differing:
        raise UsageError(
            f"--resume continues the stored run, but {differing}; drop those options to "
            "resume, or train a new model without --resume"
        )
    train = dataclasses.replace(stored.train, **{
        name: getattr(given.train, name) for name in _FREE_ON_RESUME})
    return dataclasses.replace(stored, train=train)


def check_resume(run: RunConfig, frame: Frame, card: ResumeCard) -> None:
    """The resolved `run` and its data must be the ones the resume state was saved from."""
    if frame.columns != card.columns:
        raise DataError(
            f"the data has columns {', '.join(frame.columns)} but the run being resumed was "
            f"trained on {', '.join(card.columns)}; resume with the same data, or train "
            "without --resume"
        )
    if card.source is not None and frame.sha256 not in (None, card.source.sha256):
        raise DataError(
            f"the data differs from the run being resumed (trained on {card.source.name!r}, "
            f"{card.source.rows} rows, sha256 {card.source.sha256[:12]}...); resume with the "
            "same data, or train without --resume"
        )
    differing = _differences(run, card.config)
    if differing:
        raise DataError(f"the data does not fit the run being resumed: {differing}; resume "
                        "with the same data and options, or train without --resume")


def _differences(given: RunConfig, stored: RunConfig,
                 names: Collection[str] | None = None) -> str:
    """'epochs 5 (stored: 3); ...' for the fields (all, or `names`) where the runs differ."""
    found = []
    for section in ("data", "model", "train"):
        mine, theirs = getattr(given, section), getattr(stored, section)
        found += [
            f"{f.name} {_shown(getattr(mine, f.name))} (stored: {_shown(getattr(theirs, f.name))})"
            for f in dataclasses.fields(mine)
            if (names is None or f.name in names) and f.name not in _FREE_ON_RESUME
            and getattr(mine, f.name) != getattr(theirs, f.name)
        ]
    return "; ".join(found)


def _shown(value: object) -> str:
    if value == ():
        return "(all)"
    return ",".join(value) if isinstance(value, tuple) else str(value)
