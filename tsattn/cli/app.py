"""The Typer app: parse options, build configs, call the library, render the results.

Heavy modules (torch, pandas) are imported inside the commands so that `tsattn --help`
and `tsattn info` start in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError

from tsattn.cli import options as opt
from tsattn.cli.ranks import (
    in_torchrun,
    is_main_rank,
    leave_the_report_to_rank_0,
    rank_prefix,
)
from tsattn.cli.render import error_line, key_value_table
from tsattn.cli.streams import check_outputs, guard_standard_fds, open_source, write_output
from tsattn.config import (
    RunConfig,
    from_dict,
    load_config_file,
    option_sections,
    parse_quantiles,
)
from tsattn.errors import Interrupted, TsattnError, UsageError
from tsattn.threads import use_threads

if TYPE_CHECKING:
    from tsattn.card import Calibration

app = typer.Typer(
    help="Attention forecasters for multivariate time series: train, predict, evaluate, explain.",
    epilog="Example: tsattn train data.csv -t OT -o m.tsattn && tsattn predict m.tsattn data.csv",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

FLAG_TO_FIELD = {"model": "kind", "target": "targets"}
# `train` parameters that are not part of the stored run configuration
NOT_CONFIG = frozenset({"ctx", "data", "config", "output", "resume", "quiet", "threads"})
_debug = {"on": bool(os.environ.get("TSATTN_DEBUG"))}


def _show_version(value: bool) -> None:
    if value:
        from tsattn import __version__

        write_output(None, f"tsattn {__version__}\n")
        raise typer.Exit()


@app.callback()
def _global(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    if debug:
        _debug["on"] = True


def build_run(ctx: typer.Context, config_file: Path | None) -> tuple[RunConfig, frozenset[str]]:
    """Command-line values win over the --config file, which wins over the defaults.

    Also returns the config fields the user gave explicitly (flag or file), which
    `--resume` compares with the stored run.
    """
    file_values = load_config_file(config_file) if config_file else {}
    sections = option_sections()
    unknown = sorted(set(file_values) - set(sections) - set(FLAG_TO_FIELD))
    if unknown:
        raise UsageError(f"unknown option(s) in {str(config_file)!r}: {', '.join(unknown)}; "
                         "use the flag names of 'tsattn train --help'")
    file_values = {FLAG_TO_FIELD.get(k, k): v for k, v in file_values.items()}
    raw: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    explicit = set(file_values)
    for name, value in ctx.params.items():
        if name in NOT_CONFIG:
            continue
        field = FLAG_TO_FIELD.get(name, name)
        source = ctx.get_parameter_source(name)
        defaulted = source is not None and source.name.startswith("DEFAULT")
        if defaulted and field in file_values:
            value = file_values[field]
        elif not defaulted:
            explicit.add(field)
        raw[sections[field]][field] = value  # KeyError: a train option without a field
    raw["data"]["targets"] = _split_names(raw["data"]["targets"])
    raw["data"]["known"] = _split_names(raw["data"]["known"])
    raw["train"]["quantiles"] = parse_quantiles(raw["train"]["quantiles"])
    return from_dict(raw), frozenset(explicit)


def _split_names(values: Any) -> tuple[str, ...]:
    items = [values] if isinstance(values, str) else values or []
    if not (isinstance(items, (list, tuple)) and all(isinstance(i, str) for i in items)):
        raise UsageError(f"target must be a column name or a list of names, got {values!r}; "
                         "fix its value")
    if any(not item.strip(" ,") for item in items):  # `-t ''`: an empty shell variable?
        raise UsageError("--target '' names no column; give a column name, or leave --target "
                         "out to forecast every numeric column")
    return tuple(name.strip() for item in items for name in item.split(",") if name.strip())


def default_model_path(data: str) -> str:
    return "model.tsattn" if data == "-" else str(Path(Path(data).name).with_suffix(".tsattn"))


@app.command(epilog="Example: tsattn train sample_data/ETTh1.csv -t OT --lookback 336 "
                     "--horizon 96 -o etth1.tsattn")
def train(
    ctx: typer.Context,
    data: opt.DataArg,
    target: opt.Target = [],  # noqa: B006 (typer reads the default, never mutates it)
    known: opt.Known = [],  # noqa: B006
    calendar: opt.Calendar = opt.DEFAULT_DATA.calendar,
    time_col: opt.TimeCol = None,
    id_col: opt.IdCol = None,
    train_end: opt.TrainEnd = None,
    val_end: opt.ValEnd = None,
    fill: opt.Fill = opt.DEFAULT_DATA.fill,
    model: opt.Kind = opt.DEFAULT_MODEL.kind,
    lookback: opt.Lookback = opt.DEFAULT_MODEL.lookback,
    horizon: opt.Horizon = opt.DEFAULT_MODEL.horizon,
    d_model: opt.DModel = opt.DEFAULT_MODEL.d_model,
    n_heads: opt.NHeads = opt.DEFAULT_MODEL.n_heads,
    n_layers: opt.NLayers = opt.DEFAULT_MODEL.n_layers,
    d_ff: opt.DFF = opt.DEFAULT_MODEL.d_ff,
    dropout: opt.Dropout = opt.DEFAULT_MODEL.dropout,
    revin: opt.Revin = opt.DEFAULT_MODEL.revin,
    revin_anchor: opt.RevinAnchor = opt.DEFAULT_MODEL.revin_anchor,
    linear_path: opt.LinearPath = opt.DEFAULT_MODEL.linear_path,
    channel_independent: opt.ChannelIndependent = opt.DEFAULT_MODEL.channel_independent,
    patch_len: opt.PatchLen = opt.DEFAULT_MODEL.patch_len,
    stride: opt.Stride = opt.DEFAULT_MODEL.stride,
    attention: opt.AttentionKind = opt.DEFAULT_MODEL.attention,
    bidirectional: opt.Bidirectional = opt.DEFAULT_MODEL.bidirectional,
    epochs: opt.Epochs = opt.DEFAULT_TRAIN.epochs,
    batch_size: opt.BatchSize = opt.DEFAULT_TRAIN.batch_size,
    lr: opt.LearningRate = opt.DEFAULT_TRAIN.lr,
    weight_decay: opt.WeightDecay = opt.DEFAULT_TRAIN.weight_decay,
    clip: opt.Clip = opt.DEFAULT_TRAIN.clip,
    patience: opt.Patience = opt.DEFAULT_TRAIN.patience,
    seed: opt.Seed = opt.DEFAULT_TRAIN.seed,
    device: opt.Device = opt.DEFAULT_TRAIN.device,
    compile: opt.Compile = opt.DEFAULT_TRAIN.compile,
    quantiles: opt.Quantiles = opt.DEFAULT_QUANTILES,
    intervals: opt.Intervals = opt.DEFAULT_TRAIN.intervals,
    threads: opt.Threads = None,
    config: opt.ConfigFile = None,
    output: opt.Output = None,
    resume: bool = typer.Option(False, help="Continue the interrupted run of --output."),
    quiet: opt.Quiet = False,
) -> None:
    """Train a forecaster on a CSV and save it as one model file."""
    from tsattn.plan import check_options, resumed_run

    use_threads(threads)
    run, explicit = build_run(ctx, config)
    model_path = Path(output or default_model_path(data))
    if resume:
        run = resumed_run(run, explicit, model_path)
    check_options(run)
    from tsattn.checkpoint import resume_path

    check_outputs([model_path, resume_path(model_path)], [data, config])
    if data == "-" and in_torchrun():
        raise UsageError("under torchrun every process reads the data itself; give a file "
                         "path, not - (standard input)")
    from tsattn.cli.training_view import run_training

    run_training(open_source(data), run, model_path, resume, quiet)


@app.command(epilog="Example: tail -n 400 data.csv | tsattn predict m.tsattn - "
                     "--attention att.json > forecast.csv")
def predict(
    model_file: opt.ModelArg,
    data: opt.DataArg,
    output: opt.Output = None,
    format: str = typer.Option("csv", "--format", help="csv|json."),
    rolling: bool = typer.Option(False, help="Forecast from every possible origin."),
    attention: str | None = typer.Option(None, "--attention",
                                         help="Write the attention summary JSON here."),
    explain: bool = typer.Option(False, help="Show the most attended inputs on stderr."),
    top_k: opt.TopK = 5,
    plot: opt.Plot = None,
    future: opt.Future = None,
    fill: opt.Fill = opt.DEFAULT_DATA.fill,
    device: opt.Device = "cpu",
    threads: opt.Threads = None,
    series_id: opt.SeriesIds = [],  # noqa: B006 (typer reads the default, never mutates it)
    quiet: opt.Quiet = False,
) -> None:
    """Forecast the rows after the given history; CSV (or JSON) on stdout."""
    use_threads(threads)
    if format not in ("csv", "json"):
        raise UsageError(f"unknown --format {format!r}; use csv or json")
    for flag, path in (("--attention", attention), ("--plot", plot)):
        if path is not None and str(path) == "-" and output in (None, "-"):
            raise UsageError(f"{flag} - and the forecast would both go to stdout; "
                             f"give -o FILE or a {flag} file")
    check_outputs([output or "-", attention, plot], [model_file, data])
    _check_model_file(model_file)
    from tsattn.cli.predict_view import run_predict
    from tsattn.files import output_batch

    with output_batch():
        run_predict(model_file, open_source(data), output=output, fmt=format, rolling=rolling,
                    attention_path=attention, explain=explain, top_k=top_k, plot=plot,
                    fill=fill, device=device, quiet=quiet, ids=series_id, future=future)


@app.command(epilog="Example: tsattn explain m.tsattn data.csv --step 1 --plot layers.png")
def explain(
    model_file: opt.ModelArg,
    data: opt.DataArg,
    step: list[int] = typer.Option([], "--step", help="Forecast step to show (repeat; "  # noqa: B008
                                   "default: first, middle, last).", show_default=False),
    top_k: opt.TopK = 5,
    plot: opt.Plot = None,
    faithfulness: bool = typer.Option(False, help="Check instead whether attention ranks the "
                                      "inputs that change the forecast (against random, "
                                      "recency and occlusion)."),
    windows: int = typer.Option(200, min=1, help="Evaluation windows sampled by "
                                "--faithfulness."),
    seed: opt.Seed = 0,
    start: opt.FromRow = None,
    end: opt.ToRow = None,
    json_out: opt.Json = False,
    future: opt.Future = None,
    fill: opt.Fill = opt.DEFAULT_DATA.fill,
    device: opt.Device = "cpu",
    threads: opt.Threads = None,
) -> None:
    """Show which inputs the last forecast attended to, with their times and values."""
    use_threads(threads)
    check_outputs([plot], [model_file, data])
    if faithfulness:
        if plot is not None or step:
            raise UsageError("--faithfulness draws no plot and shows no steps; "
                             "leave out --plot and --step")
        from tsattn.cli.faithfulness_view import run_faithfulness

        run_faithfulness(model_file, open_source(data), start=start, end=end, windows=windows,
                         seed=seed, json_out=json_out, fill=fill, device=device)
        return
    from tsattn.cli.predict_view import run_explain

    run_explain(model_file, open_source(data), steps=step or None, top_k=top_k, plot=plot,
                json_out=json_out, fill=fill, device=device, quiet=False, future=future)


@app.command(epilog="Example: tsattn evaluate m.tsattn data.csv --from 2018-01-01 --json")
def evaluate(
    model_file: opt.ModelArg,
    data: opt.DataArg,
    start: opt.FromRow = None,
    end: opt.ToRow = None,
    season: int | None = typer.Option(None, min=1, help="Season length for the seasonal "
                                      "naive baseline (default: from the frequency)."),
    json_out: opt.Json = False,
    fill: opt.Fill = opt.DEFAULT_DATA.fill,
    device: opt.Device = "cpu",
    threads: opt.Threads = None,
    series_id: opt.SeriesIds = [],  # noqa: B006 (typer reads the default, never mutates it)
    quiet: opt.Quiet = False,
) -> None:
    """Score the model and the free baselines on the same windows."""
    use_threads(threads)
    check_outputs(["-" if json_out else None], [model_file, data])
    _check_model_file(model_file)
    from tsattn.cli.predict_view import run_evaluate

    run_evaluate(model_file, open_source(data), start=start, end=end, season=season,
                 json_out=json_out, fill=fill, device=device, quiet=quiet, ids=series_id)


def _check_model_file(model_file: Path) -> None:
    """Refuse a missing, damaged or foreign model file from its header, before torch loads."""
    from tsattn.checkpoint import read_card

    read_card(model_file)


@app.command(epilog="Example: tsattn info m.tsattn --json > run.json; "
                     "tsattn train data.csv --config run.json")
def info(model_file: opt.ModelArg, json_out: opt.Json = False) -> None:
    """Show what a model file holds, without loading torch."""
    from tsattn.checkpoint import read_card

    card = read_card(model_file)
    if json_out:
        write_output(None, card.to_json() + "\n")
        return
    model = card.config.model
    rows = [
        ("model", model.kind),
        ("targets", ", ".join(card.targets)),
        ("past covariates", ", ".join(card.covariates) or "-"),
        ("known covariates", ", ".join(card.known) or "-"),
        ("calendar", ", ".join(f"{phase} phase" for phase in card.calendar) or "-"),
        ("time", f"{card.time_col or 'row steps'}, freq {card.freq or '-'}, "
                 f"last {card.last_time or '-'}"),
        ("lookback / horizon", f"{model.lookback} / {model.horizon}"),
        ("validation MSE", f"{card.metrics.best_val_mse:.4f} after "
                           f"{card.metrics.epochs_run} epochs"),
        ("free baselines", ", ".join(f"{k} {v:.4f}" for k, v in
                                     card.baselines_val_mse().items()) or "-"),
        ("attention path", "-" if card.metrics.attention_share is None
         else f"{card.metrics.attention_share:.1%} of the forecast's movement"),
        ("tsattn version", card.tsattn_version),
        ("quantiles", _calibration_note(card.calibration)),
    ]
    if card.id_col is not None:
        rows.insert(1, ("series", f"{len(card.series)} by column {card.id_col} (time: of the "
                                  f"first, {card.series[0].id})"))
    rows += [(f"model.{k}", str(v)) for k, v in dataclasses.asdict(model).items()
             if k not in ("kind", "lookback", "horizon")]
    key_value_table(str(model_file), rows)


def _calibration_note(calibration: Calibration | None) -> str:
    """The stored quantile levels in a line, from the header alone (no numpy, no torch)."""
    if calibration is None:
        return "none (saved before training ended)"
    levels = ", ".join(f"{q:g}" for q in calibration.levels)
    method = "residuals" if calibration.method == "conformal" else calibration.method
    season = "" if calibration.period is None else f", season {calibration.period} rows"
    return (f"{levels} ({method}{season}, rolling over the latest "
            f"{calibration.n_windows} known windows)")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one line and an exit code."""
    guard_standard_fds()
    command = typer.main.get_command(app)
    try:
        code = command.main(argv, prog_name="tsattn", standalone_mode=False)
    except TsattnError as exc:
        code = _fail(str(exc), exc.exit_code)
    except NoArgsIsHelpError:  # bare `tsattn`: the help is already printed
        code = 2
    except typer.exceptions.TyperException as exc:  # click's usage errors
        code = _fail(_usage_message(exc), getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        code = _fail("interrupted", Interrupted.exit_code)
    except BrokenPipeError:
        code = _quiet_broken_pipe()
    except Exception as exc:  # the last net: never a bare traceback for a user
        code = _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and "
                     "report it", 1)
    sys.exit(code or 0)


def _fail(message: str, code: int) -> int:
    if _debug["on"]:
        traceback.print_exc()
    if code == Interrupted.exit_code and not is_main_rank():
        return code  # Ctrl-C reaches every rank; rank 0 says what was kept
    if code != 1:  # a bad input or a NaN fails every rank alike; rank 0 reports it
        leave_the_report_to_rank_0()
    error_line(rank_prefix() + message)
    return code


def _usage_message(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f"'{ctx.command_path} --help'" if ctx is not None else "'tsattn --help'"
    message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
    return f"{message[:1].lower()}{message[1:]}; see {where}"


def _quiet_broken_pipe() -> int:
    """A reader that closed early (`| head`) is not an error worth a message."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0

