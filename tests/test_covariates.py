"""Covariates with a known answer: a target driven by one covariate at a lag beside a
covariate of pure noise, trained through the real CLI with the default settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import copy_task, run_cli, write_csv

LAG = 30
SMALL = ["--lookback", "96", "--horizon", "24", "--epochs", "2", "--d-model", "16",
         "--n-heads", "2", "--d-ff", "32", "--quiet"]


@pytest.fixture(scope="module")
def driven_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y repeats `driver` LAG steps later; `noise` has nothing to do with y."""
    driver, y = copy_task(n=2000, lag=LAG, seed=3)
    noise = np.random.default_rng(4).normal(size=y.size)
    rows = [[f"{a:.5f}", f"{b:.5f}", f"{c:.5f}"] for a, b, c in zip(y, driver, noise,
                                                                    strict=True)]
    return write_csv(tmp_path_factory.mktemp("driven") / "driven.csv",
                     ["y", "driver", "noise"], rows)


def trained_mse(csv: Path, tmp: Path, name: str, *columns: str) -> tuple[float, Path]:
    """Train on the given columns of `csv` (target y first); the test-part MSE."""
    data = tmp / f"{name}.csv"
    header, *lines = csv.read_text().splitlines()
    keep = [header.split(",").index(c) for c in ("y", *columns)]
    data.write_text("\n".join(",".join(line.split(",")[i] for i in keep)
                              for line in [header, *lines]) + "\n")
    model = tmp / f"{name}.tsattn"
    done = run_cli("train", str(data), "--target", "y", "-o", str(model), *SMALL)
    assert done.returncode == 0, done.stderr
    scored = run_cli("evaluate", str(model), str(data), "--json", "--quiet")
    assert scored.returncode == 0, scored.stderr
    return json.loads(scored.stdout)["scores"]["model"]["mse"], model


@pytest.mark.slow
def test_default_model_reads_the_driver_and_disregards_the_noise(driven_csv: Path,
                                                                  tmp_path: Path) -> None:
    alone, _ = trained_mse(driven_csv, tmp_path, "alone")
    driven, _ = trained_mse(driven_csv, tmp_path, "driven", "driver")
    everything, model = trained_mse(driven_csv, tmp_path, "all", "driver", "noise")
    assert driven <= 0.2 * alone, (driven, alone)
    assert everything <= 1.02 * driven, (everything, driven)

    attention = tmp_path / "attention.json"
    done = run_cli("predict", str(model), str(tmp_path / "all.csv"), "--attention",
                   str(attention))
    assert done.returncode == 0, done.stderr
    steps = json.loads(attention.read_text())["forecasts"][0]["steps"]
    mean = {name: np.mean([step["variables"][name] for step in steps])
            for name in ("y", "driver", "noise")}
    assert sum(mean.values()) == pytest.approx(1.0, abs=1e-4)
    # the target's own history (its last value, mean reversion) and the driver lead;
    # the noise column is not read at all
    assert sorted(mean, key=mean.__getitem__)[-2:] in (["y", "driver"], ["driver", "y"]), mean
    assert mean["driver"] > 0.1 and mean["noise"] < 0.1 * mean["driver"], mean
