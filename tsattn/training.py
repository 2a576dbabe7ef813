"""The one training loop: device, mixed precision, clipping, schedule, early stopping.

Nothing here prints. Progress goes to an `Observer` the CLI renders, and the loop's whole
state lives in a `TrainState` so that an interrupted run can be saved (best weights) and
resumed (optimizer, schedule, RNG, early stopping) exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from tsattn.config import TrainConfig
from tsattn.device import autocast_for
from tsattn.errors import TrainingError
from tsattn.models.linear import MARGIN
from tsattn.windows import Windows


@dataclass
class EpochReport:
    """What the observer is told after each epoch."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    best_val: float
    improved: bool
    lr: float
    seconds: float


class Observer(Protocol):
    """Receives progress; the CLI renders it, tests record it."""

    def on_batch(self, epoch: int, batch: int, n_batches: int, loss: float) -> None: ...

    def on_epoch(self, report: EpochReport, state: TrainState) -> None: ...


class SilentObserver:
    """An observer that ignores everything (library use, tests)."""

    def on_batch(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        return None

    def on_epoch(self, report: EpochReport, state: TrainState) -> None:
        return None


@dataclass
class TrainState:
    """Everything needed to stop now and continue later with the same result."""

    epoch: int = 0
    step: int = 0
    best_val: float = math.inf
    bad_epochs: int = 0
    best_weights: dict[str, Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def best_is_start(self) -> bool:
        """Whether the untrained start (epoch 0) is still the best model."""
        return bool(self.history) and self.history[0]["epoch"] == 0 and (
            self.best_val == self.history[0]["val_loss"])

    def to_beat(self) -> float:
        """The validation loss an epoch must get under to become the best.

        Leaving the start takes a clear win (`MARGIN` of its loss): the start is the free
        linear baseline, and on ETTh1 epochs that beat it on validation by 0.07-0.2%
        were 1-11% worse than it on the test part (benchmarks/README.md).
        """
        return self.best_val * (1 - MARGIN) if self.best_is_start else self.best_val


ScaledBatch = tuple[Tensor, Tensor, float]  # inputs, targets, factor on the batch's loss


class Replicas(Protocol):
    """Who trains: this process alone, or torchrun's ranks sharing every batch.

    The loop asks it for the batches of an epoch (with the factor that makes each rank's
    loss its share of the whole batch's mean) and for means over all windows of an epoch.
    """

    is_main: bool

    def n_batches(self, windows: Windows, batch_size: int) -> int: ...

    def batches(self, windows: Windows, batch_size: int,
                generator: torch.Generator | None = None) -> Iterator[ScaledBatch]: ...

    def mean(self, total: Tensor, count: int) -> float: ...


class OneProcess:
    """The plain case: every window in this process; a batch's loss is its mean."""

    is_main = True

    def n_batches(self, windows: Windows, batch_size: int) -> int:
        return windows.n_batches(batch_size)

    def batches(self, windows: Windows, batch_size: int,
                generator: torch.Generator | None = None) -> Iterator[ScaledBatch]:
        for x, y in windows.batches(batch_size, generator):
            yield x, y, 1.0

    def mean(self, total: Tensor, count: int) -> float:
        return float(total) / max(1, count)


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; the fused kernel on CUDA saves one launch per parameter per step."""
    return torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
        fused=device.type == "cuda",
    )


def lr_at(step: int, total_steps: int, base_lr: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 1% of the base rate.

    A pure function of the step so that a resumed run follows the same schedule.
    """
    warmup = max(1, total_steps // 20)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def run_epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer | None = None,
    *,
    clip: float = 0.0,
    on_step: Any = None,
) -> float:
    """Mean MSE over `batches`; trains when an optimizer is given, else only evaluates.

    One function serves training and evaluation so that both compute the loss the same
    way. `on_step(batch_index, loss_tensor)` runs before each optimizer step (schedule,
    progress) and is the only per-batch hook.
    """
    scaled = ((x, y, 1.0) for x, y in batches)
    return OneProcess().mean(*epoch_sums(model, scaled, optimizer, clip=clip, on_step=on_step))


def epoch_sums(
    model: nn.Module,
    batches: Iterable[ScaledBatch],
    optimizer: torch.optim.Optimizer | None = None,
    *,
    clip: float = 0.0,
    on_step: Any = None,
) -> tuple[Tensor, int]:
    """`run_epoch` for batches with a loss factor; returns (sum of batch MSE x windows, windows).

    The factor scales only what is back-propagated (a rank's share of a larger batch); the
    sums are of the plain losses, so ranks can add them up into the epoch's mean.
    """
    model.train(optimizer is not None)
    total: Tensor = torch.zeros((), dtype=torch.float64)
    count = 0
    with torch.set_grad_enabled(optimizer is not None):
        for i, (x, y, factor) in enumerate(batches):
            with autocast_for(x.device):
                pred = model(x, return_attention=False).prediction
            loss = nn.functional.mse_loss(pred.float(), y)
            if optimizer is not None:
                if on_step is not None:
                    on_step(i, loss.detach())
                optimizer.zero_grad(set_to_none=True)
                (loss * factor if factor != 1.0 else loss).backward()
                if clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            total = total.to(x.device) + loss.detach().double() * y.shape[0]  # no sync
            count += y.shape[0]
    return total, count


def train(
    model: nn.Module,
    train_windows: Windows,
    val_windows: Windows,
    cfg: TrainConfig,
    observer: Observer,
    state: TrainState | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    replicas: Replicas | None = None,
) -> TrainState:
    """Train until `cfg.epochs` or early stopping; the best weights end up in the model.

    Pass the `state` and `optimizer` of an interrupted run to resume it. The shuffling
    generator is re-seeded from (seed, epoch) so a resumed epoch sees the same order, and
    every rank of a distributed run draws the same order and takes its share of it.
    """
    device = train_windows.series.device
    state = state or TrainState()
    optimizer = optimizer or make_optimizer(model, cfg, device)
    replicas = replicas or OneProcess()
    total_steps = cfg.epochs * replicas.n_batches(train_windows, cfg.batch_size)
    while state.epoch < cfg.epochs and not state.stopped_early:
        report = _train_one_epoch(
            model, train_windows, val_windows, cfg, observer, state, optimizer, total_steps,
            replicas,
        )
        observer.on_epoch(report, state)
    if state.best_weights:
        _plain(model).load_state_dict(state.best_weights)
    return state


def score_start(model: nn.Module, val_windows: Windows, state: TrainState,
                replicas: Replicas | None = None) -> None:
    """Validation loss of the untrained model, kept as the first best (epoch 0).

    A model with a linear path starts as that closed-form free baseline, so training can
    only keep or improve on it on the validation part, never end below it because a noisy
    epoch happened to be the best of a bad lot.
    """
    replicas = replicas or OneProcess()
    val_loss = replicas.mean(*epoch_sums(model, replicas.batches(val_windows, 512)))
    if not math.isfinite(val_loss):
        raise TrainingError(f"the untrained model's validation loss is {val_loss}; "
                            "check the data for extreme values")
    state.history.append({"epoch": 0, "val_loss": val_loss})
    _update_early_stopping(model, state, val_loss, True, patience=0)


def _plain(model: nn.Module) -> nn.Module:
    """The module under torch.compile's and DDP's wrappers, whose state-dict keys carry no
    prefix."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, DistributedDataParallel) else model


def _train_one_epoch(
    model: nn.Module,
    train_windows: Windows,
    val_windows: Windows,
    cfg: TrainConfig,
    observer: Observer,
    state: TrainState,
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    replicas: Replicas,
) -> EpochReport:
    started = time.perf_counter()
    n_batches = replicas.n_batches(train_windows, cfg.batch_size)
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + state.epoch)
    epoch = state.epoch + 1

    def on_step(i: int, loss: Tensor) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(state.step, total_steps, cfg.lr)
        state.step += 1
        observer.on_batch(epoch, i + 1, n_batches, loss)

    train_loss = replicas.mean(*epoch_sums(
        model, replicas.batches(train_windows, cfg.batch_size, generator), optimizer,
        clip=cfg.clip, on_step=on_step,
    ))
    val_loss = replicas.mean(*epoch_sums(
        model, replicas.batches(val_windows, max(cfg.batch_size, 512))))
    if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
        raise TrainingError(
            f"the loss became {train_loss if not math.isfinite(train_loss) else val_loss} in "
            f"epoch {epoch}; lower --lr or --clip, or check the data for extreme values"
        )
    improved = val_loss < state.to_beat()
    _update_early_stopping(model, state, val_loss, improved, cfg.patience)
    state.epoch = epoch
    lr = optimizer.param_groups[0]["lr"]
    state.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
    return EpochReport(epoch, cfg.epochs, train_loss, val_loss, state.best_val, improved, lr,
                       time.perf_counter() - started)


def _update_early_stopping(
    model: nn.Module, state: TrainState, val_loss: float, improved: bool, patience: int
) -> None:
    if improved:
        state.best_val = val_loss
        state.bad_epochs = 0
        weights = _plain(model).state_dict()
        state.best_weights = {k: v.detach().clone() for k, v in weights.items()}
    else:
        state.bad_epochs += 1
        state.stopped_early = patience > 0 and state.bad_epochs >= patience
