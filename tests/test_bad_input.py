"""The bad-input matrix: every way a cron job can hand tsattn bad data, through the real CLI.

Each row of `CASES` runs `python -m tsattn` in a subprocess inside its own directory and
asserts the contract of issue 4: the documented non-zero exit code, exactly one `error:`
line on stderr that names the problem (and row/column where it applies) and the fix, no
traceback, and no file in the directory created or changed (bytes and mtime compared).
The directory holds a good model (`model.tsattn`) and a previous good training output
(`out.tsattn`) that a failed run must leave exactly as it was.

Exit codes (tsattn/errors.py): 2 usage/options, 3 data, 4 model file, 5 output path,
6 training diverged, 130 interrupted, 1 internal error.
"""

from __future__ import annotations

import json
import os
import pickle
import pty
import shlex
import shutil
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli
from tsattn.card import FORMAT_VERSION

USAGE, DATA, MODEL, OUTPUT = 2, 3, 4, 5
# Small enough to fail fast; valid, so that each case fails for its own reason only.
SMALL = ("--lookback", "12", "--horizon", "3", "--epochs", "1", "--d-model", "8",
         "--n-heads", "2", "--d-ff", "16", "--patch-len", "4", "--stride", "4", "--quiet")
HEADER = ("date", "load", "temp")


def rows(n: int = 40, start: str = "2024-01-01T00:00") -> list[list[str]]:
    """`n` hourly rows of (date, load, temp), the columns the shared tiny model knows."""
    t = np.arange(n)
    times = np.datetime64(start) + t.astype("timedelta64[h]")
    load = 10 + 3 * np.sin(2 * np.pi * t / 24)
    temp = 20 + 5 * np.cos(2 * np.pi * t / 24)
    return [[str(s).replace("T", " "), f"{a:.4f}", f"{b:.4f}"]
            for s, a, b in zip(times, load, temp, strict=True)]


def csv_text(body: list[list[str]], header: tuple[str, ...] | None = HEADER, sep: str = ",",
             eol: str = "\n") -> str:
    lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in body]
    return eol.join(lines) + eol


def edited(changes: dict[tuple[int, int], str], n: int = 40) -> str:
    """Good hourly data with cells replaced: {(0-based data row, column index): text}."""
    body = rows(n)
    for (r, c), value in changes.items():
        body[r][c] = value
    return csv_text(body)


def swapped(i: int, j: int, n: int = 40) -> str:
    body = rows(n)
    body[i], body[j] = body[j], body[i]
    return csv_text(body)


GOOD = csv_text(rows())


