"""The course itself: every notebook runs headless on the twin and keeps its shape.

`labkit verify --backend sim` executes them all once (module fixture); nbval runs them again
the way `pytest --nbval-lax notebooks/` does in CI. The twin runs every variant (HPA,
Knative, KServe, KEDA), so no notebook is skipped.
"""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from labkit import student
from labkit.verify import REPO, course_notebooks, verify

NOTEBOOKS = course_notebooks()
NAMES = [p.name for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("executed")
    return {r.notebook: r for r in verify(NOTEBOOKS, backend="sim", out=out)}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_verifies_on_the_twin(executed, name):
    r = executed[name]
    assert r.passed, f"{name} failed at {r.failing_cell} (executed copy: {r.output})"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_the_course_skeleton(name):
    nb = nbformat.read(str(REPO / "notebooks" / name), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert nb.cells[0].source.startswith("# ") and md.count("\n# ") == 0
    for heading in ("## Overview", "## Prerequisites", "Time to learn", "## Summary",
                    "## What's next", "## Check your understanding",
                    "## Learn more (official documentation)"):
        assert heading in md, f"{name}: no {heading!r}"
    assert sum("parameters" in t for t in tags) == 1
    params = next(c.source for c, t in zip(nb.cells, tags) if "parameters" in t)
    for p in ("backend = ", "speed = None", "duration = ", "seed = 0"):
        assert p in params
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "verification" in code[-1].metadata.get("tags", []), "last code cell verifies"
    if not name.startswith("00"):
        assert any("exercise" in t for t in tags) and any("solution" in t for t in tags)
    long = [c.source.splitlines()[0] for c in code
            if len(c.source.splitlines()) > 16 and "exercise" not in c.metadata.get("tags", [])
            and "solution" not in c.metadata.get("tags", [])]
    assert not long, f"{name}: code cells longer than 16 lines: {long}"


def test_notebooks_are_built_from_their_sources():
    r = subprocess.run([sys.executable, "scripts/build_notebooks.py", "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_student_copies_leak_no_solution(tmp_path):
    student.write_copies(tmp_path)
    assert student.check_copies(tmp_path) == []
    for path in NOTEBOOKS:
        copy = nbformat.read(str(tmp_path / path.name), as_version=4)
        sols = [c for c in copy.cells if "solution" in c.metadata.get("tags", [])]
        assert all(c.source == student.STUB for c in sols)


def test_nbval_lax_runs_the_course():
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p",
                        "no:cacheprovider", *map(str, NOTEBOOKS)], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
