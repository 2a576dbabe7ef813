"""`tsattn train` after option parsing: read, train with progress, report what was kept."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tsattn.card import ModelCard
from tsattn.checkpoint import read_card, resume_path
from tsattn.cli.ranks import in_torchrun, is_main_rank
from tsattn.cli.render import ProgressObserver, key_value_table, one_line, say, warn
from tsattn.config import RunConfig
from tsattn.data import Frame, Panel
from tsattn.errors import Interrupted, TrainingError, TsattnError
from tsattn.known import read_training
from tsattn.plan import resolve
from tsattn.series import split_series

if TYPE_CHECKING:
    from tsattn.baselines import Comparison


def run_training(source: Path | TextIO, run: RunConfig, model_path: Path, resume: bool,
                 quiet: bool) -> None:
    quiet = quiet or not is_main_rank()
    data, frame = _read(source, run, quiet)
    run = resolve(run, frame)
    # torch: imported only once the data is known to be good
    from tsattn.baselines import Comparison
    from tsattn.distributed import detect
    from tsattn.fitting import fit
    from tsattn.training import SilentObserver

    observer = SilentObserver() if quiet else ProgressObserver(run.train.epochs)
    before = _identity(model_path)
    try:
        with contextlib.nullcontext() if quiet else observer:
            state, card = fit(data, run, observer, model_path, resume, detect())
    except RuntimeError as exc:
        if not (in_torchrun() and is_main_rank()):
            raise
        # gloo and NCCL report a lost peer as a RuntimeError; the peer's own line says why
        raise TrainingError(f"the torchrun job broke off ({one_line(str(exc))[:200]}); "
                            f"{_kept(model_path, before, 'stopped', resumable=True)}") from exc
    except KeyboardInterrupt as exc:
        raise Interrupted(_kept(model_path, before, "interrupted", resumable=True)) from exc
    except TrainingError as exc:
        # no --resume hint: the resumed run would take the same steps into the same NaN
        raise TrainingError(f"{exc}; {_kept(model_path, before, 'stopped', False)}") from exc
    comparison = Comparison(card.metrics.best_val_mse, card.baselines_val_mse())
    if not quiet:
        _summary(model_path, state, card, comparison)
        warn([w for w in (comparison.warning(),) if w])


def _read(source: Path | TextIO, run: RunConfig, quiet: bool) -> tuple[Frame | Panel, Frame]:
    """The training data (one Frame, or a Panel with --id-col) and a Frame of its columns.

    With many series the warnings name each series, and those too short to train on.
    """
    data = read_training(source, run.data)
    if isinstance(data, Frame):
        if not quiet:
            warn(data.warnings)
        return data, data
    panel = data
    if not quiet:
        warn([f"series {sid!r}: {w}" for sid, f in zip(panel.ids, panel.frames, strict=True)
              for w in f.warnings] + split_series(panel, run)[1])
    return panel, panel.frames[0]


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Tells whether a file was replaced: every save is a rename onto a new inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _kept(model_path: Path, before: tuple | None, what: str, resumable: bool) -> str:
    """What survives on disk, and how to go on: for the one line the CLI prints.

    Read from the file itself, not from progress reports: an interrupt can land between a
    save and the report of it.
    """
    again = ""
    if resumable and resume_path(model_path).exists():
        again = f"; continue with --resume -o {model_path}"
    where = str(model_path)
    if _identity(model_path) not in (before, None):
        try:
            metrics = read_card(model_path).metrics
            saved = f" (epoch {metrics.epochs_run}, validation MSE {metrics.best_val_mse:.4f})"
        except TsattnError:
            saved = ""
        return f"{what}; the best model so far{saved} is in {where!r}{again}"
    if before is not None:
        return f"{what} before this run saved a model; {where!r} is unchanged{again}"
    return f"{what} before the first epoch ended; no model was saved"


def _summary(model_path: Path, state: Any, card: ModelCard, comparison: Comparison) -> None:
    metrics = card.metrics
    # patience can run out on the last epoch too; that is not an early stop
    early = state.stopped_early and state.epoch < card.config.train.epochs
    why = "early stop" if early else "all epochs"
    key_value_table(f"saved {model_path}", [
        ("model", card.config.model.kind),
        ("targets", ", ".join(card.targets)),
        ("validation MSE", comparison.describe()),
        *_share_row(metrics.attention_share),
        ("epochs", f"{metrics.epochs_run} ({why})"),
        ("training time", f"{metrics.train_seconds:.1f} s"),
    ])
    say(f"next: tsattn predict {shlex.quote(str(model_path))} DATA > forecast.csv")


def _share_row(share: float | None) -> list[tuple[str, str]]:
    if share is None:
        return []
    return [("attention path", f"{share:.1%} of the forecast's movement (the rest: linear path)")]
