"""Cutting a window into patch tokens, shared so that --patch-len and --stride mean the
same thing in every model.

A patch of P steps every S steps is the token of PatchTST (Nie et al., 2023) and the
segment of SegRNN (Lin et al., 2023): it shortens the sequence a model runs over by about
S times (the transformer's attention is quadratic in it, the LSTM is sequential in it) and
gives each token a local shape rather than one noisy value. With P = S = 1 every step is
its own token and nothing is padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tsattn.config import ModelConfig
from tsattn.models.attention import spread_matrix


@dataclass(frozen=True)
class PatchLayout:
    """Where the N tokens of an L-step window lie.

    The window is padded at its end by repeating its last value S times (as PatchTST) and
    cut into N = (L + S - P)//S + 1 patches. `spans` are the rows [start, stop) of each
    token clipped to the window, for summaries; `spread` (N, L) spreads a token's weight
    over the real steps it covers.
    """

    lookback: int
    patch_len: int
    stride: int

    @classmethod
    def of(cls, cfg: ModelConfig) -> PatchLayout:
        return cls(cfg.lookback, cfg.patch_len, cfg.stride)

    @property
    def padding(self) -> int:
        return 0 if self.patch_len == self.stride == 1 else self.stride

    @property
    def n_tokens(self) -> int:
        return (self.lookback + self.padding - self.patch_len) // self.stride + 1

    @property
    def spans(self) -> list[tuple[int, int]]:
        L = self.lookback
        raw = self._raw_spans()
        return [(min(start, L - 1), min(stop, L)) for start, stop in raw]

    def spread(self) -> Tensor:
        return spread_matrix(self._raw_spans(), self.lookback)

    def cut(self, x: Tensor) -> Tensor:
        """x (B, L, C) -> patches (B, N, C·P), the channels of one patch side by side."""
        x = x.transpose(1, 2)  # (B, C, L)
        if self.padding:
            x = torch.cat([x, x[..., -1:].expand(-1, -1, self.padding)], dim=-1)
        patches = x.unfold(-1, self.patch_len, self.stride)  # (B, C, N, P)
        return patches.transpose(1, 2).flatten(2)

    def _raw_spans(self) -> list[tuple[int, int]]:
        P, S = self.patch_len, self.stride
        return [(n * S, n * S + P) for n in range(self.n_tokens)]
