"""Contracts of every registered model, and hand-computed checks of the attention pieces."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tsattn.config import ATTENTION_KINDS, MODEL_KINDS, ModelConfig
from tsattn.errors import DataError, UsageError
from tsattn.models import Forecast, Forecaster, RevIN, build_model, model_class
from tsattn.models.attention import (
    SCORES,
    MultiHeadSelfAttention,
    attention_rollout,
    build_score,
    tokens_to_steps,
)
from tsattn.models.base import in_window_spread
from tsattn.models.dropout import Dropout
from tsattn.models.lstm_attention import recency_prior

SMALL = ModelConfig(lookback=48, horizon=8, d_model=16, n_heads=2, d_ff=32, patch_len=16, stride=8)


def small(kind: str, **changes: object) -> ModelConfig:
    return dataclasses.replace(SMALL, kind=kind, **changes)


CASES = {
    **{f"lstm-{name}": small("lstm-attn", attention=name) for name in SCORES},
    "lstm-bidirectional": small("lstm-attn", bidirectional=True),
    "lstm-one-layer": small("lstm-attn", n_layers=1),
    "lstm-step-tokens": small("lstm-attn", patch_len=1, stride=1),
    "lstm-no-revin": small("lstm-attn", revin=False),
    "lstm-revin-last": small("lstm-attn", revin_anchor="last"),
    "lstm-mixed-channels": small(
        "lstm-attn", channel_independent=False, n_channels=3, n_targets=2, attention="additive"
    ),
    "lstm-independent-targets": small("lstm-attn", n_channels=3, n_targets=2),
    "lstm-no-linear-path": small("lstm-attn", linear_path=False),
    "transformer-patch16": small("transformer"),
    "transformer-no-linear-path": small("transformer", linear_path=False),
    "transformer-step-tokens": small("transformer", patch_len=1, stride=1),
    "transformer-no-revin": small("transformer", revin=False, n_layers=1),
    "transformer-revin-last": small("transformer", revin_anchor="last"),
    "transformer-mixed-channels": small(
        "transformer", channel_independent=False, n_channels=3, n_targets=2
    ),
    "transformer-independent-targets": small("transformer", n_channels=3, n_targets=2),
}
REVIN_CASES = {name: cfg for name, cfg in CASES.items() if cfg.revin}
LINEAR_CASES = {name: cfg for name, cfg in CASES.items() if cfg.linear_path}


def window(cfg: ModelConfig, batch: int = 4) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, cfg.lookback, cfg.n_channels, generator=generator)


def built(cfg: ModelConfig, seed: int = 0) -> Forecaster:
    """A model as if partly trained: random weights, its zero-started last layer included,
    and a random linear path, so contract tests see every path's output."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.abs().sum():  # the zero-started last layer
                parameter.normal_(0, 0.1)
        if model.linear is not None:
            model.linear.load_solution(torch.randn(cfg.lookback, cfg.horizon) * 0.05)
    return model


