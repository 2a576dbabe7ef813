"""Where tensors live and in which precision: shared by training and inference alike."""

from __future__ import annotations

from typing import Any

import torch

from tsattn.errors import UsageError


def resolve_device(spec: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU; an explicit device must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise UsageError(f"unknown --device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {spec} needs a CUDA GPU but none is here; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps needs Apple's GPU but it is not available; use --device cpu")
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the float32 parts outside autocast
    return device


def autocast_for(device: torch.device) -> Any:
    """bf16 autocast on CUDA (Ampere and Hopper run bf16 matmuls at full rate), else none."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
