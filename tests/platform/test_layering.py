"""Import direction: tenants/ knows nothing of reranking/, and services never import the task module."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.embedded


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Return {file: modules it imports} for every Python file under `folder` (function bodies included)."""
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("folder, forbidden", [("tenants", "reranking"), ("reranking/services", "worker")])
def test_a_lower_layer_does_not_import_a_higher_one(folder, forbidden):
    offenders = {path: sorted(m for m in mods if m == forbidden or m.startswith(forbidden + "."))
                 for path, mods in imported_modules(folder).items()}
    assert not {path: mods for path, mods in offenders.items() if mods}
