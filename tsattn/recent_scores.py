"""The residuals a forecast's intervals roll over, carried from one chunk of origins to the next.

A forecast's intervals come from the latest residuals known at its origin
(`intervals.rolling_offsets`): the model's windows after its training part, each scored
against the history's rows. A rolling forecast makes those very windows as its own
forecasts, so each window is forecast once: the windows before the first origin by a run of
their own, every later one by the chunk that holds it. A chunk hands its windows' scores on
with the earlier ones the next chunk may still read (from n + H + one refresh before its
first origin), so memory stays one chunk plus that carry, however long the history
(README, "Memory").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tsattn.calibration import start_row
from tsattn.inference import LoadedModel, Outputs, model_windows, run_model
from tsattn.intervals import (
    Calibration,
    KnownScores,
    RollingOffsets,
    refresh_rows,
    rolling_offsets,
    step_major,
)

_BLOCK_WINDOWS = 256  # windows scored at a time


@dataclass
class RecentScores:
    """The known scores of one history, for consecutive chunks of origins in time order."""

    loaded: LoadedModel
    calibration: Calibration
    series: torch.Tensor  # the whole history, z-scored
    targets: np.ndarray  # (N + H, T) its target columns, float64, NaN past its end
    first_row: int  # the earliest origin whose window may recalibrate: after training
    known: KnownScores | None = None  # the windows scored so far, from the latest needed

    @classmethod
    def over(cls, loaded: LoadedModel, calibration: Calibration, series: torch.Tensor,
             times: np.ndarray | None) -> RecentScores:
        """Before any chunk: nothing scored yet."""
        n_targets = loaded.card.config.model.n_targets
        targets = series[:, :n_targets].double().cpu().numpy()
        padded = np.concatenate([targets, np.full((loaded.horizon, n_targets), np.nan)])
        return cls(loaded, calibration, series, padded,
                   start_row(times, calibration.start, loaded.card.split.train_end))

    def offsets(self, origins: np.ndarray, out: Outputs) -> RollingOffsets:
        """The offsets of the forecasts `out` (with their scales) from `origins` (the rows of
        their first steps, consecutive, after any earlier chunk's), whose own windows join
        the known ones."""
        first = int(origins.min())
        n, horizon = self.calibration.n_windows, self.loaded.horizon
        needed = max(self.first_row, first - first % refresh_rows(n) - n + 1 - horizon)
        before = self.known if self.known is not None else self._forecast(needed, first - 1)
        own = self._scored(out.prediction, out.scale, origins)
        kept = int(np.searchsorted(before.origins, needed))  # origins ascend
        self.known = KnownScores(
            np.concatenate([before.magnitudes[..., kept:], own.magnitudes], axis=-1),
            np.concatenate([before.origins[kept:], own.origins]))
        return rolling_offsets(self.calibration, self.known, origins)

    def _forecast(self, first: int, last: int) -> KnownScores:
        """The scores of the windows from origins `first` to `last`, made for them alone."""
        windows = model_windows(self.loaded, self.series, first, last, horizon=0)
        if len(windows) == 0:
            shape = (self.loaded.horizon, windows.n_targets)
            return KnownScores.of(np.empty((0, *shape)), np.empty(0, dtype=np.int64))
        out = run_model(self.loaded, windows)
        return self._scored(out.prediction, out.scale,
                            windows.starts.cpu().numpy() + self.loaded.lookback)

    def _scored(self, prediction: np.ndarray, scale: np.ndarray, origins: np.ndarray
                ) -> KnownScores:
        """The scores of windows from `origins` that lie after training (NaN past the
        history's end: those steps are never read), a block of windows at a time: the
        float64 truths and residuals of every window at once would be several times the
        float32 result on wide data."""
        keep = np.flatnonzero(origins >= self.first_row)
        magnitudes = np.empty((*prediction.shape[1:], len(keep)), dtype=np.float32)
        steps = np.arange(self.loaded.horizon)
        for begin in range(0, len(keep), _BLOCK_WINDOWS):
            part = keep[begin: begin + _BLOCK_WINDOWS]
            truth = self.targets[origins[part][:, None] + steps[None, :]]
            scores = self.calibration.scores(prediction[part], truth, scale[part])
            magnitudes[..., begin: begin + len(part)] = step_major(scores)
        return KnownScores(magnitudes, origins[keep])
