"""Forecasting models: tensors in, tensors out, through one registry.

Every model maps windows (B, L, C), targets first, to a `Forecast` in the same scaled
units, so callers never branch on the model kind.
"""

from __future__ import annotations

from tsattn.config import ModelConfig
from tsattn.errors import UsageError
from tsattn.models.base import Forecast, Forecaster, RevIN
from tsattn.models.lstm_attention import LSTMAttentionForecaster
from tsattn.models.transformer import TransformerForecaster

__all__ = [
    "MODELS",
    "Forecast",
    "Forecaster",
    "LSTMAttentionForecaster",
    "RevIN",
    "TransformerForecaster",
    "build_model",
]

MODELS: dict[str, type[Forecaster]] = {
    "lstm-attn": LSTMAttentionForecaster,
    "transformer": TransformerForecaster,
}


def build_model(cfg: ModelConfig) -> Forecaster:
    """The model named by `cfg.kind`; raises UsageError for an unknown kind or bad options."""
    if cfg.kind not in MODELS:
        raise UsageError(f"unknown model {cfg.kind!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[cfg.kind](cfg)
