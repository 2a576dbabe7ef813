"""Contracts of tsattn.data: what a CSV becomes, and what every bad input is told."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsattn.data import (
    Frame,
    fit_scaler,
    future_labels,
    read_frame,
    require_rows,
    resolve_row,
    split_rows,
    time_labels,
)
from tsattn.errors import DataError, TsattnError, UsageError

ROOT = Path(__file__).resolve().parents[1]
ETTH1 = ROOT / "sample_data" / "ETTh1.csv"
SAMPLE = ROOT / "sample_data" / "sample.csv"


def read(text: str, **kwargs) -> Frame:
    return read_frame(io.StringIO(text), **kwargs)


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def hourly(n: int, start: str = "2024-01-01 00:00:00") -> list[str]:
    base = np.datetime64(start.replace(" ", "T"))
    return [str(base + np.timedelta64(i, "h")).replace("T", " ") for i in range(n)]


HOURLY = "date,a,b\n" + "".join(f"{t},{i},{10 * i}\n" for i, t in enumerate(hourly(5)))


# --- time column and frequency -----------------------------------------------------------


def test_hourly_file_with_named_time_column():
    frame = read(HOURLY)
    assert frame.time_col == "date"
    assert frame.freq == "h"
    assert frame.columns == ("a", "b")
    assert frame.n_targets == 2
    assert frame.values.dtype == np.float32
    np.testing.assert_array_equal(frame.values[:, 1], [0, 10, 20, 30, 40])
    assert frame.times.dtype == np.dtype("datetime64[ns]")
    assert str(frame.times[1]) == "2024-01-01T01:00:00.000000000"
    assert frame.warnings == ()


@pytest.mark.parametrize("name", ["Date", "TIME", "timestamp", "DateTime", "ds"])
def test_time_column_found_by_name_case_insensitive(name):
    frame = read(f"x,{name}\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n")
    assert frame.time_col == name
    assert frame.columns == ("x",)
    assert frame.freq == "D"


def test_time_column_detected_from_first_column_values():
    frame = read("when,v\n2024-01-01 00:00,1\n2024-01-01 00:15,2\n2024-01-01 00:30,3\n")
    assert frame.time_col == "when"
    assert frame.freq == "15min"


def test_explicit_time_col_and_missing_one():
    frame = read("stamp,v\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n", time_col="stamp")
    assert frame.time_col == "stamp"
    with pytest.raises(DataError, match=r"time column 'when' not found; columns are: stamp, v"):
        read("stamp,v\n2024-01-01,1\n", time_col="when")


def test_no_time_column_means_integer_steps():
    frame = read("a,b\n1,2\n3,4\n5,6\n")
    assert frame.times is None and frame.time_col is None and frame.freq is None
    assert time_labels(frame) == ["0", "1", "2"]
    assert future_labels(None, None, 3, 2) == ["3", "4"]


def test_text_first_column_that_is_not_time_is_ignored_with_warning():
    frame = read("city,v\nparis,1\nrome,2\noslo,3\n")
    assert frame.time_col is None
    assert frame.columns == ("v",)
    assert frame.warnings == ("ignored non-numeric column(s): city",)


def test_irregular_spacing_uses_usual_gap_with_warning():
    times = hourly(30)
    del times[10]  # one gap of 2 h among 28 gaps of 1 h
    frame = read("date,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(times)))
    assert frame.freq == "h"
    assert frame.warnings == (
        "irregular spacing: 1 gaps differ from the usual h; forecasts assume h",)


def test_irregular_daily_spacing_is_spelled_in_days():
    days = [f"2024-01-{d:02d}" for d in range(1, 31) if d != 15]
    frame = read("date,v\n" + "".join(f"{d},1\n" for d in days))
    assert frame.freq == "D"
    assert "1 gaps differ from the usual D" in frame.warnings[0]


def test_very_irregular_spacing_has_no_freq():
    text = "date,v\n2024-01-01,1\n2024-01-02,2\n2024-01-05,3\n2024-01-11,4\n2024-01-12,5\n"
    frame = read(text)
    assert frame.freq is None
    assert "no frequency is inferred" in frame.warnings[0]
    with pytest.raises(DataError, match=r"frequency .* could not be inferred"):
        future_labels(time_labels(frame)[-1], frame.freq, 5, 2)


def test_bad_timestamp_names_row_line_and_value():
    text = "date,v\n2024-01-01,1\n2024-01-02,2\nyesterday,3\n"
    with pytest.raises(DataError) as err:
        read(text)
    msg = str(err.value)
    assert "'yesterday'" in msg and "row 3 (file line 4)" in msg and "'date'" in msg


def test_missing_timestamp():
    with pytest.raises(DataError, match=r"missing timestamp .* row 2 \(file line 3\)"):
        read("date,v\n2024-01-01,1\n,2\n2024-01-03,3\n")


def test_duplicate_timestamp_names_both_rows():
    text = "date,v\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n2024-01-02,4\n"
    with pytest.raises(DataError) as err:
        read(text)
    msg = str(err.value)
    assert "duplicate timestamp '2024-01-02 00:00:00'" in msg
    assert "row 2 (file line 3) and row 4 (file line 5)" in msg


def test_unsorted_times_name_row_and_suggest_sort():
    text = "v,date\n1,2024-01-01\n2,2024-01-03\n3,2024-01-02\n"
    with pytest.raises(DataError) as err:
        read(text)
    msg = str(err.value)
    assert "time goes backwards at row 3 (file line 4)" in msg
    assert "sort -t, -k2,2" in msg


def test_mixed_iso_variants_parse():
    frame = read("date,v\n2024-01-01,1\n2024-01-01 01:00,2\n2024-01-01 02:00:00,3\n")
    assert frame.freq == "h"


def test_timezone_aware_times_become_utc():
    frame = read("date,v\n2024-01-01T01:00+01:00,1\n2024-01-01T01:00Z,2\n"
                 "2024-01-01T02:00Z,3\n")
    assert time_labels(frame) == ["2024-01-01 00:00:00", "2024-01-01 01:00:00",
                                  "2024-01-01 02:00:00"]


# --- formats: separators, BOM, CRLF, sources -----------------------------------------------


def test_bom_and_crlf_file(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfdate,v\r\n2024-01-01,1.5\r\n2024-01-02,2.5\r\n")
    frame = read_frame(path)
    assert frame.time_col == "date"
    assert frame.columns == ("v",)
    np.testing.assert_array_equal(frame.values[:, 0], [1.5, 2.5])


def test_semicolon_and_tab_separators(tmp_path):
    semi = read_frame(write(tmp_path, "date;a;b\n2024-01-01;1;2\n2024-01-02;3;4\n"))
    tab = read("date\ta\tb\n2024-01-01\t1\t2\n2024-01-02\t3\t4\n")
    for frame in (semi, tab):
        assert frame.columns == ("a", "b")
        np.testing.assert_array_equal(frame.values, [[1, 2], [3, 4]])
        assert frame.warnings == ()


def test_semicolon_file_with_decimal_commas():
    frame = read("date;a;b\n2024-01-01;1,5;2\n2024-01-02;3,25;4\n")
    np.testing.assert_array_equal(frame.values, [[1.5, 2], [3.25, 4]])


def test_blank_lines_are_skipped_and_counted_in_file_lines():
    with pytest.raises(DataError, match=r"row 2 \(file line 4\)"):
        read("a,b\n1,2\n\n3,\n")


def test_bytes_stream_is_accepted():
    frame = read_frame(io.BytesIO(b"a\n1\n2\n"))
    np.testing.assert_array_equal(frame.values[:, 0], [1, 2])


# --- bad files ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"file .*nope\.csv not found"):
        read_frame(tmp_path / "nope.csv")


def test_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_frame(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(DataError, match="is empty"):
        read_frame(write(tmp_path, content))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="header but no data rows"):
        read_frame(write(tmp_path, "date,a,b\n"))


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"a,b\n\xff\xfe1,2\n"])
def test_binary_file(tmp_path, content):
    with pytest.raises(DataError, match="is not a text CSV file"):
        read_frame(write(tmp_path, content))


def test_stdin_with_undecodable_bytes_is_named_stdin():
    stream = io.TextIOWrapper(io.BytesIO(b"a,b\n\xff1,2\n"), encoding="utf-8")
    with pytest.raises(DataError, match=r"^stdin is not a text CSV file"):
        read_frame(stream)


def test_ragged_rows():
    with pytest.raises(DataError, match=r"not a well-formed CSV .*line 3.*3 fields"):
        read("a,b,c\n1,2,3\n4,5,6,7\n")


def test_duplicate_column_names():
    with pytest.raises(DataError, match="column name 'a' appears twice"):
        read("a,a\n1,2\n")


def test_headerless_file():
    with pytest.raises(DataError, match="looks like data, not a header"):
        read("2024-01-01,1.5,2\n2024-01-02,1.6,3\n")


# --- numeric columns ---------------------------------------------------------------------


def test_mostly_numeric_column_with_text_names_first_bad_cell():
    text = "date,x,y\n2024-01-01,1,1\n2024-01-02,2,2\n2024-01-03,abc,3\n2024-01-04,4,4\n"
    with pytest.raises(DataError) as err:
        read(text)
    msg = str(err.value)
    assert "non-numeric value 'abc' in column 'x' at row 3 (file line 4)" in msg


def test_mixed_column_not_used_is_only_ignored():
    text = "x,y\n1,1\n2,2\nabc,3\n"
    frame = read(text, targets=["y"], covariates=[])
    assert frame.columns == ("y",)
    assert frame.warnings == ("ignored non-numeric column(s): x",)


def test_text_column_asked_for_is_an_error():
    with pytest.raises(DataError, match=r"column 'city' is not numeric .*'paris'"):
        read("city,v\nparis,1\nrome,2\n", targets=["city"])


def test_no_numeric_column():
    with pytest.raises(DataError, match="no numeric column"):
        read("date,city\n2024-01-01,paris\n2024-01-02,rome\n")


def test_boolean_column_is_ignored():
    frame = read("v,flag\n1,true\n2,false\n")
    assert frame.columns == ("v",)
    assert "flag" in frame.warnings[0]


def test_value_too_large_for_float32():
    with pytest.raises(DataError, match=r"1e\+39 in column 'b' at row 2 .*too large for float32"):
        read("a,b\n1,2\n3,1e39\n")


def test_trailing_separator_column_is_ignored():
    frame = read("a,b,\n1,2,\n3,4,\n")
    assert frame.columns == ("a", "b")
    assert frame.warnings == ("ignored 1 empty column(s) without a name",)


def test_entirely_missing_column_is_an_error_even_with_fill():
    with pytest.raises(DataError, match="column 'b' has no values"):
        read("a,b\n1,\n2,\n3,\n", fill="ffill")


# --- target and covariate selection ------------------------------------------------------


CHANNELS = "date,a,b,c,d\n2024-01-01,1,2,3,4\n2024-01-02,5,6,7,8\n"


def test_all_numeric_columns_are_targets_by_default():
    frame = read(CHANNELS)
    assert frame.columns == ("a", "b", "c", "d") and frame.n_targets == 4
    assert frame.covariates == ()


def test_targets_first_then_remaining_covariates_in_file_order():
    frame = read(CHANNELS, targets=["c", "a"])
    assert frame.columns == ("c", "a", "b", "d")
    assert frame.n_targets == 2
    assert frame.targets == ("c", "a") and frame.covariates == ("b", "d")
    np.testing.assert_array_equal(frame.values[0], [3, 1, 2, 4])


def test_explicit_covariates_are_exactly_those():
    frame = read(CHANNELS, targets=["d"], covariates=["b"])
    assert frame.columns == ("d", "b")
    np.testing.assert_array_equal(frame.values[:, 1], [2, 6])


def test_missing_target_lists_numeric_columns():
    with pytest.raises(DataError, match=r"^column 'OT' not found; columns are: a, b, c, d$"):
        read(CHANNELS, targets=["OT"])


def test_missing_covariates_listed_with_file_columns():
    with pytest.raises(DataError) as err:
        read(CHANNELS, targets=["a"], covariates=["b", "wind", "rain"])
    msg = str(err.value)
    assert "'wind', 'rain' not found" in msg and "date, a, b, c, d" in msg


def test_time_column_as_target_is_an_error():
    with pytest.raises(DataError, match="'date' is the time column"):
        read(CHANNELS, targets=["date"])


def test_repeated_target_is_a_usage_error():
    with pytest.raises(UsageError, match="'a' given more than once"):
        read(CHANNELS, targets=["a", "a"])


# --- missing values and fill ------------------------------------------------------------


GAPPY = "a,b\n,1\n2,\n,inf\n4,4\n5,\n"


@pytest.mark.parametrize("cell", ["", "NaN", "nan", "NA"])
def test_missing_cell_names_row_column_and_fix(cell):
    with pytest.raises(DataError) as err:
        read(f"a,b\n1,2\n3,{cell}\n")
    msg = str(err.value)
    assert "missing value in column 'b' at row 2 (file line 3)" in msg
    assert "use --fill ffill or --fill interpolate to repair them" in msg


def test_infinite_cell_is_reported_as_infinite():
    with pytest.raises(DataError, match="infinite value in column 'a' at row 1"):
        read("a\n-inf\n2\n")


def test_ffill_repairs_then_backfills_the_start():
    frame = read(GAPPY, fill="ffill")
    np.testing.assert_array_equal(frame.values, [[2, 1], [2, 1], [2, 1], [4, 4], [5, 4]])
    assert frame.warnings == ("repaired 5 missing or infinite cells with ffill",)


def test_interpolate_is_linear_inside_and_flat_at_the_ends():
    frame = read(GAPPY, fill="interpolate")
    np.testing.assert_array_equal(frame.values, [[2, 1], [2, 2], [3, 3], [4, 4], [5, 4]])
    assert frame.warnings == ("repaired 5 missing or infinite cells with interpolate",)


def test_unknown_fill_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown --fill 'mean'"):
        read("a\n1\n", fill="mean")


# --- splits and sizes --------------------------------------------------------------------


def daily_frame(n: int = 10) -> Frame:
    days = [str(np.datetime64("2024-01-01") + np.timedelta64(i, "D")) for i in range(n)]
    return read("date,v\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days)))


def test_split_defaults_are_70_and_80_percent_floored():
    assert split_rows(daily_frame(10), None, None) == (7, 8)
    assert split_rows(daily_frame(17), None, None) == (11, 13)


def test_split_by_row_and_by_time():
    frame = daily_frame(10)
    assert split_rows(frame, "5", "2024-01-09") == (5, 8)
    assert resolve_row(frame, "2024-01-03 12:00", "--train-end") == 3  # first row at or after


def test_split_errors():
    frame = daily_frame(10)
    with pytest.raises(UsageError, match=r"--train-end 8 \(row 8\) and --val-end 5 \(row 5\)"):
        split_rows(frame, "8", "5")
    with pytest.raises(UsageError, match="--val-end 11 is past the end of the data"):
        split_rows(frame, "5", "11")
    with pytest.raises(UsageError, match="outside the data, which runs from 2024-01-01"):
        resolve_row(frame, "2023-06-01", "--train-end")
    with pytest.raises(UsageError, match="cannot read --train-end 'soon'"):
        resolve_row(frame, "soon", "--train-end")
    with pytest.raises(UsageError, match="no time column; give a row number"):
        resolve_row(read("v\n1\n2\n"), "2024-01-01", "--val-end")


def test_require_rows():
    require_rows(432, 336, 96, "training part")
    with pytest.raises(DataError, match=r"^training part has 40 rows but lookback 336 \+ "
                                        r"horizon 96 needs at least 432; use a shorter "
                                        r"--lookback/--horizon or more data$"):
        require_rows(40, 336, 96, "training part")
    with pytest.raises(DataError, match=r"^history has 10 rows but lookback 24 needs at least 24"):
        require_rows(10, 24, 0, "history")


# --- scaler ------------------------------------------------------------------------------


def test_scaler_matches_hand_computed_statistics_and_round_trips():
    train = np.array([[1.0, 5.0, 10.0], [3.0, 5.0, 20.0], [5.0, 5.0, 30.0]], dtype=np.float32)
    scaler = fit_scaler(train)
    np.testing.assert_allclose(scaler.mean, [3.0, 5.0, 20.0])
    np.testing.assert_allclose(scaler.scale, [np.sqrt(8 / 3), 1.0, np.sqrt(200 / 3)], rtol=1e-6)
    z = scaler.transform(train)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_allclose(scaler.inverse(z), train, rtol=1e-6)
    # a (B, H, T) forecast of the first two channels only
    np.testing.assert_allclose(scaler.inverse(z[None, :, :2], slice(0, 2))[0], train[:, :2],
                               rtol=1e-6)


# --- labels ------------------------------------------------------------------------------


def test_time_labels_and_future_labels():
    frame = read(HOURLY)
    labels = time_labels(frame)
    assert labels[0] == "2024-01-01 00:00:00" and labels[-1] == "2024-01-01 04:00:00"
    assert future_labels(labels[-1], "h", 5, 3) == [
        "2024-01-01 05:00:00", "2024-01-01 06:00:00", "2024-01-01 07:00:00"]
    assert future_labels("2024-01-31", "D", 0, 2) == ["2024-02-01 00:00:00",
                                                      "2024-02-02 00:00:00"]
    assert future_labels("2024-01-01 00:45", "15min", 0, 1) == ["2024-01-01 01:00:00"]


# --- real files --------------------------------------------------------------------------


def test_etth1():
    frame = read_frame(ETTH1, targets=["OT"])
    assert frame.values.shape == (17420, 7)
    assert frame.freq == "h"
    assert frame.columns == ("OT", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")
    assert frame.warnings == ()
    assert frame.values[0, 0] == pytest.approx(30.531)
    assert time_labels(frame)[-1] == "2018-06-26 19:00:00"
    assert split_rows(frame, "8640", "11520") == (8640, 11520)


def test_sample_csv_is_what_the_generator_makes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample", SAMPLE.with_name("make_sample.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.to_csv(module.make_columns()) == SAMPLE.read_text(encoding="utf-8")
    frame = read_frame(SAMPLE, targets=["load"])
    assert frame.columns == ("load", "temperature", "price", "wind")
    assert frame.values.shape == (2016, 4) and frame.freq == "h"


# --- robustness: no foreign exception escapes ---------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab1.,;\t\n\r\"-e:x 0")), max_size=60))
def test_any_text_gives_a_frame_or_a_tsattn_error(text):
    try:
        frame = read(text, fill="ffill")
    except TsattnError as exc:
        assert "\n" not in str(exc)
    else:
        assert frame.values.dtype == np.float32 and np.isfinite(frame.values).all()
