"""Property-based tests: whatever CSV text arrives, reading and validating it either gives a
sound `Frame` or raises one of tsattn's own errors with a one-line message, never anything
else (no pandas, numpy, csv or Unicode exception escapes to become a traceback).

The generator builds tables column by column (numbers, text, times, booleans, mixtures),
then damages them the way real files are damaged: missing cells, a BOM, CR/CRLF line ends,
another separator, blank lines, a missing header, ragged rows, and raw byte garbage.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tsattn.data import Frame, read_frame
from tsattn.errors import TsattnError

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEPARATORS = (",", ";", "\t")
VALUE_NAMES = ("load", "temp", "a", "b", "OT", "x y", "é", "price")
TIME_NAMES = ("date", "time", "ds", "timestamp", "when")
ODD_NAMES = ("", "1", "2.5", "2024-01-01", "Unnamed: 0", '"q"', "date", "load")
SPECIAL_NUMBERS = ("nan", "NaN", "inf", "-inf", "1e39", "-1e400", "1e-50", "0", "-0", "1,5",
                   " 3.5 ", "1_000", "0x10", "", "NA", "null", "+7", ".5", "5.")

numbers = st.one_of(
    st.integers(-10**9, 10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:.3f}"),
    st.sampled_from(SPECIAL_NUMBERS),
)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                max_size=6)
words = st.text(alphabet="abcxyz ;,\t\"'", max_size=5)
booleans = st.sampled_from(("true", "false", "True", "FALSE", ""))


def rare(draw, k: int) -> bool:
    """True about once in `k` draws (hypothesis leans to the first element, so it is False)."""
    return draw(st.sampled_from((False,) * (k - 1) + (True,)))


@st.composite
def time_column(draw, n: int) -> list[str]:
    """Timestamps with a regular step, then perhaps a gap, a repeat, a swap or junk."""
    start = pd.Timestamp("2020-01-01") + pd.Timedelta(minutes=draw(st.integers(0, 10**6)))
    step = pd.Timedelta(draw(st.sampled_from(("1h", "15min", "1D", "1min", "7D", "1s"))))
    stamps = [start + i * step for i in range(n)]
    fmt = draw(st.sampled_from(("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M",
                                "%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S+02:00")))
    cells = [t.strftime(fmt) for t in stamps]
    if n >= 2 and rare(draw, 3):
        i = draw(st.integers(0, n - 2))
        kind = draw(st.sampled_from(("gap", "repeat", "swap", "junk", "blank")))
        if kind == "repeat":
            cells[i + 1] = cells[i]
        elif kind == "swap":
            cells[i], cells[i + 1] = cells[i + 1], cells[i]
        elif kind == "junk":
            cells[i] = draw(words)
        elif kind == "blank":
            cells[i] = ""
        else:
            cells[i + 1:] = [(t + 3 * step).strftime(fmt) for t in stamps[i + 1:]]
    return cells


@st.composite
def column(draw, n: int) -> tuple[str, list[str]]:
    """(name, cells): mostly a clean column of one kind, with a few odd cells sprinkled in."""
    kind = draw(st.sampled_from(("number",) * 6 + ("time", "time", "text", "bool", "mixed",
                                                    "empty")))
    if kind == "time":
        return draw(st.sampled_from(TIME_NAMES)), draw(time_column(n))
    if kind == "number":
        cells = [f"{v:.4f}" for v in draw(st.lists(st.floats(-1e4, 1e4), min_size=n,
                                                    max_size=n))]
    else:
        cell = {"text": words, "bool": booleans, "empty": st.just(""),
                "mixed": st.one_of(numbers, texts)}[kind]
        cells = draw(st.lists(cell, min_size=n, max_size=n))
    if n and rare(draw, 3):
        for _ in range(draw(st.integers(1, 3))):
            cells[draw(st.integers(0, n - 1))] = draw(numbers)
    return draw(st.sampled_from(VALUE_NAMES)), cells


@st.composite
def csv_documents(draw) -> tuple[bytes | str, list[str]]:
    """(the document, the header names it was built with)."""
    n_cols = draw(st.integers(1, 5))
    n_rows = draw(st.integers(0, 25))
    named = [draw(column(n_rows)) for _ in range(n_cols)]
    names, columns = [], []
    for name, cells in named:
        if rare(draw, 10):
            name = draw(st.sampled_from(ODD_NAMES))
        elif name in names:
            name = f"{name}{len(names)}"
        names.append(name)
        columns.append(cells)
    body = [[columns[c][r] for c in range(n_cols)] for r in range(n_rows)]
    if body and rare(draw, 8):  # a ragged row: a field too many or too few
        r = draw(st.integers(0, len(body) - 1))
        body[r] = body[r] + ["9"] if draw(st.booleans()) else body[r][:-1]
    sep = draw(st.sampled_from(SEPARATORS))
    lines = ([] if rare(draw, 8) else [names]) + body
    text_lines = [sep.join(cells) for cells in lines]
    if text_lines and rare(draw, 5):
        at = draw(st.integers(0, len(text_lines)))
        text_lines.insert(at, draw(st.sampled_from(("", "  ", sep * n_cols, "# comment"))))
    eol = draw(st.sampled_from(("\n", "\r\n", "\r")))
    text = eol.join(text_lines) + (eol if draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = "\ufeff" + text
    if rare(draw, 12):  # damaged bytes: invalid UTF-8, NUL, or raw noise
        raw = text.encode("utf-8")
        noise = draw(st.binary(min_size=1, max_size=20))
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + noise + raw[at:], names
    return text, names


@st.composite
def read_options(draw, names: list[str]) -> dict:
    """Mostly what the CLI passes; sometimes a column that is not there, or a bad --fill."""
    pick = st.sampled_from([*names, "nope"]) if names else st.just("nope")
    options: dict = {"fill": "zero" if rare(draw, 20) else draw(st.sampled_from(
        ("ffill", "none", "interpolate")))}
    if rare(draw, 3):
        options["targets"] = draw(st.lists(pick, max_size=2))
    if rare(draw, 6):
        options["covariates"] = draw(st.lists(pick, max_size=2))
    if rare(draw, 6):
        options["time_col"] = draw(pick)
    if rare(draw, 4):
        options["names"] = draw(st.one_of(st.just(names), st.lists(
            st.sampled_from(VALUE_NAMES + TIME_NAMES), max_size=5)))
    return options


def source_of(document: bytes | str, how: str):
    if how == "text":
        return io.StringIO(document if isinstance(document, str)
                           else document.decode("utf-8", "replace"))
    return io.BytesIO(document.encode("utf-8") if isinstance(document, str) else document)


def check_frame(frame: Frame) -> None:
    """What every consumer of a Frame relies on."""
    n, c = frame.values.shape
    assert n >= 1 and c == len(frame.columns) >= 1
    assert frame.values.dtype == np.float32 and frame.values.flags["C_CONTIGUOUS"]
    assert np.isfinite(frame.values).all()
    assert 1 <= frame.n_targets <= c
    assert len(set(frame.columns)) == c
    assert set(frame.columns) <= set(frame.header)
    assert frame.time_col is None or frame.time_col in frame.header
    if frame.times is not None:
        assert frame.times.shape == (n,) and frame.times.dtype == np.dtype("datetime64[ns]")
        assert (np.diff(frame.times.astype(np.int64)) > 0).all()
    assert all(isinstance(w, str) and "\n" not in w for w in frame.warnings)


def check_error(exc: TsattnError) -> None:
    """A message and a data/usage exit code. It may quote a column name with a newline in
    it (quoted in the CSV); the CLI escapes those (see the last test), not the library."""
    assert isinstance(str(exc), str) and str(exc)
    assert exc.exit_code in (2, 3)


@SETTINGS
@given(data=st.data(), how=st.sampled_from(("text", "bytes")))
def test_any_csv_reads_or_fails_with_a_tsattn_error(data, how):
    document, names = data.draw(csv_documents())
    options = data.draw(read_options(names))
    try:
        frame = read_frame(source_of(document, how), **options)
    except TsattnError as exc:
        check_error(exc)
        event(f"{type(exc).__name__}: {str(exc).split(' ')[0:3]}")
    else:
        check_frame(frame)
        event("read")


@SETTINGS
@given(
    values=st.lists(st.lists(st.floats(-1e6, 1e6, width=32), min_size=3, max_size=3),
                    min_size=1, max_size=30),
    sep=st.sampled_from(SEPARATORS),
    eol=st.sampled_from(("\n", "\r\n")),
    bom=st.booleans(),
    headerless=st.booleans(),
)
def test_clean_numbers_round_trip_with_any_separator_and_line_end(values, sep, eol, bom,
                                                                  headerless):
    """A clean table reads back exactly, with or without a header (given the names)."""
    header = ["a", "b", "c"]
    lines = ([] if headerless else [sep.join(header)]) + [
        sep.join(repr(float(v)) for v in row) for row in values]
    text = ("\ufeff" if bom else "") + eol.join(lines) + eol
    frame = read_frame(io.StringIO(text), names=header if headerless else None)
    check_frame(frame)
    assert frame.columns == tuple(header) and frame.header == tuple(header)
    np.testing.assert_array_equal(frame.values, np.asarray(values, dtype=np.float32))


@SETTINGS
@given(document=csv_documents(), cut=st.integers(1, 3))
def test_headerless_tail_reads_like_the_file_with_its_header(document, cut):
    """`tail` of a file, read with the header's names, equals the file's rows read with it."""
    text, _ = document
    if isinstance(text, bytes):
        return
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head, tail = lines[0], lines[cut:]
    try:
        with_header = read_frame(io.StringIO("\n".join([head, *tail])))
    except TsattnError as exc:
        check_error(exc)
        return
    try:
        without = read_frame(io.StringIO("\n".join(tail)), names=with_header.header)
    except TsattnError as exc:
        check_error(exc)  # e.g. the first kept line has text that looks like a header
        return
    check_frame(without)
    if len(without.values) < len(with_header.values):
        return  # its first line has a column name in it, so it was taken for a header
    assert without.columns == with_header.columns
    np.testing.assert_array_equal(without.values, with_header.values)


@SETTINGS
@given(st.text())
def test_an_error_line_is_one_line_whatever_the_message_quotes(text):
    from tsattn.cli.render import one_line

    line = one_line(f"column {text!s} not found")
    assert len(line.splitlines()) == 1 and line.isprintable()
