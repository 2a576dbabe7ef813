"""The plan: one resolved, validated run from options + data (+ a resume file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_cli, sample_card
from tsattn.card import LoopState, ResumeCard
from tsattn.checkpoint import resume_path, save_resume
from tsattn.config import ModelConfig, RunConfig, TrainConfig
from tsattn.data import Frame
from tsattn.errors import DataError, UsageError
from tsattn.plan import check_resume, resolve, resumed_run

STORED = sample_card().config  # resolved: two channels (OT, HUFL), one target


def _frame(columns: tuple[str, ...], n_targets: int = 1) -> Frame:
    values = np.zeros((50, len(columns)), dtype=np.float32)
    return Frame(values=values, columns=columns, n_targets=n_targets, times=None,
                 time_col=None, freq=None, warnings=(), header=columns)


def _resume_file(tmp_path: Path) -> Path:
    model = tmp_path / "m.tsattn"
    state = LoopState(epoch=1, step=3, best_val=0.5, bad_epochs=0, stopped_early=False)
    save_resume(resume_path(model), {"rng.cpu": torch.get_rng_state()},
                ResumeCard(config=STORED, columns=("OT", "HUFL"), state=state))
    return model


def test_resolve_fills_channel_counts_and_validates_once():
    run = RunConfig(model=ModelConfig(lookback=8, horizon=2, patch_len=4, stride=4))
    resolved = resolve(run, _frame(("a", "b", "c"), n_targets=2))
    assert (resolved.model.n_channels, resolved.model.n_targets) == (3, 2)
    assert resolve(resolved, _frame(("a", "b", "c"), n_targets=2)) == resolved
    with pytest.raises(UsageError, match="does not divide"):
        resolve(dataclasses.replace(run, model=dataclasses.replace(run.model, n_heads=3)),
                _frame(("a",)))


def test_resume_takes_the_stored_run_and_refuses_other_explicit_options(tmp_path: Path):
    model = _resume_file(tmp_path)
    given = RunConfig(train=TrainConfig(epochs=5, device="cpu"))
    # defaults that were not typed do not count; the device may change
    run = resumed_run(given, {"device"}, model)
    assert run.model == STORED.model and run.train.device == "cpu"
    assert run.train.epochs == STORED.train.epochs
    with pytest.raises(UsageError, match=r"but epochs 5 \(stored: 10\); drop those options"):
        resumed_run(given, {"epochs", "device"}, model)


def test_resume_without_a_resume_file(tmp_path: Path):
    with pytest.raises(UsageError, match="nothing to resume"):
        resumed_run(RunConfig(), set(), tmp_path / "m.tsattn")


def test_resume_refuses_other_data():
    card = ResumeCard(config=STORED, columns=("OT", "HUFL"),
                      state=LoopState(1, 3, 0.5, 0, False))
    check_resume(resolve(STORED, _frame(("OT", "HUFL"))), _frame(("OT", "HUFL")), card)
    with pytest.raises(DataError, match="columns OT, load but the run being resumed"):
        check_resume(resolve(STORED, _frame(("OT", "load"))), _frame(("OT", "load")), card)
    with pytest.raises(DataError, match=r"n_channels 3 \(stored: 2\)"):
        three = _frame(("OT", "HUFL", "x"))
        check_resume(resolve(STORED, three), three, dataclasses.replace(card, columns=(
            "OT", "HUFL", "x")))


def test_cli_resume_mismatch_fails_before_reading_data(tmp_path: Path):
    model = _resume_file(tmp_path)
    done = run_cli("train", str(tmp_path / "absent.csv"), "--resume", "-o", str(model),
                   "--epochs", "5", "--quiet")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: --resume continues the stored run, but epochs 5 "
                                  "(stored: 10)"), done.stderr
