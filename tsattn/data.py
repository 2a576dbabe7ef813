"""Read and validate a CSV or Parquet file, split it chronologically, scale it, and label
its time steps.

This is the only module that imports pandas (and pyarrow, for Parquet): everything after
`read_frame` works on a plain float32 array with channels ordered targets first, then
covariates. A Parquet file is recognised by its content (it starts and ends with `PAR1`)
or its extension, and then checked like a CSV, cell by cell. Every problem with the
input becomes a `DataError` (or `UsageError` for a bad option value) whose one-line message
names the problem, where it is, and the fix; pandas, numpy and decoding errors never escape.

Positions in messages are given as "row R (file line L)": R is the 1-based data row (the
header is not counted), L the line of the file an editor shows.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from tsattn.config import FILL_METHODS
from tsattn.errors import DataError, UsageError

TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds")
_SEPARATORS = (",", ";", "\t")
_EXCEL_SEP = re.compile(r"sep=([,;\t])")
_DAY_FIRST = re.compile(r"(1[3-9]|2\d|3[01])[/.]\d{1,2}[/.]\d{2,4}\b")
# A number written with thousands separators or a decimal mark pandas was not told about:
# 1,234 / 1.234,5 / 25,000 / 1 234. Such a column must not pass as text and be dropped.
_GROUPED_NUMBER = re.compile(r"[-+]?\d{1,3}([.,\u00a0 ]\d{3})+([.,]\d+)?|[-+]?\d+,\d+")
_F32_MAX = float(np.finfo(np.float32).max)
_DAY_NS = 86_400 * 10**9
_TRAIN_SHARE, _VAL_SHARE = 0.7, 0.8  # default ends of the training and validation parts


@dataclass(frozen=True, eq=False)
class Frame:
    """A validated table: numbers for the model, plus what is needed to label them.

    `eq=False` because arrays do not compare to one bool; compare fields explicitly.
    """

    values: np.ndarray  # (N, C) float32: targets, past covariates, then known covariates
    columns: tuple[str, ...]  # channel names in that order
    n_targets: int
    times: np.ndarray | None  # (N,) datetime64[ns]; None when there is no time column
    time_col: str | None
    freq: str | None  # pandas offset alias ("h", "15min", "D"); None if unknown
    warnings: tuple[str, ...]  # for people: irregular spacing, repaired cells, ignored columns
    header: tuple[str, ...] = ()  # every column name of the file, in file order
    time_format: str | None = None  # strftime format that writes the input's own times back
    source: str | None = None  # the file's name as given, "-" for stdin
    sha256: str | None = None  # of the bytes read (stdin: its text as UTF-8)
    n_known: int = 0  # the last channels: covariates whose future values are known
    future: Future | None = None  # known values in the rows after the last target value
    calendar: tuple[str, ...] = ()  # calendar phases appended as the last known channels

    @property
    def targets(self) -> tuple[str, ...]:
        return self.columns[: self.n_targets]

    @property
    def covariates(self) -> tuple[str, ...]:
        """Past covariates: observed up to the forecast origin only."""
        return self.columns[self.n_targets : len(self.columns) - self.n_known]

    @property
    def known(self) -> tuple[str, ...]:
        """Every known channel: the file's known columns, then calendar features."""
        return self.columns[len(self.columns) - self.n_known :]

    @property
    def known_columns(self) -> tuple[str, ...]:
        """The file's own known columns (calendar channels left out)."""
        return self.known[: self.n_known - 2 * len(self.calendar)]


@dataclass(frozen=True, eq=False)
class Future:
    """Rows after the history whose targets are empty: the known covariates' values over
    the horizon (`cat history.csv tomorrow.csv | tsattn predict m -`)."""

    values: np.ndarray  # (F, n_known) float32
    times: np.ndarray | None  # (F,) datetime64[ns]


# ---------------------------------------------------------------------------------------------
# Reading text and parsing the CSV


@dataclass(frozen=True)
class _Table:
    """The parsed CSV with what error messages need to point at a cell."""

    df: pd.DataFrame
    name: str
    text: str | None  # None for Parquet: rows have no file lines
    sep: str
    has_header: bool = True
    id_col: str | None = None  # one series of a long table: the column naming it, not data
    rows: np.ndarray | None = field(default=None, compare=False)  # that series' file rows

    def where(self, row: int) -> str:
        """Describe 0-based data row `row` as the 1-based data row and the file line."""
        row = row if self.rows is None else int(self.rows[row])
        if self.text is None:
            return f"row {row + 1}"
        return f"row {row + 1} (file line {_file_line(self.text, row, self.has_header)})"


def _file_line(text: str, row: int, has_header: bool = True) -> int:
    # Slow on purpose (a Python loop), so it only runs once an error is certain. pandas skips
    # blank lines, so they are skipped here too; the first non-blank line may be the header.
    seen = -1 - has_header
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return lineno
    return row + 1 + has_header


def _read_table(source: Path | TextIO, names: Sequence[str] | None = None
                ) -> tuple[_Table, str]:
    """The parsed table (CSV or Parquet) and the sha256 of the bytes read."""
    raw, name, digest = _read_raw(source)
    if isinstance(raw, bytes) and _is_parquet(raw, name):
        return _parse_parquet(raw, name), digest
    return _parse_csv(_decode(raw, name), name, names), digest


