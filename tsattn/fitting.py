"""From a validated frame and a run configuration to a trained model file.

This is the glue between data, models, the loop and the checkpoint: split and scale,
put the series on the device once, build the model, train, and save the best model
atomically every time it improves, with a resume file beside it after every epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from tsattn import __version__
from tsattn.baselines import season_length, validation_baselines
from tsattn.calibration import calibrate_model, calibration_start
from tsattn.card import (
    Baselines,
    DataSource,
    EpochRecord,
    LoopState,
    Metrics,
    ModelCard,
    ResumeCard,
    SeriesEntry,
    Split,
)
from tsattn.checkpoint import load_resume, resume_path, save_checkpoint, save_resume
from tsattn.config import RunConfig
from tsattn.data import (
    Frame,
    Panel,
    Scaler,
    fit_scaler,
    require_rows,
    require_split_rows,
    split_rows,
    time_labels,
)
from tsattn.device import autocast_for, resolve_device
from tsattn.distributed import Cluster, Shards
from tsattn.errors import CheckpointError, DataError
from tsattn.files import output_batch
from tsattn.intervals import Calibration
from tsattn.known import model_input
from tsattn.models import Forecaster, build_model
from tsattn.models.linear import (
    CovariateEquations,
    LinearFit,
    LinearPath,
    NormalEquations,
    fit_covariates,
    fit_linear_path,
)
from tsattn.plan import check_resume, resolve
from tsattn.series import scaler_of, split_series, stats_of
from tsattn.training import (
    EpochReport,
    Observer,
    OneProcess,
    TrainState,
    make_optimizer,
    score_start,
    train,
)
from tsattn.windows import Windows, window_starts


@dataclass
class Prepared:
    """The data of one run, on its device, ready for the loop."""

    run: RunConfig
    scaler: Scaler
    train_end: int
    val_end: int
    train: Windows
    val: Windows
    source: DataSource | None = None  # the training file, for the card
    series: tuple[SeriesEntry, ...] = ()  # many series: each one's split and scaler


def prepare(frame: Frame, run: RunConfig, device: torch.device) -> Prepared:
    """Split chronologically, fit the scaler on the training rows only, cut windows.

    `run` is resolved (`plan.resolve`): its channel counts are the frame's.

    The whole scaled series is one device tensor; the parts differ only in which window
    starts they own, so a validation window can reach back into training rows for its
    inputs while every one of its targets lies in the validation part.
    """
    lookback, horizon = run.model.lookback, run.model.horizon
    if run.data.train_end is None and run.data.val_end is None:
        require_split_rows(len(frame.values), lookback, horizon)
    train_end, val_end = split_rows(frame, run.data.train_end, run.data.val_end)
    require_rows(train_end, lookback, horizon, "the training part")
    if val_end - train_end < horizon:
        raise DataError(
            f"the validation part has {val_end - train_end} rows but horizon {horizon} needs "
            "at least that many; move --train-end/--val-end apart or use a shorter --horizon"
        )
    scaler = fit_scaler(frame.values[:train_end])
    series = torch.from_numpy(model_input(frame, scaler, horizon)).to(device)
    n_targets = frame.n_targets
    train_w = Windows.between(series, 0, train_end, lookback, horizon, n_targets)
    val_w = Windows.between(series, train_end, val_end, lookback, horizon, n_targets)
    return Prepared(run, scaler, train_end, val_end, train_w, val_w, data_source(frame))


def prepare_panel(panel: Panel, run: RunConfig, device: torch.device) -> tuple[Prepared, Frame]:
    """Many series, one model: each series split and scaled on its own, every window inside
    one series. The first kept series (returned beside) stands in the single-series fields."""
    kept = split_series(panel, run)[0]
    lookback, horizon = run.model.lookback, run.model.horizon
    blocks, train, val, offset = [], [], [], 0
    for frame, entry in kept:
        blocks.append(model_input(frame, scaler_of(entry.scaler), horizon))
        split = entry.split
        train.append(window_starts(0, split.train_end, lookback, horizon) + offset)
        val.append(window_starts(split.train_end, split.val_end, lookback, horizon) + offset)
        offset += entry.n_rows
    series = torch.from_numpy(np.concatenate(blocks)).to(device)
    (frame, first), n_targets = kept[0], kept[0][0].n_targets
    train_w = Windows(series, torch.cat(train), lookback, horizon, n_targets)
    val_w = Windows(series, torch.cat(val), lookback, horizon, n_targets)
    source = None if frame.source is None or frame.sha256 is None else DataSource(
        name=frame.source, rows=panel.n_rows, sha256=frame.sha256)
    prep = Prepared(run, scaler_of(first.scaler), first.split.train_end, first.split.val_end,
                    train_w, val_w, source, tuple(e for _, e in kept))
    return prep, frame


LINEAR_FOLDS = 5  # contiguous training folds that help the validation part judge a penalty


@dataclass(frozen=True)
class FreeBaselines:
    """What the model starts from and is compared with, from one pass over the windows."""

    linear: LinearFit | None  # the model's own linear path, None without one or on resume
    val_mse: dict[str, float]  # each free baseline's validation MSE


def fit_free_baselines(model: Forecaster, prep: Prepared, freq: str | None,
                       resume: bool, batch_size: int = 2048) -> FreeBaselines:
    """Solve the model's linear path (penalty chosen on validation) and score the free
    baselines on the validation windows, from one set of normal equations."""
    n_targets = prep.run.model.n_targets
    folds = [NormalEquations.of(part.batches(batch_size), n_targets)
             for part in prep.train.folds(LINEAR_FOLDS)]
    train = sum(folds[1:], folds[0])
    val = NormalEquations.of(prep.val.batches(batch_size), n_targets)
    linear = None
    if model.linear is not None and not resume:
        linear = fit_linear_path(folds, val)
        model.linear.load_solution(linear.weight)
        if model.linear.n_covariates:
            covariates = _fit_covariates(model.linear, prep, batch_size)
            linear = dataclasses.replace(linear, covariate_ridge=covariates)
        if model.linear.n_known:
            known = _fit_known(model.linear, prep, batch_size)
            linear = dataclasses.replace(linear, known_ridge=known)
    period = season_length(freq, None, prep.run.model.lookback)
    return FreeBaselines(linear, validation_baselines(train, val, prep.val, period))


def _fit_covariates(path: LinearPath, prep: Prepared, batch_size: int) -> list[float | None]:
    """Second stage: each target's residual on the covariates' recent changes."""
    folds = [CovariateEquations.of(part.batches(batch_size), path)
             for part in prep.train.folds(LINEAR_FOLDS)]
    val = CovariateEquations.of(prep.val.batches(batch_size), path)
    weight, chosen = fit_covariates(folds, val, path.n_covariates)
    path.load_solution(path.weight, weight)
    return chosen


def _fit_known(path: LinearPath, prep: Prepared, batch_size: int) -> list[float | None]:
    """Third stage: what is left, on the known covariates over the horizon."""
    folds = [CovariateEquations.of_known(part.batches(batch_size), path)
             for part in prep.train.folds(LINEAR_FOLDS)]
    val = CovariateEquations.of_known(prep.val.batches(batch_size), path)
    weight, chosen = fit_covariates(folds, val, path.n_known)
    path.load_solution(path.weight, known_weight=weight)
    return chosen


def attention_share(model: Forecaster, windows: Windows, batch_size: int = 512
                    ) -> float | None:
    """Share of the forecast's movement (away from the last value) that the attention path
    adds beside the linear path, over `windows`: Σ‖added‖² / (Σ‖linear − last‖² + Σ‖added‖²).

    Near 0 the forecast is the linear model and the attention maps explain little of it;
    the summary says so instead of presenting a map as the reason for the forecast.
    """
    if model.linear is None:
        return None
    T = windows.n_targets
    moved = added = 0.0
    model.eval()
    with torch.inference_mode():
        for x, _ in windows.batches(batch_size):
            with autocast_for(x.device):
                out = model(x, return_attention=False)
            moved += float((out.linear.float() - x[:, -1:, :T]).square().sum())
            added += float((out.prediction.float() - out.linear.float()).square().sum())
    total = moved + added
    return added / total if total > 0 else 0.0


def make_card(frame: Frame, prep: Prepared, state: TrainState, seconds: float,
              free: FreeBaselines, share: float | None = None,
              intervals: Calibration | None = None) -> ModelCard:
    """Everything besides tensors that predict, evaluate and info need.

    `intervals` is calibrated once training ends; the models saved at each improvement
    before that (kept on an interrupt) forecast without quantiles.
    """
    # only the last label: this runs at every improvement, inside the training loop
    last_time = time_labels(frame, slice(-1, None))[0] if frame.times is not None else None
    linear = free.linear
    return ModelCard(
        targets=frame.targets, covariates=frame.covariates, known=frame.known_columns,
        calendar=frame.calendar, header=frame.header,
        time_col=frame.time_col, freq=frame.freq, last_time=last_time,
        n_rows=len(frame.values), split=Split(prep.train_end, prep.val_end),
        scaler=stats_of(prep.scaler),
        config=prep.run,
        metrics=Metrics(
            best_val_mse=state.best_val, epochs_run=state.epoch,
            stopped_early=state.stopped_early, train_seconds=round(seconds, 3),
            history=_records(state.history),
            linear_ridge=None if linear is None else linear.ridge,
            covariate_ridge=None if linear is None or linear.covariate_ridge is None
            else tuple(linear.covariate_ridge),
            known_ridge=None if linear is None or linear.known_ridge is None
            else tuple(linear.known_ridge),
            attention_share=share,
        ),
        tsattn_version=__version__,
        source=prep.source,
        baselines=Baselines(**free.val_mse),
        calibration=None if intervals is None else intervals.to_card(),
        id_col=prep.run.data.id_col,
        series=prep.series,
    )


def data_source(frame: Frame) -> DataSource | None:
    """The training file's name, data rows and content hash, for the card."""
    if frame.source is None or frame.sha256 is None:
        return None
    return DataSource(name=frame.source, rows=len(frame.values), sha256=frame.sha256)