def assert_distribution_rows(maps: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert maps.shape == shape
    assert (maps >= 0).all()
    torch.testing.assert_close(maps.sum(-1), torch.ones(shape[:-1]), atol=1e-5, rtol=0)


def test_every_attention_choice_has_a_score() -> None:
    """The CLI's list stays torch-free in config.py; the scores live beside the models."""
    assert tuple(SCORES) == ATTENTION_KINDS


def test_registry_holds_every_configurable_kind() -> None:
    assert all(issubclass(model_class(kind), Forecaster) for kind in MODEL_KINDS)


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(UsageError, match="lstm-attn, transformer"):
        build_model(small("gru"))


def test_impossible_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="n-heads"):
        build_model(small("transformer", d_model=10, n_heads=4))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_window_of_wrong_shape_is_a_data_error(kind: str) -> None:
    model = built(small(kind))
    with pytest.raises(DataError, match="48 rows"):
        model(torch.zeros(2, 40, 1))


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_shapes_and_maps(cfg: ModelConfig) -> None:
    out = built(cfg)(window(cfg))
    B, H, L = 4, cfg.horizon, cfg.lookback
    assert out.prediction.shape == (B, H, cfg.n_targets)
    assert_distribution_rows(out.attention, (B, H, L))
    for maps in out.alternatives.values():
        assert_distribution_rows(maps, (B, H, L))
    if out.token_maps is not None:
        N = len(built(cfg).token_spans)
        assert_distribution_rows(out.token_maps, (B, cfg.n_layers, cfg.n_heads, N, N))


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_token_spans_cover_the_window(cfg: ModelConfig) -> None:
    model = built(cfg)
    covered = set()
    for start, stop in model.token_spans:
        assert 0 <= start < stop <= cfg.lookback
        covered.update(range(start, stop))
    assert covered == set(range(cfg.lookback))


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_default_map_is_named_by_reduction(cfg: ModelConfig) -> None:
    model = built(cfg).eval()
    out = model(window(cfg))
    if cfg.linear_path:  # the default map is `read`; the attention path's own map beside it
        assert model.reduction == "read"
        own = out.alternatives[model.attention_reduction]
        assert_distribution_rows(own, (4, cfg.horizon, cfg.lookback))
        assert not torch.equal(own, out.attention)
    else:
        named = {"attention": out.attention, **out.alternatives}
        torch.testing.assert_close(named[model.reduction], out.attention, rtol=0, atol=0)


def test_a_silent_model_with_a_zero_linear_path_reads_the_last_row() -> None:
    cfg = small("transformer")
    model = build_model(cfg).eval()  # W = 0 is repeat-last; the attention path adds nothing
    with torch.no_grad():
        out = model(window(cfg))
    assert (out.attention.argmax(dim=-1) == cfg.lookback - 1).all()
    assert float(out.attention[..., -1].min()) > 0.99


def test_row_coefficients_rebuild_the_linear_forecast() -> None:
    cfg = small("lstm-attn", n_channels=3, n_targets=1)
    model = built(cfg).eval()
    with torch.no_grad():
        model.linear.covariate_weight.normal_(0, 0.1)
        x = window(cfg)
        base, _ = model.linear(x)
        by_rows = torch.einsum("bl,lh->bh", x[..., 0], model.linear.row_coefficients())
        Lc = model.linear.covariate_lookback
        by_rows += torch.einsum("blk,lkh->bh", x[:, -Lc:, 1:],
                                model.linear.covariate_row_coefficients()[0])
    torch.testing.assert_close(base[..., 0], by_rows, atol=1e-4, rtol=1e-4)


def test_in_window_spread_is_the_mean_absolute_difference_and_never_negative() -> None:
    values = torch.randn(3, 40, 2) * 100 + 1e4
    values[0, :, 0] = 5.0  # a constant channel: every difference is 0, none below
    expected = (values.double().unsqueeze(2) - values.double().unsqueeze(1)).abs().mean(2)
    spread = in_window_spread(values)
    assert bool((spread >= 0).all())
    torch.testing.assert_close(spread.double(), expected, atol=1e-3, rtol=1e-5)


def test_read_map_follows_the_linear_weights_when_the_attention_path_is_silent() -> None:
    cfg = small("lstm-attn")
    model = build_model(cfg).eval()  # last layer at zero: the attention path adds nothing
    weight = torch.zeros(cfg.lookback, cfg.horizon)
    weight[30, :] = 1.0  # every step reads input row 30 only
    model.linear.load_solution(weight)
    with torch.no_grad():
        out = model(window(cfg))
    assert (out.attention.argmax(dim=-1) == 30).all()
    assert float(out.attention[..., 30].min()) > 0.99


def assert_identical(a: Forecast, b: Forecast) -> None:
    """The same prediction and map, bit for bit."""
    torch.testing.assert_close(a.prediction, b.prediction, rtol=0, atol=0)
    torch.testing.assert_close(a.attention, b.attention, rtol=0, atol=0)


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_eval_mode_is_deterministic(cfg: ModelConfig) -> None:
    model = built(cfg).eval()
    assert_identical(model(window(cfg)), model(window(cfg)))


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_gradients_reach_every_parameter(cfg: ModelConfig) -> None:
    model = built(cfg).train()
    model(window(cfg), return_attention=False).prediction.pow(2).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cfg", LINEAR_CASES.values(), ids=LINEAR_CASES.keys())