def _read_raw(source: Path | TextIO) -> tuple[bytes | str, str, str]:
    """Return (content, name, sha256 of what was read) from a path or an open stream."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        if path.is_dir():
            raise DataError(f"{name} is a directory, not a CSV file; give the path of a file")
        try:
            raw: bytes | str = path.read_bytes()
        except FileNotFoundError as exc:
            raise DataError(f"file {name} not found; check the path") from exc
        except OSError as exc:
            raise DataError(f"cannot read {name} ({exc.strerror}); check its permissions") from exc
    else:
        name = "stdin"
        try:  # bytes where the stream has them, so Parquet can be piped in too
            raw = getattr(source, "buffer", source).read()
        except UnicodeDecodeError as exc:
            raise DataError(f"{name} is not a text CSV file (not UTF-8); give a CSV") from exc
    digest = hashlib.sha256(raw.encode("utf-8") if isinstance(raw, str) else raw).hexdigest()
    return raw, name, digest


_PARQUET_MAGIC = b"PAR1"


def _is_parquet(raw: bytes, name: str) -> bool:
    """Parquet by content (`PAR1` at both ends) or by a `.parquet`/`.pq` name."""
    if raw[:4] == _PARQUET_MAGIC and raw[-4:] == _PARQUET_MAGIC:
        return True
    return name.lower().endswith((".parquet", ".pq"))


def _parse_parquet(raw: bytes, name: str) -> _Table:
    """A Parquet file as a table: its typed columns as pandas reads them."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise UsageError(f"{name} is a Parquet file, which needs pyarrow; install it with "
                         "`pip install 'tsattn[parquet]'`, or give a CSV") from exc
    try:
        df = pq.read_table(io.BytesIO(raw)).to_pandas()
    except Exception as exc:  # pyarrow raises many kinds (ArrowInvalid, OSError, ...)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name} is not a readable Parquet file ({detail[:200]}); "
                        "give a Parquet or CSV file") from exc
    if df.shape[1] == 0:
        raise DataError(f"{name} has no columns; give a table with a numeric column")
    if len(df) == 0:
        raise DataError(f"{name} has columns but no rows; give a table with data")
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    repeated = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if repeated:
        raise DataError(f"column name {repeated[0]!r} appears twice in {name}; rename one")
    return _Table(df=df, name=name, text=None, sep=",")


def _decode(raw: bytes | str, name: str) -> str:
    not_text = f"{name} is not a text CSV file (binary data or not UTF-8); give a UTF-8 CSV"
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            raise DataError(not_text)
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(not_text) from exc
    if "\x00" in raw:
        raise DataError(not_text)
    text = raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(f"{name} is empty; give a CSV with a header line and data rows")
    return text


def _detect_sep(header: str) -> str:
    """The separator the header line uses most (comma when it has none: a single column)."""
    counts = [header.count(sep) for sep in _SEPARATORS]
    return _SEPARATORS[int(np.argmax(counts))] if max(counts) else ","


def _header_names(header: str, sep: str, name: str,
                  names: Sequence[str] | None) -> tuple[list[str], bool]:
    """(column names, whether the first line is a header) for the first line of the file.

    Without `names` a first line that looks like data is an error. With `names` (the
    columns a model was trained on) it is taken as the first data row when it looks like
    data, or when it has exactly len(names) fields and none of them is one of the names
    (data with a text column); otherwise it is a header, to be checked like any other.
    """
    try:
        fields = [n.strip() for n in next(csv.reader([header], delimiter=sep))]
    except (csv.Error, StopIteration) as exc:
        raise DataError(f"cannot read the header line of {name} ({exc}); "
                        "check its quotes and separators") from exc
    looks_like_data = any(fields) and all(
        not f or _is_number(f) or _is_time(f) for f in fields)
    if names is not None:
        names = [str(n) for n in names]
        foreign = not set(fields) & set(names)
        if looks_like_data and len(fields) != len(names):
            raise DataError(
                f"the first line of {name} looks like data, not a header, but has "
                f"{len(fields)} fields where {len(names)} columns are expected "
                f"({', '.join(names)}); give rows with exactly those columns, or a header "
                "line naming them")
        if looks_like_data or (foreign and len(fields) == len(names)):
            return names, False
    elif looks_like_data:
        raise DataError(f"the first line of {name} looks like data, not a header; "
                        "add a header line naming the columns (when piping the end of a "
                        "file, keep its header: `(head -n 1 f.csv; tail -n 400 f.csv)`)")
    seen: set[str] = set()
    for col in fields:
        if col and col in seen:
            raise DataError(f"column name {col!r} appears twice in the header of {name}; "
                            "rename one of them")
        seen.add(col)
    return fields, True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    if not any(ch.isdigit() for ch in text):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            return False
    return True


def _parse_csv(text: str, name: str, names: Sequence[str] | None = None) -> _Table:
    """Parse with pandas' C parser; a `;` file may use decimal commas, tried only if needed."""
    text, sep = _excel_separator(text)
    if not text.strip():
        raise DataError(f"{name} holds only Excel's 'sep=' line; give a CSV with a header "
                        "line and data rows")
    first = next(line for line in text.split("\n") if line.strip())
    sep = sep or _detect_sep(first)
    columns, has_header = _header_names(first, sep, name, names)
    given = None if has_header else columns
    if has_header:
        _check_first_row(text, sep, len(columns), name)
    df = _without_empty_tail(_read_csv(text, sep, name, len(columns), ".", given))
    if sep == ";" and _n_numeric(df) < df.shape[1]:
        comma = _without_empty_tail(_read_csv(text, sep, name, len(columns), ",", given))
        df = _pick_decimal(df, comma, name)
    _refuse_grouped_numbers(df, name)
    if len(df) == 0:
        raise DataError(f"{name} has a header but no data rows; give a CSV with data")
    df.columns = [str(c).strip() for c in df.columns]
    return _Table(df=df, name=name, text=text, sep=sep, has_header=has_header)


