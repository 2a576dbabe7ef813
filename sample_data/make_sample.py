"""Make `sample.csv`: a small, deterministic, hourly multivariate series to try tsattn on.

2,016 hourly rows (12 weeks from 2023-01-02 00:00) of a made-up electricity market:

- `temperature` (deg C): a daily cycle peaking mid-afternoon, a slow warming over the weeks,
  and weather that drifts for days (an AR(1) process) plus noise.
- `wind` (m/s): gusty, persistent, never negative (an AR(1) process passed through softplus).
- `load` (MW): a morning and an evening peak each day, lower at weekends, a slow upward
  trend, more demand when it is cold (heating), and noise.
- `price` (EUR/MWh): follows `load` two hours earlier and falls when it is windy.

So every column has structure a forecaster can learn: daily and weekly seasonality, a trend,
and cross-column dependence at a known lag (price on load, 2 h). Values are rounded to 3
decimals. The seed is fixed, so rerunning reproduces the committed file byte for byte:

    python sample_data/make_sample.py > sample_data/sample.csv
    python sample_data/make_sample.py sample_data/sample.csv
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import numpy as np

N_ROWS = 2016
START = datetime(2023, 1, 2)  # a Monday
SEED = 7
PRICE_LAG = 2  # hours by which price follows load


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """A stationary AR(1) series: slow, persistent wandering instead of white noise."""
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma / np.sqrt(1 - phi**2))
    shocks = rng.normal(0.0, sigma, n)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def make_columns(n: int = N_ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The four series, each of length n."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    hour = t % 24
    weekday = (t // 24) % 7  # 0 = Monday, as START is a Monday
    temperature = (4 + 0.002 * t + 5 * np.sin(2 * np.pi * (hour - 9) / 24)
                   + ar1(rng, n, 0.97, 0.5) + rng.normal(0, 0.3, n))
    wind = np.log1p(np.exp(3 + ar1(rng, n, 0.95, 0.8)))
    daily = 18 * np.exp(-((hour - 8) ** 2) / 6) + 25 * np.exp(-((hour - 19) ** 2) / 8)
    weekly = np.where(weekday >= 5, -22.0, 0.0)
    heating = 1.5 * np.clip(12 - temperature, 0, None)
    load = 300 + 0.01 * t + daily + weekly + heating + ar1(rng, n, 0.8, 2.0)
    load_before = np.concatenate([np.full(PRICE_LAG, load[0]), load[:-PRICE_LAG]])
    price = 10 + 0.25 * load_before - 1.2 * wind + rng.normal(0, 1.5, n)
    return {"load": load, "temperature": temperature, "price": price, "wind": wind}


def to_csv(columns: dict[str, np.ndarray], start: datetime = START) -> str:
    """CSV text with a `date` column first; fixed formatting keeps reruns byte-identical."""
    names = list(columns)
    lines = [",".join(["date", *names])]
    for i in range(len(columns[names[0]])):
        stamp = (start + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(",".join([stamp, *(f"{columns[c][i]:.3f}" for c in names)]))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    text = to_csv(make_columns())
    if len(argv) > 1 and argv[1] != "-":
        with open(argv[1], "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
