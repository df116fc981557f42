"""The package's import structure: no import cycle between its parts, the survival core at the
bottom (it imports no other part of intersurv but errors), and importable without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import intersurv

ROOT = Path(intersurv.__file__).parent


def _part(module: str) -> str:
    """``intersurv.training.fit`` -> ``training``; ``intersurv.cohort`` -> ``cohort``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
    """Edges part -> part for every intersurv import (top level or inside functions) in the source."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("").parts
        is_pkg = rel[-1] == "__init__"
        module = ".".join(rel[:-1] if is_pkg else rel)
        package = module if is_pkg else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [n.name for n in node.names]
            for target in targets:
                if target.startswith("intersurv.") and _part(target) != _part(module):
                    edges[_part(module)].add(_part(target))
    return edges


def test_no_import_cycle_between_parts() -> None:
    edges = import_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def test_survival_core_imports_nothing_above_it() -> None:
    edges = import_graph()
    assert edges["survival"] <= {"errors"}
    assert edges["analysis"] <= {"errors", "survival"}
    assert "survival" in edges["analysis"]  # the scan sees relative imports


def test_survival_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "import intersurv.survival as s\n"
        "from intersurv.survival.cox import cox_fit\n"
        "from intersurv.survival.km import km_rmst\n"
        "assert km_rmst(np.array([1.0, 2.0]), np.array([1.0, 1.0]), 3.0) == 1.5\n"
        "assert s.BreslowBaseline is not None\n"
        "try:\n"
        "    s.cox_nll\n"
        "except ImportError:\n"
        "    print('torch needed only for cox_nll')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch needed only for cox_nll" in out.stdout
