"""From a validated frame and a run configuration to a trained model file.

This is the glue between data, models, the loop and the checkpoint: split and scale,
put the series on the device once, build the model, train, and save the best model
atomically every time it improves, with a resume file beside it after every epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tsattn import __version__
from tsattn.baselines import season_length, validation_baselines
from tsattn.checkpoint import load_resume, resume_path, save_checkpoint, save_resume
from tsattn.config import RunConfig, from_dict, to_dict
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
from tsattn.distributed import Cluster, Shards
from tsattn.errors import DataError, UsageError
from tsattn.models import Forecaster, build_model
from tsattn.models.linear import (
    CovariateEquations,
    LinearFit,
    LinearPath,
    NormalEquations,
    fit_covariates,
    fit_linear_path,
)
from tsattn.series import SeriesPart, join_series
from tsattn.training import (
    EpochReport,
    Observer,
    OneProcess,
    TrainState,
    autocast_for,
    make_optimizer,
    resolve_device,
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
    series: tuple[SeriesPart, ...] = ()  # many series: each one's split and scaler


def prepare(frame: Frame, run: RunConfig, device: torch.device) -> Prepared:
    """Split chronologically, fit the scaler on the training rows only, cut windows.

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
    series = torch.from_numpy(scaler.transform(frame.values).astype(np.float32)).to(device)
    model_cfg = dataclasses.replace(
        run.model, n_channels=len(frame.columns), n_targets=frame.n_targets
    )
    run = dataclasses.replace(run, model=model_cfg)
    n_targets = frame.n_targets
    train_w = Windows(series, window_starts(0, train_end, lookback, horizon), lookback, horizon,
                      n_targets)
    val_w = Windows(series, window_starts(train_end, val_end, lookback, horizon), lookback,
                    horizon, n_targets)
    return Prepared(run, scaler, train_end, val_end, train_w, val_w)


def prepare_panel(panel: Panel, run: RunConfig, device: torch.device) -> Prepared:
    """Many series, one model: each series split and scaled on its own, windows inside one
    series each. The first kept series' scaler and split stand in the single-series fields."""
    joined = join_series(panel, run, device)
    first = joined.parts[0]
    frame = panel.frames[panel.ids.index(first.id)]
    model_cfg = dataclasses.replace(
        run.model, n_channels=len(frame.columns), n_targets=frame.n_targets
    )
    run = dataclasses.replace(run, model=model_cfg)
    lookback, horizon, n_targets = run.model.lookback, run.model.horizon, frame.n_targets
    train_w = Windows(joined.series, joined.train_starts, lookback, horizon, n_targets)
    val_w = Windows(joined.series, joined.val_starts, lookback, horizon, n_targets)
    return Prepared(run, first.scaler, first.train_end, first.val_end, train_w, val_w,
                    joined.parts)


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


def model_metadata(frame: Frame, prep: Prepared, state: TrainState, seconds: float,
                   free: FreeBaselines, share: float | None = None) -> dict:
    """Everything besides tensors that predict, evaluate and info need, as plain JSON."""
    # only the last label: this runs at every improvement, inside the training loop
    last_time = time_labels(frame, slice(-1, None))[0] if frame.times is not None else None
    return {
        "tsattn_version": __version__,
        "config": to_dict(prep.run),
        "columns": list(frame.columns),
        "header": list(frame.header),  # every column of the file: reads headerless history
        "targets": list(frame.columns[: frame.n_targets]),
        "covariates": list(frame.columns[frame.n_targets :]),
        "time_col": frame.time_col,
        "freq": frame.freq,
        "last_time": last_time,
        "n_rows": len(frame.values),
        "split": {"train_end": prep.train_end, "val_end": prep.val_end},
        "scaler": prep.scaler.to_dict(),
        "metrics": {
            "best_val_mse": state.best_val,
            "epochs_run": state.epoch,
            "stopped_early": state.stopped_early,
            "train_seconds": round(seconds, 3),
            "history": state.history,
            "linear_ridge": None if free.linear is None else free.linear.ridge,
            "covariate_ridge": None if free.linear is None else free.linear.covariate_ridge,
            "baselines_val_mse": free.val_mse,
            "attention_share": share,
        },
        **({"series": [p.to_dict() for p in prep.series]} if prep.series else {}),
    }


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
        meta = model_metadata(self.frame, self.prep, state, time.perf_counter() - self.started,
                              self.free)
        save_checkpoint(self.model_path, state.best_weights, meta)

    def on_epoch(self, report: EpochReport, state: TrainState) -> None:
        self.save_best(state)
        save_resume(resume_path(self.model_path), *_resume_payload(self, state))
        self.inner.on_epoch(report, state)


