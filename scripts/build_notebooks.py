"""Build notebooks/NN-*.ipynb from their sources in scripts/course/NN-*.py, with jupytext.

The sources are jupytext "percent" scripts, so prose and code are edited as plain text and
reviewed as diffs:

    # %% [markdown]
    # ## A section
    # One sentence of prose.

    # %% tags=["parameters"]
    backend = "auto"

jupytext reads them (``jupytext.read(path, fmt="py:percent")``) and writes the notebooks.
The pairing itself is declared once in pyproject.toml (``[tool.jupytext]``: scripts/course/
holds ``py:percent``, notebooks/ holds ``ipynb``), so ``jupytext --sync
scripts/course/01-hpa-v1.py`` or an edit saved in JupyterLab with the jupytext extension
updates the other side too. This script adds what jupytext leaves open: cell ids derived
from the notebook name and position and a fixed kernelspec, so that a rebuild of unchanged
sources gives byte-identical notebooks. ``--check`` exits non-zero when a committed notebook
is not what its source builds (CI runs it, as fastbook's ``clean.py --verify-only``).

Usage: python scripts/build_notebooks.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "scripts" / "course"
NOTEBOOKS = REPO / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def build(source: Path) -> nbformat.NotebookNode:
    """The notebook of one percent-format source: jupytext's cells, stable ids, no noise."""
    nb = jupytext.read(source, fmt="py:percent")
    # jupytext records how it read the file; the pairing lives in pyproject.toml instead, so
    # a notebook copied elsewhere (learner copies, a test's server root) pairs with nothing
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"{source.stem}-{i:02d}"[-64:]
        tags = cell.metadata.get("tags")
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]-*.py")):
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = jupytext.writes(build(source), fmt="ipynb") + "\n"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(REPO)}")
    if stale:
        print(f"out of date (run python scripts/build_notebooks.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
