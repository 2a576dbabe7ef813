"""A PatchTST-like Transformer encoder (Nie et al., 2023) whose attention maps are kept.

Patching (tokens of `patch_len` steps every `stride` steps), channel independence and
RevIN are what made encoders competitive on the long-horizon benchmarks; the encoder
blocks are written here so that every layer's weights can be returned and summarised.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsattn.config import ModelConfig
from tsattn.models.attention import (
    MultiHeadSelfAttention,
    attention_rollout,
    mean_over_heads,
)
from tsattn.models.base import Forecast, Forecaster, sinusoidal_encoding, zero_output_layer
from tsattn.models.dropout import Dropout


class EncoderBlock(nn.Module):
    """Pre-norm block, x + MHSA(LN(x)) then x + FFN(LN(x)), returning its attention weights."""

    def __init__(self, dim: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        # no dropout on the attention weights (PatchTST's default): it lets training use the
        # fused attention kernel, and on a CPU it was the costliest op of a training step
        self.attention = MultiHeadSelfAttention(dim, n_heads, dropout=0.0)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, d_ff), nn.GELU(), Dropout(dropout), nn.Linear(d_ff, dim)
        )
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, need_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        """x (B, N, D) -> (B, N, D) and weights (B, nh, N, N) taken before dropout."""
        mixed, weights = self.attention(self.attention_norm(x), need_weights)
        x = x + self.dropout(mixed)
        return x + self.dropout(self.ffn(self.ffn_norm(x))), weights


class TransformerForecaster(Forecaster):
    """Patch embedding, sinusoidal positions, pre-norm encoder blocks, a flatten head.

    The window is cut into N patch tokens (`PatchLayout`); with patch_len = stride = 1
    every step is a token (N = L). In channel-independent mode each target is a univariate
    series sharing all weights and covariates are not used; otherwise a token holds the
    patch of every channel.

    Maps: the head's squared weight norms give how much forecast step h reads token n (imp, H x N),
    so each step gets its own map; a token-to-token reduction R (rollout, or the last
    layer's mean over heads) becomes imp @ R over tokens, then is spread over input steps.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        D = cfg.d_model
        self.n_tokens = self.patches.n_tokens
        self.attention_reduction = "rollout"
        self.register_buffer("positions", sinusoidal_encoding(self.n_tokens, D), persistent=False)
        self.embedding = nn.Linear(self.n_in * cfg.patch_len, D)
        self.dropout = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(D, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(self.n_tokens * D, cfg.horizon * self.n_out)
        if cfg.linear_path:
            zero_output_layer(self.head)

    def _forecast(self, x: Tensor, return_attention: bool) -> Forecast:
        B = x.shape[0]
        z = self.dropout(self.embedding(self.patches.cut(x)) + self.positions)  # (B, N, D)
        maps = []
        for block in self.blocks:
            z, weights = block(z, return_attention)
            maps.append(weights)
        z = self.norm(z).flatten(1)  # (B, N, D) -> (B, N·D)
        prediction = self.head(self.dropout(z)).view(B, self.cfg.horizon, self.n_out)
        if not return_attention:
            return Forecast(prediction)
        token_maps = torch.stack(maps, dim=1)  # (B, layers, heads, N, N)
        alternatives = {
            "last_layer_mean": self._to_steps(mean_over_heads(token_maps[:, -1])),
            "rollout": self._to_steps(attention_rollout(token_maps)),
        }
        return Forecast(prediction, alternatives["rollout"], alternatives, token_maps)

    def _to_steps(self, reduced: Tensor) -> Tensor:
        """Token-to-token map (B, N, N) -> per-forecast-step map over input steps (B, H, L)."""
        return self._step_importance() @ reduced @ self.spread

    def _step_importance(self) -> Tensor:
        """(H, N): share of forecast step h's head output that reads token n.

        The head's weight (H·n_out, N·D) is viewed as (H, n_out, N, D). For a normalised
        token z_n (the final LayerNorm makes its entries about unit variance), W_hn·z_n
        varies with ‖W_hn‖², so the squared norm over D is each token's share of the
        step's output variance, normalised over the N tokens. The plain norm was not: the
        tokens a step never learned to read keep their random initial weights, and on a
        copy task (tests/test_faithfulness.py) 23 of them together outweighed the one token
        the head did read, so rollout found the copied input in under half of the windows.
        """
        H, D = self.cfg.horizon, self.cfg.d_model
        weight = self.head.weight.view(H, self.n_out, self.n_tokens, D)
        # + a tiny floor: the head starts at zero (an untrained model is its linear path),
        # and a step that reads no token yet gets the uniform map instead of 0/0
        importance = weight.square().sum(dim=-1).mean(dim=1) + 1e-20  # (H, N)
        return importance / importance.sum(dim=-1, keepdim=True)
