"""Does the attention summary point at inputs that matter? Checked on data with a known answer.

Three checks from issue 6, each on a tiny in-process training (build_model + the library's
training loop on Windows, one thread):

- copy task, transformer: the target repeats another channel at lag k; the default
  reduction's top-attended input should be the copied one (the LSTM version of this test,
  for every score, is in tests/test_learning.py);
- seasonal spikes, LSTM: a forecast of a spike should weigh the same phase of earlier
  periods well above a uniform map;
- deletion, both models on the copy task and the LSTM on the spikes: blanking the
  most-attended inputs should hurt the forecast clearly more than blanking as many random
  inputs.

Every model here has one token per step (patch_len = stride = 1), since the checks ask for
the attended input to within one step; a patch token can only be as precise as its patch.
These are checks of the attention path alone, off the defaults; the map a user gets, on
the default settings, meets the same kinds of known answers in tests/test_read_map.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import copy_task
from tsattn.config import ModelConfig, TrainConfig
from tsattn.models import Forecaster, build_model
from tsattn.training import SilentObserver, train
from tsattn.windows import Windows, window_starts

LAG, LOOKBACK, HORIZON = 6, 24, 8
TRAIN_END, VAL_END = 1000, 1200


def fit_windows(series: np.ndarray, n_targets: int, epochs: int, **model: object) -> Forecaster:
    """Train on rows [0, TRAIN_END), early-stop on [TRAIN_END, VAL_END); best weights kept."""
    # the attention path alone: these checks are about what attention learns to read
    cfg = ModelConfig(n_channels=series.shape[1], n_targets=n_targets, linear_path=False,
                      **model)
    torch.manual_seed(0)
    net = build_model(cfg)
    data = torch.from_numpy(series.astype(np.float32))
    L, H = cfg.lookback, cfg.horizon

    def part(first: int, end: int) -> Windows:
        return Windows(data, window_starts(first, end, L, H), L, H, n_targets)

    loop = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, patience=4, seed=0, device="cpu")
    train(net, part(0, TRAIN_END), part(TRAIN_END, VAL_END), loop, SilentObserver())
    return net.eval()


def test_windows(series: np.ndarray, lookback: int, horizon: int, n_targets: int
                 ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Inputs (B, L, C), targets (B, H, T) and start rows of every window after VAL_END."""
    starts = window_starts(VAL_END, len(series), lookback, horizon)
    data = torch.from_numpy(series.astype(np.float32))
    x, y = Windows(data, starts, lookback, horizon, n_targets).batch(torch.arange(len(starts)))
    return x, y, starts.numpy()


test_windows.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def copy_series() -> np.ndarray:
    """(1500, 2): target y first, then the driver x that y repeats LAG steps later."""
    x, y = copy_task(n=1500, lag=LAG)
    return np.stack([y, x], axis=1)


def copied_index(step: int) -> int:
    """Window row of the input that forecast step `step` (1-based) copies."""
    return LOOKBACK - 1 + step - LAG


def hit_rate(maps: torch.Tensor) -> float:
    """Share of (window, step) pairs whose top input is within one row of the copied one,
    over the steps whose copied input lies inside the window."""
    inside = [h for h in range(1, HORIZON + 1) if copied_index(h) < LOOKBACK]
    hits = [(maps[:, h - 1].argmax(-1) - copied_index(h)).abs() <= 1 for h in inside]
    return float(torch.stack(hits).float().mean())


@pytest.fixture(scope="module")
def copy_transformer(copy_series: np.ndarray) -> Forecaster:
    """Not channel-independent (the target must see the driver), one token per step."""
    return fit_windows(copy_series, 1, epochs=12, kind="transformer", lookback=LOOKBACK,
                       horizon=HORIZON, channel_independent=False, patch_len=1, stride=1,
                       d_model=32, n_heads=4, d_ff=64, dropout=0.0)


@pytest.fixture(scope="module")
def copy_lstm(copy_series: np.ndarray) -> Forecaster:
    return fit_windows(copy_series, 1, epochs=12, kind="lstm-attn", lookback=LOOKBACK,
                       horizon=HORIZON, attention="general", channel_independent=False,
                       d_model=32, dropout=0.0, patch_len=1, stride=1)


@pytest.mark.slow
def test_transformer_rollout_finds_the_copied_input(copy_transformer: Forecaster,
                                                    copy_series: np.ndarray):
    """The default reduction's top input is the copied one for most steps that can see it.

    Measured (seed 0): rollout 100% of (window, step) pairs, last_layer_mean 6%. The model
    copies through the residual stream and its flatten head, not through attention: each
    layer's maps stay near uniform, so a single layer's map (last_layer_mean) points
    anywhere, and only the head-importance weighting inside the rollout singles the copied
    token out. With that weighting taken from plain head-weight norms rollout scored 45%
    (20-49% over three seeds), because the 23 tokens a step never read kept their random
    initial weights; squared norms (each token's share of the output variance) fixed it.
    """
    net = copy_transformer
    x, y, _ = test_windows(copy_series, LOOKBACK, HORIZON, 1)
    with torch.no_grad():
        out = net(x)
    mse = float(torch.mean((out.prediction - y) ** 2))
    rates = {name: round(hit_rate(m), 3) for name, m in out.alternatives.items()}
    print(f"\ntransformer copy: test mse {mse:.3f} (target variance {float(y.var()):.3f}), "
          f"hit rates {rates}")
    assert net.reduction == "rollout"
    assert torch.equal(out.attention, out.alternatives["rollout"])
    assert mse < 0.3 * float(torch.var(y)), "the transformer did not learn the copy"
    assert rates["rollout"] >= 0.8, f"rollout found the copied input in {rates}"


