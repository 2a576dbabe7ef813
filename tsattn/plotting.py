"""PNG figures of forecasts and attention maps, for people to look at.

matplotlib is an optional extra (`pip install 'tsattn[plot]'`): it is imported inside the
functions, only when a plot is asked for, so the rest of tsattn works without it and
`tsattn --help` stays fast. Figures are drawn on a bare Agg canvas (no pyplot, no global
backend or figure registry to leak), rendered to memory, then written atomically, so a
failed render never leaves a half-written PNG behind.

Inputs are numpy arrays and the time labels tsattn already prints ("2016-07-01 00:00:00",
or "0", "1", ... when the data have no time column); no torch, no pandas.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsattn.errors import UsageError
from tsattn.files import atomic_write_bytes

DPI = 120
WIDTH = 11.0  # inches; 1320 px at DPI, wide enough for a few hundred time steps
_PANEL_HEIGHT = 2.2  # inches per target panel
_HEATMAP_HEIGHT = 3.0
_CMAP = "viridis"  # perceptually uniform and readable in grey and by colour-blind people
_INSTALL = "matplotlib is not installed; install it with: pip install 'tsattn[plot]'"


def require_matplotlib() -> None:
    """Fail with one clear line before any work when the optional extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError(_INSTALL) from exc


@dataclass(frozen=True)
class _Axis:
    """x positions of history and forecast on one numeric axis (matplotlib days or steps)."""

    history: np.ndarray
    forecast: np.ndarray
    is_date: bool

    @property
    def label(self) -> str:
        return "time" if self.is_date else "time step"


def _parse_times(times: list[str]) -> tuple[np.ndarray, bool] | None:
    """Times as floats and whether they are dates; None if they are neither dates nor ints."""
    strings = [str(t).strip() for t in times]
    if all(s.lstrip("-").isdigit() for s in strings):
        return np.array([int(s) for s in strings], dtype=np.float64), False
    try:
        with warnings.catch_warnings():  # numpy warns about (ignored) UTC offsets
            warnings.simplefilter("ignore")
            stamps = np.array(strings, dtype="datetime64")
    except ValueError:
        return None
    from matplotlib import dates as mdates

    return np.asarray(mdates.date2num(stamps), dtype=np.float64), True


def _time_axis(history_times: list[str], forecast_times: list[str]) -> _Axis:
    """One x axis for both parts; positions 0..L+H-1 when the labels cannot be parsed."""
    parsed = _parse_times([*history_times, *forecast_times])
    L = len(history_times)
    if parsed is None:
        parsed = (np.arange(L + len(forecast_times), dtype=np.float64), False)
    x, is_date = parsed
    return _Axis(x[:L], x[L:], is_date)


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges half-way between centres, so heatmap cells sit on the plotted times."""
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[:-1] + x[1:]) / 2
    return np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])


def _format_time_axis(ax: Any, is_date: bool) -> None:
    """Concise date ticks ("Jul 02", "06:00" plus a year/month offset) or integer steps."""
    from matplotlib import dates as mdates
    from matplotlib.ticker import MaxNLocator

    if is_date:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))


def _save(fig: Any, path: Path | None) -> bytes | None:
    """Render to memory first, then replace `path` in one step; no path: return the PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    if path is None:
        return buffer.getvalue()
    atomic_write_bytes(Path(path), buffer.getvalue())
    return None


