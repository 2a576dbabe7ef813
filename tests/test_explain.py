"""Attention summaries: entropy, top inputs and the JSON schema, against hand-made maps."""

import json
import math

import numpy as np
import pytest

from tsattn.explain import (
    NEAR_UNIFORM_TEXT,
    SCHEMA,
    attention_entropy,
    concentration,
    describe_concentration,
    explain_rows,
    summarize_attention,
    top_inputs,
)

L, H = 6, 4


def _times(n_origins: int = 1) -> tuple[list[list[str]], list[list[str]]]:
    inputs = [[f"o{o}-in{i}" for i in range(L)] for o in range(n_origins)]
    forecasts = [[f"o{o}-out{h}" for h in range(H)] for o in range(n_origins)]
    return inputs, forecasts


def _hand_map() -> np.ndarray:
    """One origin; step h looks mostly at input L-1-h, then at the input just before it."""
    att = np.full((1, H, L), 0.02)
    for h in range(H):
        att[0, h, L - 1 - h] = 0.6
        att[0, h, L - 2 - h] = 0.32
    return att


def _summary(att: np.ndarray, **kwargs: object) -> dict:
    inputs, forecasts = _times(att.shape[0])
    return summarize_attention(att, inputs, forecasts, model="lstm-attn", reduction="mean",
                               **kwargs)


def test_entropy_of_uniform_and_one_hot() -> None:
    uniform = np.full((2, L), 1 / L)
    one_hot = np.eye(L)
    np.testing.assert_allclose(attention_entropy(uniform), [math.log(L)] * 2)
    np.testing.assert_array_equal(attention_entropy(one_hot), np.zeros(L))
    steps = _summary(np.full((1, H, L), 1 / L))["forecasts"][0]["steps"]
    assert all(s["entropy_ratio"] == 1.0 for s in steps)
    assert all(s["entropy"] == round(math.log(L), 6) for s in steps)
    one_hot_map = np.zeros((1, H, L))
    one_hot_map[..., 2] = 1.0
    assert all(s["entropy_ratio"] == 0.0 for s in _summary(one_hot_map)["forecasts"][0]["steps"])


def test_top_inputs_order_and_ties() -> None:
    indices, weights = top_inputs(np.array([0.1, 0.4, 0.1, 0.4]), 3)
    assert indices.tolist() == [1, 3, 0]  # ties: oldest input first
    np.testing.assert_allclose(weights, [0.4, 0.4, 0.1])
    assert top_inputs(np.array([0.5, 0.5]), 9)[0].tolist() == [0, 1]


def test_top_k_ordering_and_lags_against_hand_made_map() -> None:
    summary = _summary(_hand_map(), top_k=3)
    forecast = summary["forecasts"][0]
    assert forecast["origin"] == "o0-in5"
    for h, step in enumerate(forecast["steps"]):
        assert step["step"] == h + 1 and step["time"] == f"o0-out{h}"
        top = step["top"]
        assert [t["lag"] for t in top[:2]] == [h + 1, h + 2]
        assert [t["time"] for t in top[:2]] == [f"o0-in{L - 1 - h}", f"o0-in{L - 2 - h}"]
        assert [t["weight"] for t in top] == [0.6, 0.32, 0.02]
        assert top[2]["lag"] == L  # the tie among 0.02 weights goes to the oldest input
    mean_top = forecast["mean_top"]  # inputs 2, 3, 4 each get (0.6 + 0.32 + 2 * 0.02) / 4
    assert [t["weight"] for t in mean_top] == [0.24, 0.24, 0.24]
    assert sorted(t["lag"] for t in mean_top) == [2, 3, 4]


