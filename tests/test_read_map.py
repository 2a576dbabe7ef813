"""The default map on known answers, with the default settings.

Two generated tasks, each trained with the default options except `--lookback 96
--horizon 24` and one epoch (12 periods of 8 rows: the default patch 16, stride 8):

- copy: the target repeats a covariate 30 steps back, so forecast step h copies input row
  95 + h - 30, another row for every step;
- seasonal spikes: the target is 1 every 24 steps and noise otherwise, so a step that lands
  on a spike finds its answer at the same phase of the earlier periods.

The top period of `read` must hold the answer for at least 90% of the steps, and blanking
the periods it ranks first must move the forecast clearly more than blanking random ones.
Measured figures: benchmarks/README.md ("The read map on known answers").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import copy_task, write_csv
from tsattn.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from tsattn.data import Frame, read_frame
from tsattn.evaluation import scored_rows
from tsattn.faithfulness import faithfulness_on_rows
from tsattn.fitting import fit
from tsattn.forecasting import predict
from tsattn.inference import LoadedModel, load_forecaster
from tsattn.training import SilentObserver

LAG, PERIOD, LOOKBACK, HORIZON, ORIGINS = 30, 24, 96, 24, 200
KINDS = ["transformer", "lstm-attn"]


def trained(kind: str, csv: Path, tmp_path: Path) -> LoadedModel:
    """A model with the default settings but the window, after one epoch on `csv`."""
    run = RunConfig(data=DataConfig(targets=("y",)),
                    model=ModelConfig(kind=kind, lookback=LOOKBACK, horizon=HORIZON),
                    train=TrainConfig(epochs=1, seed=0))
    fit(read_frame(csv, targets=("y",)), run, SilentObserver(), tmp_path / "m.tsattn")
    loaded = load_forecaster(tmp_path / "m.tsattn")
    assert loaded.model.reduction == "read"
    return loaded


def top_periods(loaded: LoadedModel, frame: Frame) -> tuple[np.ndarray, np.ndarray, int]:
    """First row of each step's top period, and each step's top row, over the last
    ORIGINS forecasts: (ORIGINS, H) each, and the period length."""
    maps = predict(loaded, frame, rolling=True).attention[-ORIGINS:]  # (O, H, L)
    stride = loaded.run.model.stride
    periods = maps.reshape(*maps.shape[:2], LOOKBACK // stride, stride).sum(-1)
    return periods.argmax(-1) * stride, maps.argmax(-1), stride


def comprehensiveness_vs_random(loaded: LoadedModel, frame: Frame) -> tuple[float, str]:
    """Attention's comprehensiveness area over random's, on the test part, and the verdict."""
    report = faithfulness_on_rows(loaded, frame, *scored_rows(loaded, frame, None, None),
                                  n_windows=ORIGINS)
    area = {r.name: r.comprehensiveness.area.mean for r in report.rankings}
    return area["attention"] / area["random"], report.verdict.comprehensiveness_vs_random


@pytest.fixture(scope="module")
def copy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = copy_task(n=1600, lag=LAG)
    return write_csv(tmp_path_factory.mktemp("copy") / "copy.csv", ["y", "x"],
                     [[f"{a:.5f}", f"{b:.5f}"] for a, b in zip(y, x, strict=True)])


@pytest.fixture(scope="module")
def spike_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    noise = 0.05 * np.random.default_rng(0).normal(size=1600)
    series = (np.arange(1600) % PERIOD == 0) + noise
    return write_csv(tmp_path_factory.mktemp("spikes") / "spikes.csv", ["y"],
                     [[f"{v:.5f}"] for v in series])


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_default_map_points_at_the_copied_input_of_each_step(kind: str, copy_csv: Path,
                                                                  tmp_path: Path):
    """Measured: top period 100% (91% with the map around the window's mean), top row the
    copied one 99%, comprehensiveness 2.3x random's (occlusion's: 3.2x)."""
    loaded = trained(kind, copy_csv, tmp_path)
    frame = read_frame(copy_csv, targets=("y",), covariates=("x",))
    starts, rows, stride = top_periods(loaded, frame)
    copied = LOOKBACK - 1 + np.arange(1, HORIZON + 1) - LAG  # (H,): another row per step
    period_hits = float(np.mean((starts <= copied) & (copied < starts + stride)))
    row_hits = float(np.mean(np.abs(rows - copied) <= 1))
    ratio, verdict = comprehensiveness_vs_random(loaded, frame)
    assert period_hits >= 0.9, f"the top period held the copied input for {period_hits:.0%}"
    assert row_hits >= 0.9, f"the top row followed the copied one for only {row_hits:.0%}"
    assert verdict == "better" and ratio >= 1.8, f"comprehensiveness {ratio:.2f}x random"


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_default_map_points_at_earlier_spikes_when_a_spike_is_due(kind: str,
                                                                      spike_csv: Path,
                                                                      tmp_path: Path):
    """Measured: top period 100%, comprehensiveness 2.1x random's (occlusion's: 2.6x)."""
    loaded = trained(kind, spike_csv, tmp_path)
    frame = read_frame(spike_csv, targets=("y",))
    starts, _, stride = top_periods(loaded, frame)
    last = len(frame.values) - ORIGINS + np.arange(ORIGINS)[:, None]  # each origin's last row
    due = (last + np.arange(1, HORIZON + 1)) % PERIOD == 0  # (O, H): steps that are spikes
    steps = np.arange(1, HORIZON + 1)[:, None]
    lags = LOOKBACK - 1 + steps - starts[..., None] - np.arange(stride)  # (O, H, stride)
    hits = (lags % PERIOD == 0).any(axis=-1)[due]  # the top period holds a spike's phase
    ratio, verdict = comprehensiveness_vs_random(loaded, frame)
    assert float(hits.mean()) >= 0.9, f"the top period held a spike for {hits.mean():.0%}"
    assert verdict == "better" and ratio >= 1.6, f"comprehensiveness {ratio:.2f}x random"