def _new_figure(width: float, height: float) -> Any:
    """A pyplot-free figure on the Agg canvas: no GUI backend, nothing global to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _forecast_size(n_targets: int, with_attention: bool,
                   with_variables: bool = False) -> tuple[float, float]:
    return WIDTH, _PANEL_HEIGHT * (n_targets + with_variables) + (
        _HEATMAP_HEIGHT if with_attention else 0.0) + 0.6


def _label(text: str) -> str:
    """A column name as plain text: matplotlib would read `$...$` as mathematics."""
    return text.replace("$", r"\$")


def _check_forecast_shapes(targets: list[str], history: np.ndarray, forecast: np.ndarray,
                           attention: np.ndarray | None, band: tuple | None, L: int,
                           H: int) -> None:
    """Shape mismatches are caller bugs; say which array is wrong instead of a blank plot."""
    T = len(targets)
    if history.shape != (L, T):
        raise ValueError(f"history must have shape (L, T) = ({L}, {T}), got {history.shape}")
    if forecast.shape != (H, T):
        raise ValueError(f"forecast must have shape (H, T) = ({H}, {T}), got {forecast.shape}")
    if attention is not None and attention.shape != (H, L):
        raise ValueError(f"attention must have shape (H, L) = ({H}, {L}), got {attention.shape}")
    if band is not None and any(np.shape(edge) != (H, T) for edge in band):
        raise ValueError(f"band must be a (lower, upper) pair of ({H}, {T}) arrays")
    if T == 0 or L == 0 or H == 0:
        raise ValueError("nothing to plot: need at least one target, input and forecast step")


def plot_forecast(
    path: Path | None,
    *,
    targets: list[str],
    history_times: list[str],
    history: np.ndarray,
    forecast_times: list[str],
    forecast: np.ndarray,
    attention: np.ndarray | None,
    title: str = "",
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "prediction interval",
    attention_note: str = "",
    variables: tuple[list[str], np.ndarray] | None = None,
) -> bytes | None:
    """History and forecast of each target above the (H, L) attention map, as one PNG
    (written to `path`, or returned as bytes when `path` is None).

    All panels share one time axis, so a bright heatmap cell sits right under the input
    time it points at. history is (L, T) and forecast (H, T) in the user's units;
    attention row h is forecast step h+1's weights over the L input times. `band` is an
    optional (lower, upper) pair of (H, T) arrays drawn as a shaded interval.
    `attention_note` says in words how concentrated the map is, under the map's title.
    `variables` (names, (H, V) weights) adds a panel of each input variable's share of
    every forecast step, under the forecast times.
    """
    require_matplotlib()
    history = np.asarray(history, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    attention = None if attention is None else np.asarray(attention, dtype=np.float64)
    L, H = len(history_times), len(forecast_times)
    _check_forecast_shapes(targets, history, forecast, attention, band, L, H)
    axis = _time_axis(history_times, forecast_times)
    rows = [_PANEL_HEIGHT] * len(targets) + ([_HEATMAP_HEIGHT] if attention is not None else [])
    rows += [_PANEL_HEIGHT] if variables is not None else []
    fig = _new_figure(*_forecast_size(len(targets), attention is not None,
                                      variables is not None))
    # a narrow second column holds the colour bar, so every panel keeps the same x extent
    grid = fig.add_gridspec(len(rows), 2, height_ratios=rows, width_ratios=[1, 0.018])
    panels = [fig.add_subplot(grid[0, 0])]
    panels += [fig.add_subplot(grid[i, 0], sharex=panels[0]) for i in range(1, len(rows))]
    for i, name in enumerate(targets):
        interval = None if band is None else (band[0][:, i], band[1][:, i])
        _draw_target(panels[i], axis, name, history[:, i], forecast[:, i], interval, band_label)
        fig.add_subplot(grid[i, 1]).set_axis_off()
    if attention is not None:
        row = len(targets)
        mesh = _draw_step_map(panels[row], axis, attention, attention_note)
        fig.colorbar(mesh, cax=fig.add_subplot(grid[row, 1]),
                     label=f"attention weight (even: 1/{L} = {1 / L:.3g})")
    if variables is not None:
        _draw_variables(panels[-1], axis, *variables)
        fig.add_subplot(grid[-1, 1]).set_axis_off()
    for ax in panels:
        ax.label_outer()  # time tick labels only under the lowest panel
    panels[-1].set_xlabel(axis.label)
    _format_time_axis(panels[0], axis.is_date)
    if title:
        fig.suptitle(title)
    # one legend for all panels, just above the first, where it hides no data
    panels[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=4, fontsize="small",
                     frameon=False, borderaxespad=0.2)
    return _save(fig, path)


def _draw_target(ax: Any, axis: _Axis, name: str, history: np.ndarray, forecast: np.ndarray,
                 band: tuple[np.ndarray, np.ndarray] | None, band_label: str) -> None:
    """One target: history, forecast in another colour, the origin line and a legend."""
    ax.plot(axis.history, history, color="tab:blue", lw=1.2, label="history")
    if band is not None:
        ax.fill_between(axis.forecast, band[0], band[1], color="tab:orange", alpha=0.25,
                        lw=0, label=band_label)
    ax.plot(axis.forecast, forecast, color="tab:orange", lw=1.6, label="forecast")
    ax.axvline(axis.history[-1], color="0.35", ls="--", lw=1, label="forecast origin")
    ax.set_ylabel(_label(name))
    ax.grid(alpha=0.3)
    ax.margins(x=0.01, y=0.08)


def _draw_variables(ax: Any, axis: _Axis, names: list[str], weights: np.ndarray) -> None:
    """Each input variable's share of every forecast step, stacked, at the forecast times."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(axis.forecast), len(names)):
        raise ValueError(f"variables must have shape (H, V) = ({len(axis.forecast)}, "
                         f"{len(names)}), got {weights.shape}")
    ax.stackplot(axis.forecast, weights.T, labels=[_label(n) for n in names], alpha=0.85)
    ax.axvline(axis.history[-1], color="0.35", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.set_title("variables: how much each input column moved each forecast step",
                 fontsize="medium", loc="left")
    ax.legend(loc="upper left", fontsize="small", frameon=False, ncols=min(len(names), 6))


def _draw_step_map(ax: Any, axis: _Axis, attention: np.ndarray, note: str) -> Any:
    """(H, L) map over the input times; step 1 on top, read as a table of rows.

    Right of the origin, an orange line marks the time each row forecasts, so the distance
    from a bright cell to that line is the lag the step looked back.
    """
    from matplotlib.ticker import MaxNLocator

    H = attention.shape[0]
    mesh = ax.pcolormesh(_edges(axis.history), np.arange(H + 1) + 0.5, attention, cmap=_CMAP,
                         vmin=0, shading="flat", rasterized=True)
    ax.axvline(axis.history[-1], color="0.35", ls="--", lw=1)
    ax.plot(axis.forecast, np.arange(1, H + 1), color="tab:orange", lw=2,
            label="time forecast by the step")
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_ylim(H + 0.5, 0.5)
    ax.set_ylabel("forecast step")
    ticks = MaxNLocator(nbins=6, integer=True).tick_values(1, H)
    ax.set_yticks(sorted({1, *(int(t) for t in ticks if 3 <= t <= H)}))
    title = "attention: which input times each forecast step used"
    ax.set_title(f"{title}\n{note}" if note else title, fontsize="medium", loc="left")
    return mesh


def token_labels(token_spans: list[tuple[int, int]], input_times: list[str]) -> list[str]:
    """Input time range of each token ([start, stop) rows), short enough for a tick label.

    Dates drop what every label shares (the year; the clock when all are at midnight), and
    a range within one day names the day once: "07-01 00:00–15:00".
    """
    L = len(input_times)
    bad = [(a, b) for a, b in token_spans if not 0 <= a < b <= L]
    if bad:
        raise ValueError(f"token spans {bad} are not inside the {L} input times")
    short = _short_times(input_times)
    labels = []
    for start, stop in token_spans:
        first, last = short[start], short[stop - 1]
        if first == last:
            labels.append(first)
            continue
        day, _, clock = last.rpartition(" ")
        same_day = day and first.startswith(day + " ")
        labels.append(f"{first}–{clock if same_day else last}")
    return labels


def _short_times(times: list[str]) -> list[str]:
    """Compact labels: "07-01 15:00" for hourly data of one year, the input otherwise."""
    strings = [str(t).strip() for t in times]
    if not strings or all(s.lstrip("-").isdigit() for s in strings):
        return strings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = np.array(strings, dtype="datetime64[s]")
    except ValueError:
        return strings
    iso = np.datetime_as_string(stamps, unit="s")  # "2016-07-01T15:00:00"
    cut = 16 if all(s.endswith(":00") for s in iso) else 19  # drop seconds when all zero
    if all(s[11:19] == "00:00:00" for s in iso):
        cut = 10  # daily data: no clock
    start = 5 if len({s[:4] for s in iso}) == 1 else 0  # drop a shared year
    return [s[start:cut].replace("T", " ") for s in iso]


def plot_attention_layers(
    path: Path | None, *, token_maps: np.ndarray, token_labels: list[str], title: str = ""
) -> bytes | None:
    """Every layer's and head's token-to-token map (layers x heads grid), as one PNG.

    token_maps is (layers, heads, N, N): row n is how query token n spread its attention
    over the key tokens. One colour scale for all panels, so panels compare by eye.
    """
    require_matplotlib()
    maps = np.asarray(token_maps, dtype=np.float64)
    if maps.ndim != 4 or maps.shape[2] != maps.shape[3] or 0 in maps.shape:
        raise ValueError(f"token_maps must have shape (layers, heads, N, N), got {maps.shape}")
    n_layers, n_heads, N, _ = maps.shape
    if len(token_labels) != N:
        raise ValueError(f"need {N} token labels, got {len(token_labels)}")
    fig = _new_figure(*_layers_size(n_layers, n_heads))
    axes = fig.subplots(n_layers, n_heads, squeeze=False, sharex=True, sharey=True)
    vmax = float(maps.max()) or 1.0
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(maps[layer, head], cmap=_CMAP, vmin=0, vmax=vmax,
                              interpolation="nearest")
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize="medium")
    _label_token_axes(axes, token_labels)
    # one label per figure side: repeated under every narrow panel they run together
    fig.supxlabel("key token (input time range)", fontsize="medium")
    fig.supylabel("query token", fontsize="medium")
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _layers_size(n_layers: int, n_heads: int) -> tuple[float, float]:
    """About 3 inches a panel, shrinking for big grids so the PNG stays a viewable size."""
    side = min(3.2, 16 / n_heads, 16 / n_layers)
    return side * n_heads + 2.6, side * n_layers + 2.2


def _label_token_axes(axes: np.ndarray, labels: list[str]) -> None:
    """A few token ticks with their time ranges, only on the outer panels."""
    N = len(labels)
    ticks = np.unique(np.linspace(0, N - 1, min(N, 4)).round().astype(int))
    text = [labels[i] for i in ticks]
    for ax in axes.flat:
        # vertical: long range labels of neighbouring panels must not run into each other
        ax.set_xticks(ticks, text, rotation=90, fontsize="small")
        ax.set_yticks(ticks, text, fontsize="small")
        ax.label_outer()