def test_an_untrained_model_forecasts_its_linear_path(cfg: ModelConfig) -> None:
    model = build_model(cfg).eval()
    solution = torch.randn(cfg.lookback, cfg.horizon)
    model.linear.load_solution(solution)
    x = window(cfg)
    targets = x[..., : cfg.n_targets]
    last = targets[:, -1:]
    expected = torch.einsum("blt,lh->bht", targets - last, solution) + last
    out = model(x)
    torch.testing.assert_close(out.prediction, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.linear, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_skipping_attention_keeps_the_prediction(cfg: ModelConfig) -> None:
    model = built(cfg).eval()
    full, bare = model(window(cfg)), model(window(cfg), return_attention=False)
    # without weights the transformer uses the fused attention kernel: the same function
    # summed in another order, so equal to float32 rounding rather than bit for bit
    torch.testing.assert_close(bare.prediction, full.prediction, rtol=1e-5, atol=1e-5)
    assert bare.attention is None and bare.token_maps is None and not bare.alternatives


@pytest.mark.parametrize("cfg", CASES.values(), ids=CASES.keys())
def test_state_dict_round_trip(cfg: ModelConfig) -> None:
    original = built(cfg, seed=0).eval()
    restored = built(cfg, seed=1).eval()
    restored.load_state_dict(original.state_dict())
    assert_identical(restored(window(cfg)), original(window(cfg)))


@pytest.mark.parametrize("cfg", REVIN_CASES.values(), ids=REVIN_CASES.keys())
def test_revin_moves_the_forecast_with_the_level(cfg: ModelConfig) -> None:
    model = built(cfg).eval()
    x = window(cfg)
    shifted = model(x + 3.0).prediction
    torch.testing.assert_close(shifted, model(x).prediction + 3.0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("anchor", ["last", "mean"])
def test_revin_round_trip_restores_the_input(anchor: str) -> None:
    revin = RevIN(3, anchor=anchor)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([0.5, 2.0, 1.5]))
        revin.bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
    x = torch.randn(2, 10, 3) * 4 + 7
    normalized, level, std = revin.normalize(x)
    expected = x[:, -1:] if anchor == "last" else x.mean(dim=1, keepdim=True)
    torch.testing.assert_close(level, expected)
    torch.testing.assert_close(revin.denormalize(normalized, std) + level, x)


@pytest.mark.parametrize("kind", ["transformer", "lstm-attn"])
def test_patch_tokens_and_their_spans(kind: str) -> None:
    patched = built(small(kind, patch_len=16, stride=8))
    # 48 rows padded by 8 -> (48 + 8 - 16) // 8 + 1 = 6 patches, the last one clipped
    assert patched.token_spans == [(0, 16), (8, 24), (16, 32), (24, 40), (32, 48), (40, 48)]
    stepwise = built(small(kind, patch_len=1, stride=1))
    assert stepwise.token_spans == [(i, i + 1) for i in range(48)]


def test_transformer_forecast_steps_get_their_own_maps() -> None:
    attention = built(small("transformer"))(window(SMALL)).attention
    assert not torch.allclose(attention[:, 0], attention[:, -1])


def sine_windows(cfg: ModelConfig, count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of a noiseless sine (period 24) and the horizon that follows each."""
    t = torch.arange(count + cfg.lookback + cfg.horizon, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 24)
    rows = torch.arange(cfg.lookback + cfg.horizon) + torch.arange(count).unsqueeze(1)
    cut = series[rows].unsqueeze(-1)  # (count, L + H, 1)
    return cut[:, : cfg.lookback], cut[:, cfg.lookback :]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_training_on_a_sine_wave_cuts_the_loss(kind: str) -> None:
    cfg = small(kind, d_model=32, dropout=0.0, horizon=12)
    model = built(cfg)
    x, y = sine_windows(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        loss = torch.nn.functional.mse_loss(model(x, return_attention=False).prediction, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 20


Q = torch.tensor([[[1.0, 0.0]]])  # (B=1, H=1, D=2)
K = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (B=1, L=2, D=2)


def softmax2(a: float, b: float) -> torch.Tensor:
    return torch.tensor([[[math.exp(a), math.exp(b)]]]) / (math.exp(a) + math.exp(b))


def test_dot_and_scaled_dot_scores() -> None:
    torch.testing.assert_close(build_score("dot", 2)(Q, K), softmax2(1.0, 0.0))
    torch.testing.assert_close(build_score("scaled-dot", 2)(Q, K), softmax2(2**-0.5, 0.0))


def test_general_score_uses_its_bilinear_form() -> None:
    score = build_score("general", 2)
    with torch.no_grad():
        score.weight.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # W swaps axes
    torch.testing.assert_close(score(Q, K), softmax2(0.0, 1.0))


def test_additive_score_by_hand() -> None:
    score = build_score("additive", 2)
    with torch.no_grad():
        score.w_key.weight.copy_(torch.eye(2))
        score.w_query.weight.copy_(torch.eye(2))
        score.v.weight.fill_(1.0)
    # tanh(k + q): k1 -> tanh([2, 0]), k2 -> tanh([1, 1])
    torch.testing.assert_close(score(Q, K), softmax2(math.tanh(2), 2 * math.tanh(1)))


def test_a_location_bias_is_added_to_the_logits() -> None:
    weights = build_score("dot", 2)(Q, K, bias=torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(weights, softmax2(1.0, 1.0))


def test_recency_prior_falls_by_four_over_the_tokens() -> None:
    expected = torch.tensor([[-3.0, -2.0, -1.0, 0.0]] * 2)
    torch.testing.assert_close(recency_prior(horizon=2, n_tokens=4), expected)


def test_unknown_score_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="scaled-dot"):
        build_score("cosine", 2)


def test_self_attention_returns_row_stochastic_weights() -> None:
    out, weights = MultiHeadSelfAttention(8, 2, dropout=0.5).train()(torch.randn(3, 5, 8))
    assert out.shape == (3, 5, 8)
    assert_distribution_rows(weights, (3, 2, 5, 5))


def test_attention_rollout_by_hand() -> None:
    identity, swap = torch.eye(2), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    first = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    maps = torch.stack([torch.stack([identity, swap]), torch.stack([first, first])])[None]
    # layer 1: heads average to 0.5 everywhere -> [[.75, .25], [.25, .75]] with the residual
    # layer 2: [[1, 0], [.5, .5]]; rollout = layer 2 @ layer 1
    expected = torch.tensor([[[0.75, 0.25], [0.5, 0.5]]])
    torch.testing.assert_close(attention_rollout(maps), expected)


def test_tokens_to_steps_spreads_over_real_steps_only() -> None:
    weights = torch.tensor([[[0.5, 0.25, 0.25]]])
    # the second token covers steps 1-2 plus one padded step: its weight goes to 1 and 2;
    # the third token is padding alone and counts as the last step
    steps = tokens_to_steps(weights, [(0, 2), (1, 4), (3, 5)], lookback=3)
    torch.testing.assert_close(steps, torch.tensor([[[0.25, 0.375, 0.375]]]))


def test_fast_dropout_keeps_the_expectation_and_the_mask_in_the_gradient() -> None:
    drop = Dropout(0.2)
    x = torch.ones(200_000, requires_grad=True)
    torch.manual_seed(0)
    y = drop(x)
    kept = y != 0
    assert abs(float(kept.float().mean()) - (1 - 51 / 256)) < 0.005  # p rounds to 51/256
    assert torch.allclose(y[kept], torch.full_like(y[kept], 256 / 205))
    assert abs(float(y.detach().mean()) - 1.0) < 0.01
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # d(x·m·s)/dx = m·s, here equal to y
    torch.manual_seed(0)
    torch.testing.assert_close(drop(x), y)  # the seed fixes the mask
    drop.eval()
    assert drop(x) is x