PERIOD, S_LOOKBACK, S_HORIZON = 12, 48, 4


@pytest.fixture(scope="module")
def spike_series() -> np.ndarray:
    """(1500, 1): zero but for a spike of 1 every PERIOD steps, plus noise of std 0.05."""
    rng = np.random.default_rng(0)
    return ((np.arange(1500) % PERIOD == 0) + 0.05 * rng.normal(size=1500))[:, None]


@pytest.fixture(scope="module")
def spike_lstm(spike_series: np.ndarray) -> Forecaster:
    return fit_windows(spike_series, 1, epochs=15, kind="lstm-attn", lookback=S_LOOKBACK,
                       horizon=S_HORIZON, attention="general", d_model=32, dropout=0.0,
                       patch_len=1, stride=1)


def same_phase_mass(net: Forecaster, series: np.ndarray) -> tuple[float, float, int]:
    """Mean attention mass on inputs at lags PERIOD, 2·PERIOD, ... from each forecast step
    that lands on a spike, what a uniform map would put there, and how many such steps."""
    x, _, starts = test_windows(series, S_LOOKBACK, S_HORIZON, 1)
    with torch.no_grad():
        maps = net(x).attention
    rows = torch.arange(S_LOOKBACK)
    same, uniform = [], []
    for b, start in enumerate(starts):
        for h in range(1, S_HORIZON + 1):
            target_row = S_LOOKBACK - 1 + h  # the forecast step, in window rows
            if (start + target_row) % PERIOD:
                continue
            phase = (target_row - rows) % PERIOD == 0
            same.append(float(maps[b, h - 1][phase].sum()))
            uniform.append(float(phase.float().mean()))
    return float(np.mean(same)), float(np.mean(uniform)), len(same)


@pytest.mark.slow
def test_lstm_weighs_the_same_phase_of_earlier_periods(spike_lstm: Forecaster,
                                                       spike_series: np.ndarray):
    """Forecasting a spike, the map weighs earlier spikes (same phase) >= 2x uniform.

    Measured: 2.67x with the default seed (2.3x-2.7x over seeds 0-3 in a sweep), the mass
    peaking at lags 12, 24 and 36 from the forecast step over a diffuse floor (the mean
    over four heads). The decoder's queries do not see the window, so the forecast can
    reach an earlier spike only through the attention. With a query built from the last
    state it was 0.0x/10.4x/2.0x/1.7x/0.9x uniform over five seeds: that state counts the
    steps since the last spike, so the forecast needed no earlier period and the map
    pointed wherever the context happened to read (models/lstm_attention.py).
    """
    net = spike_lstm
    x, y, _ = test_windows(spike_series, S_LOOKBACK, S_HORIZON, 1)
    with torch.no_grad():
        mse = float(torch.mean((net(x, False).prediction - y) ** 2))
    same, uniform, n_steps = same_phase_mass(net, spike_series)
    print(f"\nseasonal: test mse {mse:.4f} (variance {float(y.var()):.4f}), {n_steps} spike "
          f"steps, same-phase mass {same:.3f} vs uniform {uniform:.3f}: {same / uniform:.2f}x")
    assert mse < 0.3 * float(torch.var(y)), "the LSTM did not learn the spikes"
    assert same >= 2 * uniform, f"same-phase mass only {same / uniform:.2f}x uniform"


def deletion_ratio(net: Forecaster, series: np.ndarray, n_windows: int = 100,
                   share: float = 0.1, draws: int = 10) -> tuple[float, float, float]:
    """MSE increase from replacing each window's top `share` attended input rows (mean map
    over forecast steps) by the window mean, and the mean increase over `draws` random
    choices of as many rows. Returns (top increase, random increase, their ratio)."""
    x, y, _ = test_windows(series, net.cfg.lookback, net.cfg.horizon, net.cfg.n_targets)
    pick = torch.linspace(0, len(x) - 1, n_windows).round().long()
    x, y = x[pick], y[pick]
    k = max(1, int(np.ceil(share * net.cfg.lookback)))

    def mse_with_blanked(rows: torch.Tensor) -> float:  # rows (B, k) to replace
        blanked = x.clone()
        mean = x.mean(dim=1, keepdim=True).expand_as(x)
        mask = torch.zeros(x.shape[:2], dtype=torch.bool).scatter_(1, rows, True)
        blanked[mask] = mean[mask]
        with torch.no_grad():
            return float(torch.mean((net(blanked, False).prediction - y) ** 2))

    with torch.no_grad():
        out = net(x)
        base = float(torch.mean((out.prediction - y) ** 2))
    top = mse_with_blanked(out.attention.mean(dim=1).topk(k, dim=-1).indices) - base
    generator = torch.Generator().manual_seed(0)
    random = np.mean([
        mse_with_blanked(torch.rand(x.shape[:2], generator=generator).topk(k, dim=-1).indices)
        - base for _ in range(draws)
    ])
    return top, float(random), top / float(random)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "data"), [("copy_lstm", "copy_series"),
                                           ("copy_transformer", "copy_series"),
                                           ("spike_lstm", "spike_series")])
def test_deleting_the_most_attended_inputs_hurts_most(model: str, data: str,
                                                      request: pytest.FixtureRequest):
    """Blanking each window's top-10% attended rows (by the mean map over forecast steps)
    with the window mean raises the MSE at least 2x as much as blanking random 10%."""
    net = request.getfixturevalue(model)
    top, random, ratio = deletion_ratio(net, request.getfixturevalue(data))
    print(f"\ndeletion ({model}): mse +{top:.3f} top-10% vs +{random:.3f} random-10%, "
          f"ratio {ratio:.1f}")
    assert top > 0
    assert ratio >= 2, f"blanking the top-attended inputs hurt only {ratio:.1f}x random"
