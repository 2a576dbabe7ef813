"""Encoder LSTM with attention over every hidden state, and a parallel decoder.

The seq2seq + attention design (Bahdanau et al., 2015; Luong et al., 2015) keeps *every*
encoder state instead of squeezing the window into the last one. The decoder here is not
autoregressive: each forecast step has its own query, so all H steps are scored in one
batched product, which trains much faster on a CPU than stepping a decoder LSTM H times.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsattn.config import ModelConfig
from tsattn.models.attention import build_score
from tsattn.models.base import Forecast, Forecaster, sinusoidal_encoding


def recency_prior(horizon: int, lookback: int) -> Tensor:
    """(H, L) logits -4·(L-1-i)/L: every step starts on a soft, recency-weighted mean of the
    window whose oldest step still keeps e^-4 of the newest step's weight, so any lag can
    still be found by the gradient."""
    steps_back = torch.arange(lookback - 1, -1, -1, dtype=torch.float32)
    return (-4.0 / lookback * steps_back).expand(horizon, lookback).clone()


class _RecurrentLayer(nn.Module):
    """One LSTM layer of width D; a bidirectional one projects its 2D states back to D."""

    def __init__(self, dim: int, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=bidirectional)
        self.project = nn.Linear(2 * dim, dim) if bidirectional else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.lstm(x)[0])  # (B, L, D or 2D) -> (B, L, D)


class LSTMAttentionForecaster(Forecaster):
    """LSTM encoder, `cfg.attention` score over its states, one query per forecast step.

    Encoder: a linear input projection C -> D plus sinusoidal position codes (so the first
    layer, like the others, works at width D, and every state knows where it sits in the
    window), then `n_layers` LSTM layers, each added to its input (a skip connection that
    keeps deep stacks trainable), dropout between. Decoder, for each step h:
    q_h = tanh(W·[h_last ; e_h]) from the last encoder state and a learned step embedding;
    weights a_h = softmax(score(q_h, hs) + b_h) over all L states; context
    c_h = Σ_i a_hi·hs_i; y_h = MLP([q_h ; c_h]). `attention` is a (B, H, L). h_last is the
    top layer's state at the last step; when bidirectional, its backward half has seen only
    that step, and the attention context carries the rest of the window.

    b (H, L) is a learned location term (Luong et al.'s location-based attention), started
    as a recency prior that falls by 4/L per step back, as ALiBi (Press et al., 2022) does.
    It breaks a symmetry that otherwise stalls training: after RevIN every window channel
    has mean zero, so a uniform first attention yields an empty context, neither the output
    nor the score learns to use it, and the map stays meaningless. Position codes and b let
    a forecast step find a fixed lag (a copied input, a seasonal period) in a few hundred
    steps with every score.

    With `channel_independent` each target is its own univariate series sharing all
    weights, covariates are not used, and the map is the mean over targets. Patch options
    do not apply: every input step is its own token.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        D = cfg.d_model
        self.input_projection = nn.Linear(self.n_in, D)
        self.register_buffer("positions", sinusoidal_encoding(cfg.lookback, D), persistent=False)
        self.layers = nn.ModuleList(
            _RecurrentLayer(D, cfg.bidirectional) for _ in range(cfg.n_layers)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.step_embedding = nn.Parameter(torch.randn(cfg.horizon, D) * 0.02)
        self.query = nn.Linear(2 * D, D)
        self.score = build_score(cfg.attention, D)
        self.location = nn.Parameter(recency_prior(cfg.horizon, cfg.lookback))
        self.output = nn.Sequential(
            nn.Linear(2 * D, cfg.d_ff),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_ff, self.n_out),
        )
        self.token_spans = [(i, i + 1) for i in range(cfg.lookback)]
        self.reduction = "attention"

    def _forecast(self, x: Tensor, return_attention: bool) -> Forecast:
        hs = self._encode(x)  # (B, L, D)
        B, _, D = hs.shape
        H = self.cfg.horizon
        # (B, D) and (H, D) -> (B, H, 2D): one query per forecast step
        last = hs[:, -1:].expand(B, H, D)
        steps = self.step_embedding.expand(B, H, D)
        query = torch.tanh(self.query(torch.cat([last, steps], dim=-1)))  # (B, H, D)
        weights = self.score(query, hs, bias=self.location)  # (B, H, L)
        context = self.dropout(weights) @ hs  # (B, H, L) @ (B, L, D) -> (B, H, D)
        prediction = self.output(torch.cat([query, context], dim=-1))  # (B, H, n_out)
        return Forecast(prediction, weights if return_attention else None)

    def _encode(self, x: Tensor) -> Tensor:
        """x (B, L, n_in) -> every hidden state of the top layer, (B, L, D)."""
        hs = self.input_projection(x) + self.positions
        for layer in self.layers:
            hs = hs + self.dropout(layer(hs))
        return hs