class _WritesFile:
    """A pickle payload: unpickling it runs code that creates a file (it must never run)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


def _pickle_bytes(protocol: int) -> bytes:
    return pickle.dumps(_WritesFile("PWNED"), protocol=protocol)


def _torch_save_bytes() -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"state": _WritesFile("PWNED")}, buffer)
    return buffer.getvalue()


def _rewritten(good: bytes, edit_meta=None, edit_tensors=None, edit_text=None) -> bytes:
    """A well-formed tsattn file whose metadata (as a dict or as JSON text) or tensors
    were changed by hand."""
    from safetensors.numpy import load, save

    (length,) = struct.unpack("<Q", good[:8])
    strings = json.loads(good[8:8 + length])["__metadata__"]
    meta, tensors = json.loads(strings["meta"]), load(good)
    if edit_meta:
        meta = edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    text = json.dumps(meta)
    if edit_text:
        text = edit_text(text)
    return save(tensors, metadata={**strings, "meta": text})


def _set(meta: dict, dotted: str, value: object) -> dict:
    *parents, last = dotted.split(".")
    node = meta
    for key in parents:
        node = node[key]
    node[last] = value
    return meta


def _wrong_shape(tensors: dict) -> None:
    name = sorted(tensors)[0]
    tensors[name] = np.zeros((3, 5), dtype=np.float32)


META_EDITS = {
    "meta-empty": lambda m: {},
    "meta-targets-not-a-list": lambda m: _set(m, "targets", 5),
    "meta-header-not-a-list": lambda m: _set(m, "header", "date,load,temp"),
    "meta-config-unknown-option": lambda m: _set(m, "config.model.foo", 1),
    "meta-config-invalid": lambda m: _set(m, "config.model.n_heads", 3),
    "meta-config-columns-mismatch": lambda m: _set(m, "config.model.n_channels", 5),
    "meta-scaler-inconsistent": lambda m: _set(m, "scaler.mean", [1.0]),
}


def _fill(value: float):
    """A tensor edit: the first floating tensor filled with `value`."""
    def edit(tensors: dict) -> None:
        name = sorted(tensors)[0]
        tensors[name] = np.full_like(tensors[name], value)
    return edit


def _bigger_model(meta: dict) -> dict:
    """Billions of weights asked for by the config of a file that holds a tiny model."""
    meta["config"]["model"].update(d_model=16_384, n_heads=1, d_ff=65_536, n_layers=256)
    return meta


META_EDITS.update({
    "meta-scaler-mean-nan": lambda m: _set(m, "scaler.mean", [float("nan")] * 2),
    "meta-scaler-scale-overflows": lambda m: _set(m, "scaler.scale", [1e39, 1.0]),
    "meta-lookback-10-12": lambda m: _set(m, "config.model.lookback", 10**12),
    "meta-huge-model": _bigger_model,
    "meta-metrics-huge": lambda m: _set(m, "metrics.best_val_mse", 10**400),
    "meta-calibration-start-not-a-time": lambda m: _set(m, "calibration.start", "soon"),
})
TEXT_EDITS = {
    "meta-5000-digit-integer": lambda t: t.replace('"epochs_run": ', '"epochs_run": '
                                                   + "9" * 5000 + ", \"x\": "),
    "meta-nested-100k-deep": lambda t: t[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000
                                                 + "}",
    "meta-infinity-constant": lambda t: t.replace('"best_val_mse": ', '"best_val_mse": '
                                                  'Infinity, "y": '),
}
TENSOR_EDITS = {"weights-nan": _fill(float("nan")), "weights-inf": _fill(float("inf")),
                "weights-overflow": _fill(3e38)}


def _model_bytes(good: bytes, kind: str) -> bytes:
    """Damaged or foreign variants of a good model file."""
    if kind in META_EDITS:
        return _rewritten(good, edit_meta=META_EDITS[kind])
    if kind in TEXT_EDITS:
        return _rewritten(good, edit_text=TEXT_EDITS[kind])
    if kind in TENSOR_EDITS:
        return _rewritten(good, edit_tensors=TENSOR_EDITS[kind])
    if kind == "tensor-shape":
        return _rewritten(good, edit_tensors=_wrong_shape)
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "tail-cut":
        return good[:-10]
    if kind == "corrupt-header":
        return good[:8] + b"{" + bytes(range(200, 256)) + good[9 + 56:]
    if kind == "random":
        return np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    if kind == "tiny":
        return b"\x01\x02"
    if kind == "other-version":
        old = f'"format_version":"{FORMAT_VERSION}"'.encode()
        assert old in good
        return good.replace(old, b'"format_version":"7"')
    if kind == "foreign-safetensors":
        from safetensors.numpy import save

        return save({"weight": np.zeros((2, 2), dtype=np.float32)}, metadata={"x": "y"})
    if kind == "pickle-2":
        return _pickle_bytes(2)
    if kind == "pickle-5":
        return _pickle_bytes(5)
    if kind == "pickle-0":
        return _pickle_bytes(0)
    if kind == "torch-save":
        return _torch_save_bytes()
    raise AssertionError(kind)


@dataclass(frozen=True)
class Case:
    """One bad input. `argv` may use {d} (the case directory); `files` are written there
    first (str as UTF-8 bytes, bytes verbatim, None makes a directory, a `("model", kind)`
    tuple a damaged copy of the good model, `("symlink"|"hardlink", name)` a link)."""

    id: str
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    files: dict[str, object] = field(default_factory=dict)
    stdin: str | None = None
    must_not_appear: tuple[str, ...] = ()


def train(data: str = "{d}/data.csv", *extra: str) -> tuple[str, ...]:
    return ("train", data, "-o", "{d}/out.tsattn", *SMALL, *extra)


def predict(data: str = "{d}/data.csv", *extra: str, model: str = "{d}/model.tsattn"
            ) -> tuple[str, ...]:
    return ("predict", model, data, "-o", "{d}/fc.csv", "--quiet", *extra)


def data_case(id: str, content: str | bytes, says: tuple[str, ...], *extra: str) -> Case:
    return Case(id, train("{d}/data.csv", *extra), DATA, says, {"data.csv": content})


def option_case(id: str, says: tuple[str, ...], *extra: str) -> Case:
    """Good data, one bad option value: a usage error before any work."""
    return Case(id, train("{d}/data.csv", *extra), USAGE, says, {"data.csv": GOOD})


def config_case(id: str, toml: str | bytes, says: tuple[str, ...], *extra: str) -> Case:
    """Good data, a `--config` file with one bad value: a usage error before any work."""
    return Case(id, train("{d}/data.csv", "--config", "{d}/run.toml", *extra), USAGE, says,
                {"data.csv": GOOD, "run.toml": toml})


def model_case(id: str, kind: str, says: tuple[str, ...]) -> Case:
    return Case(id, predict(), MODEL, says, {"data.csv": GOOD, "model.tsattn": ("model", kind)},
                must_not_appear=("PWNED",))


def _day_first() -> str:
    """Hourly rows from 12 January written dd/mm/yyyy: day 13 shows they are day-first."""
    body = rows(start="2024-01-12T00:00")
    for row in body:
        y, m, d = row[0][:10].split("-")
        row[0] = f"{d}/{m}/{y} {row[0][11:]}"
    return csv_text(body)


CASES = [
    # --- the input file itself --------------------------------------------------------------
    Case("missing-file", train("{d}/nope.csv"), DATA, ("nope.csv", "not found", "check the path")),
    Case("directory-not-file", train("{d}/sub"), DATA, ("is a directory", "path of a file"),
         {"sub": None}),
    data_case("empty-file", "", ("is empty", "header line")),
    data_case("blank-lines-only", "\n  \n\n", ("is empty",)),
    Case("empty-stdin", train("-"), DATA, ("stdin is empty",), stdin=""),
    data_case("header-only", "date,load,temp\n", ("no data rows",)),
    data_case("one-row", csv_text(rows(1)), ("has 1 row", "needs at least 27 rows", "--lookback")),
    data_case("too-few-rows", csv_text(rows(12)), ("12 rows", "lookback 12 + horizon 3",
                                                   "at least 27 rows", "--lookback/--horizon")),
    data_case("binary-garbage", bytes(range(256)) * 8, ("not a text CSV",)),
    data_case("not-utf8", "date,load\n2024-01-01,caf\xe9\n".encode("latin-1"),
              ("not UTF-8", "UTF-8 CSV")),
    data_case("headerless-train", csv_text(rows(40), header=None),
              ("looks like data", "header line")),
    data_case("ragged-row", edited({(5, 2): "1,2"}),
              ("not a well-formed CSV", "line 7", "saw 4", "header's 3 fields")),
    data_case("every-row-one-field-longer", csv_text([[*r, "7"] for r in rows()]),
              ("line 2 has 4 fields, the header 3",)),
    data_case("first-row-longer-only", edited({(0, 2): "1,2"}), ("line 2 has 4 fields",)),
    data_case("decimal-point-and-comma-mixed",
              csv_text([[r[0], r[1], r[2].replace(".", ",")] for r in rows()], sep=";"),
              ("mixes decimal marks", "column 'load'", "column 'temp'")),
    data_case("thousands-separators", csv_text([[r[0], r[1], f'"2{i % 10},000"']
                                                for i, r in enumerate(rows())]),
              ("column 'temp'", "'20,000'", "thousands separators", "plain numbers")),
    data_case("thousands-separators-with-decimal-comma",
              csv_text([[r[0], r[1], "1.234,5"] for r in rows()], sep=";"),
              ("column 'temp'", "'1.234,5'")),
    data_case("duplicate-column-name", csv_text(rows(), header=("date", "load", "load")),
              ("'load' appears twice", "rename")),
    # --- columns ------------------------------------------------------------------------------
    data_case("no-numeric-column", csv_text([[r[0], "a", "b"] for r in rows()],
                                            header=("date", "city", "kind")),
              ("no numeric column",)),
    data_case("target-missing", GOOD, ("'nope' not found", "columns are: load, temp"),
              "--target", "nope"),
    data_case("target-is-time-column", GOOD, ("'date' is the time column",), "--target", "date"),
    data_case("target-is-text", csv_text([[*r, "x"] for r in rows()], header=(*HEADER, "city")),
              ("'city' is not numeric", "'x'"), "--target", "city"),
    data_case("newline-in-column-name", csv_text(rows(), header=("date", "load", '"te\nmp"')),
              ("'nope' not found", "te\\nmp"), "--target", "nope"),
    data_case("time-col-missing", GOOD, ("time column 'when' not found", "date, load, temp"),
              "--time-col", "when"),
    data_case("column-all-empty", edited({(i, 2): "" for i in range(40)}),
              ("'temp' has no values",)),
    # --- cells -------------------------------------------------------------------------------
    data_case("text-in-numeric-column", edited({(4, 1): "abc"}),
              ("non-numeric value 'abc'", "column 'load'", "row 5 (file line 6)")),
    data_case("nan-cell", edited({(6, 2): "NaN"}),
              ("missing value", "column 'temp'", "row 7", "--fill ffill", "--fill interpolate")),
    data_case("empty-cell", edited({(6, 2): ""}),
              ("missing value", "column 'temp'", "row 7", "--fill")),
    data_case("inf-cell", edited({(9, 1): "inf"}),
              ("infinite value", "column 'load'", "row 10", "--fill")),
    data_case("float32-overflow", edited({(3, 1): "1e39"}),
              ("too large for float32", "column 'load'", "row 4", "rescale")),
    # --- time column --------------------------------------------------------------------------
    data_case("duplicate-timestamps", edited({(3, 0): rows()[2][0]}),
              ("duplicate timestamp", "row 3", "row 4", "remove or merge")),
    data_case("unsorted-timestamps", swapped(10, 11),
              ("time goes backwards", "row 12 (file line 13)", "sort")),
    data_case("day-first-dates", _day_first(),
              ("'13/01/2024 00:00'", "row 25 (file line 26)", "looks day-first",
               "read month-first", "2016-07-01 00:00:00")),
    data_case("unparseable-timestamp", edited({(8, 0): "yesterday"}),
              ("unparseable timestamp 'yesterday'", "row 9 (file line 10)")),
    data_case("missing-timestamp", edited({(8, 0): ""}), ("missing timestamp", "row 9")),
    # --- predict: history that does not fit the model -------------------------------------------
    Case("predict-columns-differ", predict(), DATA,
         ("'temp' not found", "date, load, humidity", "trained on: load, temp"),
         {"data.csv": csv_text(rows(), header=("date", "load", "humidity"))}),
    Case("predict-time-column-missing", predict(), DATA,
         ("time column 'date' not found", "columns are: load, temp", "model was trained on"),
         {"data.csv": csv_text([r[1:] for r in rows()], header=HEADER[1:])}),
    Case("predict-too-little-history", predict(), DATA, ("10 rows", "last 24", "at least 24"),
         {"data.csv": csv_text(rows(10))}),
    Case("predict-empty-stdin", predict("-"), DATA, ("stdin is empty",), stdin=""),
    Case("predict-headerless-wrong-fields", predict("-"), DATA,
         ("looks like data", "has 2 fields", "3 columns", "(date, load, temp)"),
         stdin=csv_text([r[:2] for r in rows(30)], header=None)),
    Case("predict-text-in-history", predict(), DATA,
         ("non-numeric value 'oops'", "column 'temp'", "row 3"),
         {"data.csv": edited({(2, 2): "oops"})}),
    # --- model files ----------------------------------------------------------------------------
    Case("model-missing", predict(model="{d}/gone.tsattn"), MODEL,
         ("'{d}/gone.tsattn' does not exist", "tsattn train"), {"data.csv": GOOD}),
    Case("model-is-directory", predict(model="{d}/sub"), MODEL, ("is a directory",),
         {"data.csv": GOOD, "sub": None}),
    model_case("model-truncated", "truncated", ("truncated or corrupt", "retrain")),
    model_case("model-tail-cut", "tail-cut", ("truncated or corrupt", "past the end")),
    model_case("model-corrupt-header", "corrupt-header", ("truncated or corrupt",)),
    model_case("model-random-bytes", "random", ("truncated or corrupt",)),
    model_case("model-two-bytes", "tiny", ("truncated or corrupt", "only 2 bytes")),
    model_case("model-other-format-version", "other-version",
               ("format version 7", f"reads version {FORMAT_VERSION}", "retrain")),
    model_case("model-foreign-safetensors", "foreign-safetensors",
               ("not a tsattn model file", "no tsattn format key")),
    Case("model-is-a-csv", predict(model="{d}/data.csv"), MODEL, ("truncated or corrupt",),
         {"data.csv": GOOD}),
    model_case("model-pickle-protocol-2", "pickle-2", ("pickle", "never unpickles")),
    model_case("model-pickle-protocol-5", "pickle-5", ("pickle", "never unpickles")),
    model_case("model-pickle-protocol-0", "pickle-0", ("truncated or corrupt",)),
    model_case("model-torch-save-zip", "torch-save", ("pickle/zip", "never unpickles")),
    model_case("model-metadata-empty", "meta-empty", ("'targets' in its metadata", "retrain")),
    model_case("model-metadata-wrong-type", "meta-targets-not-a-list",
               ("no list of column names as 'targets'",)),
    model_case("model-header-wrong-type", "meta-header-not-a-list",
               ("no list of column names as 'header'",)),
    model_case("model-config-unknown-option", "meta-config-unknown-option",
               ("unusable 'config'", "foo", "retrain")),
    model_case("model-config-invalid", "meta-config-invalid",
               ("unusable 'config'", "does not divide")),
    model_case("model-config-columns-mismatch", "meta-config-columns-mismatch",
               ("columns that do not match its 'config'",)),
    model_case("model-scaler-inconsistent", "meta-scaler-inconsistent",
               ("scaler statistics that do not match", "retrain")),
    model_case("model-tensor-shape-mismatch", "tensor-shape",
               ("does not hold a usable tsattn model", "retrain")),
    # --- non-finite or outsized models ----------------------------------------------------------
    model_case("model-scaler-mean-nan", "meta-scaler-mean-nan", ("truncated or corrupt",)),
    model_case("model-scaler-scale-overflows", "meta-scaler-scale-overflows",
               ("scaler statistics", "retrain")),
    model_case("model-weights-nan", "weights-nan", ("nan or infinite weights", "retrain")),
    model_case("model-calibration-start-not-a-time", "meta-calibration-start-not-a-time",
               ("calibration starts at 'soon'", "retrain")),
    model_case("model-weights-inf", "weights-inf", ("nan or infinite weights",)),
    model_case("model-forecast-overflows", "weights-overflow",
               ("produced nan or infinite forecasts", "retrain")),
    model_case("model-lookback-10-12", "meta-lookback-10-12",
               ("unusable 'config'", "--lookback must be from 1 to 100000")),
    model_case("model-config-asks-for-billions", "meta-huge-model",
               ("does not match its config", "retrain")),
    model_case("model-5000-digit-integer", "meta-5000-digit-integer", ("truncated or corrupt",)),
    model_case("model-json-nested-100k-deep", "meta-nested-100k-deep",
               ("truncated or corrupt",)),
    model_case("model-infinity-in-metadata", "meta-infinity-constant",
               ("truncated or corrupt",)),
    # the training file's length: evaluate calibrates intervals on the validation rows
    Case("evaluate-json-forecast-overflows", ("evaluate", "{d}/model.tsattn", "{d}/data.csv",
                                              "--from", "500", "--json", "-q"), MODEL,
         ("produced nan or infinite forecasts",),
         {"data.csv": csv_text(rows(600)), "model.tsattn": ("model", "weights-overflow")}),
    Case("info-json-infinity-in-metadata", ("info", "{d}/model.tsattn", "--json"), MODEL,
         ("truncated or corrupt",), {"model.tsattn": ("model", "meta-infinity-constant")}),
    Case("info-metrics-huge", ("info", "{d}/model.tsattn"), MODEL,
         ("no finite number as 'metrics.best_val_mse'",),
         {"model.tsattn": ("model", "meta-metrics-huge")}),
    Case("info-model-from-a-pipe", ("info", "/dev/stdin"), MODEL, ("not a regular file",),
         stdin="x"),
    Case("info-metadata-empty", ("info", "{d}/model.tsattn"), MODEL, ("'targets'",),
         {"model.tsattn": ("model", "meta-empty")}),
    Case("info-pickle", ("info", "{d}/model.tsattn"), MODEL, ("never unpickles",),
         {"model.tsattn": ("model", "pickle-5")}, must_not_appear=("PWNED",)),
    Case("evaluate-truncated-model", ("evaluate", "{d}/model.tsattn", "{d}/data.csv"), MODEL,
         ("truncated or corrupt",), {"data.csv": GOOD, "model.tsattn": ("model", "truncated")}),
    Case("resume-file-corrupt", ("train", "{d}/data.csv", "-o", "{d}/model.tsattn", "--resume",
                                 "--quiet"), MODEL,
         ("resume file", "corrupt", "delete it"),
         {"data.csv": GOOD, "model.tsattn.resume": b"\x00" * 100}),
    # --- output paths ---------------------------------------------------------------------------
    Case("predict-output-dir-missing", predict("{d}/data.csv", "-o", "{d}/no/fc.csv"), OUTPUT,
         ("'{d}/no' does not exist", "create it")),
    Case("train-output-dir-missing", ("train", "{d}/data.csv", "-o", "{d}/no/m.tsattn", *SMALL),
         OUTPUT, ("'{d}/no' does not exist", "create it"), {"data.csv": GOOD}),
    Case("output-is-directory", predict("{d}/data.csv", "-o", "{d}/sub"), OUTPUT,
         ("is a directory",), {"data.csv": GOOD, "sub": None}),
    Case("output-parent-is-file", predict("{d}/data.csv", "-o", "{d}/data.csv/fc.csv"), OUTPUT,
         ("is not a directory",), {"data.csv": GOOD}),
    Case("attention-dir-missing", predict("{d}/data.csv", "--attention", "{d}/no/a.json"),
         OUTPUT, ("'{d}/no' does not exist",), {"data.csv": GOOD}),
    Case("output-dir-unwritable", predict("{d}/data.csv", "-o", "{d}/ro/fc.csv"), OUTPUT,
         ("no permission", "'{d}/ro'"), {"data.csv": GOOD, "ro": None}),
    # Even root cannot create files in /sys: the write itself fails, after the forecast.
    Case("output-write-refused", predict("{d}/data.csv", "-o", "/sys/tsattn-fc.csv"), OUTPUT,
         ("cannot write '/sys/tsattn-fc.csv'", "choose another output path"),
         {"data.csv": GOOD}, must_not_appear=("/sys/tsattn-fc.csv",)),
    # --- an output that is an input or another output -------------------------------------------
    Case("train-output-is-the-data", ("train", "{d}/data.csv", "-o", "{d}/data.csv", *SMALL),
         OUTPUT, ("output '{d}/data.csv' is the same file as the input", "destroy"),
         {"data.csv": GOOD}),
    Case("train-output-is-the-data-relative", ("train", "data.csv", "-o", "./data.csv", *SMALL),
         OUTPUT, ("same file as the input 'data.csv'",), {"data.csv": GOOD}),
    Case("train-output-is-the-config", train("{d}/data.csv", "--config", "{d}/run.toml", "-o",
                                             "{d}/run.toml"), OUTPUT, ("same file as the input",),
         {"data.csv": GOOD, "run.toml": "epochs = 1\n"}),
    Case("train-resume-file-is-the-data", ("train", "{d}/data.csv", "-o", "{d}/data", *SMALL),
         OUTPUT, ("'{d}/data.resume'", "same file as the input"),
         {"data.csv": GOOD, "data.resume": ("symlink", "data.csv")}),
    Case("train-resume-path-is-a-directory", ("train", "{d}/data.csv", "-o", "{d}/m", *SMALL),
         OUTPUT, ("'{d}/m.resume'", "is a directory"), {"data.csv": GOOD, "m.resume": None}),
    Case("predict-output-is-the-model", predict("{d}/data.csv", "-o", "{d}/model.tsattn"),
         OUTPUT, ("'{d}/model.tsattn' is the same file as the input",), {"data.csv": GOOD}),
    Case("predict-output-is-the-data", predict("{d}/data.csv", "-o", "{d}/data.csv"), OUTPUT,
         ("same file as the input '{d}/data.csv'",), {"data.csv": GOOD}),
    Case("predict-output-symlink-to-data", predict("{d}/data.csv", "-o", "{d}/link.csv"),
         OUTPUT, ("'{d}/link.csv' is the same file as the input",),
         {"data.csv": GOOD, "link.csv": ("symlink", "data.csv")}),
    Case("predict-output-hardlink-to-model", predict("{d}/data.csv", "-o", "{d}/hard"), OUTPUT,
         ("'{d}/hard' is the same file as the input '{d}/model.tsattn'",),
         {"data.csv": GOOD, "hard": ("hardlink", "model.tsattn")}),
    Case("predict-attention-is-the-forecast", predict("{d}/data.csv", "--attention",
                                                      "{d}/./fc.csv"), OUTPUT,
         ("same file as the output", "overwrite")),
    Case("predict-plot-is-the-attention", predict("{d}/data.csv", "--attention", "{d}/a.json",
                                                  "--plot", "{d}/sub/../a.json"), OUTPUT,
         ("same file as the output",), {"data.csv": GOOD, "sub": None}),
    Case("predict-new-outputs-through-a-linked-directory",
         predict("{d}/data.csv", "--attention", "{d}/alias/fc.csv"), OUTPUT,
         ("same file as the output",), {"data.csv": GOOD, "alias": ("symlink", ".")}),
    Case("predict-plot-and-forecast-to-stdout", ("predict", "{d}/model.tsattn", "{d}/data.csv",
                                                "--plot", "-"), USAGE,
         ("--plot - and the forecast would both go to stdout",), {"data.csv": GOOD}),
    Case("explain-plot-is-the-data", ("explain", "{d}/model.tsattn", "{d}/data.csv", "--plot",
                                      "{d}/data.csv"), OUTPUT, ("same file as the input",),
         {"data.csv": GOOD}),
    # --- one output fails: none is written -------------------------------------------------
    Case("predict-attention-unwritable-keeps-forecast-unwritten",
         predict("{d}/data.csv", "--attention", "/proc/tsattn-x.json"), OUTPUT,
         ("cannot write '/proc/tsattn-x.json'",), {"data.csv": GOOD}),
    Case("predict-plot-unwritable-keeps-others-unwritten",
         predict("{d}/data.csv", "--attention", "{d}/a.json", "--plot", "/proc/tsattn-x.png"),
         OUTPUT, ("cannot write '/proc/tsattn-x.png'",), {"data.csv": GOOD}),
    # --- option values --------------------------------------------------------------------------
    option_case("negative-horizon", ("'--horizon'", "greater than or equal to 1"),
                "--horizon", "-3"),
    option_case("zero-lookback", ("'--lookback'", "greater than or equal to 1"),
                "--lookback", "0"),
    option_case("heads-do-not-divide-width", ("--n-heads 3 does not divide --d-model 8",),
                "--n-heads", "3"),
    option_case("patch-longer-than-lookback", ("--patch-len 16", "--lookback 12"),
                "--patch-len", "16"),
    option_case("unknown-fill", ("unknown --fill 'zero'", "ffill"), "--fill", "zero"),
    option_case("unknown-model", ("unknown model 'rnn'", "transformer"), "--model", "rnn"),
    option_case("unknown-revin-anchor", ("unknown --revin-anchor 'first'", "mean, last"),
                "--revin-anchor", "first"),
    option_case("zero-lr", ("--lr must be positive",), "--lr", "0"),
    option_case("dropout-out-of-range", ("'--dropout'",), "--dropout", "1.5"),
    option_case("unknown-option", ("no such option", "--bogus"), "--bogus"),
    option_case("train-end-past-data", ("--train-end 99", "past the end", "40 rows"),
                "--train-end", "99"),
    option_case("target-twice", ("'load'", "more than once"), "-t", "load", "-t", "load"),
    option_case("unknown-device", ("unknown --device 'tpu9'",), "--device", "tpu9"),
    option_case("train-end-after-val-end", ("0 < train end < val end",), "--train-end", "30",
                "--val-end", "20"),
    Case("config-file-missing", train("{d}/data.csv", "--config", "{d}/run.toml"), USAGE,
         ("config file", "not found"), {"data.csv": GOOD}),
    Case("config-not-toml", train("{d}/data.csv", "--config", "{d}/run.toml"), USAGE,
         ("is not valid TOML", "fix its syntax"), {"data.csv": GOOD, "run.toml": "x = [\n"}),
    Case("config-unknown-option", train("{d}/data.csv", "--config", "{d}/run.toml"), USAGE,
         ("unknown option(s)", "nonsense"), {"data.csv": GOOD, "run.toml": "nonsense = 1\n"}),
    Case("config-wrong-type", train("{d}/data.csv", "--config", "{d}/run.toml"), USAGE,
         ("weight-decay must be a number", "'x'"),
         {"data.csv": GOOD, "run.toml": 'weight-decay = "x"\n'}),
    Case("config-target-not-names", train("{d}/data.csv", "--config", "{d}/run.toml"), USAGE,
         ("target must be a column name or a list of names",),
         {"data.csv": GOOD, "run.toml": 'target = ["load", 3]\n'}),
    # --- one validation for flags and config values ---------------------------------------------
    config_case("config-lr-nan", "lr = nan\n", ("--lr must be a finite number", "nan")),
    config_case("config-option-spelled-twice", "n-heads = 2\nn_heads = 4\n",
                ("sets 'n_heads' twice", "spelled 'n-heads' and 'n_heads'", "keep one")),
    config_case("config-option-flat-and-in-section", "lookback = 12\n[model]\nlookback = 12\n",
                ("sets 'lookback' twice", "in a [data], [model] or [train] section")),
    option_case("empty-target", ("--target ''", "names no column", "leave --target out"),
                "-t", ""),
    config_case("config-lr-inf", "lr = inf\n", ("--lr must be a finite number", "inf")),
    config_case("config-lr-overflowing-literal", "lr = 1e400\n", ("--lr must be a finite",)),
    config_case("config-clip-nan", "clip = nan\n", ("--clip must be a finite number",)),
    config_case("config-weight-decay-minus-inf", "weight-decay = -inf\n",
                ("--weight-decay must be a finite number",)),
    config_case("config-dropout-nan", "dropout = nan\n", ("--dropout must be a finite",),
                "--epochs", "1"),
    config_case("config-dropout-one", "dropout = 1.0\n", ("--dropout must be from 0 to 0.99",)),
    config_case("config-seed-huge", "seed = 99999999999999999999999\n",
                ("--seed must be from 0 to", "an integer of 23 digits")),
    config_case("config-seed-5000-digits", "seed = " + "9" * 5000 + "\n",
                ("not valid TOML", "too long")),
    config_case("config-nested-5000-deep", "x = " + "[" * 5000 + "]" * 5000 + "\n",
                ("not valid TOML", "nested too deeply")),
    config_case("config-lookback-huge", "lookback = 1_000_000_000_000\n",
                ("--lookback must be from 1 to 100000",), "--lookback", "1000000000000"),
    config_case("config-batch-size-float", "batch-size = 1.5\n",
                ("batch-size must be a whole number",)),
    config_case("config-train-end-float", "train-end = 6.5\n",
                ("train-end must be a row number or a timestamp",)),
    config_case("config-train-end-negative", "train-end = -3\n", ("--train-end -3 is negative",)),
    config_case("config-train-end-past-data", "train-end = 600\n", ("--train-end 600",
                                                                      "past the end")),
    config_case("config-not-utf8", "lr = 0.1 # caf\xe9".encode("latin-1"), ("not UTF-8",)),
    option_case("seed-huge", ("--seed must be from 0 to", "an integer of 23 digits"),
                "--seed", "99999999999999999999999"),
    option_case("seed-negative", ("--seed must be from 0",), "--seed", "-1"),
    option_case("lr-nan-flag", ("'--lr'",), "--lr", "nan"),
    option_case("clip-inf-flag", ("--clip must be a finite number",), "--clip", "inf"),
    option_case("weight-decay-nan-flag", ("'--weight-decay'",), "--weight-decay", "nan"),
    option_case("d-model-huge", ("--d-model must be from 1 to 16384",), "--d-model",
                "1000000000"),
    option_case("train-end-superscript-digit", ("--train-end '²'", "row number or a timestamp"),
                "--train-end", "²"),
    option_case("train-end-arabic-digit", ("--train-end ٣",), "--train-end", "٣"),
    Case("evaluate-default-start-past-data", ("evaluate", "{d}/model.tsattn", "{d}/data.csv"),
         USAGE, ("at row 480", "has 40 rows", "--from"), {"data.csv": GOOD}),
    Case("evaluate-from-outside-data", ("evaluate", "{d}/model.tsattn", "{d}/data.csv",
                                        "--from", "2030-01-01"), USAGE,
         ("--from 2030-01-01 is outside the data",), {"data.csv": GOOD}),
    Case("predict-attention-and-forecast-to-stdout",
         ("predict", "{d}/model.tsattn", "{d}/data.csv", "--attention", "-"), USAGE,
         ("both go to stdout", "-o FILE"), {"data.csv": GOOD}),
    Case("resume-without-resume-file",
         ("train", "{d}/data.csv", "-o", "{d}/out.tsattn", "--resume", "--quiet"), USAGE,
         ("nothing to resume", "without --resume"), {"data.csv": GOOD}),
    Case("predict-unknown-format", predict("{d}/data.csv", "--format", "xml"), USAGE,
         ("unknown --format 'xml'",), {"data.csv": GOOD}),
]


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every path under `root` with its bytes (None for a directory) and mtime."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        content = None if path.is_dir() else path.read_bytes()
        found[str(path.relative_to(root))] = (content, stat.st_mtime_ns)
    return found


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(stderr: str) -> str:
    """The contract for any failure: one `error:` line, nothing else but warnings."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    others = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert others == lines, stderr
    return lines[0]