def _excel_separator(text: str) -> tuple[str, str | None]:
    """Excel's first line `sep=;` names the separator and is no header: the text with that
    line left blank (so line numbers in messages stay the file's), and the separator."""
    head, newline, rest = text.partition("\n")
    found = _EXCEL_SEP.fullmatch(head.strip())
    return (newline + rest, found.group(1)) if found else (text, None)


def _without_empty_tail(df: pd.DataFrame) -> pd.DataFrame:
    """Drop the rows with every cell empty at the end (`,,,,` lines Excel leaves below a
    sheet); an empty row inside the data stays, to be refused with its line."""
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    return df.iloc[: filled[-1] + 1 if filled.size else 0]


def _check_first_row(text: str, sep: str, n_fields: int, name: str) -> None:
    """Refuse a first data row longer than the header: pandas would quietly take the first
    column as an index and shift every name by one (later long rows are its own error)."""
    lines = ((i, line) for i, line in enumerate(text.split("\n"), 1) if line.strip())
    next(lines)
    found = next(lines, None)
    if found is None:
        return
    number, line = found
    fields = next(csv.reader([line], delimiter=sep), [])
    if len(fields) > n_fields:
        raise DataError(f"{name} is not a well-formed CSV (line {number} has {len(fields)} "
                        f"fields, the header {n_fields}); make every line have the header's "
                        f"{n_fields} fields")


def _pick_decimal(dot: pd.DataFrame, comma: pd.DataFrame, name: str) -> pd.DataFrame:
    """A `;` file read with decimal points and with decimal commas: the reading under which
    more columns are numbers, unless each reading makes numbers of columns the other
    cannot (`1.234;25,000`): then the marks are mixed and any choice misreads a column."""
    only_dot = [c for c in dot.columns if _is_numeric_dtype(dot[c])
                and not _is_numeric_dtype(comma[c])]
    only_comma = [c for c in comma.columns if _is_numeric_dtype(comma[c])
                  and not _is_numeric_dtype(dot[c])]
    if only_dot and only_comma:
        raise DataError(f"{name} mixes decimal marks: column {str(only_dot[0])!r} reads as "
                        f"numbers with a decimal point, column {str(only_comma[0])!r} with a "
                        "decimal comma; write every number with one decimal mark and no "
                        "thousands separators")
    return comma if len(only_comma) > len(only_dot) else dot


def _refuse_grouped_numbers(df: pd.DataFrame, name: str) -> None:
    """A text column whose every value is a number with thousands separators (`25,000`)
    would be dropped as text; refuse it, naming the column, instead."""
    for col in df.columns:
        if _is_numeric_dtype(df[col]):
            continue
        cells = df[col].dropna().astype(str).str.strip()
        cells = cells[cells != ""]
        if len(cells) and cells.str.fullmatch(_GROUPED_NUMBER).all():
            raise DataError(f"column {str(col)!r} of {name} holds numbers written like "
                            f"{cells.iloc[0]!r} (thousands separators or a decimal comma); "
                            "write plain numbers such as 25000 or 1234.5")


def _read_csv(text: str, sep: str, name: str, n_fields: int, decimal: str,
              names: list[str] | None = None) -> pd.DataFrame:
    """`names` given: the text has no header line and these are its columns. Never an
    index column: a long row is an error, not a shift of every column name."""
    extra: dict[str, Any] = {"index_col": False} if names is None else {
        "header": None, "names": names, "index_col": False}
    whose = "the header's" if names is None else "the expected"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, engine="c",
                               skipinitialspace=True, low_memory=False, **extra)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name} is not a well-formed CSV ({detail}); "
                        f"make every line have {whose} {n_fields} fields") from exc


def _n_numeric(df: pd.DataFrame) -> int:
    return sum(_is_numeric_dtype(df[c]) for c in df.columns)


