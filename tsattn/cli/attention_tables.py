"""Tables of what the attention summary and the faithfulness check say, sized to the terminal.

Each table has a minimum width per column. When the terminal is too narrow for all of them,
whole columns are left out in a fixed order (the least needed first) rather than squeezed
to nothing; the rest wrap. At 80 columns the attention table leaves out only its mean inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table

from tsattn.cli.render import console, lines, one_line, text
from tsattn.explain import NEAR_UNIFORM_TEXT
from tsattn.faithfulness import FaithfulnessReport, Interval

_ATTENTION_MIN = {"step": 4, "forecast time": 10, "top periods": 13, "weight": 6,
                  "mean inputs": 8, "concentration": 13, "variables": 10}
_ATTENTION_DROP = ("mean inputs", "variables", "forecast time")
_ATTENTION_GROW = ("top periods", "top inputs", "concentration", "variables", "mean inputs")
_VARIABLES_SHOWN = 3  # the heaviest input variables of a step, each on its own line
_VARIABLE_MIN = 0.005  # lighter ones (0% when rounded) are left out, except the heaviest
_SECONDS = re.compile(r"(\d\d:\d\d):00$")


def column_widths(cells: list[dict[str, str]], min_widths: dict[str, int],
                  drop_order: Sequence[str], width: int,
                  grow_order: Sequence[str] = ()) -> dict[str, int]:
    """Widths of the columns that fit `width`: each at least its minimum, whole columns left
    out in `drop_order` while the minimums do not fit, then the room left given out in
    `grow_order` (then column order), each column up to its longest line.

    A table here spends 3 characters between two columns (padding, rule, padding) and
    none at its edges.
    """
    columns = list(min_widths)
    for name in drop_order:
        if sum(min_widths[c] for c in columns) + 3 * (len(columns) - 1) <= width:
            break
        columns.remove(name)
    widths = {c: min_widths[c] for c in columns}
    room = width - sum(widths.values()) - 3 * (len(columns) - 1)
    for c in [*[g for g in grow_order if g in widths], *columns]:
        natural = max([len(c), *(len(line) for row in cells for line in row[c].split("\n"))])
        extra = max(0, min(room, natural - widths[c]))
        widths[c] += extra
        room -= extra
    return widths


def _table(title: str, widths: dict[str, int], cells: list[dict[str, str]],
           right: Sequence[str] = (), sections: Sequence[int] = ()) -> Table:
    """A borderless table of `cells` in exactly these column widths; a line after each row
    index in `sections`."""
    table = Table(title=text(title), title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_edge=False)
    for name, w in widths.items():
        table.add_column(name, width=w, overflow="fold",
                         justify="right" if name in right else "left")
    for i, row in enumerate(cells):
        # cells quote names and times from files: text, never markup (see render.text)
        table.add_row(*(lines(row[c].split("\n")) for c in widths), end_section=i in sections)
    return table


def short_time(text: str) -> str:
    """A timestamp without seconds when they are zero: '2018-06-26 19:00'."""
    return _SECONDS.sub(r"\1", str(text))


def period_text(start: str, end: str) -> str:
    """'2018-06-26 12:00..19:00': the end's date is dropped when it is the same day."""
    start, end = short_time(start), short_time(end)
    if start == end:
        return start
    day, _, clock = end.partition(" ")
    if clock and start.startswith(day + " "):
        end = clock
    elif clock and start[:5] == end[:5] and len(day) == 10:
        end = end[5:]  # the same year: '06-24 03:00'
    return f"{start}..{end}"


def _values_text(entry: dict) -> str:
    values = entry.get("values") or {}
    return ", ".join(f"{one_line(k)}={'-' if v is None else format(v, '.4g')}"
                     for k, v in values.items())


def _variables_cell(weights: dict[str, float] | None) -> str:
    """The heaviest input variables of a step: 'drive 72%' lines, names shown as text."""
    if not weights or len(weights) < 2:
        return ""
    heaviest = sorted(weights.items(), key=lambda kv: -kv[1])[:_VARIABLES_SHOWN]
    shown = [(name, w) for i, (name, w) in enumerate(heaviest) if i == 0 or w >= _VARIABLE_MIN]
    return "\n".join(f"{one_line(name)} {weight:.0%}" for name, weight in shown)


def _concentration_cell(c: dict[str, Any]) -> str:
    if c["near_uniform"]:
        return "near uniform"
    return f"{c['top_x_even']:.1f}x even\ntop 10%: {c['top10_share']:.0%}"


