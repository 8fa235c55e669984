"""Who may import whom (DESIGN.md / STYLE.md §1), checked on the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "labkit"


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved inside labkit)."""
    tree = ast.parse(path.read_text())
    mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    package = mod.rsplit(".", 1)[0] if path.name != "__init__.py" else mod.removesuffix(".__init__")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module or "")
    return found


FILES = sorted(PKG.rglob("*.py"))


def _rel(p: Path) -> str:
    return str(p.relative_to(PKG.parent))


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_import_rules(path: Path):
    rel = _rel(path)
    mods = imports(path)
    top = {m.split(".")[0] for m in mods}
    assert "locust" not in top, "nobody imports locust: it monkey-patches the kernel (subprocess)"
    if "kubernetes" in top:
        assert rel.startswith("labkit/backends/kind/"), "only the kind backend talks to the API"
    if top & {"plotly", "ipywidgets", "anywidget"}:
        assert rel.startswith("labkit/live/"), "only labkit.live draws"
    if rel.startswith("labkit/autoscalers/"):
        own = {m for m in mods if m.startswith("labkit")}
        assert all(m.startswith("labkit.autoscalers") or m == "labkit.errors" for m in own), \
            f"the pure rules import only each other and labkit.errors, not {own}"


def test_public_names_resolve():
    import labkit
    for name in labkit.__all__:
        assert getattr(labkit, name) is not None, name


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")


def _import_graph() -> dict[str, set[str]]:
    """labkit module -> the labkit modules it imports anywhere in the file (lazy ones too, but
    not those under ``if TYPE_CHECKING:``, which never run); ``from . import x`` counts as
    importing module ``x`` when x is a module."""
    mods = {_module_name(f): f for f in FILES}
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        found: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", "") == "TYPE_CHECKING"
                       for stmt in block.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] if node.level else [])
                base = ".".join(p for p in (base, node.module or "") if p)
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                found.update(subs or [base])
        graph[mod] = {m for m in found if m in mods and m != mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


# None known: the loops build their HPAs with hpa_loop.attach_hpa, not through autoscaling.
KNOWN_CYCLES: list[set[str]] = []


def test_no_import_cycles():
    """No module imports one that imports it back, not even lazily inside a function
    (lint and validate used to: validate imported the lints, the lints validate's Finding)."""
    cycles = _cycles(_import_graph())
    assert [c for c in cycles if c not in KNOWN_CYCLES] == []
