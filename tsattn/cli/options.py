"""Every CLI option declared once, reused by each command that takes it.

Flags are the config field names in kebab-case, and defaults come from the config
dataclasses, so the help text, the TOML file and the stored config cannot disagree.
"""

from pathlib import Path
from typing import Annotated

import typer

from tsattn.config import (
    ATTENTION_KINDS,
    FILL_METHODS,
    INTERVAL_METHODS,
    MODEL_KINDS,
    REVIN_ANCHORS,
    DataConfig,
    ModelConfig,
    TrainConfig,
)

# help panels: `train --help` groups its options so that 33 of them stay readable
DATA, MODEL, TRAIN, OUT = "Data", "Model", "Training", "Output"

DEFAULT_DATA = DataConfig()
DEFAULT_MODEL = ModelConfig()
DEFAULT_TRAIN = TrainConfig()


def choices(names: object) -> str:
    """'a, b or c': the allowed values, from the registry that defines them (wraps at 80)."""
    names = list(names)  # type: ignore[call-overload]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


DataArg = Annotated[str, typer.Argument(help="CSV or Parquet file, or - for standard input.",
                                        show_default=False)]
ModelArg = Annotated[Path, typer.Argument(help="Model file written by 'tsattn train'.",
                                          show_default=False)]
Target = Annotated[list[str], typer.Option(
    "--target", "-t", help="Column to forecast (repeat or comma-separate); default: all numeric.",
    show_default=False, rich_help_panel=DATA)]
Known = Annotated[list[str], typer.Option(
    "--known", help="Covariate whose values over the horizon are known when forecasting "
    "(a weather forecast, a price plan, a holiday flag); repeat or comma-separate. predict "
    "reads them from rows after the history whose targets are empty.",
    show_default=False, rich_help_panel=DATA)]
Calendar = Annotated[bool, typer.Option(
    "--calendar/--no-calendar", help="Read time of day, day of week and day of year (as "
    "the spacing allows) as known covariates.", rich_help_panel=DATA)]
Future = Annotated[Path | None, typer.Option(
    "--future", help="CSV of the rows after the history: the known covariates' values over "
    "the horizon, targets empty (instead of appending them to the history).",
    show_default=False)]
TimeCol = Annotated[str | None, typer.Option(help="Time column (default: detected).",
    rich_help_panel=DATA)]
IdCol = Annotated[str | None, typer.Option(
    help="Column naming the series of a long table: one model for all of them.",
    rich_help_panel=DATA)]
SeriesIds = Annotated[list[str], typer.Option(
    "--id", help="Series to use, by id (repeat; default: every series). Models trained with "
    "--id-col.", show_default=False, rich_help_panel=DATA)]
TrainEnd = Annotated[str | None, typer.Option(help="End of training rows: row index or "
                                              "timestamp (default: 70% of rows).",
    rich_help_panel=DATA)]
ValEnd = Annotated[str | None, typer.Option(help="End of validation rows (default: 80%).",
    rich_help_panel=DATA)]
Fill = Annotated[str, typer.Option(help=f"Repair missing cells: {choices(FILL_METHODS)}.",
    rich_help_panel=DATA)]
Kind = Annotated[str, typer.Option("--model", help=f"Model kind: {choices(MODEL_KINDS)}.",
    rich_help_panel=MODEL)]
Lookback = Annotated[int, typer.Option(min=1, help="Input window length in rows.",
    rich_help_panel=MODEL)]
Horizon = Annotated[int, typer.Option(min=1, help="Rows to forecast.", rich_help_panel=MODEL)]
DModel = Annotated[int, typer.Option(min=1, help="Model width (LSTM hidden size).",
    rich_help_panel=MODEL)]
NHeads = Annotated[int, typer.Option(
    min=1, help="Attention heads (LSTM: queries per output segment).", rich_help_panel=MODEL)]
NLayers = Annotated[int, typer.Option(min=1, help="Encoder layers.", rich_help_panel=MODEL)]
DFF = Annotated[int, typer.Option(min=1, help="Feed-forward width (LSTM: decoder width).",
    rich_help_panel=MODEL)]
Dropout = Annotated[float, typer.Option(min=0.0, max=0.99, help="Dropout rate.",
    rich_help_panel=MODEL)]
Revin = Annotated[bool, typer.Option("--revin/--no-revin",
                                     help="Reversible instance normalization.",
    rich_help_panel=MODEL)]
RevinAnchor = Annotated[str, typer.Option(
    help=f"What RevIN subtracts from a window: {choices(REVIN_ANCHORS)}.", rich_help_panel=MODEL)]
LinearPath = Annotated[bool, typer.Option(
    "--linear-path/--no-linear-path", rich_help_panel=MODEL,
    help="Forecast = a closed-form linear model of the window + what attention adds.")]
ChannelIndependent = Annotated[bool, typer.Option(
    "--channel-independent/--channel-mixing",
    help="Forecast each target from its own history with shared weights.", rich_help_panel=MODEL)]
PatchLen = Annotated[int, typer.Option(
    min=1, help="Steps per input token, and per LSTM output segment (1: single steps).",
    rich_help_panel=MODEL)]
Stride = Annotated[int, typer.Option(min=1, help="Steps between the starts of two tokens.",
    rich_help_panel=MODEL)]
AttentionKind = Annotated[str, typer.Option(
    "--attention", help=f"LSTM attention score: {choices(ATTENTION_KINDS)}.",
    rich_help_panel=MODEL)]
Bidirectional = Annotated[bool, typer.Option(help="Bidirectional LSTM encoder.",
    rich_help_panel=MODEL)]
Epochs = Annotated[int, typer.Option(min=1, help="Maximum training epochs.", rich_help_panel=TRAIN)]
BatchSize = Annotated[int, typer.Option(min=1, help="Windows per batch.", rich_help_panel=TRAIN)]
LearningRate = Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.",
    rich_help_panel=TRAIN)]
WeightDecay = Annotated[float, typer.Option(min=0.0, help="AdamW weight decay.",
    rich_help_panel=TRAIN)]
Clip = Annotated[float, typer.Option(min=0.0, help="Gradient norm clip (0: off).",
    rich_help_panel=TRAIN)]
Patience = Annotated[int, typer.Option(min=0, help="Epochs without improvement before "
                                       "stopping (0: never).", rich_help_panel=TRAIN)]
Seed = Annotated[int, typer.Option(help="Random seed.", rich_help_panel=TRAIN)]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=TRAIN)]
Compile = Annotated[bool, typer.Option(help="torch.compile the model (pays off on GPU).",
    rich_help_panel=TRAIN)]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="TOML or JSON file of options (flag names, or sections as in "
    "'tsattn info --json').", rich_help_panel=TRAIN)]
Output = Annotated[str | None, typer.Option("--output", "-o", help="Output path; - for stdout.",
    rich_help_panel=OUT)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables on stderr.",
    rich_help_panel=OUT)]
Json = Annotated[bool, typer.Option("--json", help="Write JSON to stdout.", rich_help_panel=OUT)]
TopK = Annotated[int, typer.Option(min=1, help="Inputs listed per forecast step.",
    rich_help_panel=OUT)]
Plot = Annotated[Path | None, typer.Option(
    help="Write a PNG picture here, - for stdout (needs matplotlib).", rich_help_panel=OUT)]
FromRow = Annotated[str | None, typer.Option("--from", help="First evaluated target row: "
                                             "index or timestamp (default: after the "
                                             "validation part).")]
ToRow = Annotated[str | None, typer.Option("--to", help="End of evaluated rows (default: all).")]
Quantiles = Annotated[str, typer.Option(
    help="Quantile levels of the forecast, calibrated on the validation part "
         "(0.1,0.9: an 80% interval).")]
DEFAULT_QUANTILES = ",".join(f"{q:g}" for q in DEFAULT_TRAIN.quantiles)
Intervals = Annotated[str, typer.Option(
    help=f"What sets the width of each interval step: {choices(INTERVAL_METHODS)}. "
         "pinball: a quantile head trained with the pinball loss on the training part; "
         "residuals: how much the data moves at the step's phase of the season. Either is "
         "then calibrated on the point model's validation residuals.")]
Threads = Annotated[int | None, typer.Option(
    min=1, show_default=False, rich_help_panel=TRAIN,
    help="CPU threads for torch (default: OMP_NUM_THREADS if set, else the CPUs this process "
         "may use by its affinity and cgroup quota, shared among torchrun's local ranks).")]