def _is_numeric_dtype(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


# ---------------------------------------------------------------------------------------------
# The time column


def _find_time_col(table: _Table, time_col: str | None, for_model: bool = False) -> str | None:
    """The asked-for column, else one named like a time, else a first column of datetimes.

    `for_model`: the name comes from a trained model (predict), not from --time-col.
    """
    cols = list(table.df.columns)
    if time_col is not None:
        if time_col not in cols:
            fix = ("give history with the time column the model was trained on" if for_model
                   else "pass one of them as --time-col")
            raise DataError(f"time column {time_col!r} not found; columns are: "
                            f"{', '.join(cols)}; {fix}")
        return time_col
    for col in cols:
        if col.lower() in TIME_NAMES:
            return col
    first = table.df[cols[0]]
    if not _is_numeric_dtype(first) and _mostly_times(first):
        return cols[0]
    return None


def _mostly_times(col: pd.Series) -> bool:
    # A cheap look at the first values first, so a column of names never reaches dateutil.
    present = col.dropna()
    if present.empty:
        return False
    parts = (present.iloc[:50], present)  # all() stops at the first part that fails
    return all(_to_datetime(part).notna().mean() >= 0.9 for part in parts)


def _to_datetime(values: pd.Series, fmt: str | None = None) -> pd.Series:
    """Parse to naive datetimes (aware ones converted to UTC); failures become NaT."""
    if _is_numeric_dtype(values):  # e.g. 20160701 or a year: read the digits, not epoch ns
        values = values.map(_number_text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format=fmt)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    parsed = parsed.dt.tz_localize(None)
    # pandas may keep seconds for years nanoseconds cannot hold (e.g. "-1"); those are not
    # usable times, and leaving them in another unit breaks every later fillna/compare.
    inside = (parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)
    return parsed.where(inside).dt.as_unit("ns")


def _number_text(value: float) -> Any:
    if pd.isna(value) or not np.isfinite(value):
        return value
    return str(int(value)) if value == int(value) else str(value)


def _time_index(table: _Table, col: str) -> pd.DatetimeIndex:
    """Parse the time column, naming the first unparseable, repeated or out-of-order row."""
    raw = table.df[col]
    parsed = _to_datetime(raw)
    if parsed.isna().any():  # maybe mixed ISO 8601 variants ("2016-07-01" and "... 01:00")
        parsed = parsed.fillna(_to_datetime(raw, fmt="ISO8601"))
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        if pd.isna(raw.iloc[row]):
            raise DataError(f"missing timestamp in time column {col!r} at {table.where(row)}; "
                            "fill it in or remove the row")
        value = str(raw.iloc[row])
        day_first = (" (it looks day-first; dates with / or . are read month-first)"
                     if _DAY_FIRST.match(value.strip()) else "")
        raise DataError(f"unparseable timestamp {value!r} in time column {col!r} at "
                        f"{table.where(row)}{day_first}; write times like 2016-07-01 00:00:00, "
                        "in the years 1678-2261 (or rename the column if it holds no times)")
    try:
        index = pd.DatetimeIndex(parsed).as_unit("ns")
    except (ValueError, OverflowError) as exc:
        raise DataError(f"times in column {col!r} fall outside the years 1678-2261; "
                        "check the time column") from exc
    _check_order(table, col, index)
    return index


def _time_format(raw: pd.Series, index: pd.DatetimeIndex) -> str | None:
    """The format of the column's own text, so forecasts join back on it: daily
    `2022-01-01` continues as `2022-01-02`, not `2022-01-02 00:00:00`.

    Guessed from the first cell and kept only if it writes the first, a middle and the last
    cell back exactly (aware times, converted to UTC, never do); None means
    `str(pd.Timestamp)`.
    """
    from pandas.tseries.api import guess_datetime_format

    first = str(raw.iloc[0]).strip()
    fmt = guess_datetime_format(first) if not _is_numeric_dtype(raw) else None
    if fmt is None:
        return None
    rows = {0, len(raw) // 2, len(raw) - 1}
    same = all(index[i].strftime(fmt) == str(raw.iloc[i]).strip() for i in rows)
    return fmt if same else None


def _check_order(table: _Table, col: str, index: pd.DatetimeIndex) -> None:
    stamps = index.asi8
    dup = np.flatnonzero(index.duplicated())
    if dup.size:
        second = int(dup[0])
        first = int(np.flatnonzero(stamps == stamps[second])[0])
        raise DataError(f"duplicate timestamp '{index[second]}' in column {col!r} at "
                        f"{table.where(first)} and {table.where(second)}; "
                        f"{_duplicate_fix(table, col)}")
    back = np.flatnonzero(np.diff(stamps) < 0)
    if back.size:
        row = int(back[0]) + 1
        raise DataError(f"time goes backwards at {table.where(row)}: '{index[row]}' comes after "
                        f"'{index[row - 1]}'; sort the data rows by {col!r}"
                        f"{_sort_hint(table, col)}")


def _sort_hint(table: _Table, col: str) -> str:
    """How to sort a CSV by the time column with `sort` (nothing for Parquet)."""
    if table.text is None:
        return ""
    key = list(table.df.columns).index(col) + 1
    sep = {",": ",", ";": ";", "\t": "$'\\t'"}[table.sep]
    return f" (e.g. `sort -t{sep} -k{key},{key}` on the lines after the header)"


def _duplicate_fix(table: _Table, time_col: str) -> str:
    """A long table of several series repeats its times: point at --id-col, not at deleting."""
    if table.id_col is None:
        labels = [c for c in table.df.columns
                  if c != time_col and not _is_numeric_dtype(table.df[c])]
        if labels:
            return (f"if the file holds several series, name the column that tells them "
                    f"apart with --id-col (e.g. --id-col {labels[0]}); else remove or merge "
                    "the repeated rows")
    return "remove or merge the repeated rows"


def _infer_freq(index: pd.DatetimeIndex) -> tuple[str | None, list[str]]:
    """pandas' own inference, else the usual gap if 90% of gaps are equal, else unknown."""
    if len(index) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                freq = pd.infer_freq(index)
            except (ValueError, TypeError):
                freq = None
        if freq is not None:
            return str(getattr(freq, "freqstr", freq)), []
    if len(index) < 2:
        return None, ["only one timestamp, so the frequency is unknown; "
                      "forecasts cannot be given future timestamps"]
    gaps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    usual = int(np.argmax(counts))
    n_other = int(counts.sum() - counts[usual])
    if counts[usual] < 0.9 * counts.sum():
        return None, [f"irregular spacing: {n_other} of {int(counts.sum())} gaps differ from "
                      "the most common one, so no frequency is inferred; "
                      "forecasts cannot be given future timestamps"]
    freq = _gap_freq(int(gaps[usual]))
    note = [f"irregular spacing: {n_other} gaps differ from the usual {freq}; "
            f"forecasts assume {freq}"] if n_other else []
    return freq, note


def _gap_freq(gap_ns: int) -> str:
    # to_offset(Timedelta("1D")) spells a day "24h"; whole days read better as "D".
    if gap_ns % _DAY_NS == 0:
        return to_offset(f"{gap_ns // _DAY_NS}D").freqstr
    return to_offset(pd.Timedelta(gap_ns, unit="ns")).freqstr


# ---------------------------------------------------------------------------------------------
# Numeric columns and channel selection


@dataclass
class _Columns:
    """Columns other than time, sorted by what they hold (dicts keep file order)."""

    numeric: dict[str, np.ndarray]  # float64 values, NaN where missing
    mixed: dict[str, int]  # mostly numbers with some text: first text row
    text: list[str]
    empty_unnamed: list[str]  # e.g. from a trailing separator on every line

    @property
    def usable(self) -> list[str]:
        return [*self.numeric, *self.mixed]


def _classify(table: _Table, time_col: str | None) -> _Columns:
    cols = _Columns({}, {}, [], [])
    for name in table.df.columns:
        if name in (time_col, table.id_col):
            continue
        col = table.df[name]
        if name.startswith("Unnamed: ") and col.isna().all():
            cols.empty_unnamed.append(name)
        elif _is_numeric_dtype(col):
            cols.numeric[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            _classify_text(cols, name, col)
    return cols


def _classify_text(cols: _Columns, name: str, col: pd.Series) -> None:
    """A column pandas left as text: all numbers, mostly numbers (an error if used), or text."""
    if pd.api.types.is_bool_dtype(col):
        cols.text.append(name)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numbers = pd.to_numeric(col, errors="coerce")
    present = col.notna().to_numpy()
    parsed = numbers.notna().to_numpy()
    if parsed.sum() == present.sum():
        cols.numeric[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    elif 2 * parsed.sum() >= present.sum():
        cols.mixed[name] = int(np.flatnonzero(present & ~parsed)[0])
    else:
        cols.text.append(name)


def _select(table: _Table, cols: _Columns, time_col: str | None, targets: Sequence[str],
            covariates: Sequence[str] | None, known: Sequence[str] = ()
            ) -> tuple[list[str], list[str]]:
    """Targets (default: every numeric column) then covariates (default: the rest), the
    known ones last."""
    if covariates is not None:  # the columns of a trained model: all must be there
        trained = [*targets, *covariates, *known]
        missing = [c for c in trained if c not in table.df.columns]
        if missing:
            raise DataError(f"column(s) {', '.join(map(repr, missing))} not found; the file has "
                            f"columns: {', '.join(table.df.columns)}; give history with the "
                            f"columns the model was trained on: {', '.join(trained)}")
    if not cols.usable:
        raise DataError(f"{table.name} has no numeric column; a forecast needs at least one "
                        "column of numbers")
    for name in [*targets, *known]:
        _check_wanted(table, cols, time_col, name)
    covs = [c for c in _covariates(table, cols, time_col, targets, covariates)
            if c not in known] + list(known)
    tgts = list(targets) or [c for c in cols.usable if c not in covs]
    wanted = tgts + covs
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        raise UsageError(f"column(s) {', '.join(map(repr, repeated))} given more than once as "
                         "target or covariate; name each column once")
    if not tgts:
        raise UsageError("every numeric column is a covariate, so nothing is left to forecast; "
                         "name a --target")
    return tgts, covs


def _covariates(table: _Table, cols: _Columns, time_col: str | None, targets: Sequence[str],
                covariates: Sequence[str] | None) -> list[str]:
    if covariates is None:
        return [c for c in cols.usable if c not in targets] if targets else []
    for name in covariates:
        _check_wanted(table, cols, time_col, name)
    return list(covariates)


def _check_wanted(table: _Table, cols: _Columns, time_col: str | None, name: str) -> None:
    """A column asked for by name must exist and hold numbers."""
    if name == time_col:
        raise DataError(f"column {name!r} is the time column; choose a numeric column")
    if name in cols.mixed:
        raise DataError(_non_numeric(table, name, cols.mixed[name]))
    if name in cols.text:
        raise DataError(f"column {name!r} is not numeric (it holds text such as "
                        f"{str(table.df[name].dropna().iloc[0])!r}); choose a numeric column")
    if name not in cols.numeric:
        raise DataError(f"column {name!r} not found; columns are: {', '.join(cols.usable)}")


def _non_numeric(table: _Table, name: str, row: int) -> str:
    value = str(table.df[name].iloc[row])
    return (f"non-numeric value {value!r} in column {name!r} at {table.where(row)}; "
            "fix or empty that cell (empty cells can be repaired with --fill)")


def _ignored_note(cols: _Columns, used: list[str]) -> list[str]:
    ignored = [c for c in [*cols.text, *cols.mixed] if c not in used]
    notes = []
    if ignored:
        notes.append(f"ignored non-numeric column(s): {', '.join(ignored)}")
    if cols.empty_unnamed:
        notes.append(f"ignored {len(cols.empty_unnamed)} empty column(s) without a name")
    return notes


# ---------------------------------------------------------------------------------------------
# Values: range checks and repair of missing cells


def _values(table: _Table, cols: _Columns, used: list[str], fill: str) -> tuple[np.ndarray, list]:
    """The (N, C) float32 matrix of `used` columns, checked, and repaired when asked."""
    for name in used:
        if name in cols.mixed:
            raise DataError(_non_numeric(table, name, cols.mixed[name]))
    values = np.column_stack([cols.numeric[name] for name in used])
    finite = np.isfinite(values)
    empty = np.flatnonzero(~finite.any(axis=0))
    if empty.size:
        raise DataError(f"column {used[int(empty[0])]!r} has no values (every cell is empty or "
                        "infinite); drop the column or choose other columns")
    too_big = finite & (np.abs(values) > _F32_MAX)
    if too_big.any():
        row, col = (int(i) for i in np.argwhere(too_big)[0])
        raise DataError(f"value {values[row, col]:g} in column {used[col]!r} at "
                        f"{table.where(row)} is too large for float32 (max 3.4e38); "
                        "rescale the column")
    if finite.all():
        return values.astype(np.float32), []
    return _repair(table, values, ~finite, used, fill)


def _repair(table: _Table, values: np.ndarray, bad: np.ndarray, used: list[str],
            fill: str) -> tuple[np.ndarray, list[str]]:
    if fill == "none":
        row, col = (int(i) for i in np.argwhere(bad)[0])
        kind = "missing value" if np.isnan(values[row, col]) else "infinite value"
        raise DataError(f"{kind} in column {used[col]!r} at {table.where(row)} "
                        f"({int(bad.sum())} such cell(s) in all); "
                        "use --fill ffill or --fill interpolate to repair them")
    df = pd.DataFrame(np.where(bad, np.nan, values))
    if fill == "interpolate":
        df = df.interpolate(method="linear")
    repaired = df.ffill().bfill().to_numpy(dtype=np.float64)
    note = f"repaired {int(bad.sum())} missing or infinite cells with {fill}"
    return repaired.astype(np.float32), [note]


# ---------------------------------------------------------------------------------------------
# The public reader


def read_frame(source: Path | TextIO, *, time_col: str | None = None,
               targets: Sequence[str] = (), covariates: Sequence[str] | None = None,
               fill: str = "none", names: Sequence[str] | None = None,
               known: Sequence[str] = (), future: Path | TextIO | None = None) -> Frame:
    """Read a CSV into a validated `Frame`, targets first then covariates.

    `targets` empty means every numeric column (not listed in `covariates`) is a target.
    `covariates` None means every numeric column that is not a target (none when `targets`
    is empty); a list (predict passes the training columns) means exactly those columns.
    `fill` is "none" (missing cells are an error), "ffill" or "interpolate".
    `names` are the column names to use when the first line is data rather than a header
    (`tail -n 400 f.csv | tsattn predict ...`; predict passes the training file's header);
    without them such a first line is an error.
    `known` are covariates whose future values are known: rows after the last target value
    (or those of the `future` file) become `Frame.future`, their values over the horizon.
    """
    if fill not in FILL_METHODS:
        raise UsageError(f"unknown --fill {fill!r}; choose one of: {', '.join(FILL_METHODS)}")
    table, digest = _read_table(source, names)
    n_history = None
    if future is not None:
        table, n_history = _with_future_file(table, future), len(table.df)
    return _frame_of(table, time_col, targets, covariates, fill, digest, known, n_history)


def _frame_of(table: _Table, time_col: str | None, targets: Sequence[str],
              covariates: Sequence[str] | None, fill: str, digest: str,
              known: Sequence[str] = (), n_history: int | None = None) -> Frame:
    """Validate a parsed table (a whole file, or one series of a long one) into a Frame;
    with `known`, the rows after the history (from `n_history` on, when given) are its
    future."""
    name = table.name
    time_col = _find_time_col(table, time_col, for_model=covariates is not None)
    index, freq, notes, time_format = None, None, [], None
    if time_col is not None:
        index = _time_index(table, time_col)
        freq, notes = _infer_freq(index)
        time_format = _time_format(table.df[time_col], index)
    cols = _classify(table, time_col)
    tgts, covs = _select(table, cols, time_col, targets, covariates, known)
    ahead = _future_rows(cols, tgts, list(known), index, n_history) if known else None
    if ahead is not None:
        cols = _history_only(cols, len(table.df) - len(ahead.values))
        index = None if index is None else index[: len(table.df) - len(ahead.values)]
    values, repaired = _values(table, cols, tgts + covs, fill)
    return Frame(
        values=np.ascontiguousarray(values),
        columns=tuple(tgts + covs),
        n_targets=len(tgts),
        times=None if index is None else index.to_numpy(dtype="datetime64[ns]"),
        time_col=time_col,
        freq=freq,
        warnings=tuple(notes + _ignored_note(cols, tgts + covs) + repaired),
        header=tuple(table.df.columns),
        time_format=time_format,
        source="-" if name == "stdin" else name,
        sha256=digest,
        n_known=len(known),
        future=ahead,
    )


def _with_future_file(table: _Table, source: Path | TextIO) -> _Table:
    """The history table with the rows of a `--future` file appended, columns aligned:
    its targets must be absent or empty, which `_future_rows` then checks like piped rows."""
    future, _ = _read_table(source)
    rows, name = future.df, future.name
    unknown = [c for c in rows.columns if c not in table.df.columns]
    if unknown:
        raise DataError(f"{name} has column(s) the history lacks: {', '.join(unknown)}; give "
                        "future rows with the history's columns (targets empty)")
    df = pd.concat([table.df, rows.reindex(columns=table.df.columns)], ignore_index=True)
    return dataclasses.replace(table, df=df)


def _future_rows(cols: _Columns, targets: list[str], known: list[str],
                 index: pd.DatetimeIndex | None, n_history: int | None) -> Future | None:
    """The rows after the last one with a target value (or, with a `--future` file, its
    rows: `n_history` is where they start), with every known value present."""
    present = np.column_stack([np.isfinite(cols.numeric[t]) for t in targets]).any(axis=1)
    n = int(np.flatnonzero(present)[-1]) + 1 if present.any() else 0
    if n_history is not None:
        if n > n_history:
            filled = int(np.flatnonzero(present[n_history:])[0]) + 1
            raise DataError(f"a target is filled in row {filled} of the --future file; leave "
                            f"the targets ({', '.join(targets)}) empty in future rows, or "
                            "move that row to the history")
        n = n_history
    if n == len(present):
        return None
    values = np.column_stack([cols.numeric[k][n:] for k in known])
    empty = ~np.isfinite(values)
    if empty.any():
        row, col = (int(i) for i in np.argwhere(empty)[0])
        times = index[n:] if index is not None else None
        where = f"future row {row + 1}" + ("" if times is None else f" ({times[row]})")
        raise DataError(f"known covariate {known[col]!r} is empty in {where} (rows after the "
                        f"last target value are the forecast's future; {int(empty.sum())} "
                        "empty known cell(s) there); give every known column a value in "
                        "every future row")
    return Future(values.astype(np.float32),
                  None if index is None else index[n:].to_numpy(dtype="datetime64[ns]"))


def _history_only(cols: _Columns, n: int) -> _Columns:
    return dataclasses.replace(cols, numeric={k: v[:n] for k, v in cols.numeric.items()})


# ---------------------------------------------------------------------------------------------
# Splits and size checks


def resolve_row(frame: Frame, spec: str, option: str) -> int:
    """Turn a `--train-end`-style value into a row index: digits are a row, else a time.

    A time resolves to the first row at or after it, so "2017-01-01" ends a part just before
    the first row of that day. `option` is the flag name, used in messages.
    """
    n = len(frame.values)
    text = spec.strip()
    digits = text.lstrip("+-")
    if digits.isascii() and digits.isdigit():  # not '²' or '٣': digits to int() alone
        row = int(text)
        if row < 0:
            raise UsageError(f"{option} {text} is negative; give a row number from 1 to {n}")
        if row > n:
            raise UsageError(f"{option} {text} is past the end of the data ({n} rows); give a "
                             "smaller row number, or a timestamp like 2016-07-01")
        return row
    return _row_at_time(frame, text, option)


def _row_at_time(frame: Frame, text: str, option: str) -> int:
    if frame.times is None:
        raise UsageError(f"{option} {text!r} is not a row number and the data has no time "
                         "column; give a row number")
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError) as exc:
        raise UsageError(f"cannot read {option} {text!r} as a row number or a timestamp; "
                         "write e.g. 8640 or 2017-07-01") from exc
    if pd.isna(stamp):
        raise UsageError(f"{option} {text!r} is not a time; write e.g. 8640 or 2017-07-01")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    times = pd.DatetimeIndex(frame.times)
    if not times[0] <= stamp <= times[-1]:
        raise UsageError(f"{option} {text} is outside the data, which runs from {times[0]} to "
                         f"{times[-1]}; give a time inside that range")
    return int(times.searchsorted(stamp, side="left"))


def split_rows(frame: Frame, train_end: str | None, val_end: str | None) -> tuple[int, int]:
    """Chronological split points: train is rows [0, a), validation [a, b), test [b, N).

    Defaults are 70% and 80% of the rows (floored), the 70/10/20 protocol for most data.
    """
    n = len(frame.values)
    a = int(_TRAIN_SHARE * n) if train_end is None else resolve_row(frame, train_end,
                                                                    "--train-end")
    b = int(_VAL_SHARE * n) if val_end is None else resolve_row(frame, val_end, "--val-end")
    if not 0 < a < b <= n:
        raise UsageError(f"--train-end {train_end or 'default'} (row {a}) and --val-end "
                         f"{val_end or 'default'} (row {b}) must satisfy 0 < train end < "
                         f"val end <= {n} rows; move them apart or use more data")
    return a, b


def require_split_rows(n_rows: int, lookback: int, horizon: int) -> None:
    """Fail with the number of rows needed when the default split leaves a part too short.

    The default split needs lookback + horizon training rows and `horizon` validation rows;
    because parts are floored, the count named is the least from which every size works.
    """
    def fits(n: int) -> bool:
        a, b = int(_TRAIN_SHARE * n), int(_VAL_SHARE * n)
        return a >= lookback + horizon and b - a >= max(horizon, 1)

    if fits(n_rows):
        return
    # Beyond this size both parts are surely long enough: 0.7n - 1 >= L + H, 0.1n - 1 >= H.
    bound = int(max((lookback + horizon + 1) / _TRAIN_SHARE,
                    (max(horizon, 1) + 1) / (_VAL_SHARE - _TRAIN_SHARE))) + 2
    needed = next(n + 1 for n in range(bound, 0, -1) if not fits(n))
    noun = "row" if n_rows == 1 else "rows"
    raise DataError(f"the data has {n_rows} {noun} but lookback {lookback} + horizon {horizon} "
                    f"with the default 70/10/20 split needs at least {needed} rows; use a "
                    "shorter --lookback/--horizon, more data, or place --train-end/--val-end "
                    "yourself")


def require_rows(n_rows: int, lookback: int, horizon: int, what: str) -> None:
    """Fail early, with the numbers, when a part is too short for even one window.

    `what` names the part ("training part", "history"); pass horizon=0 where only the
    lookback is needed (forecasting from the last rows).
    """
    needed = lookback + horizon
    if n_rows >= needed:
        return
    if horizon:
        why, fix = f"lookback {lookback} + horizon {horizon}", "--lookback/--horizon"
    else:
        why, fix = f"lookback {lookback}", "--lookback"
    raise DataError(f"{what} has {n_rows} rows but {why} needs at least {needed}; "
                    f"use a shorter {fix} or more data")


# ---------------------------------------------------------------------------------------------
# Scaling


@dataclass(frozen=True, eq=False)
class Scaler:
    """Per-channel z-score statistics, fit on the training part only."""

    mean: np.ndarray  # (C,) float32
    scale: np.ndarray  # (C,) float32, 1 for a constant channel

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(..., C) raw values -> z-scores, float32."""
        return ((np.asarray(values) - self.mean) / self.scale).astype(np.float32)

    def inverse(self, values: np.ndarray, channels: slice = slice(None)) -> np.ndarray:
        """(..., k) z-scores of `channels` (e.g. slice(0, n_targets)) -> raw units."""
        return (np.asarray(values) * self.scale[channels] + self.mean[channels]).astype(
            np.float32)


def fit_scaler(train_values: np.ndarray) -> Scaler:
    """Fit sklearn's StandardScaler (population std; constant channels get scale 1)."""
    # Imported here: sklearn pulls in scipy (~1 s), which reading and predicting never need.
    from sklearn.preprocessing import StandardScaler

    values = np.asarray(train_values, dtype=np.float64)
    if values.ndim != 2 or len(values) == 0:
        raise DataError("the training part is empty; move --train-end later or use more data")
    sk = StandardScaler().fit(values)
    return Scaler(mean=sk.mean_.astype(np.float32), scale=sk.scale_.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Time labels


def time_labels(frame: Frame, rows: slice = slice(None)) -> list[str]:
    """One label per row (of `rows`): the time in the input's own format (else
    `str(pd.Timestamp)`, "2016-07-01 00:00:00"), or the row number. Formatting is per row,
    so callers that need a few labels pass a slice."""
    if frame.times is None:
        return [str(i) for i in range(len(frame.values))[rows]]
    return _format_times(pd.DatetimeIndex(frame.times[rows]), frame.time_format)


def format_times(times: np.ndarray, fmt: str | None) -> list[str]:
    """(N,) datetime64 as labels in the input's own format (`Frame.time_format`)."""
    return _format_times(pd.DatetimeIndex(times), fmt)


def _format_times(index: pd.DatetimeIndex, fmt: str | None) -> list[str]:
    return [str(t) for t in index] if fmt is None else list(index.strftime(fmt))


def future_labels(last_time: str | None, freq: str | None, n_seen: int,
                  horizon: int, time_format: str | None = None) -> list[str]:
    """Labels of the `horizon` steps after the data: timestamps (in `time_format`, see
    `Frame.time_format`), or step numbers from n_seen. `last_time` is any text
    `pd.Timestamp` reads unambiguously (ISO 8601)."""
    if last_time is None:
        return [str(i) for i in range(n_seen, n_seen + horizon)]
    return _format_times(_continue(last_time, freq, horizon), time_format)


def future_times(frame: Frame, horizon: int) -> np.ndarray:
    """(horizon,) datetime64[ns]: the times after the frame's last one, at its frequency."""
    if frame.times is None:
        raise DataError("the data has no time column, so future times are unknown")
    return _continue(str(pd.Timestamp(frame.times[-1])), frame.freq, horizon).to_numpy(
        dtype="datetime64[ns]")


def _continue(last_time: str, freq: str | None, horizon: int) -> pd.DatetimeIndex:
    if freq is None:
        raise DataError("the frequency of the time column could not be inferred, so future "
                        "timestamps are unknown; give evenly spaced times")
    try:
        last = pd.Timestamp(last_time)
        steps = pd.date_range(start=last, periods=horizon + 1, freq=freq)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"cannot continue time {last_time!r} with frequency {freq!r} ({exc}); "
                        "check the time column") from exc
    return steps[steps > last][:horizon]


# ---------------------------------------------------------------------------------------------
# Many series in one long table


@dataclass(frozen=True, eq=False)
class Panel:
    """The series of a long table (`date,store,sales`) in order of first appearance, each a
    Frame validated on its own: times sorted and unique within a series, its own frequency."""

    id_col: str
    ids: tuple[str, ...]
    frames: tuple[Frame, ...]

    @property
    def n_rows(self) -> int:
        return sum(len(f.values) for f in self.frames)


def read_panel(source: Path | TextIO, *, id_col: str, time_col: str | None = None,
               targets: Sequence[str] = (), covariates: Sequence[str] | None = None,
               fill: str = "none", names: Sequence[str] | None = None,
               known: Sequence[str] = ()) -> Panel:
    """Split a long table by `id_col` and read each series like a file of its own (its
    rows after its last target value are its future, when there are `known` columns).

    The same timestamp in two series is then no duplicate, a missing cell is filled from its
    own series only, and a message about a cell names its series and the row and line of
    the whole file. Every Frame keeps the file's name, hash and header (with the id column).
    """
    if fill not in FILL_METHODS:
        raise UsageError(f"unknown --fill {fill!r}; choose one of: {', '.join(FILL_METHODS)}")
    table, digest = _read_table(source, names)
    name, text = table.name, table.text
    if id_col not in table.df.columns:
        raise DataError(f"id column {id_col!r} not found; columns are: "
                        f"{', '.join(map(str, table.df.columns))}; give --id-col one of them")
    keys = table.df[id_col]
    missing = np.flatnonzero(keys.isna().to_numpy())
    if missing.size:
        raise DataError(f"{table.where(int(missing[0]))} has no series id in column {id_col!r}; "
                        "give every row its id")
    keys = keys.astype(str).str.strip()
    ids, frames = [], []
    for key, rows in keys.groupby(keys, sort=False).indices.items():
        part = _Table(df=table.df.iloc[rows].reset_index(drop=True), name=name, text=text,
                      sep=table.sep, has_header=table.has_header, id_col=id_col, rows=rows)
        try:
            frames.append(_frame_of(part, time_col, targets, covariates, fill, digest, known))
        except DataError as exc:
            raise DataError(f"series {key!r}: {exc}") from exc
        ids.append(str(key))
    return Panel(id_col=id_col, ids=tuple(ids), frames=tuple(frames))