def test_schema_keys() -> None:
    summary = _summary(_hand_map(), alternatives={"last-layer": _hand_map()[:, ::-1]})
    assert summary["schema"] == SCHEMA == "tsattn.attention/2"
    assert list(summary) == ["schema", "model", "reduction", "reductions", "lookback",
                             "horizon", "top_k", "forecasts"]
    assert summary["reductions"] == ["mean", "last-layer"]
    assert (summary["lookback"], summary["horizon"], summary["top_k"]) == (L, H, 5)
    forecast = summary["forecasts"][0]
    assert set(forecast) == {"origin", "steps", "mean_top", "alternatives"}
    assert set(forecast["alternatives"]["last-layer"]) == {"mean_top"}
    step = forecast["steps"][0]
    assert set(step) == {"step", "time", "top", "entropy", "entropy_ratio", "concentration",
                         "weights"}
    assert set(step["concentration"]) == {"top_x_even", "top10_share", "near_uniform"}
    assert len(step["weights"]) == L and set(step["top"][0]) == {"time", "lag", "weight"}


def test_include_weights_false_drops_weights() -> None:
    summary = _summary(_hand_map(), include_weights=False)
    assert all("weights" not in s for s in summary["forecasts"][0]["steps"])


def test_values_label_top_inputs() -> None:
    values = np.arange(L * 2, dtype=float).reshape(1, L, 2)
    values[0, 5, 1] = np.nan
    top = _summary(_hand_map(), values=values, columns=["OT", "HUFL"])["forecasts"][0]
    assert top["steps"][0]["top"][0]["values"] == {"OT": 10.0, "HUFL": None}
    with pytest.raises(ValueError, match="values"):
        _summary(_hand_map(), values=values)


@pytest.mark.parametrize("bad", [0.9, 1.01, float("nan")])
def test_rows_not_summing_to_one_raise(bad: float) -> None:
    att = _hand_map()
    att[0, 1, 0] += bad - att[0, 1].sum()
    with pytest.raises(ValueError, match="sum to 1"):
        _summary(att)
    with pytest.raises(ValueError, match="sum to 1"):
        _summary(_hand_map(), alternatives={"x": att})


def test_shape_and_time_mismatches_raise() -> None:
    inputs, forecasts = _times()
    with pytest.raises(ValueError, match="shape"):
        summarize_attention(_hand_map()[0], inputs, forecasts, model="m", reduction="r")
    with pytest.raises(ValueError, match="input_times"):
        summarize_attention(_hand_map(), [inputs[0][:-1]], forecasts, model="m", reduction="r")
    with pytest.raises(ValueError, match="forecast_times"):
        summarize_attention(_hand_map(), inputs, [], model="m", reduction="r")


def test_token_ranges_only_for_coarse_spans() -> None:
    spans = [(0, 2), (2, 4), (4, 6)]
    tokens = _summary(_hand_map(), token_spans=spans)["tokens"]
    assert tokens[1] == {"index": 1, "start": "o0-in2", "end": "o0-in3", "rows": [2, 4],
                         "lags": [4, 3]}
    assert "tokens" not in _summary(_hand_map(), token_spans=[(i, i + 1) for i in range(L)])
    with pytest.raises(ValueError, match="token spans"):
        _summary(_hand_map(), token_spans=[(4, 7)])


def test_output_is_json_serialisable_with_plain_types() -> None:
    att = np.random.default_rng(0).dirichlet(np.ones(L), size=(3, H)).astype(np.float32)
    summary = _summary(att, token_spans=[(0, 3), (3, 6)],
                       values=np.ones((3, L, 1), dtype=np.float32), columns=["OT"])
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    step = summary["forecasts"][2]["steps"][3]
    assert type(step["weights"][0]) is float and type(step["top"][0]["lag"]) is int
    assert all(len(f"{w:.10f}".rstrip("0").split(".")[1]) <= 6 for w in step["weights"])


