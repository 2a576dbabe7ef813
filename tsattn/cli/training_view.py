"""`tsattn train` after option parsing: read, train with progress, report what was kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TextIO

from tsattn.cli.render import ProgressObserver, console, key_value_table, warn
from tsattn.config import RunConfig, validate_model
from tsattn.data import read_frame
from tsattn.errors import Interrupted, TrainingError
from tsattn.fitting import fit


class _Tracker:
    """Remembers the last saved improvement, to say what survives an interruption."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.saved: tuple[int, float] | None = None

    def on_batch(self, epoch: int, batch: int, n_batches: int, loss: Any) -> None:
        self.inner.on_batch(epoch, batch, n_batches, loss)

    def on_epoch(self, report: Any, state: Any) -> None:
        if report.improved:
            self.saved = (report.epoch, report.val_loss)
        self.inner.on_epoch(report, state)


class _Quiet:
    def on_batch(self, *args: Any) -> None:
        return None

    def on_epoch(self, *args: Any) -> None:
        return None


def run_training(source: Path | TextIO, run: RunConfig, model_path: Path, resume: bool,
                 quiet: bool) -> None:
    frame = read_frame(source, time_col=run.data.time_col, targets=run.data.targets,
                       fill=run.data.fill)
    if not quiet:
        warn(frame.warnings)
    validate_model(dataclasses.replace(run.model, n_channels=len(frame.columns),
                                       n_targets=frame.n_targets))
    inner = _Quiet() if quiet else ProgressObserver(run.train.epochs)
    tracker = _Tracker(inner)
    try:
        if quiet:
            state, meta = fit(frame, run, tracker, model_path, resume)
        else:
            with inner:
                state, meta = fit(frame, run, tracker, model_path, resume)
    except KeyboardInterrupt as exc:
        raise Interrupted(_kept(tracker, model_path, "interrupted")) from exc
    except TrainingError as exc:
        raise TrainingError(f"{exc}; {_kept(tracker, model_path, 'stopped')}") from exc
    if not quiet:
        _summary(model_path, state, meta)


def _kept(tracker: _Tracker, model_path: Path, what: str) -> str:
    if tracker.saved is None:
        return f"{what} before the first epoch ended; no model was saved"
    epoch, val = tracker.saved
    return (f"{what}; the best model so far (epoch {epoch}, validation MSE {val:.4f}) is in "
            f"{str(model_path)!r}; continue with --resume -o {model_path}")


def _summary(model_path: Path, state: Any, meta: dict) -> None:
    metrics = meta["metrics"]
    why = "early stop" if state.stopped_early else "all epochs"
    key_value_table(f"saved {model_path}", [
        ("model", meta["config"]["model"]["kind"]),
        ("targets", ", ".join(meta["targets"])),
        ("best validation MSE", f"{metrics['best_val_mse']:.4f} (z-scored)"),
        ("epochs", f"{metrics['epochs_run']} ({why})"),
        ("training time", f"{metrics['train_seconds']:.1f} s"),
    ])
    console.print(f"next: tsattn predict {model_path} DATA > forecast.csv")
