"""Dropout whose CPU mask is drawn as random bytes, four per 32-bit draw.

On a CPU, torch's dropout draws its mask one element at a time on one thread: at the
ETTh1 sizes of the time-to-quality benchmark (lookback 96) its eight calls were 40% of a
transformer training step on 2 cores (cProfile). One 32-bit draw gives the mask bits of
four elements, and comparing bytes with round(p·256) is 4x faster per call. The drop
probability is therefore rounded to a multiple of 1/256 (0.2 becomes 0.199); kept values
are scaled by 256/(256 - k) so the expectation is unchanged, as in `nn.Dropout`. The bits
come from torch's global generator, so `torch.manual_seed` fixes them and a resumed run
draws the same masks. Other devices keep torch's own kernel, which is fast there.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Dropout(nn.Dropout):
    """`nn.Dropout` with the fast CPU mask of the module docstring."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        dropped = min(255, round(self.p * 256))  # of 256 byte values, this many drop
        n = x.numel()
        words = torch.randint(-(2**31), 2**31 - 1, ((n + 3) // 4,), dtype=torch.int32)
        keep = words.view(torch.uint8)[:n].view(x.shape) >= dropped
        return x * (keep * (256.0 / (256 - dropped))).to(x.dtype)
