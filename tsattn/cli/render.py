"""Everything people see: one stderr console, progress, tables and warnings."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True, highlight=False)


def one_line(text: str) -> str:
    """`text` with control characters escaped: a column name read from a file may hold a
    newline (quoted in the CSV) or terminal escapes, and a message must stay one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def warn(messages: tuple[str, ...] | list[str]) -> None:
    for message in messages:
        console.print("[yellow]warning:[/] ", end="", soft_wrap=True)
        console.print(one_line(message), markup=False, soft_wrap=True)


def error_line(message: str) -> None:
    """The single line a failing command leaves on stderr (soft_wrap: never wrapped)."""
    console.print(f"error: {one_line(message)}", markup=False, soft_wrap=True)



class ProgressObserver:
    """Renders the training loop's reports: a bar with ETA and one line per epoch."""

    REFRESH_EVERY = 10  # batches; reading the loss forces a GPU sync, so not every batch

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, transient=True,
        )
        self.task = self.progress.add_task("epoch 1", total=None)

    def __enter__(self) -> ProgressObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_batch(self, epoch: int, batch: int, n_batches: int, loss: Any) -> None:
        if self.progress.tasks[0].total is None:
            self.progress.update(self.task, total=(self.epochs - epoch + 1) * n_batches)
        if batch % self.REFRESH_EVERY == 0 or batch == n_batches:
            self.progress.update(self.task, description=f"epoch {epoch} loss {float(loss):.4f}")
        self.progress.advance(self.task)

    def on_epoch(self, report: Any, state: Any) -> None:
        mark = "[green]best[/]" if report.improved else ""
        self.progress.console.print(
            f"epoch {report.epoch:>3}/{report.epochs}  train {report.train_loss:.4f}  "
            f"val {report.val_loss:.4f}  lr {report.lr:.2e}  {report.seconds:.1f}s {mark}"
        )
        if state.stopped_early:
            self.progress.update(self.task, total=self.progress.tasks[0].completed)


def key_value_table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def scores_table(result: dict) -> None:
    """The model beside each baseline, with the ratio of its MSE to theirs."""
    scores = result["scores"]
    model_mse = scores["model"]["mse"]
    where = (f"{result['series_count']} series" if result["rows"] is None else
             f"rows {result['rows'][0]}...{result['rows'][1] - 1}")
    table = Table(title=f"{result['windows']} windows, {where}, z-scored units",
                  title_justify="left")
    for column in ("forecaster", "MSE", "MAE", "model MSE / this"):
        table.add_column(column, justify="left" if column == "forecaster" else "right")
    for name, s in scores.items():
        ratio = "" if name == "model" else f"{model_mse / s['mse']:.3f}"
        table.add_row(name, f"{s['mse']:.4f}", f"{s['mae']:.4f}", ratio)
    console.print(table)


def interval_table(result: dict) -> None:
    """Coverage and width of each interval, pinball loss and CRPS, per forecaster."""
    intervals = result["intervals"]
    table = Table(title=f"quantiles {', '.join(f'{q:g}' for q in intervals['levels'])}, "
                  f"each calibrated on its latest {intervals['calibration_windows']} known "
                  "windows (the validation part's count)",
                  title_justify="left")
    scores = intervals["scores"]
    pairs = [(i["lower"], i["upper"]) for i in next(iter(scores.values()))["intervals"]]
    table.add_column("forecaster")
    for lower, upper in pairs:
        nominal = f"{(upper - lower) * 100:.0f}%"
        table.add_column(f"{nominal} covers", justify="right")
        table.add_column(f"{nominal} width", justify="right")
    for column in ("pinball", "CRPS"):
        table.add_column(column, justify="right")
    for name, s in scores.items():
        cells = [cell for i in s["intervals"]
                 for cell in (f"{i['coverage'] * 100:.1f}%", f"{i['width']:.3f}")]
        table.add_row(name, *cells, f"{s['pinball']:.4f}", f"{s['crps']:.4f}")
    console.print(table)
