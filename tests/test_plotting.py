"""plotting.py: every figure is a real PNG of the promised size, written whole or not at all."""

from __future__ import annotations

import builtins
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tsattn import plotting
from tsattn.errors import UsageError

# the missing-matplotlib tests run everywhere; the drawing tests need the extra
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib (tsattn[plot]) not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
L, H = 48, 12


def hourly(n: int, start: int = 0) -> list[str]:
    t0 = np.datetime64("2016-07-01T00:00:00")
    return [str(t0 + np.timedelta64(start + i, "h")).replace("T", " ") for i in range(n)]


def integers(n: int, start: int = 0) -> list[str]:
    return [str(start + i) for i in range(n)]


def peaked_attention(lag: int = 24) -> np.ndarray:
    """Each forecast step attends mostly to the input `lag` steps before its own time."""
    att = np.full((H, L), 0.01)
    for h in range(H):
        att[h, L + h - lag] = 1.0
    return att / att.sum(axis=1, keepdims=True)


def assert_png(path: Path, size: tuple[float, float]) -> None:
    """A PNG signature, and matplotlib reads back width x height pixels at the module's DPI."""
    from matplotlib import image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = image.imread(path)
    width, height = size
    assert pixels.shape[:2] == (round(height * plotting.DPI), round(width * plotting.DPI))


def forecast_kwargs(times, n_targets: int = 1, attention: bool = True) -> dict:
    rng = np.random.default_rng(0)
    return {
        "targets": [f"y{i}" for i in range(n_targets)],
        "history_times": times(L), "history": rng.standard_normal((L, n_targets)),
        "forecast_times": times(H, L), "forecast": rng.standard_normal((H, n_targets)),
        "attention": peaked_attention() if attention else None,
    }


@needs_matplotlib
@pytest.mark.parametrize("times", [hourly, integers], ids=["hourly", "integer-steps"])
@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("attention", [True, False], ids=["attention", "no-attention"])
def test_plot_forecast_writes_png(tmp_path, times, n_targets, attention):
    path = tmp_path / "forecast.png"
    plotting.plot_forecast(path, title="a forecast",
                           **forecast_kwargs(times, n_targets, attention))
    assert_png(path, plotting._forecast_size(n_targets, attention))
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.png"]  # no temp file left


@needs_matplotlib
def test_plot_forecast_with_band_and_unparsable_times(tmp_path):
    kwargs = forecast_kwargs(integers, 2)
    kwargs["history_times"] = [f"t{i}" for i in range(L)]  # neither dates nor integers
    kwargs["forecast_times"] = [f"t{i}" for i in range(L, L + H)]
    forecast = kwargs["forecast"]
    path = tmp_path / "band.png"
    plotting.plot_forecast(path, band=(forecast - 1, forecast + 1), **kwargs)
    assert_png(path, plotting._forecast_size(2, True))


@needs_matplotlib
def test_time_axis_parses_dates_and_integers():
    dates = plotting._time_axis(hourly(3), hourly(2, 3))
    assert dates.is_date
    assert np.allclose(np.diff(np.r_[dates.history, dates.forecast]), 1 / 24)  # days
    steps = plotting._time_axis(integers(3, 100), integers(2, 103))
    assert not steps.is_date
    assert steps.history.tolist() == [100, 101, 102] and steps.forecast.tolist() == [103, 104]


@needs_matplotlib
def test_heatmap_lines_up_with_the_series_panels(monkeypatch, tmp_path):
    """The colour bar must not squeeze the heatmap: same x extent and limits as the series."""
    figures = []
    monkeypatch.setattr(plotting, "_save", lambda fig, path: figures.append(fig))
    plotting.plot_forecast(tmp_path / "f.png", **forecast_kwargs(hourly, 2))
    (fig,) = figures
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_ylabel() in ("y0", "y1", "forecast step")]
    assert len(panels) == 3
    extents = {(round(ax.get_position().x0, 4), round(ax.get_position().x1, 4)) for ax in panels}
    assert len(extents) == 1
    assert len({ax.get_xlim() for ax in panels}) == 1
    # the colour bar, which says what an even spread would give each input
    assert any(ax.get_ylabel() == f"attention weight (even: 1/{L} = {1 / L:.3g})"
               for ax in fig.axes)


