"""docs/INTERFACES.md stays true: every name it lists exists in the modules it names."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "INTERFACES.md"
# a top-level name at the start of a code line: `def f(`, `class C:`, `NAME: int`, `f(...)`,
# `Class.attr` (decorators and indented members are skipped)
NAME = re.compile(r"^(?:def |class )?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\s*[(:=.]?")


def listed_names() -> dict[tuple[str, ...], list[str]]:
    """Per section (its modules, e.g. ('card', 'plan')), the names of its code blocks."""
    sections: dict[tuple[str, ...], list[str]] = {}
    modules: tuple[str, ...] = ()
    in_code = False
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            modules = tuple(re.findall(r"(\w+)(?:\.py|/)", line))
        elif line.startswith("```"):
            in_code = not in_code
        elif in_code and modules and (match := NAME.match(line)):
            sections.setdefault(modules, []).append(match[1])
    return sections


def _namespaces(module: str) -> list[object]:
    """The module, and for a package (models/) each of its submodules too."""
    found = [importlib.import_module(f"tsattn.{module}")]
    path = getattr(found[0], "__path__", None)
    if path:
        found += [importlib.import_module(f"tsattn.{module}.{info.name}")
                  for info in pkgutil.iter_modules(path)]
    return found


def _exists(modules: tuple[str, ...], dotted: str) -> bool:
    """`dotted` (a name, or Class.member: an attribute or an annotated field) exists."""
    owner, _, member = dotted.partition(".")
    for namespace in (n for module in modules for n in _namespaces(module)):
        value = getattr(namespace, owner, None)
        if value is not None and (not member or hasattr(value, member) or member in getattr(
                value, "__annotations__", {})):
            return True
    return False


def test_every_listed_name_exists():
    sections = listed_names()
    assert {"data", "models", "checkpoint", "card", "inference", "api"} <= {
        m for modules in sections for m in modules}
    missing = [f"{'/'.join(modules)}: {name}" for modules, names in sections.items()
               for name in names if not _exists(modules, name)]
    assert not missing, missing
