"""A third model kind for the registry test: the whole of what a new kind must write.

Each forecast step h reads the window through one learned softmax row over the input
steps (its attention map) and maps that mix of channels to the targets.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsattn.config import ModelConfig
from tsattn.models.base import Forecast, Forecaster


class ToyForecaster(Forecaster):
    """Learned per-step attention over the input steps, then a linear map of channels."""

    attention_reduction = "toy"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.scores = nn.Parameter(torch.zeros(cfg.horizon, cfg.lookback))
        self.head = nn.Linear(self.n_in, self.n_out)

    def _forecast(self, x: Tensor, return_attention: bool) -> Forecast:
        weights = torch.softmax(self.scores, dim=-1)  # (H, L), rows sum to 1
        mixed = torch.einsum("hl,blc->bhc", weights, x)  # (B, L, C) -> (B, H, C)
        attention = weights.expand(x.shape[0], -1, -1) if return_attention else None
        return Forecast(prediction=self.head(mixed), attention=attention)
