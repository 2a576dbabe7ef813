"""Honest scores: the model beside the baselines a user gets for free, on the same windows.

Every stride-1 window whose targets lie in the evaluation rows is kept (no `drop_last`),
errors are averaged over windows, steps and target channels on the z-scored values (the
units of published results), and MAE/RMSE are also given in the data's own units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from tsattn.baselines import (
    apply_linear,
    linear_weights,
    repeat_last,
    season_length,
    seasonal_naive,
)
from tsattn.card import Split
from tsattn.data import Frame, resolve_row
from tsattn.errors import DataError, UsageError
from tsattn.inference import LoadedModel, model_windows, run_model, scaled_series
from tsattn.interval_scores import QuantileScores, QuantileTally, crps
from tsattn.intervals import (
    CRPS_LEVELS,
    Calibration,
    KnownScores,
    RollingOffsets,
    calibrate_known,
    interval_scale,
    rolling_offsets,
    scale_floor,
    scaled_residuals,
    step_major,
)
from tsattn.models.linear import NormalEquations
from tsattn.windows import Windows


@dataclass
class Scores:
    """Errors of one forecaster, overall and per target."""

    mse: float
    mae: float
    mse_per_target: list[float]
    mae_per_target: list[float]
    mae_original: list[float]
    rmse_original: list[float]


@dataclass
class ErrorTally:
    """Running sums behind `Scores`, for forecasts scored block by block."""

    squares: np.ndarray  # (T,)
    absolutes: np.ndarray  # (T,)
    cells: int = 0  # window x step cells per target

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        """(W, H, T) forecasts of one block of windows and their truths, z-scored."""
        err = pred - truth
        self.squares += np.sum(err**2, axis=(0, 1))
        self.absolutes += np.sum(np.abs(err), axis=(0, 1))
        self.cells += err.shape[0] * err.shape[1]

    def scores(self, scale: np.ndarray) -> Scores:
        """Means of what was added; `scale` converts to the data's units."""
        mse_t, mae_t = self.squares / self.cells, self.absolutes / self.cells
        return Scores(
            mse=float(mse_t.mean()), mae=float(mae_t.mean()),
            mse_per_target=mse_t.tolist(), mae_per_target=mae_t.tolist(),
            mae_original=(mae_t * scale).tolist(),
            rmse_original=(np.sqrt(mse_t) * scale).tolist(),
        )


def evaluation_windows(loaded: LoadedModel, series: torch.Tensor, first: int, end: int
                       ) -> Windows:
    """The windows whose targets lie in rows [first, end); at least one must exist."""
    found = model_windows(loaded, series, first, end)
    if len(found) == 0:
        raise UsageError(
            f"no window has its {loaded.horizon} targets inside rows [{first}, {end}); "
            "evaluate on more rows (an earlier --from) or more data"
        )
    return found


def scored_rows(loaded: LoadedModel, frame: Frame, start: str | None, end: str | None
                ) -> tuple[int, int]:
    """Rows [first, end) whose targets are scored: by default from where the model's
    validation part ended to the end of the data. `start`/`end`: row index or timestamp."""
    n_rows = len(frame.values)
    first = resolve_row(frame, start, "--from") if start else loaded.card.split.val_end
    stop = resolve_row(frame, end, "--to") if end else n_rows
    if not start and first + loaded.horizon > n_rows:
        raise UsageError(f"evaluation starts by default where the model's validation part "
                         f"ended, at row {first}, but the data has {n_rows} rows; "
                         "choose the first evaluated row with --from (a row or a timestamp)")
    return first, stop