def fit(frame: Frame | Panel, run: RunConfig, observer: Observer, model_path: Path,
        resume: bool = False, cluster: Cluster | None = None) -> tuple[TrainState, dict]:
    """Train a model on `frame` (or on every series of a Panel) and leave the best one in
    `model_path`.

    Returns the final state and the metadata written with the model. On an interrupt or
    a diverging loss the best model so far is already on disk, because it is saved at
    every improvement; the exception propagates for the CLI to report. With a `cluster`
    (torchrun) every rank trains its share and rank 0 alone writes files and reports.
    """
    if resume:
        run = _resumed_run(model_path)
    device = resolve_device(run.train.device)
    if cluster is None:
        return _fit(frame, run, observer, model_path, resume, OneProcess(), device)
    shards = Shards.start(cluster, device)
    try:
        return _fit(frame, run, observer, model_path, resume, shards, shards.device)
    finally:
        shards.close()


def _fit(data: Frame | Panel, run: RunConfig, observer: Observer, model_path: Path, resume: bool,
         replicas: OneProcess | Shards, device: torch.device) -> tuple[TrainState, dict]:
    torch.manual_seed(run.train.seed)
    if isinstance(data, Panel):
        prep = prepare_panel(data, run, device)
        frame = data.frames[data.ids.index(prep.series[0].id)]
    else:
        prep, frame = prepare(data, run, device), data
    model = build_model(prep.run.model).to(device)
    free = fit_free_baselines(model, prep, frame.freq, resume)
    optimizer = make_optimizer(model, run.train, device)
    state = _restore(model_path, model, optimizer) if resume else TrainState()
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
    meta = model_metadata(frame, prep, state, time.perf_counter() - started, free, share)
    if replicas.is_main:
        save_checkpoint(model_path, state.best_weights, meta)
        resume_path(model_path).unlink(missing_ok=True)
    return state, meta


def _resume_payload(saver: _Saver, state: TrainState) -> tuple[dict[str, Tensor], dict]:
    tensors: dict[str, Tensor] = {f"model.{k}": v for k, v in saver.model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in state.best_weights.items()})
    opt = saver.optimizer.state_dict()
    for idx, slots in opt["state"].items():
        tensors.update({f"opt.{idx}.{name}": value for name, value in slots.items()})
    tensors["rng.cpu"] = torch.get_rng_state()
    info = {
        "config": to_dict(saver.prep.run),
        "param_groups": opt["param_groups"],
        "state": {
            "epoch": state.epoch, "step": state.step, "best_val": state.best_val,
            "bad_epochs": state.bad_epochs, "history": state.history,
            "stopped_early": state.stopped_early,
        },
    }
    return tensors, json.loads(json.dumps(info, default=_json_number))


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot store {type(value).__name__} in the resume state")


def _resumed_run(model_path: Path) -> RunConfig:
    path = resume_path(model_path)
    if not path.exists():
        raise UsageError(
            f"nothing to resume: {str(path)!r} does not exist; train without --resume first"
        )
    _, info = load_resume(path)
    return from_dict(info["config"])


def _restore(model_path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    """Load weights, optimizer slots, RNG and loop state saved by `_resume_payload`."""
    tensors, info = load_resume(resume_path(model_path))
    model.load_state_dict(_prefixed(tensors, "model."))
    slots: dict[int, dict[str, Tensor]] = {}
    for key, value in _prefixed(tensors, "opt.").items():
        idx, name = key.split(".", 1)
        slots.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": info["param_groups"]})
    torch.set_rng_state(tensors["rng.cpu"])
    saved = info["state"]
    best_val = saved["best_val"] if saved["best_val"] is not None else math.inf
    return TrainState(
        epoch=saved["epoch"], step=saved["step"], best_val=best_val,
        bad_epochs=saved["bad_epochs"], best_weights=_prefixed(tensors, "best."),
        history=saved["history"], stopped_early=saved["stopped_early"],
    )


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

