"""The faithfulness measurement (tsattn/faithfulness.py) on a copy task with a known answer.

The models here are hand-made, not trained: forecast step h copies input row L - LAG + h of
the driver channel, so exactly one period matters and every number has a known direction.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor, nn

from tsattn.errors import UsageError
from tsattn.explain import token_periods
from tsattn.faithfulness import (
    K_PERCENTS,
    FaithfulnessOptions,
    FaithfulnessReport,
    RankingScores,
    blank_rows,
    k_counts,
    measure_faithfulness,
    occlusion_scores,
    period_matrix,
    report_json,
)
from tsattn.models.base import Forecast

L, H, LAG, STRIDE = 96, 4, 30, 8
PERIODS = token_periods([(s, s + 16) for s in range(0, L, STRIDE)], L)
COPIED_PERIOD = (L - LAG) // STRIDE  # rows 66..69 all lie in rows [64, 72)


class CopyModel(nn.Module):
    """Forecast step h = input row L - LAG + h of channel 1; `looks_at` sets the map."""

    def __init__(self, looks_at: str) -> None:
        super().__init__()
        self.looks_at = looks_at

    def forward(self, x: Tensor, return_attention: bool = True) -> Forecast:
        B = x.shape[0]
        prediction = x[:, L - LAG : L - LAG + H, 1:2]  # (B, H, 1)
        if not return_attention:
            return Forecast(prediction)
        att = torch.full((B, H, L), 0.1 / (L - 1))
        for h in range(H):
            row = L - LAG + h if self.looks_at == "copied" else L - 1
            att[:, h, row] = 0.9
        return Forecast(prediction, att)


@pytest.fixture(scope="module")
def windows() -> Tensor:
    """(200, L, 2) random-walk-like windows: a target channel and the copied driver."""
    generator = torch.Generator().manual_seed(1)
    return torch.randn(200, L, 2, generator=generator).cumsum(dim=1) * 0.3


def test_blank_rows_draws_a_line_between_the_nearest_kept_rows() -> None:
    x = torch.tensor([[0.0, 5.0, 5.0, 5.0, 4.0, 9.0, 9.0]]).unsqueeze(-1)
    rows = torch.tensor([[False, True, True, True, False, True, True]])
    out = blank_rows(x, rows)[0, :, 0]
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0]  # the end: nearest kept value
    start = blank_rows(x, torch.tensor([[True, True, False, False, False, False, False]]))
    assert start[0, :2, 0].tolist() == [5.0, 5.0]
    every = blank_rows(x, torch.ones(1, 7, dtype=torch.bool))
    assert torch.allclose(every, x.mean(dim=1, keepdim=True).expand_as(x))
    assert torch.equal(blank_rows(x, torch.zeros(1, 7, dtype=torch.bool)), x)


def test_k_counts_round_but_keep_one_in_and_one_out() -> None:
    assert k_counts(12) == (1, 1, 1, 2, 6)
    assert k_counts(96) == (1, 5, 10, 19, 48)
    assert k_counts(2) == (1, 1, 1, 1, 1)
    assert len(k_counts(12)) == len(K_PERCENTS)


def test_periods_must_tile_the_window() -> None:
    with pytest.raises(ValueError, match="tile"):
        period_matrix([(0, 4), (5, 8)], 8)


def test_occlusion_finds_the_copied_period(windows: Tensor) -> None:
    model = CopyModel("copied")
    members = period_matrix(PERIODS, L)
    with torch.inference_mode():
        base = model(windows).prediction
        scores = occlusion_scores(model, windows, base, members, batch_size=300)
    assert scores.shape == (len(windows), len(PERIODS))
    assert (scores.argmax(dim=1) == COPIED_PERIOD).all()
    others = torch.ones(len(PERIODS), dtype=torch.bool)
    others[COPIED_PERIOD] = False
    assert (scores[:, others] == 0).all()


def _scores(report: FaithfulnessReport, name: str) -> RankingScores:
    return next(r for r in report.rankings if r.name == name)


def test_attention_on_the_copied_input_is_as_good_as_occlusion(windows: Tensor) -> None:
    report = measure_faithfulness(CopyModel("copied"), windows, PERIODS,
                                  options=FaithfulnessOptions(bootstrap=300))
    att, rnd, occ = (_scores(report, n) for n in ("attention", "random", "occlusion"))
    assert att.comprehensiveness.area.mean == pytest.approx(occ.comprehensiveness.area.mean)
    assert att.comprehensiveness.area.low > rnd.comprehensiveness.area.high
    # the copy lies 30 steps back: the latest 20% of periods do not hold it (at 50% they
    # do, and one long blanked span then moves the forecast more than one short one)
    recency = _scores(report, "recency")
    assert all(p.mean == 0 for p in recency.comprehensiveness.points[:4])
    assert all(p.low > 0 for p in att.comprehensiveness.points[:4])
    assert att.sufficiency.area.high < rnd.sufficiency.area.low
    assert report.verdict.comprehensiveness_vs_random == "better"
    assert report.verdict.sufficiency_vs_random == "better"
    assert report.verdict.comprehensiveness_gap_closed == pytest.approx(1.0)
    assert report.verdict.text.startswith("attention ranks inputs better than random")
    assert report.verdict.text.endswith("1.00x occlusion's")
    # keeping only the copied period leaves the forecast exactly as it was
    assert all(p.mean == 0 for p in att.sufficiency.points)
    for ranking in report.rankings:
        for curve in (ranking.comprehensiveness, ranking.sufficiency):
            for i in (*curve.points, curve.area):
                assert i.low <= i.mean <= i.high
                assert i.high - i.low < max(1.0, 2 * abs(i.mean))


def test_attention_on_the_wrong_period_loses_to_random(windows: Tensor) -> None:
    report = measure_faithfulness(CopyModel("last"), windows, PERIODS,
                                  options=FaithfulnessOptions(bootstrap=300))
    att, rnd = _scores(report, "attention"), _scores(report, "random")
    assert att.comprehensiveness.area.mean == 0.0  # the last period is never the copied one
    assert rnd.comprehensiveness.area.mean > 0
    assert report.verdict.comprehensiveness_vs_random == "worse"
    assert report.verdict.comprehensiveness_gap_closed < 0
    assert "worse than random" in report.verdict.text


def test_variables_blanked_one_at_a_time(windows: Tensor) -> None:
    report = measure_faithfulness(CopyModel("copied"), windows, PERIODS,
                                  variables=("target", "driver"),
                                  options=FaithfulnessOptions(bootstrap=200))
    effects = {e.name: e.change for e in report.variables}
    assert effects["target"].mean == 0.0
    assert effects["driver"].low > 0


def test_report_json_is_plain_and_versioned(windows: Tensor) -> None:
    report = measure_faithfulness(CopyModel("copied"), windows[:40], PERIODS,
                                  options=FaithfulnessOptions(bootstrap=100, random_draws=2))
    doc = report_json(report)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert doc["schema"] == "tsattn.faithfulness/1"
    assert doc["windows"] == 40 and doc["periods"] == len(PERIODS) and doc["period_rows"] == 8
    assert list(doc["rankings"]) == ["attention", "random", "recency", "occlusion"]
    assert len(doc["rankings"]["random"]["sufficiency"]["points"]) == len(K_PERCENTS)
    assert doc["k_periods"] == [1, 1, 1, 2, 6]
    assert "straight line" in doc["blanking"]


def test_a_single_period_cannot_be_ranked(windows: Tensor) -> None:
    with pytest.raises(UsageError, match="single period"):
        measure_faithfulness(CopyModel("copied"), windows, [(0, L)])