@pytest.fixture
def case_dir(tmp_path: Path, tiny_model: Path) -> Path:
    """A directory with a good model and a previous training output that must survive."""
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy2(tiny_model, d / "model.tsattn")
    shutil.copy2(tiny_model, d / "out.tsattn")
    return d


def _materialize(d: Path, files: dict[str, object], good_model: bytes) -> None:
    for name, content in files.items():
        path = d / name
        if content is None:
            path.mkdir()
        elif isinstance(content, tuple) and content[0] in ("symlink", "hardlink"):
            link = path.symlink_to if content[0] == "symlink" else path.hardlink_to
            link(d / content[1])
        elif isinstance(content, tuple):
            path.write_bytes(_model_bytes(good_model, content[1]))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content), encoding="utf-8", newline="")


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_pickle_payload_is_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Unpickling the 'model' of the pickle cases really writes a file, so the refusal counts."""
    monkeypatch.chdir(tmp_path)
    pickle.loads(_pickle_bytes(5))  # the very thing tsattn must never do
    assert (tmp_path / "PWNED").read_text() == "pwned"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, case_dir: Path):
    d = case_dir
    _materialize(d, case.files, (d / "model.tsattn").read_bytes())
    if case.id == "output-dir-unwritable":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere; the permission check cannot fail")
        (d / "ro").chmod(0o500)
    if case.id == "output-write-refused" and not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux's /sys")
    before = snapshot(d)
    argv = [a.replace("{d}", str(d)) for a in case.argv]
    try:
        done = run_cli(*argv, stdin=case.stdin, cwd=d)
    finally:
        if (d / "ro").exists():
            (d / "ro").chmod(0o700)
    line = assert_one_error_line(done.stderr)
    assert done.returncode == case.code, done.stderr
    for fragment in case.says:
        assert fragment.replace("{d}", str(d)).lower() in line.lower(), line
    assert snapshot(d) == before, "a failed run created or changed a file"
    assert done.stdout == ""
    for name in case.must_not_appear:
        assert not (d / name).exists() and not (Path.cwd() / name).exists()
        assert not (ROOT / name).exists()


# --- inputs that look odd but must work -------------------------------------------------------


def _decimal_commas(text: str) -> str:
    return "\n".join(line.replace(".", ",") for line in text.splitlines()) + "\n"


def _daily() -> str:
    body = rows()
    for day, row in enumerate(body):
        row[0] = str(np.datetime64("2024-01-01") + day)
    return csv_text(body)


def _without_row(i: int, n: int = 40) -> str:
    body = rows(n)
    del body[i]
    return csv_text(body)


# (id, file content, stdin, extra args, warning expected on stderr, same forecast as GOOD)
TOLERATED = [
    ("semicolons", csv_text(rows(), sep=";"), None, (), None, True),
    ("tabs", csv_text(rows(), sep="\t"), None, (), None, True),
    ("semicolons-decimal-commas", _decimal_commas(csv_text(rows(), sep=";")), None, (), None,
     True),
    ("bom-and-crlf", "\ufeff" + csv_text(rows(), eol="\r\n"), None, (), None, True),
    ("crlf-on-stdin", None, csv_text(rows(), eol="\r\n"), (), None, True),
    ("headerless-stdin", None, csv_text(rows(), header=None), (), None, True),
    ("irregular-spacing", _without_row(20), None, (), "irregular spacing", False),
    ("nan-with-fill-ffill", edited({(30, 1): "NaN"}), None, ("--fill", "ffill"),
     "repaired 1 missing", False),
    ("empty-with-fill-interpolate", edited({(30, 2): ""}), None, ("--fill", "interpolate"),
     "repaired 1 missing", False),
    ("inf-with-fill-ffill", edited({(31, 2): "-inf"}), None, ("--fill", "ffill"),
     "repaired 1 missing or infinite", False),
    ("excel-sep-line", "sep=,\n" + GOOD, None, (), None, True),
    ("excel-empty-rows-below", GOOD + ",,\n,,\n", None, (), None, True),
    ("daily-history-for-an-hourly-model", _daily(), None, (),
     "the history steps by D but the model was trained on rows stepping by h", False),
]


@pytest.fixture(scope="module")
def good_forecast(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("good") / "good.csv"
    path.write_text(GOOD)
    done = run_cli("predict", str(tiny_model), str(path))
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("content", "stdin", "extra", "warning", "same"),
                         [t[1:] for t in TOLERATED], ids=[t[0] for t in TOLERATED])
def test_tolerated_input(content, stdin, extra, warning, same, tiny_model: Path,
                         tmp_path: Path, good_forecast: str):
    source = "-"
    if content is not None:
        source = str(tmp_path / "data.csv")
        Path(source).write_bytes(content.encode("utf-8"))
    done = run_cli("predict", str(tiny_model), source, *extra, stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "error:" not in done.stderr and "Traceback" not in done.stderr
    if warning:
        assert f"warning: {warning}" in done.stderr
    lines = done.stdout.splitlines()
    columns = lines[0].split(",")
    assert columns[:2] == ["date", "load"] and "temp" in columns and len(lines) == 1 + 6
    if same:
        assert done.stdout == good_forecast


def test_predict_from_a_terminal_says_what_it_waits_for(tiny_model: Path, good_forecast: str):
    """`predict m -` at a terminal: one line says rows are read until Ctrl-D, no silent wait."""
    leader, follower = pty.openpty()
    attributes = termios.tcgetattr(follower)
    attributes[3] &= ~termios.ECHO  # the typed rows are not echoed back to the leader
    termios.tcsetattr(follower, termios.TCSANOW, attributes)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    process = subprocess.Popen([sys.executable, "-m", "tsattn", "predict", str(tiny_model), "-"],
                               stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, text=True)
    os.close(follower)
    os.write(leader, GOOD.encode() + b"\x04")  # Ctrl-D at a line's start: end of input
    out, err = process.communicate(timeout=300)
    os.close(leader)
    assert process.returncode == 0, err
    assert "reading CSV rows typed or pasted here: end with Ctrl-D" in err
    assert out == good_forecast


def test_tail_of_a_file_pipes_into_predict_without_its_header(tiny_model: Path,
                                                               hourly_csv: Path):
    """DESIGN.md's `tail -n 400 new.csv | tsattn predict model -`, through a real shell pipe."""
    command = (f"tail -n 50 {shlex.quote(str(hourly_csv))} | {shlex.quote(sys.executable)} "
               f"-m tsattn predict {shlex.quote(str(tiny_model))} -")
    piped = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"})
    assert piped.returncode == 0, piped.stderr
    lines = hourly_csv.read_text().splitlines()
    with_header = run_cli("predict", str(tiny_model), "-",
                          stdin="\n".join([lines[0], *lines[-50:]]) + "\n")
    assert with_header.returncode == 0
    assert piped.stdout == with_header.stdout
    assert piped.stdout.splitlines()[0].startswith("date,load,load_q0.1,")