def evaluate(loaded: LoadedModel, frame: Frame, first: int, end: int,
             season: int | None = None) -> dict:
    """Scores of the model and of each baseline on the windows with targets in [first, end).

    Each forecaster's intervals come from its own residuals by the same method: calibrated
    on the validation windows, then rolled forward over the windows whose truths are known
    at each origin (`intervals.rolling_offsets`), as predict does on the same history; the
    model starts from the calibration stored in its file and keeps its own scale (its
    quantile head's, if it has one); the baselines take the fixed scale of the model's
    season (`intervals.interval_scale`). Windows are scored in blocks (`_Span.blocks`), so
    memory grows with the forecasts of the span, not with inputs or quantiles.
    """
    series = scaled_series(loaded, frame)
    split = loaded.card.split
    evaluation_windows(loaded, series, first, end)  # at least one window to score
    validation_windows(loaded, series)  # and the rows the intervals were calibrated on
    span = _span_forecasts(loaded, model_windows(loaded, series, min(first, split.train_end),
                                                 end))
    period = season_length(loaded.card.freq, season, loaded.lookback)
    stored = loaded.calibration
    test = span.rows >= first
    results, quantile_results = {}, {}
    for name, forecaster in point_forecasters(loaded, series, split.train_end, period).items():
        own = stored if name == "model" else None
        scored = _Scored(forecaster, own if own is not None and own.head is not None else None,
                         stored.period if stored else period, loaded.horizon)
        point, quantiles = _scores(span, scored, test, own, _levels(loaded), split)
        results[name] = point.scores(loaded.scaler.scale[: loaded.run.model.n_targets]).__dict__
        quantile_results[name] = asdict(quantiles)
    return {"windows": int(test.sum()), "rows": [first, end], "season": period,
            "targets": list(loaded.card.targets), "scores": results,
            "intervals": {"levels": list(_levels(loaded)),
                          "calibration_windows": int(span.validation(split).sum()),
                          "scores": quantile_results}}


Forecaster = Callable[[np.ndarray, np.ndarray], np.ndarray]


def point_forecasters(loaded: LoadedModel, series: torch.Tensor, train_end: int,
                      period: int | None) -> dict[str, Forecaster]:
    """The model and each baseline as (inputs' targets (W, L, T), model forecast) -> (W, H, T)."""
    horizon = loaded.horizon
    training = model_windows(loaded, series, 0, train_end)
    weights = linear_weights(NormalEquations.of(training.batches(2048),
                                                loaded.run.model.n_targets))
    forecasters: dict[str, Forecaster] = {
        "model": lambda x, pred: pred,
        "repeat_last": lambda x, pred: repeat_last(x, horizon),
        "linear": lambda x, pred: apply_linear(weights, x),
    }
    if period is not None:
        forecasters["seasonal_naive"] = lambda x, pred: seasonal_naive(x, horizon, period)
    return forecasters


def _levels(loaded: LoadedModel) -> tuple[float, ...]:
    return loaded.calibration.levels if loaded.calibration else loaded.run.train.quantiles


@dataclass(frozen=True)
class _Scored:
    """One forecaster with the scale of its intervals: its quantile head's (the model's,
    when it has one), else the fixed scale of the season `period`."""

    forecaster: Forecaster
    learned: Calibration | None  # a calibration with a quantile head
    period: int | None
    horizon: int

    def __call__(self, block: _Block) -> tuple[np.ndarray, np.ndarray]:
        """The block's forecasts and each step's scale, both (B, H, T)."""
        forecast = self.forecaster(block.x, block.pred)
        if self.learned is not None:
            return forecast, self.learned.scale(block.x, forecast)
        return forecast, interval_scale(block.x, self.horizon, self.period)


