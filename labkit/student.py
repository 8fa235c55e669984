"""Student copies of the course notebooks: solutions removed, outputs cleared.

Two ways to mark a solution, as nbgrader and fastbook do:

- a code cell tagged ``solution``: its source becomes :data:`STUB` (the tag stays, so the
  learner sees where to write);
- inside any code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
  become the stub line.

Every output and execution count is cleared. ``labkit student --check`` proves that no
solution leaks: no significant line of a solution (one that appears nowhere else in the
instructor's notebook) may appear in the student copy; if the copies already exist in
``--out`` it also says whether they are current.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from .checks import LEARNER_MARKER, LEARNER_METADATA
from .errors import LabkitError
from .verify import NOTEBOOKS, course_notebooks

SOLUTION_TAG = "solution"
STUB = ("# Your answer goes here: edit the exercise cell above, then run the check below.\n"
        "# (This cell held the instructor's solution; it was removed from the student copy.)")
_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$",
                    re.S | re.M)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def solutions(nb: Any) -> list[str]:
    """The solution texts of a notebook (whole tagged cells and marked blocks)."""
    found = [c.source for c in nb.cells if SOLUTION_TAG in _tags(c)]
    for c in nb.cells:
        if c.cell_type == "code" and SOLUTION_TAG not in _tags(c):
            found += _BLOCK.findall(c.source)
    return found


def strip(nb: Any) -> Any:
    """A student copy of ``nb``: solutions replaced by the stub, outputs cleared."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            if SOLUTION_TAG in _tags(cell):
                cell.source = STUB
            else:
                cell.source = _BLOCK.sub(STUB.splitlines()[0], cell.source)
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    # the copy says what it is: its verification cells then say "Not yet", not a traceback
    key, field, value = LEARNER_METADATA
    nb.metadata.setdefault(key, {})[field] = value
    return nb


def mark_folder(out: Path) -> None:
    """Write the learner-copy marker into ``out`` (kernels run in their notebook's folder)."""
    (out / LEARNER_MARKER).write_text(
        "Written by labkit: the notebooks in this folder are learner copies (solutions "
        "removed).\nTheir verification cells say 'Not yet' for an unsolved exercise instead "
        "of raising.\n")


def _significant(line: str) -> bool:
    s = line.strip()
    return len(s) >= 6 and not s.startswith("#") and s not in ('"""', "'''", ")", "]", "}")


def leaks(instructor: Any, student: Any) -> list[str]:
    """Solution lines found in ``student``: lines unique to ``instructor``'s solutions."""
    sol_text = solutions(instructor)
    other = "\n".join(c.source for c in instructor.cells if SOLUTION_TAG not in _tags(c))
    for block in sol_text:  # marked blocks sit inside ordinary cells: do not count those
        other = other.replace(block, "")
    other_lines = {ln.strip() for ln in other.splitlines()}
    unique = {ln.strip() for s in sol_text for ln in s.splitlines()
              if _significant(ln) and ln.strip() not in other_lines}
    student_lines = {ln.strip() for c in student.cells for ln in c.source.splitlines()}
    for c in student.cells:
        for out in c.get("outputs", []):
            student_lines |= {ln.strip() for ln in str(out.get("text", "")).splitlines()}
    return sorted(unique & student_lines)


def refuse_course_folder(out: str | Path) -> Path:
    """``out`` as a path, or a LabkitError if writing there would replace course notebooks."""
    target = Path(out).resolve()
    if target == NOTEBOOKS.resolve():
        raise LabkitError(f"refusing to write student copies into {NOTEBOOKS}: they would "
                          "replace the course's own notebooks (the instructor copies). Choose "
                          "another folder, e.g. `labkit student --out student`")
    return target


def write_copies(out: str | Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Write student copies of ``notebooks`` (default: the course) into ``out``."""
    import nbformat

    out = refuse_course_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out)
    written = []
    for path in notebooks or course_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        target = out / path.name
        nbformat.write(strip(nb), str(target))
        written.append(target)
    return written


#: Where ``labkit lab`` (``make lab``) puts the learner's copies; git ignores it.
LEARNER_DIR = NOTEBOOKS.parent / "learner"
#: Notebooks a learner gets besides the numbered course: the live demo.
EXTRAS = ("demo-live.ipynb",)


def learner_copies(out: str | Path = LEARNER_DIR) -> tuple[list[Path], list[Path]]:
    """Make the learner's notebooks in ``out``: (written, kept).

    A notebook that is not there yet is written as a student copy. One that is there is the
    learner's work and is never overwritten (delete it to get a fresh copy).
    """
    import nbformat

    out = refuse_course_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out)   # also for copies written before the marker existed
    written, kept = [], []
    sources = course_notebooks() + [NOTEBOOKS / n for n in EXTRAS if (NOTEBOOKS / n).exists()]
    for path in sources:
        target = out / path.name
        if target.exists():
            kept.append(target)
            continue
        nbformat.write(strip(nbformat.read(str(path), as_version=4)), str(target))
        written.append(target)
    return written, kept


def check_copies(out: str | Path, notebooks: list[Path] | None = None) -> list[str]:
    """Problems with the student copies in ``out``: leaks, and copies missing or stale."""
    import nbformat

    out, problems = Path(out), []
    for path in notebooks or course_notebooks():
        instructor = nbformat.read(str(path), as_version=4)
        fresh = strip(instructor)
        if not solutions(instructor) and path.name[:2] not in ("00",):
            problems.append(f"{path.name}: has no solution cell (tag '{SOLUTION_TAG}'); every "
                            "notebook from 01 on needs an exercise with a solution")
        for line in leaks(instructor, fresh):
            problems.append(f"{path.name}: the stripped copy still contains a solution line: "
                            f"{line!r}")
        copy_path = out / path.name
        if copy_path.exists():
            existing = nbformat.read(str(copy_path), as_version=4)
            for line in leaks(instructor, existing):
                problems.append(f"{copy_path}: leaks a solution line: {line!r}")
            if nbformat.writes(existing) != nbformat.writes(fresh):
                problems.append(f"{copy_path}: out of date; run `labkit student --out {out}`")
    return problems


def run_student(*, out: str = "student", check: bool = False) -> int:
    """``labkit student``: write the copies, or with ``check`` verify that none leaks."""
    if check:
        target = Path(out)
        if not target.exists():
            # Nothing committed: check freshly stripped copies instead.
            with tempfile.TemporaryDirectory() as tmp:
                write_copies(tmp)
                problems = check_copies(tmp)
        else:
            problems = check_copies(target)
        for p in problems:
            print(f"labkit student: {p}")
        n = len(course_notebooks())
        if not n:
            raise LabkitError(f"no course notebooks in {NOTEBOOKS}")
        print(f"labkit student --check: {n} notebooks, "
              f"{'no solution leaks' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    written = write_copies(out)
    print(f"labkit student: wrote {len(written)} student copies to {out}/ "
          "(solutions removed, outputs cleared)")
    return 0
