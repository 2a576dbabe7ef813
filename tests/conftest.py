"""Shared fixtures: small generated data and a tiny trained model, made once per session."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tsattn.card import EpochRecord, Metrics, ModelCard, ScalerStats, Split
from tsattn.config import DataConfig, ModelConfig, RunConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--lookback", "24", "--horizon", "6", "--epochs", "2", "--d-model", "16",
        "--n-heads", "2", "--d-ff", "32", "--patch-len", "4", "--stride", "4",
        "--batch-size", "64", "--quiet"]


@pytest.fixture(autouse=True, scope="session")
def one_thread() -> Iterator[None]:
    """Run in-process trainings on one thread: the models in tests are tiny, so threads gain
    nothing, and on a busy 2-core machine OpenMP threads spin-waiting for a core made an LSTM
    training 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None,
            timeout: float = 300, columns: int = 120) -> subprocess.CompletedProcess:
    """Run `python -m tsattn` in a real subprocess with pipes, as a shell script would
    (`columns`: the terminal width rich lays tables out for)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    env.pop("TSATTN_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "tsattn", *args], input=stdin, capture_output=True, text=True,
        cwd=cwd, env=env, timeout=timeout,
    )


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def copy_task(n: int = 1500, lag: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A driver series x and a target y that repeats x `lag` steps later, plus small noise."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + rng.normal()
    y = np.roll(x, lag) + 0.05 * rng.normal(size=n)
    y[:lag] = 0.0
    return x, y


@pytest.fixture(scope="session")
def hourly_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 hourly rows: a daily cycle in 'load' and a covariate 'temp'."""
    t = np.arange(600)
    rng = np.random.default_rng(1)
    load = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.2 * rng.normal(size=t.size)
    temp = 20 + 5 * np.cos(2 * np.pi * t / 24) + 0.2 * rng.normal(size=t.size)
    times = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[h]")
    rows = [[str(s).replace("T", " "), f"{a:.4f}", f"{b:.4f}"] for s, a, b in zip(times, load,
                                                                                 temp, strict=True)]
    return write_csv(tmp_path_factory.mktemp("data") / "hourly.csv", ["date", "load", "temp"], rows)


@pytest.fixture(scope="session")
def tiny_model(hourly_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.tsattn"
    done = run_cli("train", str(hourly_csv), "-o", str(path), *TINY)
    assert done.returncode == 0, done.stderr
    return path


def sample_card(**changes: object) -> ModelCard:
    """A small valid model card (two channels: target OT, covariate HUFL) for unit tests."""
    run = RunConfig(data=DataConfig(targets=("OT",)),
                    model=ModelConfig(lookback=8, horizon=2, n_channels=2, patch_len=4, stride=4))
    card = ModelCard(
        targets=("OT",), covariates=("HUFL",), header=("date", "HUFL", "OT"), time_col="date",
        freq="h", last_time="2018-06-26 19:00:00", n_rows=100, split=Split(70, 80),
        scaler=ScalerStats((1.5, -2.25), (0.1, 3e-7)), config=run,
        metrics=Metrics(best_val_mse=0.3817, epochs_run=2, stopped_early=False,
                        train_seconds=1.5, history=(EpochRecord(1, 0.9, 0.5),
                                                    EpochRecord(2, 0.6, 0.3817))),
        tsattn_version="ünïcode ✓",
    )
    return dataclasses.replace(card, **changes)
