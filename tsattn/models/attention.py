"""Attention scores that return their weights, and the reductions of raw maps to input steps.

Every score returns the softmax weights themselves, because those weights are the
forecast's explanation. Dropout, where a model wants it, is applied by the caller to a copy
afterwards, so the weights a user sees never depend on a random mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tsattn.errors import UsageError


class Score(nn.Module):
    """One interface for every score: `forward(query, keys) -> weights`.

    query (..., H, D) and keys (..., L, D) give weights (..., H, L), softmax over L, so each
    of the H rows is a distribution over the L keys. An optional `bias` (broadcast to
    (..., H, L)) is added to the logits first, for location terms that do not depend on
    content. Subclasses write only `scores`.
    """

    def forward(self, query: Tensor, keys: Tensor, bias: Tensor | None = None) -> Tensor:
        logits = self.scores(query, keys)
        return torch.softmax(logits if bias is None else logits + bias, dim=-1)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """Unnormalised logits (..., H, L)."""
        raise NotImplementedError


class DotScore(Score):
    """Luong's `dot`: q·k. No parameters; logits grow with the width, so it can saturate."""

    def __init__(self, dim: int) -> None:
        super().__init__()

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return query @ keys.transpose(-2, -1)


class ScaledDotScore(Score):
    """q·k/√d (Vaswani et al.): the dot score kept at unit scale whatever the width."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = dim**-0.5

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return query @ keys.transpose(-2, -1) * self.scale


class GeneralScore(Score):
    """Luong's `general`: qᵀ·W·k, a learned bilinear form between query and key."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Linear(dim, dim, bias=False)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return query @ self.weight(keys).transpose(-2, -1)


class AdditiveScore(Score):
    """Bahdanau's `additive`: vᵀ·tanh(W1·k + W2·q).

    The only score that is not a product: it builds a (B, H, L, D) hidden tensor, so its
    memory and time grow with B·H·L·D, far more than the others at long lookbacks.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w_key = nn.Linear(dim, dim, bias=False)
        self.w_query = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, 1, bias=False)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        # (..., 1, L, D) + (..., H, 1, D) -> (..., H, L, D)
        hidden = torch.tanh(self.w_key(keys).unsqueeze(-3) + self.w_query(query).unsqueeze(-2))
        return self.v(hidden).squeeze(-1)


SCORES: dict[str, type[Score]] = {
    "dot": DotScore,
    "general": GeneralScore,
    "additive": AdditiveScore,
    "scaled-dot": ScaledDotScore,
}


def build_score(name: str, dim: int) -> Score:
    """The score called `name` (a key of SCORES) for queries and keys of width `dim`."""
    if name not in SCORES:
        raise UsageError(f"unknown attention {name!r}; choose one of: {', '.join(SCORES)}")
    return SCORES[name](dim)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention written out, so its weights can be returned.

    PyTorch's fused kernels (`F.scaled_dot_product_attention`, or `nn.MultiheadAttention`
    as the encoder layer calls it) never materialise the weights. When they are asked for,
    softmax(QKᵀ/√d) is computed explicitly and returned before dropout; when they are not
    (every training step), the fused kernel computes the same function much faster.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.score = ScaledDotScore(dim // n_heads)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, need_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        """x (B, N, D) -> output (B, N, D) and weights (B, nh, N, N) or None."""
        B, N, D = x.shape
        # (B, N, 3D) -> (3, B, nh, N, hd)
        q, k, v = self.qkv(x).view(B, N, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        if need_weights:
            weights = self.score(q, k)  # (B, nh, N, N)
            mixed = self.dropout(weights) @ v  # (B, nh, N, hd)
        else:
            weights = None
            p = self.dropout.p if self.training else 0.0
            mixed = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.out(mixed.transpose(1, 2).reshape(B, N, D)), weights


def mean_over_heads(maps: Tensor) -> Tensor:
    """(..., heads, N, N) -> (..., N, N): the plain average, the usual first look at a layer."""
    return maps.mean(dim=-3)


def attention_rollout(maps: Tensor) -> Tensor:
    """(B, layers, heads, N, N) -> (B, N, N): how much each output token draws on each input.

    Abnar & Zuidema (2020): one layer's map ignores the residual path and what earlier
    layers already mixed. Per layer, average the heads, add the identity for the residual
    (0.5·A + 0.5·I), renormalise the rows, and multiply the layers from first to last.
    """
    B, n_layers, _, N, _ = maps.shape
    eye = torch.eye(N, dtype=maps.dtype, device=maps.device)
    rollout = eye.expand(B, N, N)
    for layer in range(n_layers):
        mixed = 0.5 * mean_over_heads(maps[:, layer]) + 0.5 * eye
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    return rollout


def spread_matrix(spans: Sequence[tuple[int, int]], lookback: int) -> Tensor:
    """(N, L) matrix whose row n spreads token n's weight evenly over the steps it covers.

    A patch that runs past the window's end covers padding that only repeats the last
    step; its weight is spread over its real steps, since crediting the padding to step
    L-1 drew a spike there that said nothing about the model. A token made of padding
    alone goes to step L-1. Every row sums to 1.
    """
    matrix = torch.zeros(len(spans), lookback)
    for n, (start, stop) in enumerate(spans):
        start = min(start, lookback - 1)
        stop = max(start + 1, min(stop, lookback))
        matrix[n, start:stop] = 1.0 / (stop - start)
    return matrix


def tokens_to_steps(
    token_weights: Tensor, spans: Sequence[tuple[int, int]], lookback: int
) -> Tensor:
    """Token weights (B, H, N) -> step weights (B, H, L); rows keep their sum (1 stays 1)."""
    matrix = spread_matrix(spans, lookback).to(token_weights)
    return token_weights @ matrix
