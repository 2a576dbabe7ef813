"""Sliding windows cut from one device tensor by index arithmetic.

Common pipelines build a Python `Dataset.__getitem__` per window and copy every batch to
the device; here each data part lives on the device once, a window is only its start row,
and a batch is one gather. Shuffling permutes start indices on the device too.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def window_starts(first_target: int, end: int, lookback: int, horizon: int) -> Tensor:
    """Start rows of every stride-1 window whose targets lie in rows [first_target, end).

    A window starting at s reads rows [s, s+L) and predicts rows [s+L, s+L+H), so a
    validation or test window may begin up to `lookback` rows before its part.
    """
    first = max(0, first_target - lookback)
    last = end - lookback - horizon
    return torch.arange(first, last + 1, dtype=torch.long) if last >= first else torch.empty(
        0, dtype=torch.long
    )


class Windows:
    """The windows of one data part: a (N, C) series plus the start row of each window."""

    def __init__(
        self, series: Tensor, starts: Tensor, lookback: int, horizon: int, n_targets: int
    ) -> None:
        self.series = series
        self.starts = starts.to(series.device)
        self.lookback = lookback
        self.horizon = horizon
        self.n_targets = n_targets
        # (N-L-H+1, L+H, C) view of every window, no copy; a batch is one index_select
        size = lookback + horizon
        if len(series) >= size:
            self._view = series.unfold(0, size, 1).transpose(1, 2)
        else:
            self._view = series.new_empty((0, size, series.shape[1]))

    @classmethod
    def between(cls, series: Tensor, first_target: int, end: int, lookback: int, horizon: int,
                n_targets: int) -> Windows:
        """Every stride-1 window of `series` whose targets lie in rows [first_target, end)."""
        return cls(series, window_starts(first_target, end, lookback, horizon), lookback,
                   horizon, n_targets)

    def __len__(self) -> int:
        return int(self.starts.numel())

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Gather windows `index` as inputs (B, L, C) and targets (B, H, T)."""
        block = self._view.index_select(0, self.starts[index])  # (B, L+H, C)
        return block[:, : self.lookback], block[:, self.lookback :, : self.n_targets]

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield all windows in batches; shuffled when a generator is given."""
        n = len(self)
        if generator is None:
            order = torch.arange(n, device=self.series.device)
        else:
            order = torch.randperm(n, generator=generator).to(self.series.device)
        for begin in range(0, n, batch_size):
            yield self.batch(order[begin : begin + batch_size])

    def everything(self) -> tuple[Tensor, Tensor]:
        """All windows as one batch: inputs (W, L, C) and targets (W, H, T)."""
        return self.batch(torch.arange(len(self), device=self.series.device))

    def subset(self, index: Tensor) -> Windows:
        """The windows at positions `index` (in that order), on the same series."""
        return Windows(self.series, self.starts[index.to(self.starts.device)], self.lookback,
                       self.horizon, self.n_targets)

    def folds(self, n: int) -> list[Windows]:
        """The windows in at most n contiguous runs of start rows, in time order."""
        return [Windows(self.series, part, self.lookback, self.horizon, self.n_targets)
                for part in torch.tensor_split(self.starts, n) if len(part)]

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)