def _records(history: list[dict[str, float]]) -> tuple[EpochRecord, ...]:
    """Epoch 0 (the untrained start) has a validation loss only."""
    return tuple(EpochRecord(int(h["epoch"]), h.get("train_loss"), float(h["val_loss"]))
                 for h in history)


class _Saver:
    """Wraps the user's observer: saves the best model and the resume state every epoch."""

    def __init__(self, inner: Observer, frame: Frame, prep: Prepared, model: nn.Module,
                 optimizer: torch.optim.Optimizer, model_path: Path, started: float,
                 free: FreeBaselines) -> None:
        self.inner, self.frame, self.prep, self.model = inner, frame, prep, model
        self.optimizer, self.model_path, self.started = optimizer, model_path, started
        self.free = free

    def on_batch(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        self.inner.on_batch(epoch, batch, n_batches, loss)

    def save_best(self, state: TrainState) -> None:
        """The best weights so far, with the metrics up to now (epochs run, history)."""
        card = make_card(self.frame, self.prep, state, time.perf_counter() - self.started,
                         self.free)
        save_checkpoint(self.model_path, state.best_weights, card)

    def on_epoch(self, report: EpochReport, state: TrainState) -> None:
        with output_batch():  # the model and its resume file: both new, or both as before
            self.save_best(state)
            save_resume(resume_path(self.model_path), *_resume_payload(self, state))
        self.inner.on_epoch(report, state)


def fit(data: Frame | Panel, run: RunConfig, observer: Observer, model_path: Path,
        resume: bool = False, cluster: Cluster | None = None) -> tuple[TrainState, ModelCard]:
    """Train a model on `data` (one series, or every series of a Panel with `run.data.id_col`)
    and leave the best one in `model_path`.

    Returns the final state and the card written with the model. On an interrupt or
    a diverging loss the best model so far is already on disk, because it is saved at
    every improvement; the exception propagates for the CLI to report. With a `cluster`
    (torchrun) every rank trains its share and rank 0 alone writes files and reports.
    """
    frame = data.frames[0] if isinstance(data, Panel) else data
    run = resolve(run, frame)
    resumed = load_resume(resume_path(model_path)) if resume else None
    if resumed is not None:
        check_resume(run, frame, resumed[1])
    device = resolve_device(run.train.device)
    if cluster is None:
        return _fit(data, run, observer, model_path, resumed, OneProcess(), device)
    shards = Shards.start(cluster, device)
    try:
        return _fit(data, run, observer, model_path, resumed, shards, shards.device)
    finally:
        shards.close()


def _fit(data: Frame | Panel, run: RunConfig, observer: Observer, model_path: Path,
         resumed: tuple[dict[str, Tensor], ResumeCard] | None, replicas: OneProcess | Shards,
         device: torch.device) -> tuple[TrainState, ModelCard]:
    torch.manual_seed(run.train.seed)
    if isinstance(data, Panel):
        prep, frame = prepare_panel(data, run, device)
    else:
        prep, frame = prepare(data, run, device), data
    model = build_model(run.model).to(device)
    resume = resumed is not None
    free = fit_free_baselines(model, prep, frame.freq, resume)
    optimizer = make_optimizer(model, run.train, device)
    state = TrainState()
    if resumed is not None:
        state = _restore(*resumed, model, optimizer, resume_path(model_path))
    runnable: nn.Module = model
    if isinstance(replicas, Shards):
        replicas.check(prep.train, run.train.batch_size)
        runnable = replicas.wrap(model)
        torch.manual_seed(run.train.seed + 7919 * replicas.cluster.rank)  # own dropout masks
    started = time.perf_counter()
    saver = _Saver(observer, frame, prep, model, optimizer, model_path, started, free)
    if replicas.is_main:
        observer = saver
    if run.train.compile:
        runnable = torch.compile(runnable)
    if not resume:
        score_start(runnable, prep.val, state, replicas)
        if replicas.is_main:
            saver.save_best(state)  # from here on an interrupt leaves at least the start
    state = train(runnable, prep.train, prep.val, run.train, observer, state, optimizer,
                  replicas)
    share = attention_share(model, prep.val)
    # train() leaves the best weights in `model`: its validation residuals set the intervals
    intervals = (calibrate_model(
        model, prep.val, device, prep.run.train.quantiles,
        calibration_start(frame.times, prep.train_end),
        season_length(frame.freq, None, prep.run.model.lookback),
        prep.train if prep.run.train.intervals == "pinball" else None)
        if replicas.is_main else None)
    card = make_card(frame, prep, state, time.perf_counter() - started, free, share,
                     intervals)
    if replicas.is_main:
        save_checkpoint(model_path, state.best_weights, card)
        resume_path(model_path).unlink(missing_ok=True)
    return state, card


def _resume_payload(saver: _Saver, state: TrainState) -> tuple[dict[str, Tensor], ResumeCard]:
    """Optimizer slots, weights and RNG as tensors; the loop's state as a card.

    The optimizer's param_groups are not stored: they follow from the configuration, and
    the schedule sets the learning rate before every step.
    """
    tensors: dict[str, Tensor] = {f"model.{k}": v for k, v in saver.model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in state.best_weights.items()})
    for idx, slots in saver.optimizer.state_dict()["state"].items():
        tensors.update({f"opt.{idx}.{name}": value for name, value in slots.items()})
    tensors["rng.cpu"] = torch.get_rng_state()
    loop = LoopState(
        epoch=state.epoch, step=state.step,
        best_val=state.best_val if math.isfinite(state.best_val) else None,
        bad_epochs=state.bad_epochs, stopped_early=state.stopped_early,
        history=_records(state.history),
    )
    return tensors, ResumeCard(config=saver.prep.run, columns=saver.frame.columns, state=loop,
                               source=saver.prep.source)


