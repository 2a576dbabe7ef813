"""Fuzzing the two files a stranger can hand tsattn besides data: `--config` TOML files and
model-file metadata. Whatever they hold, the CLI answers with a documented exit code and
one `error:` line; exit 1 (an internal error) never happens.

The CLI runs in-process (`tsattn.cli.app.main`), so each example costs milliseconds; the
subprocess behaviour of the same paths is covered by tests/test_bad_input.py.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsattn.cli.app import main
from tsattn.config import option_sections

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
DOCUMENTED = {0, 2, 3, 4, 5}
NAMES = [*sorted(option_sections()), "target", "model", "n-heads", "train-end", "nope"]


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    return int(done.value.code or 0), err


# --- TOML configs ---------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["2024-01-01", "²", "٣", "600", "-1", "nan", "OT[/]", "\x1b[2J"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def toml_value(value: object) -> str:
    """TOML text for a value; floats keep nan/inf (TOML spells them so)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    items = ", ".join(toml_value(v) for v in value)  # type: ignore[union-attr]
    return f"[{items}]"


@FUZZ
@given(options=st.dictionaries(st.sampled_from(NAMES), values, max_size=4))
def test_config_files_never_end_in_an_internal_error(options, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture):
    # A header-only CSV: a config that passes every check fails on the data (exit 3), fast.
    (tmp_path / "data.csv").write_text("date,load\n")
    config = tmp_path / "run.toml"
    config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in options.items()),
                      encoding="utf-8")
    code, err = run_main(["train", str(tmp_path / "data.csv"), "--config", str(config),
                          "-o", str(tmp_path / "m.tsattn"), "--quiet"], capsys)
    assert code in DOCUMENTED - {0}, err
    assert "internal error" not in err and err.count("error:") == 1, err


# --- model-file metadata --------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
              st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a JSON document (lists by index)."""
    found = [prefix] if prefix else []
    children = (node.items() if isinstance(node, dict) else
                enumerate(node) if isinstance(node, list) else [])
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


def _replace(meta: dict, path: tuple, value: object) -> dict:
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return meta


def _with_meta(good: bytes, meta: dict) -> bytes:
    (length,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + length])
    header["__metadata__"]["meta"] = json.dumps(meta)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + good[8 + length:]


@pytest.fixture(scope="module")
def good_model(tiny_model: Path) -> tuple[bytes, dict]:
    good = tiny_model.read_bytes()
    (length,) = struct.unpack("<Q", good[:8])
    return good, json.loads(json.loads(good[8:8 + length])["__metadata__"]["meta"])


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_model_metadata_never_ends_in_an_internal_error(data, good_model, hourly_csv: Path,
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture):
    good, meta = good_model
    meta = json.loads(json.dumps(meta))
    path = data.draw(st.sampled_from(_paths(meta)), label="path")
    value = data.draw(json_values, label="value")
    model = tmp_path / "m.tsattn"
    model.write_bytes(_with_meta(good, _replace(meta, path, value)))
    for argv in (["info", str(model)], ["info", str(model), "--json"],
                 ["predict", str(model), str(hourly_csv), "-o", str(tmp_path / "fc.csv")]):
        code, err = run_main(argv, capsys)
        assert code in DOCUMENTED, (argv, err)
        assert "internal error" not in err, (path, value, err)
