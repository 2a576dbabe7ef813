"""`tsattn explain` through the real CLI: the faithfulness check and tables that fit the
terminal (rich lays tables out for COLUMNS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tsattn.cli.attention_tables import column_widths, period_text

ATTENTION_HEADERS = ("step", "forecast time", "top periods", "weight", "mean inputs",
                     "concentration", "variables")
# the columns left out, in this order, while the minimums do not fit the terminal
DROPPED = {60: ("mean inputs", "variables"), 80: ("mean inputs",), 120: ()}


def header_words(stderr: str, title: str) -> set[str]:
    """Words of the header lines of the table titled `title` (a header may wrap)."""
    lines = stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(title))
    rule = next(i for i in range(first, len(lines)) if lines[i].lstrip().startswith("─"))
    return set(" ".join(lines[first + 1 : rule]).split())


def has_header(stderr: str, title: str, header: str) -> bool:
    return set(header.split()) <= header_words(stderr, title)


def assert_fits(stderr: str, columns: int) -> None:
    assert stderr, "nothing was printed"
    assert max(len(line.rstrip()) for line in stderr.splitlines()) <= columns
    assert "…" not in stderr, "a cell was cut"


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_explain_table_fits_the_terminal(tiny_model: Path, hourly_csv: Path, columns: int):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), columns=columns)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert_fits(done.stderr, columns)
    title = "most attended periods"
    shown = [h for h in ATTENTION_HEADERS if h not in DROPPED[columns]]
    for header in shown:
        assert has_header(done.stderr, title, header), f"{header!r} missing:\n{done.stderr}"
    assert not any(has_header(done.stderr, title, h) for h in ATTENTION_HEADERS
                   if h not in shown)
    assert "load=" in done.stderr if columns > 80 else "load=" not in done.stderr
    assert "concentration: the top period's weight as a multiple of its even share" in " ".join(
        done.stderr.split())


@pytest.mark.parametrize("columns", [60, 80])
def test_predict_explain_table_fits_the_terminal(tiny_model: Path, hourly_csv: Path,
                                                 columns: int):
    done = run_cli("predict", str(tiny_model), str(hourly_csv), "--explain", columns=columns)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stderr, columns)
    for header in ("step", "forecast time", "top periods", "weight", "concentration"):
        assert has_header(done.stderr, "most attended periods", header)


def test_explain_json_is_the_attention_summary(tiny_model: Path, hourly_csv: Path):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["schema"] == "tsattn.attention/2"
    step = summary["forecasts"][0]["steps"][0]
    assert set(step["concentration"]) == {"top_x_even", "top10_share", "near_uniform"}
    assert set(step["top_periods"][0]["values"]) == {"load", "temp"}


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_faithfulness_table_and_json(tiny_model: Path, hourly_csv: Path, columns: int):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--faithfulness",
                   "--windows", "40", "--seed", "3", "--json", columns=columns)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "tsattn.faithfulness/1"
    assert doc["windows"] == 40 and doc["periods"] == 6 and doc["period_rows"] == 4
    assert doc["rows"] == [480, 600]  # after the default 80% validation end
    for name in ("attention", "random", "recency", "occlusion"):
        for curve in ("comprehensiveness", "sufficiency"):
            area = doc["rankings"][name][curve]["area"]
            assert area["low"] <= area["mean"] <= area["high"]
    assert doc["verdict"]["comprehensiveness_vs_random"] in ("better", "worse",
                                                             "indistinguishable")
    assert_fits(done.stderr, columns)
    for header in ("ranking", "comprehensiveness (higher: better)",
                   "sufficiency (lower: better)"):
        assert has_header(done.stderr, "area over each curve", header)
    for k in ("1% (1)", "5% (1)", "10% (1)", "20% (1)", "50% (3)"):
        assert has_header(done.stderr, "curves:", k)
    flat = " ".join(done.stderr.split())
    assert f"verdict: {doc['verdict']['text']}" in flat
    assert "straight line between the nearest kept rows" in flat
    assert "{" not in done.stderr  # the JSON went to stdout only


def test_faithfulness_is_repeatable_and_seeded(tiny_model: Path, hourly_csv: Path):
    def run(seed: str) -> dict:
        done = run_cli("explain", str(tiny_model), str(hourly_csv), "--faithfulness",
                       "--windows", "20", "--seed", seed, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first, again, other = run("1"), run("1"), run("2")
    assert first == again
    assert first["rankings"]["random"] != other["rankings"]["random"]


def test_faithfulness_refuses_plot_and_rows_without_windows(tiny_model: Path, hourly_csv: Path,
                                                            tmp_path: Path):
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--faithfulness", "--plot",
                   str(tmp_path / "x.png"))
    assert done.returncode == 2 and done.stderr.startswith("error: --faithfulness draws no")
    done = run_cli("explain", str(tiny_model), str(hourly_csv), "--faithfulness", "--from",
                   "598")
    assert done.returncode == 2 and "no window has its 6 targets" in done.stderr
    assert not (tmp_path / "x.png").exists() and done.stdout == ""


def test_column_widths_drop_whole_columns_in_order_never_below_their_minimum():
    cells = [{"a": "x" * 30, "b": "yy", "c": "zzzz", "d": "w"}]
    mins = {"a": 5, "b": 4, "c": 6, "d": 3}
    assert column_widths(cells, mins, ("c", "b"), 80, grow_order=("c",)) == {
        "a": 30, "b": 4, "c": 6, "d": 3}
    exact = 5 + 4 + 6 + 3 + 3 * 3  # minimums plus 3 characters between columns
    assert column_widths(cells, mins, ("c", "b"), exact) == mins
    # without c, the room it left goes to a
    assert column_widths(cells, mins, ("c", "b"), exact - 1) == {"a": 13, "b": 4, "d": 3}
    assert column_widths(cells, mins, ("c", "b"), 10) == {"a": 5, "d": 3}
    grown = column_widths(cells, mins, (), exact + 10, grow_order=("c", "a"))
    assert grown == {"a": 15, "b": 4, "c": 6, "d": 3}  # c is already as wide as it needs


def test_period_text_drops_what_the_start_already_says():
    assert period_text("2018-06-26 12:00:00", "2018-06-26 19:00:00") == "2018-06-26 12:00..19:00"
    assert period_text("2018-06-23 20:00:00", "2018-06-24 03:00:00") == (
        "2018-06-23 20:00..06-24 03:00")
    assert period_text("17", "24") == "17..24"
    assert period_text("5", "5") == "5"