def test_explain_rows_picks_first_middle_last() -> None:
    summary = _summary(_hand_map(), top_k=2)
    rows = explain_rows(summary)
    assert [r["step"] for r in rows] == [1, 2, 4]
    assert rows[0]["top"] == summary["forecasts"][0]["steps"][0]["top"]
    assert "weights" not in rows[0]
    assert [r["step"] for r in explain_rows(summary, origin=-1, steps=[3])] == [3]
    with pytest.raises(ValueError, match="steps"):
        explain_rows(summary, steps=[0])
    with pytest.raises(ValueError, match="origin"):
        explain_rows(summary, origin=1)


def test_single_step_lookback_has_zero_ratio() -> None:
    summary = summarize_attention(np.ones((1, 1, 1)), [["t0"]], [["t1"]], model="m",
                                  reduction="r")
    step = summary["forecasts"][0]["steps"][0]
    assert step["entropy_ratio"] == 0.0 and step["top"] == [{"time": "t0", "lag": 1,
                                                              "weight": 1.0}]


def test_top_periods_sum_the_weight_of_each_stride_of_a_patched_window() -> None:
    """Patches of 4 every 2 steps: periods are rows [0, 2), [2, 4), [4, 6)."""
    summary = _summary(_hand_map(), token_spans=[(0, 4), (2, 6), (4, 6)], top_k=2)
    step = summary["forecasts"][0]["steps"][1]  # 0.6 on row 4, 0.32 on row 3, 0.02 elsewhere
    assert step["top_periods"] == [
        {"start": "o0-in4", "end": "o0-in5", "lags": [2, 1], "weight": 0.62},
        {"start": "o0-in2", "end": "o0-in3", "lags": [4, 3], "weight": 0.34},
    ]
    assert explain_rows(summary, steps=[2])[0]["top_periods"] == step["top_periods"]
    single = _summary(_hand_map(), token_spans=[(i, i + 1) for i in range(L)])
    assert "top_periods" not in single["forecasts"][0]["steps"][0]
    assert "top_periods" not in explain_rows(single)[0]


def test_concentration_in_multiples_of_the_even_share() -> None:
    """Rows [0, 2), [2, 4), [4, 6) as periods: _hand_map's step 1 has 0.92 on the last."""
    periods = [(0, 2), (2, 4), (4, 6)]
    top_x, top10 = concentration(_hand_map()[0], periods)
    np.testing.assert_allclose(top_x[0], 0.92 / (1 / 3))
    np.testing.assert_allclose(top10[0], 0.92)  # 10% of 3 periods is the top one
    flat_x, flat10 = concentration(np.full((1, L), 1 / L), [(i, i + 1) for i in range(L)])
    np.testing.assert_allclose([flat_x[0], flat10[0]], [1.0, 1 / L])
    uneven_x, _ = concentration(np.full((1, 5), 0.2), [(0, 4), (4, 5)])
    np.testing.assert_allclose(uneven_x[0], 1.0)  # a short last period is not light


def test_near_uniform_is_said_in_words() -> None:
    flat = _summary(np.full((1, H, L), 1 / L))["forecasts"][0]["steps"][0]["concentration"]
    assert flat == {"top_x_even": 1.0, "top10_share": round(1 / L, 3), "near_uniform": True}
    assert describe_concentration(flat) == NEAR_UNIFORM_TEXT
    peaked = _summary(_hand_map())["forecasts"][0]["steps"][0]["concentration"]
    assert peaked["near_uniform"] is False and peaked["top_x_even"] == 3.6
    assert describe_concentration(peaked) == (
        "top period 3.6x its even share; heaviest 10% of periods hold 60%")


def test_variable_weights_per_step_are_named_and_rounded() -> None:
    att = _hand_map()
    variables = np.zeros((*att.shape[:2], 2))
    variables[..., 0], variables[..., 1] = 0.25, 0.75
    summary = _summary(att, variables=variables, variable_names=["y", "driver"])
    assert summary["forecasts"][0]["steps"][0]["variables"] == {"y": 0.25, "driver": 0.75}
    with pytest.raises(ValueError, match="names"):
        _summary(att, variables=variables, variable_names=["y"])