def _restore(tensors: dict[str, Tensor], card: ResumeCard, model: nn.Module,
             optimizer: torch.optim.Optimizer, path: Path) -> TrainState:
    """Load weights, optimizer slots, RNG and loop state saved by `_resume_payload`; tensors
    that do not fit the model mean a damaged resume file (exit 4), not a crash."""
    try:
        slots: dict[int, dict[str, Tensor]] = {}
        for key, value in _prefixed(tensors, "opt.").items():
            idx, name = key.split(".", 1)
            slots.setdefault(int(idx), {})[name] = value
        model.load_state_dict(_prefixed(tensors, "model."))
        groups = optimizer.state_dict()["param_groups"]
        optimizer.load_state_dict({"state": slots, "param_groups": groups})
        torch.set_rng_state(tensors["rng.cpu"])
        best = _prefixed(tensors, "best.")
        if {k: v.shape for k, v in best.items()} != {
                k: v.shape for k, v in model.state_dict().items()}:
            raise ValueError("best weights of another shape")
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"resume file {str(path)!r} does not fit its run "
                              f"({type(exc).__name__}); delete it to train from the start"
                              ) from exc
    saved = card.state
    return TrainState(
        epoch=saved.epoch, step=saved.step,
        best_val=saved.best_val if saved.best_val is not None else math.inf,
        bad_epochs=saved.bad_epochs, best_weights=best,
        history=[{k: v for k, v in dataclasses.asdict(h).items() if v is not None}
                 for h in saved.history],
        stopped_early=saved.stopped_early,
    )


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

