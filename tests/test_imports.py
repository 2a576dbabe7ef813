"""The module dependency rules of the design, checked by parsing imports (no execution)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tsattn"

# A module may import project modules of a strictly lower layer only (or its own package).
LAYERS = {
    "errors": 0, "config": 1, "files": 1, "threads": 1,
    "data": 2, "card": 2, "models": 2, "windows": 2, "explain": 2, "device": 2, "known": 2.1,
    "series": 2.5,
    "intervals": 2.2, "interval_scores": 2.5,
    "checkpoint": 3, "training": 3, "baselines": 3, "quantile_head": 3, "calibration": 3.5,
    "distributed": 3.5,
    "plan": 4, "resume": 4, "inference": 4, "recent_scores": 4.5,
    "fitting": 5, "forecasting": 5, "evaluation": 5, "plotting": 5,
    "faithfulness": 5, "output": 6, "api": 7, "cli": 8, "__main__": 9,
}
# api: only to hand back DataFrames, imported inside the call
ONLY_IN = {"pandas": {"data", "api"}, "pyarrow": {"data"}, "typer": {"cli"}, "rich": {"cli"},
           "matplotlib": {"plotting"}}


def project_modules() -> dict[str, set[str]]:
    """Top-level unit (e.g. 'models', 'cli') -> every module name it imports."""
    imports: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        unit = parts[0]
        if unit == "__init__":
            continue
        tree = ast.parse(path.read_text())
        names = imports.setdefault(unit, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return imports


def test_every_unit_has_a_layer():
    assert set(project_modules()) <= set(LAYERS)


def test_project_imports_point_downward():
    for unit, names in project_modules().items():
        for name in names:
            if not name.startswith("tsattn.") or name == "tsattn":
                continue
            target = name.split(".")[1]
            if target == unit:
                continue
            assert LAYERS[target] < LAYERS[unit], f"{unit} imports {name}"


def test_heavy_libraries_stay_in_their_module():
    for unit, names in project_modules().items():
        for name in names:
            top = name.split(".")[0]
            if top in ONLY_IN:
                assert unit in ONLY_IN[top], f"{unit} imports {top}"


def test_models_know_nothing_of_files_or_data():
    names = project_modules()["models"]
    assert not {n for n in names if n.split(".")[0] in {"pandas", "safetensors", "json"}}


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from tsattn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout
