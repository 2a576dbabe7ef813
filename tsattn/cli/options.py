"""Every CLI option declared once, reused by each command that takes it.

Flags are the config field names in kebab-case, and defaults come from the config
dataclasses, so the help text, the TOML file and the stored config cannot disagree.
"""

from pathlib import Path
from typing import Annotated

import typer

from tsattn.config import DataConfig, ModelConfig, TrainConfig

DEFAULT_DATA = DataConfig()
DEFAULT_MODEL = ModelConfig()
DEFAULT_TRAIN = TrainConfig()

DataArg = Annotated[str, typer.Argument(help="CSV file to read, or - for standard input.",
                                        show_default=False)]
ModelArg = Annotated[Path, typer.Argument(help="Model file written by 'tsattn train'.",
                                          show_default=False)]
Target = Annotated[list[str], typer.Option(
    "--target", "-t", help="Column to forecast (repeat or comma-separate); default: all numeric.",
    show_default=False)]
TimeCol = Annotated[str | None, typer.Option(help="Time column (default: detected).")]
IdCol = Annotated[str | None, typer.Option(
    help="Column naming the series of a long table: one model for all of them.")]
SeriesIds = Annotated[list[str], typer.Option(
    "--id", help="Series to use, by id (repeat; default: every series). Models trained with "
    "--id-col.", show_default=False)]
TrainEnd = Annotated[str | None, typer.Option(help="End of training rows: row index or "
                                              "timestamp (default: 70% of rows).")]
ValEnd = Annotated[str | None, typer.Option(help="End of validation rows (default: 80%).")]
Fill = Annotated[str, typer.Option(help="Repair missing cells: none|ffill|interpolate.")]
Kind = Annotated[str, typer.Option("--model", help="Model: transformer|lstm-attn.")]
Lookback = Annotated[int, typer.Option(min=1, help="Input window length in rows.")]
Horizon = Annotated[int, typer.Option(min=1, help="Rows to forecast.")]
DModel = Annotated[int, typer.Option(min=1, help="Model width (LSTM hidden size).")]
NHeads = Annotated[int, typer.Option(min=1, help="Attention heads (transformer).")]
NLayers = Annotated[int, typer.Option(min=1, help="Encoder layers.")]
DFF = Annotated[int, typer.Option(min=1, help="Feed-forward width (transformer).")]
Dropout = Annotated[float, typer.Option(min=0.0, max=0.99, help="Dropout rate.")]
Revin = Annotated[bool, typer.Option("--revin/--no-revin",
                                     help="Reversible instance normalization.")]
RevinAnchor = Annotated[str, typer.Option(
    help="What RevIN subtracts from a window: mean or last (its last value).")]
LinearPath = Annotated[bool, typer.Option(
    "--linear-path/--no-linear-path",
    help="Forecast = a closed-form linear model of the window + what attention adds.")]
ChannelIndependent = Annotated[bool, typer.Option(
    "--channel-independent/--channel-mixing",
    help="Forecast each target from its own history with shared weights.")]
PatchLen = Annotated[int, typer.Option(
    min=1, help="Steps per input token, and per LSTM output segment (1: single steps).")]
Stride = Annotated[int, typer.Option(min=1, help="Steps between the starts of two tokens.")]
AttentionKind = Annotated[str, typer.Option(
    "--attention", help="LSTM score: dot|general|additive|scaled-dot.")]
Bidirectional = Annotated[bool, typer.Option(help="Bidirectional LSTM encoder.")]
Epochs = Annotated[int, typer.Option(min=1, help="Maximum training epochs.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Windows per batch.")]
LearningRate = Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.")]
WeightDecay = Annotated[float, typer.Option(min=0.0, help="AdamW weight decay.")]
Clip = Annotated[float, typer.Option(min=0.0, help="Gradient norm clip (0: off).")]
Patience = Annotated[int, typer.Option(min=0, help="Epochs without improvement before "
                                       "stopping (0: never).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Device = Annotated[str, typer.Option(help="auto|cpu|cuda|cuda:N|mps.")]
Compile = Annotated[bool, typer.Option(help="torch.compile the model (pays off on GPU).")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="TOML file of options (same names as the flags).")]
Output = Annotated[str | None, typer.Option("--output", "-o", help="Output path; - for stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables on stderr.")]
Json = Annotated[bool, typer.Option("--json", help="Write JSON to stdout.")]
TopK = Annotated[int, typer.Option(min=1, help="Inputs listed per forecast step.")]
Plot = Annotated[Path | None, typer.Option(help="Write a PNG picture here (needs matplotlib).")]
FromRow = Annotated[str | None, typer.Option("--from", help="First evaluated target row: "
                                             "index or timestamp (default: after the "
                                             "validation part).")]
ToRow = Annotated[str | None, typer.Option("--to", help="End of evaluated rows (default: all).")]
Threads = Annotated[int | None, typer.Option(
    min=1, show_default=False,
    help="CPU threads for torch (default: OMP_NUM_THREADS if set, else the CPUs this process "
         "may use by its affinity and cgroup quota, shared among torchrun's local ranks).")]