def test_heatmap_title_says_how_concentrated_the_map_is(monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(plotting, "_save", lambda fig, path: figures.append(fig))
    plotting.plot_forecast(tmp_path / "f.png", attention_note="near uniform: this forecast "
                           "does not lean on particular inputs", **forecast_kwargs(hourly))
    (fig,) = figures
    (heatmap,) = [ax for ax in fig.axes if ax.get_ylabel() == "forecast step"]
    assert heatmap.get_title(loc="left").endswith("\nnear uniform: this forecast does not "
                                                  "lean on particular inputs")


def test_heatmap_cells_are_centred_on_the_input_times():
    assert plotting._edges(np.array([0.0, 1.0, 3.0])).tolist() == [-0.5, 0.5, 2.0, 4.0]
    assert plotting._edges(np.array([5.0])).tolist() == [4.5, 5.5]


@needs_matplotlib
@pytest.mark.parametrize("field, shape", [("history", (L, 2)), ("forecast", (H + 1, 1)),
                                          ("attention", (H, L - 1))])
def test_plot_forecast_rejects_wrong_shapes(tmp_path, field, shape):
    kwargs = forecast_kwargs(hourly)
    kwargs[field] = np.ones(shape)
    with pytest.raises(ValueError, match=field):
        plotting.plot_forecast(tmp_path / "x.png", **kwargs)
    assert not list(tmp_path.iterdir())


def test_token_labels_shorten_dates_and_keep_integers():
    spans = [(0, 16), (8, 24), (32, 33)]
    assert plotting.token_labels(spans, hourly(48)) == [
        "07-01 00:00–15:00", "07-01 08:00–23:00", "07-02 08:00"
    ]
    assert plotting.token_labels([(16, 32)], hourly(48)) == ["07-01 16:00–07-02 07:00"]
    assert plotting.token_labels([(0, 4), (4, 5)], integers(8)) == ["0–3", "4"]
    days = [f"2016-07-{d:02d}" for d in range(1, 9)]
    assert plotting.token_labels([(0, 4)], days) == ["07-01–07-04"]
    with pytest.raises(ValueError, match="inside"):
        plotting.token_labels([(4, 9)], integers(8))


@needs_matplotlib
@pytest.mark.parametrize("layers, heads", [(1, 1), (2, 4)])
def test_plot_attention_layers_writes_png(tmp_path, layers, heads):
    rng = np.random.default_rng(1)
    N = 5
    maps = rng.dirichlet(np.ones(N), size=(layers, heads, N))
    labels = plotting.token_labels([(4 * n, 4 * n + 8) for n in range(N)], hourly(24))
    path = tmp_path / "layers.png"
    plotting.plot_attention_layers(path, token_maps=maps, token_labels=labels, title="maps")
    assert_png(path, plotting._layers_size(layers, heads))


@needs_matplotlib
def test_plot_attention_layers_rejects_mismatched_labels(tmp_path):
    with pytest.raises(ValueError, match="token labels"):
        plotting.plot_attention_layers(tmp_path / "x.png", token_maps=np.ones((1, 1, 3, 3)),
                                       token_labels=["a", "b"])


def _hide_with_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails


def _hide_with_import_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)


@pytest.mark.parametrize("hide", [_hide_with_sys_modules, _hide_with_import_hook])
def test_missing_matplotlib_is_a_usage_error(monkeypatch, tmp_path, hide):
    hide(monkeypatch)
    with pytest.raises(UsageError, match=r"pip install 'tsattn\[plot\]'") as caught:
        plotting.require_matplotlib()
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match="matplotlib is not installed"):
        plotting.plot_forecast(tmp_path / "f.png", **forecast_kwargs(hourly))
    with pytest.raises(UsageError, match="matplotlib is not installed"):
        plotting.plot_attention_layers(tmp_path / "l.png", token_maps=np.ones((1, 1, 1, 1)),
                                       token_labels=["a"])
    assert not list(tmp_path.iterdir())


@needs_matplotlib
def test_failed_render_leaves_no_file_and_keeps_the_old_one(monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    old = tmp_path / "old.png"
    old.write_bytes(b"previous plot")
    with pytest.raises(RuntimeError, match="renderer crashed"):
        plotting.plot_forecast(tmp_path / "new.png", **forecast_kwargs(hourly))
    with pytest.raises(RuntimeError, match="renderer crashed"):
        plotting.plot_attention_layers(old, token_maps=np.full((1, 1, 2, 2), 0.5),
                                       token_labels=["a", "b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]
    assert old.read_bytes() == b"previous plot"


def test_importing_plotting_does_not_import_matplotlib():
    code = "import sys, tsattn.plotting; print('matplotlib' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, check=True)
    assert out.stdout.strip() == "False"