def _scores(span: _Span, scored: _Scored, test: np.ndarray, stored: Calibration | None,
            levels: tuple[float, ...], split: Split) -> tuple[ErrorTally, QuantileScores]:
    """Point errors and coverage, width, pinball and CRPS of one forecaster's rolling
    calibrated quantiles on the `test` windows."""
    origins = span.rows[test]
    (own, own_sets), (grid, grid_sets) = _rolled(span, scored, stored, levels, split, origins)
    position = np.cumsum(test) - 1  # a test window's place among `origins`
    point = ErrorTally(np.zeros(span.pred.shape[2]), np.zeros(span.pred.shape[2]))
    tally = QuantileTally.of(own.levels, span.pred.shape[1])
    crps_sum = np.zeros(span.pred.shape[1])
    for block in span.blocks(test, len(CRPS_LEVELS)):
        forecast, scale = scored(block)
        place = position[block.index]
        point.add(forecast, block.truth)
        tally.add(own.quantiles(forecast, scale, own_sets.sets[own_sets.which[place]]),
                  block.truth)
        grid_q = grid.quantiles(forecast, scale, grid_sets.sets[grid_sets.which[place]])
        crps_sum += crps(grid_q, block.truth, CRPS_LEVELS) * len(place)
    return point, tally.scores(crps_sum / len(origins))


def _rolled(span: _Span, scored: _Scored, stored: Calibration | None,
            levels: tuple[float, ...], split: Split, origins: np.ndarray
            ) -> list[tuple[Calibration, RollingOffsets]]:
    """The forecaster's calibration at its `levels` and at the CRPS grid's, each with the
    offsets of every origin. A baseline's two are calibrated here on the same residuals, so
    one roll over the union of the levels serves both: rolling is most of evaluate's time
    on long data. The validation windows are the first of the known ones, so their scores
    are ranked from those (`intervals.calibrate_known`); only their scales are held at once,
    for the floor."""
    validation = span.validation(split)
    floor = scale_floor(np.concatenate([scored(block)[1]
                                        for block in span.blocks(validation, 1)]))
    floors = (floor,) if stored is None else (stored.floor, floor)
    known = span.known(floors, scored, span.rows >= split.train_end)
    count = int(validation.sum())
    if stored is None:
        union = tuple(sorted(set(levels) | set(CRPS_LEVELS)))
        calibrations = (calibrate_known(known[0], count, floor, union),)
    else:
        calibrations = (stored, calibrate_known(known[1], count, floor, CRPS_LEVELS))
    rolled = [(c, rolling_offsets(c, k, origins))
              for c, k in zip(calibrations, known, strict=True)]
    if stored is None:
        return [_at_levels(*rolled[0], wanted) for wanted in (levels, CRPS_LEVELS)]
    return rolled


def _at_levels(calibration: Calibration, offsets: RollingOffsets, levels: tuple[float, ...]
               ) -> tuple[Calibration, RollingOffsets]:
    """Only the `levels` of a calibration and of its rolled offsets."""
    index = [calibration.levels.index(q) for q in levels]
    return (replace(calibration, levels=levels, offsets=calibration.offsets[index]),
            RollingOffsets(offsets.sets[:, index], offsets.which))


def validation_windows(loaded: LoadedModel, series: torch.Tensor) -> Windows:
    """The windows the intervals were calibrated on; their rows must be in the data."""
    split = loaded.card.split
    if len(series) < split.val_end:
        raise DataError(
            f"the data has {len(series)} rows but the model's validation part, where the "
            f"intervals of every forecaster are calibrated, ends at row {split.val_end}; "
            "evaluate with the file the model was trained on (or one that begins the same way)"
        )
    return evaluation_windows(loaded, series, split.train_end, split.val_end)


_BLOCK_CELLS = 4_000_000  # float64 cells of one block's widest array (32 MB)


@dataclass
class _Block:
    """Some windows of a span, as float64 arrays."""

    index: np.ndarray  # (B,) positions in the span
    x: np.ndarray  # (B, L, T) inputs' target channels
    pred: np.ndarray  # (B, H, T) model forecasts
    truth: np.ndarray  # (B, H, T)


