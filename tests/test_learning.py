"""Small end-to-end trainings on data whose right answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import copy_task, write_csv
from tsattn.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from tsattn.data import read_frame
from tsattn.evaluation import evaluate
from tsattn.fitting import fit
from tsattn.forecasting import predict
from tsattn.inference import load_forecaster
from tsattn.training import SilentObserver

LAG, LOOKBACK, HORIZON = 6, 24, 8


@pytest.fixture(scope="module")
def copy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = copy_task(n=1500, lag=LAG)
    rows = [[f"{a:.5f}", f"{b:.5f}"] for a, b in zip(y, x, strict=True)]
    return write_csv(tmp_path_factory.mktemp("copy") / "copy.csv", ["y", "x"], rows)


def train_copy_model(csv_path: Path, tmp: Path, **model: object) -> Path:
    """A model whose attention path must learn the copy alone: with the linear path on,
    the copy is a linear map, solved in closed form before training (see
    tests/test_linear_path.py), and the attention path would have nothing left to find."""
    model.setdefault("linear_path", False)
    run = RunConfig(
        data=DataConfig(targets=("y",)),
        model=ModelConfig(lookback=LOOKBACK, horizon=HORIZON, **model),
        train=TrainConfig(epochs=12, batch_size=64, lr=3e-3, patience=4, seed=0),
    )
    path = tmp / "copy.tsattn"
    fit(read_frame(csv_path, targets=("y",)), run, SilentObserver(), path)
    return path


def copied_index(step: int) -> int:
    """Window row of the input that forecast step `step` (1-based) copies."""
    return LOOKBACK - 1 + step - LAG


@pytest.mark.slow
@pytest.mark.parametrize("score", ["dot", "general", "additive", "scaled-dot"])
def test_lstm_learns_the_copy_and_attends_to_the_copied_input(copy_csv: Path, tmp_path: Path,
                                                              score: str):
    path = train_copy_model(copy_csv, tmp_path, kind="lstm-attn", attention=score,
                            channel_independent=False, d_model=32, dropout=0.0,
                            patch_len=1, stride=1)
    loaded = load_forecaster(path)
    frame = read_frame(copy_csv, **{"targets": ("y",), "covariates": ("x",)})
    result = evaluate(loaded, frame, loaded.card.split.val_end, len(frame.values))
    scores = result["scores"]
    assert scores["model"]["mse"] < 0.3 * scores["repeat_last"]["mse"]

    tail = read_frame(copy_csv, targets=("y",), covariates=("x",))
    maps = predict(loaded, tail, rolling=True).attention[-200:]  # (O, H, L)
    inside = [h for h in range(1, HORIZON + 1) if copied_index(h) < LOOKBACK]
    hits = [np.abs(maps[:, h - 1].argmax(-1) - copied_index(h)) <= 1 for h in inside]
    hit_rate = float(np.mean(hits))
    assert hit_rate >= 0.8, f"attention found the copied input in {hit_rate:.0%} of cases"
