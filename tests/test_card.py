"""The model card: exact JSON round trip, one validation that names the bad field."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, sample_card
from tsattn.card import FORMAT_VERSION, Baselines, Calibration, ModelCard
from tsattn.errors import CheckpointError


def _edited(edit) -> dict:
    raw = sample_card().to_dict()
    edit(raw)
    return raw


def _refused(raw: object, *needles: str) -> None:
    with pytest.raises(CheckpointError) as info:
        ModelCard.from_dict(raw, where="model file 'm.tsattn'")
    message = str(info.value)
    assert message.startswith("model file 'm.tsattn' has ") and message.endswith(
        "; retrain the model or copy the file again"), message
    for needle in needles:
        assert needle in message, message


def test_json_round_trip_is_exact():
    card = sample_card()
    again = ModelCard.from_json(card.to_json())
    assert again == card
    assert again.columns == ("OT", "HUFL") and again.lookback == 8 and again.horizon == 2
    assert json.loads(card.to_json())["format_version"] == FORMAT_VERSION


def test_extension_sections_round_trip():
    card = sample_card(baselines=Baselines(repeat_last=0.9, linear=0.5),
                       calibration=Calibration(levels=(0.1, 0.9),
                                               offsets=(((-0.2,), (-0.3,)), ((0.1,), (0.2,))),
                                               floor=(0.01,), n_windows=5))
    again = ModelCard.from_json(card.to_json())
    assert again == card and again.baselines.seasonal_naive is None
    assert sample_card().to_dict()["baselines"] is None


@pytest.mark.parametrize(("edit", "needles"), [
    (lambda r: r.clear(), ("no 'targets'",)),
    (lambda r: r.update(targets=5), ("no list of column names as 'targets'",)),
    (lambda r: r.update(header="date,OT"), ("no list of column names as 'header'",)),
    (lambda r: r["split"].pop("val_end"), ("no 'split.val_end'",)),
    (lambda r: r["split"].update(val_end="80"), ("no whole number as 'split.val_end'",)),
    (lambda r: r["split"].update(val_end=101), ("a 'split' outside its rows",)),
    (lambda r: r["metrics"].update(stopped_early=1), ("no true or false",)),
    (lambda r: r["metrics"]["history"][0].update(val_loss=float("nan")),
     ("no finite number as 'metrics.history[0].val_loss'",)),
    (lambda r: r["scaler"].update(mean=[float("inf"), 0.0]), ("'scaler.mean[0]'",)),
    (lambda r: r["scaler"].update(mean=[1.0]), ("scaler statistics that do not match",)),
    (lambda r: r["scaler"].update(scale=[1.0, 0.0]), ("scaler statistics that do not match",)),
    (lambda r: r.update(extra=1), ("unknown entries 'extra'",)),
    (lambda r: r["config"]["model"].update(foo=1), ("unusable 'config'", "foo")),
    (lambda r: r["config"]["model"].update(n_heads=3), ("unusable 'config'", "does not divide")),
    (lambda r: r["config"]["model"].update(lookback=10**12),
     ("unusable 'config'", "--lookback 1000000000000 is larger than tsattn allows")),
    (lambda r: r["config"]["model"].update(n_channels=5), ("columns that do not match",)),
    (lambda r: r.update(format_version=2), ("format version 2",)),
    (lambda r: r.update(config=[]), ("no 'config'",)),
])
def test_bad_fields_are_named(edit, needles):
    _refused(_edited(edit), *needles)


def test_not_an_object_and_not_json():
    _refused([], "no JSON object")
    with pytest.raises(CheckpointError, match="no valid JSON"):
        ModelCard.from_json("{" + "1" * 5000)
    with pytest.raises(CheckpointError, match="no valid JSON"):
        ModelCard.from_json("[" * 100_000)


def test_card_never_writes_non_finite_json():
    card = sample_card(metrics=sample_card().metrics.__class__(
        best_val_mse=float("inf"), epochs_run=1, stopped_early=False, train_seconds=0.0))
    with pytest.raises(ValueError):
        card.to_json()


def test_card_imports_neither_torch_nor_pandas():
    code = ("import sys, tsattn.card; "
            "assert not {'torch', 'pandas', 'numpy'} & set(sys.modules), 'imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