def test_config_row_index_as_toml_integer(tmp_path: Path):
    """`train-end = 20` (a TOML integer) is a row index, exactly as `--train-end 20` is."""
    (tmp_path / "data.csv").write_text(GOOD)
    (tmp_path / "run.toml").write_text("train-end = 20\nval-end = 30\n")
    done = run_cli("train", "data.csv", "--config", "run.toml", "-o", "m.tsattn", *SMALL,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(run_cli("info", "m.tsattn", "--json", cwd=tmp_path).stdout)
    assert info["split"] == {"train_end": 20, "val_end": 30}
    assert info["config"]["data"]["train_end"] == "20"


# --- special files and closed streams, through a real shell -----------------------------------


def shell(command: str, d: Path) -> subprocess.CompletedProcess:
    """Run `command` in bash inside `d`, with `tsattn` meaning this checkout's CLI."""
    define = f'tsattn() {{ {shlex.quote(sys.executable)} -m tsattn "$@"; }}; '
    return subprocess.run(["bash", "-c", define + command], cwd=d,
                          capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"})


# (id, shell command run in the case directory, exit code, fragment of the error line)
STREAM_CASES = [
    ("stdin-closed", "tsattn predict model.tsattn - <&-", DATA, "standard input is closed"),
    ("stdout-closed", "tsattn predict model.tsattn data.csv >&-", OUTPUT,
     "standard output is closed"),
    ("stdout-closed-evaluate-json",
     "tsattn evaluate model.tsattn data.csv --from 20 --json -q >&-", OUTPUT,
     "standard output is closed"),
    ("stdout-closed-info-json", "tsattn info model.tsattn --json >&-", OUTPUT,
     "standard output is closed"),
    ("stdout-full", "tsattn predict model.tsattn data.csv > /dev/full", OUTPUT,
     "cannot write standard output: no space left"),
    ("output-dev-full", "tsattn predict model.tsattn data.csv -o /dev/full", OUTPUT,
     "cannot write '/dev/full': no space left"),
    ("stdout-appends-to-the-data", "tsattn predict model.tsattn data.csv >> data.csv", OUTPUT,
     "output standard output is the same file as the input 'data.csv'"),
    ("stdin-is-the-output", "tsattn predict model.tsattn - -o data.csv < data.csv", OUTPUT,
     "output 'data.csv' is the same file as the input (standard input)"),
    ("evaluate-json-appends-to-the-model",
     "tsattn evaluate model.tsattn data.csv --from 20 --json -q >> model.tsattn", OUTPUT,
     "same file as the input 'model.tsattn'"),
]


@pytest.mark.parametrize(("command", "code", "says"), [c[1:] for c in STREAM_CASES],
                         ids=[c[0] for c in STREAM_CASES])
def test_closed_and_full_streams(command: str, code: int, says: str, case_dir: Path):
    (case_dir / "data.csv").write_text(GOOD)
    before = snapshot(case_dir)
    done = shell(command, case_dir)
    line = assert_one_error_line(done.stderr.decode())
    assert done.returncode == code, line
    assert says in line.lower() or says in line, line
    assert snapshot(case_dir) == before


def test_outputs_to_devices_fifos_and_links_are_written_in_place(case_dir: Path):
    """/dev/null stays a device, a FIFO gets the forecast, a symlink keeps pointing at its
    file, and /dev/stdout on a pipe is the pipe: nothing is replaced by a regular file."""
    d = case_dir
    (d / "data.csv").write_text(GOOD)
    (d / "real.csv").write_text("old\n")
    (d / "link.csv").symlink_to("real.csv")
    os.mkfifo(d / "fifo")
    done = shell("cat fifo > from-fifo.csv & tsattn predict model.tsattn data.csv -o fifo "
                 "--attention /dev/null; wait; tsattn predict model.tsattn data.csv "
                 "-o link.csv; tsattn predict model.tsattn data.csv -o /dev/stdout | cat", d)
    assert done.returncode == 0, done.stderr
    forecast = (d / "real.csv").read_text()
    header = forecast.splitlines()[0]
    assert header.startswith("date,load,load_q0.1,") and len(forecast.splitlines()) == 7
    fifo_lines = (d / "from-fifo.csv").read_text().splitlines()
    assert fifo_lines[0] == header and len(fifo_lines) == 7
    assert done.stdout.decode() == forecast
    assert (d / "link.csv").is_symlink() and Path("/dev/null").is_char_device()
    assert (d / "fifo").is_fifo()
    assert not [p for p in d.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("command", ["predict model.tsattn data.csv -o fc.csv --plot -",
                                     "explain model.tsattn data.csv --plot -"])
def test_plot_dash_is_stdout(command: str, case_dir: Path):
    pytest.importorskip("matplotlib")
    (case_dir / "data.csv").write_text(GOOD)
    done = shell(f"tsattn {command}", case_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\x89PNG\r\n")
    assert not (case_dir / "-").exists()


# --- names from a file are text on every surface ------------------------------------------------

NASTY = ("OT[/]", "t[bold]x\x1b]0;X\x07\x1b[2J\x1b[31mRED")


@pytest.fixture(scope="module")
def nasty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained (with its summary table shown) on columns named like markup/escapes."""
    d = tmp_path_factory.mktemp("nasty")
    header = ("date", *(f'"{n}"' for n in NASTY))
    (d / "data.csv").write_text(csv_text(rows(), header=header), encoding="utf-8")
    done = run_cli("train", "data.csv", "-o", "[red]m.tsattn", *SMALL[:-1], cwd=d)
    assert done.returncode == 0, done.stderr
    (d / "train.err").write_text(done.stderr)
    return d


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    (), ("info", "[red]m.tsattn"), ("explain", "[red]m.tsattn", "data.csv"),
    ("predict", "[red]m.tsattn", "data.csv", "--explain"),
    ("evaluate", "[red]m.tsattn", "data.csv", "--from", "20", "--season", "6"),
], ids=["train", "info", "explain", "predict-explain", "evaluate"])
def test_names_are_shown_as_text_with_escapes_visible(argv: tuple[str, ...], nasty_dir: Path):
    if argv:
        done = run_cli(*argv, cwd=nasty_dir)
        assert done.returncode == 0, done.stderr
        stderr = done.stderr
    else:
        stderr = (nasty_dir / "train.err").read_text()
    assert "\x1b" not in stderr and "\x07" not in stderr
    if argv[:1] != ("evaluate",):
        assert "OT[/]" in stderr and "t[bold]x\\x1b]0;X\\x07" in stderr, stderr
    if argv[:1] in ((), ("info",)):
        assert "[red]m.tsattn" in stderr


# --- resume files: checked against the options and data given, damage is exit 4 --------------


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A model and its resume file, from a training of GOOD stopped by SIGINT (as Ctrl-C)."""
    import signal
    import time

    d = tmp_path_factory.mktemp("resume")
    (d / "data.csv").write_text(GOOD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tsattn", "train", "data.csv", "-o",
                             "m.tsattn", "-t", "load", *SMALL, "--epochs", "100000"], cwd=d,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (d / "m.tsattn.resume").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    return {"m.tsattn": (d / "m.tsattn").read_bytes(),
            "m.tsattn.resume": (d / "m.tsattn.resume").read_bytes()}


def _resume_edit(key: str, value: object):
    return lambda good: _rewritten(good, edit_meta=lambda m: _set(m, key, value))


def _drop(key: str):
    def edit(meta: dict) -> dict:
        del meta[key]
        return meta
    return lambda good: _rewritten(good, edit_meta=edit)


RESUME = ("train", "data.csv", "-o", "m.tsattn", "--resume", "--quiet")
# (id, argv, edit of the resume file bytes or None, data file content, code, fragments)
RESUME_CASES = [
    ("other-epochs", (*RESUME, "--epochs", "3"), None, GOOD, USAGE,
     ("--resume continues the stored run, but epochs 3 (stored: 100000)",
      "drop those options to resume")),
    ("other-target", (*RESUME, "-t", "temp"), None, GOOD, USAGE,
     ("targets temp (stored: load)",)),
    ("other-lr-in-config", (*RESUME, "--config", "run.toml"), None, GOOD, USAGE,
     ("lr 0.5 (stored: 0.001)",)),
    ("other-rows", RESUME, None, csv_text(rows(39)), DATA,
     ("the data differs from the run being resumed", "40 rows")),
    ("other-values", RESUME, None, edited({(3, 1): "1.5"}), DATA,
     ("the data differs from the run being resumed", "train without --resume")),
    ("other-columns", RESUME, None, csv_text(rows(), header=("date", "load", "humidity")),
     DATA, ("columns load, humidity but the run being resumed was trained on load, temp",)),
    ("no-state", RESUME, _drop("state"), GOOD, MODEL,
     ("resume file", "no 'state'", "delete it")),
    ("bad-config", RESUME, _resume_edit("config.model.n_heads", 3), GOOD, MODEL,
     ("resume file", "unusable 'config'", "does not divide", "delete it")),
    ("bad-state", RESUME, _resume_edit("state.epoch", "one"), GOOD, MODEL,
     ("resume file", "'state.epoch'", "delete it")),
    ("bad-data-print", RESUME, _resume_edit("source.sha256", 5), GOOD, MODEL,
     ("resume file", "'source.sha256'", "delete it")),
    ("tensors-do-not-fit", RESUME,
     lambda good: _rewritten(good, edit_tensors=_wrong_shape), GOOD, MODEL,
     ("does not fit its run", "delete it")),
]


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "edit", "data", "code", "says"),
                         [c[1:] for c in RESUME_CASES], ids=[c[0] for c in RESUME_CASES])
def test_resume_file_is_checked(argv, edit, data, code, says, interrupted_run, tmp_path: Path):
    for name, content in interrupted_run.items():
        (tmp_path / name).write_bytes(content)
    if edit is not None:
        resume = tmp_path / "m.tsattn.resume"
        resume.write_bytes(edit(resume.read_bytes()))
    (tmp_path / "data.csv").write_text(data)
    (tmp_path / "run.toml").write_text("lr = 0.5\n")
    before = snapshot(tmp_path)
    done = run_cli(*argv, cwd=tmp_path)
    line = assert_one_error_line(done.stderr)
    assert done.returncode == code, line
    for fragment in says:
        assert fragment in line, line
    assert snapshot(tmp_path) == before
