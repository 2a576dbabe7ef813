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
import shlex
import shutil
import struct
import subprocess
import sys
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


def _rewritten(good: bytes, edit_meta=None, edit_tensors=None) -> bytes:
    """A well-formed tsattn file whose metadata or tensors were changed by hand."""
    from safetensors.numpy import load, save

    (length,) = struct.unpack("<Q", good[:8])
    strings = json.loads(good[8:8 + length])["__metadata__"]
    meta, tensors = json.loads(strings["meta"]), load(good)
    if edit_meta:
        meta = edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    return save(tensors, metadata={**strings, "meta": json.dumps(meta)})


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


def _model_bytes(good: bytes, kind: str) -> bytes:
    """Damaged or foreign variants of a good model file."""
    if kind in META_EDITS:
        return _rewritten(good, edit_meta=META_EDITS[kind])
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
    first (str as UTF-8 bytes, bytes verbatim, None makes a directory, and a
    `("model", kind)` tuple a damaged copy of the good model)."""

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


def model_case(id: str, kind: str, says: tuple[str, ...]) -> Case:
    return Case(id, predict(), MODEL, says, {"data.csv": GOOD, "model.tsattn": ("model", kind)},
                must_not_appear=("PWNED",))


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
