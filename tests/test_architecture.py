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
