"""Pictures: valid PNGs of the expected size, a clear error without matplotlib, no debris."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest

from tsattn import plotting
from tsattn.errors import UsageError

PNG = b"\x89PNG\r\n\x1a\n"


def hourly(n: int, start: str = "2024-01-01T00") -> list[str]:
    times = np.datetime64(start) + np.arange(n).astype("timedelta64[h]")
    return [str(t).replace("T", " ") + ":00:00" for t in times]


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG
    return matplotlib.image.imread(path)


def peaked_attention(horizon: int, lookback: int, lag: int) -> np.ndarray:
    """Each forecast step attends mostly to the input `lag` steps before it."""
    att = np.full((horizon, lookback), 0.1 / lookback)
    for h in range(horizon):
        att[h, max(0, lookback + h - lag)] += 0.9
    return att / att.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("times", ["hourly", "steps"])
def test_forecast_figure_is_a_png_of_the_expected_size(tmp_path: Path, times: str):
    L, H = 96, 24
    history_times, forecast_times = hourly(L), hourly(H, "2024-01-05T00")
    if times == "steps":
        history_times = [str(i) for i in range(L)]
        forecast_times = [str(i) for i in range(L, L + H)]
    t = np.arange(L + H)
    series = np.stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)], axis=1)
    path = tmp_path / "fc.png"
    plotting.plot_forecast(path, targets=["a", "b"], history_times=history_times,
                           history=series[:L], forecast_times=forecast_times,
                           forecast=series[L:], attention=peaked_attention(H, L, 24))
    image = read_png(path)
    height, width = image.shape[:2]
    assert width == int(plotting.WIDTH * plotting.DPI)
    assert height > 400  # two target panels and the heatmap


def test_forecast_figure_without_attention(tmp_path: Path):
    path = tmp_path / "fc.png"
    plotting.plot_forecast(path, targets=["a"], history_times=hourly(10),
                           history=np.arange(10.0)[:, None],
                           forecast_times=hourly(3, "2024-01-01T10"),
                           forecast=np.arange(10.0, 13.0)[:, None], attention=None)
    assert read_png(path).shape[1] == int(plotting.WIDTH * plotting.DPI)


def test_layer_grid_and_token_labels(tmp_path: Path):
    spans = [(0, 16), (8, 24), (16, 32)]
    labels = plotting.token_labels(spans, hourly(32))
    assert len(labels) == 3 and all(labels)
    maps = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 4, 3))
    path = tmp_path / "layers.png"
    plotting.plot_attention_layers(path, token_maps=maps, token_labels=labels)
    read_png(path)


def test_missing_matplotlib_is_one_clear_usage_error(monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UsageError, match=r"pip install 'tsattn\[plot\]'"):
        plotting.require_matplotlib()


def test_a_failed_render_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from matplotlib.figure import Figure

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        plotting.plot_forecast(tmp_path / "fc.png", targets=["a"], history_times=hourly(5),
                               history=np.zeros((5, 1)), forecast_times=hourly(2, "2024-01-02T00"),
                               forecast=np.zeros((2, 1)), attention=None)
    assert list(tmp_path.iterdir()) == []
