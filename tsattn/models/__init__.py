"""Forecasting models: tensors in, tensors out, through one registry.

Every model maps windows (B, L, C), targets first, to a `Forecast` in the same scaled
units, so callers never branch on the model kind.
"""

from __future__ import annotations

import importlib

from tsattn.config import MODEL_KINDS, ModelConfig
from tsattn.errors import UsageError
from tsattn.models.base import Forecast, Forecaster, RevIN
from tsattn.models.lstm_attention import LSTMAttentionForecaster
from tsattn.models.transformer import TransformerForecaster

__all__ = [
    "Forecast",
    "Forecaster",
    "LSTMAttentionForecaster",
    "RevIN",
    "TransformerForecaster",
    "build_model",
    "model_class",
]


def model_class(kind: str) -> type[Forecaster]:
    """The class registered for `kind` in `config.MODEL_KINDS`, imported on first use."""
    if kind not in MODEL_KINDS:
        raise UsageError(f"unknown model {kind!r}; choose one of: {', '.join(MODEL_KINDS)}")
    module, name = MODEL_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def build_model(cfg: ModelConfig) -> Forecaster:
    """The model named by `cfg.kind`; raises UsageError for an unknown kind or bad options."""
    return model_class(cfg.kind)(cfg)