@dataclass
class _Span:
    """The model's forecasts of every window from the validation part (or `first`) to the
    end; inputs and truths are cut block by block from `windows` when needed, in float64
    so the interval arithmetic matches predict's. A baseline's forecasts and every scale
    are computed again in each pass (validation, known, test) rather than held: a block's
    arithmetic is cheap beside holding (W, H, T) arrays per forecaster."""

    windows: Windows
    pred: np.ndarray  # (W, H, T) model forecasts, float32 as the model gave them
    rows: np.ndarray  # (W,) each window's first target row: its forecast origin

    def validation(self, split: Split) -> np.ndarray:
        """Which windows are the validation part's, where the intervals were calibrated."""
        return (self.rows >= split.train_end) & (self.rows + self.pred.shape[1]
                                                  <= split.val_end)

    def blocks(self, which: np.ndarray, copies: int) -> Iterator[_Block]:
        """The windows `which` in order, in blocks of at most `_BLOCK_CELLS` cells for an
        array of `copies` values per forecast cell (19 for the CRPS grid's quantiles)."""
        index = np.flatnonzero(which)
        targets = self.pred.shape[2]
        per_window = targets * max(self.windows.lookback, self.pred.shape[1] * copies)
        size = max(1, _BLOCK_CELLS // per_window)
        for begin in range(0, len(index), size):
            part = index[begin: begin + size]
            x, y = self.windows.batch(torch.as_tensor(part, device=self.windows.starts.device))
            yield _Block(part, x[..., :targets].cpu().numpy().astype(np.float64),
                         self.pred[part].astype(np.float64), y.cpu().numpy().astype(np.float64))

    def known(self, floors: tuple[np.ndarray, ...], scored: _Scored, which: np.ndarray
              ) -> list[KnownScores]:
        """The scaled residuals of windows `which` under each of the `floors`, for
        `rolling_offsets`, from one pass over the windows, written straight into
        `KnownScores`' step-major layout (one (H, T, W) array each, never two)."""
        magnitudes = [np.empty((*self.pred.shape[1:], int(which.sum())), dtype=np.float32)
                      for _ in floors]
        done = 0
        for block in self.blocks(which, 1):
            forecast, scale = scored(block)
            for floor, out in zip(floors, magnitudes, strict=True):
                scores = scaled_residuals(forecast, block.truth, scale, floor)
                out[..., done: done + len(block.index)] = step_major(scores)
            done += len(block.index)
        return [KnownScores(m, self.rows[which]) for m in magnitudes]


def _span_forecasts(loaded: LoadedModel, found: Windows) -> _Span:
    """One inference run over `found`, for the scores and the rolling calibration alike."""
    return _Span(found, run_model(loaded, found, with_scale=False).prediction,
                 found.starts.cpu().numpy() + loaded.lookback)


def combine(per_series: dict[str, dict]) -> dict:
    """The scores of every window of every series of a many-series model.

    Each number is the window-weighted mean of the series' own (z-scored, so a series
    weighs by its windows, not by its size); the series' results stay under `series`.
    """
    if not per_series:
        raise UsageError("no series has a window to score; choose rows with --from/--to")
    results = list(per_series.values())
    windows = np.array([r["windows"] for r in results], dtype=np.float64)
    merged = _weighted(results, windows / windows.sum())
    merged["intervals"]["calibration_windows"] = sum(
        r["intervals"]["calibration_windows"] for r in results)
    merged.update(windows=int(windows.sum()), rows=None, series_count=len(results),
                  season=_same([r["season"] for r in results]), series=per_series)
    return merged


def _weighted(values: list, weights: np.ndarray) -> object:
    """Weighted mean of numbers found at the same place in each of `values` (dicts and lists
    walked alike); anything else kept where all agree, else None."""
    first = values[0]
    if isinstance(first, dict):
        keys = [k for k in first if all(isinstance(v, dict) and k in v for v in values)]
        return {k: _weighted([v[k] for v in values], weights) for k in keys}
    if isinstance(first, list) and all(
            isinstance(v, list) and len(v) == len(first) for v in values):
        return [_weighted([v[i] for v in values], weights) for i in range(len(first))]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if all(v == first for v in values):  # levels, counts: kept exact, not 0.0999...
            return first
        return float(np.dot(weights, values))
    return _same(values)


def _same(values: list) -> object:
    return values[0] if all(v == values[0] for v in values) else None