def attention_table(rows: list[dict], target_note: str) -> None:
    """The most attended periods (or inputs) of a few forecast steps, one line per period."""
    periods = all("top_periods" in row for row in rows)
    top = "top periods" if periods else "top inputs"
    cells, sections = [], []
    for row in rows:
        entries = row["top_periods"] if periods else row["top"]
        for i, entry in enumerate(entries):
            first = i == 0
            cells.append({
                "step": str(row["step"]) if first else "",
                "forecast time": short_time(row["time"]) if first else "",
                top: period_text(entry.get("start", entry.get("time")),
                                 entry.get("end", entry.get("time"))),
                "weight": f"{entry['weight']:.3f}",
                "mean inputs": _values_text(entry),
                "concentration": _concentration_cell(row["concentration"]) if first else "",
                "variables": _variables_cell(row.get("variables")) if first else "",
            })
        sections.append(len(cells) - 1)
    mins = {(top if k == "top periods" else k): v for k, v in _ATTENTION_MIN.items()}
    for optional in ("mean inputs", "variables"):
        if not any(c[optional] for c in cells):
            mins.pop(optional)
    drop = [c for c in _ATTENTION_DROP if c in mins]
    widths = column_widths(cells, mins, drop, console.width, _ATTENTION_GROW)
    what = "periods" if periods else "inputs"
    console.print(_table(f"most attended {what} ({one_line(target_note)})", widths, cells,
                         right=("step", "weight"), sections=sections))
    _concentration_notes(rows, what)


def _concentration_notes(rows: list[dict], what: str) -> None:
    """What 'x even' means, and the near-uniform sentence for the steps where it is true."""
    console.print(f"concentration: the top {what[:-1]}'s weight as a multiple of its even "
                  f"share, and the weight on the heaviest 10% of {what}", soft_wrap=False)
    flat = [str(row["step"]) for row in rows if row["concentration"]["near_uniform"]]
    if flat:
        label = "step" if len(flat) == 1 else "steps"
        console.print(f"{label} {', '.join(flat)}: {NEAR_UNIFORM_TEXT}")


_AREA_MIN = {"ranking": 9, "comprehensiveness (higher: better)": 17,
             "sufficiency (lower: better)": 17}


def _interval_text(i: Interval) -> str:
    return f"{i.mean:.3g} [{i.low:.3g}, {i.high:.3g}]"


def faithfulness_tables(report: FaithfulnessReport, rows_note: str) -> None:
    """Areas over the curves with intervals, the curves themselves, and the verdict."""
    console.print(f"faithfulness of the attention summary over {report.windows} windows "
                  f"({one_line(rows_note)}), {report.periods} periods of "
                  f"{report.period_rows} rows each")
    cells = [{"ranking": r.name,
              "comprehensiveness (higher: better)": _interval_text(r.comprehensiveness.area),
              "sufficiency (lower: better)": _interval_text(r.sufficiency.area)}
             for r in report.rankings]
    widths = column_widths(cells, _AREA_MIN, (), console.width)
    console.print(_table("area over each curve, with its 95% interval", widths, cells))
    console.print(_curve_table(report))
    if report.variables:
        console.print(_variables_table(report))
    console.print(f"verdict: {report.verdict.text}")
    console.print(f"blanked inputs: {report.blanking}")
    console.print("change: mean squared change of the forecast, z-scored units")


def _curve_table(report: FaithfulnessReport) -> Table:
    """Mean of each curve at every k, as k% (periods)."""
    heads = [f"{k}% ({n})" for k, n in zip(report.k_percents, report.k_periods, strict=True)]
    cells, sections = [], []
    for r in report.rankings:
        for name, curve in (("comp.", r.comprehensiveness), ("suff.", r.sufficiency)):
            cells.append({"curve": f"{r.name} {name}",
                          **{h: f"{p.mean:.3g}" for h, p in zip(heads, curve.points,
                                                                strict=True)}})
        sections.append(len(cells) - 1)
    widths = column_widths(cells, {"curve": 10, **{h: 6 for h in heads}}, (), console.width)
    return _table("curves: mean change at k% of periods (how many)", widths, cells,
                  right=heads, sections=sections)


def _variables_table(report: FaithfulnessReport) -> Table:
    cells = [{"variable": one_line(e.name),
              "change when blanked, 95% interval": _interval_text(e.change)}
             for e in report.variables]
    mins = {"variable": 8, "change when blanked, 95% interval": 16}
    widths = column_widths(cells, mins, (), console.width)
    return _table("variables, each blanked alone (attention maps are over time only)",
                  widths, cells)
