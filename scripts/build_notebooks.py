"""Build notebooks/NN-*.ipynb from their sources in scripts/course/NN-*.py.

The sources use the "percent" format (as jupytext writes it), so prose and code are edited
as plain text and reviewed as diffs:

    # %% [markdown]
    # ## A section
    # One sentence of prose.

    # %% tags=["parameters"]
    backend = "auto"

Cell ids are derived from the notebook name and position, so a rebuild of unchanged sources
gives byte-identical notebooks. ``--check`` exits non-zero when a committed notebook is not
what its source builds (CI runs it, as fastbook's ``clean.py --verify-only``).

Usage: python scripts/build_notebooks.py [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "scripts" / "course"
NOTEBOOKS = REPO / "notebooks"
_MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse(text: str) -> list[tuple[str, str, list[str]]]:
    """Cells of a percent-format source: (cell_type, source, tags)."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            cells.append(("markdown" if m.group("md") else "code", [], tags))
        elif cells:
            kind, lines, _ = cells[-1]
            if kind == "markdown":
                line = line[2:] if line.startswith("# ") else line.lstrip("#")
            lines.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"text before the first '# %%' marker: {line!r}")
    return [(kind, "\n".join(lines).strip("\n"), tags) for kind, lines, tags in cells]


def build(source: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text, tags) in enumerate(parse(source.read_text())):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(text, id=f"{source.stem}-{i:02d}"[-64:])
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]-*.py")):
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = nbformat.writes(build(source)) + "\n"
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
