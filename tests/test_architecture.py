"""The package stays easy to change: small modules, and no module reaching into another's private names.

The import layering and the absence of import cycles are checked by import-linter (``lint-imports``, run by
``.ci/run`` with the contracts in ``pyproject.toml``); these are the two rules it cannot express.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zgen_otel"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(tree: ast.Module) -> list[str]:
    """Every ``from zgen_otel.x import _name`` and ``module._name`` on a zgen_otel module bound by an import."""
    found: list[str] = []
    modules: set[str] = set()  # local names bound to zgen_otel modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zgen_otel"):
            for alias in node.names:
                if node.module == "zgen_otel" or (node.module or "").split(".")[-1].startswith("_"):
                    modules.add(alias.asname or alias.name)  # `from zgen_otel import _current` binds a module
                if _private(alias.name) and node.module != "zgen_otel":
                    found.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("zgen_otel"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _private(node.attr)
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_module_is_small_and_uses_only_public_names_of_others(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_LINES, f"{path.name} holds more than one job: split it"
    assert private_reaches(ast.parse(source)) == []


def test_the_check_sees_a_private_reach() -> None:
    tree = ast.parse("from zgen_otel import _runtime\nfrom zgen_otel.x import _y\n_runtime._current\n")
    assert private_reaches(tree) == ["from zgen_otel.x import _y", "_runtime._current"]
