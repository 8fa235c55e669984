"""Student copies keep the exercise, lose the solution, and `--check` catches leaks."""

from __future__ import annotations

import nbformat
import pytest

from labkit import student

SOLUTION = 'my_hpa = my_hpa.replace("value: 100", "value: 1")'


def _nb(notebook_factory):
    path = notebook_factory("01-x.ipynb", [
        ("markdown", "# Exercise", []),
        ("code", 'my_hpa = """\nvalue: 100\n"""', ["exercise"]),
        ("code", SOLUTION, ["solution"]),
        ("code", "x = 1\n### BEGIN SOLUTION\nsecret_answer = 42\n### END SOLUTION\ny = 2", []),
    ])
    return nbformat.read(path, as_version=4)


def test_strip_removes_solutions_and_outputs(notebook_factory):
    nb = _nb(notebook_factory)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    s = student.strip(nb)
    assert s.cells[2].source == student.STUB
    assert "secret_answer" not in s.cells[3].source and "y = 2" in s.cells[3].source
    assert s.cells[1].outputs == [] and "value: 100" in s.cells[1].source
    assert student.leaks(nb, s) == []
    assert SOLUTION in nb.cells[2].source   # the instructor's copy is untouched


@pytest.mark.parametrize("cell, leaked", [
    pytest.param(2, SOLUTION, id="tagged-cell"),
    pytest.param(3, "secret_answer = 42", id="marked-block"),
])
def test_leaks_are_found(notebook_factory, cell, leaked):
    nb = _nb(notebook_factory)
    s = student.strip(nb)
    s.cells[cell].source += "\n" + leaked
    assert leaked in student.leaks(nb, s)


def test_check_copies_reports_stale_and_leaking(notebook_factory, tmp_path):
    import pathlib
    nb_path = pathlib.Path(notebook_factory("01-x.ipynb", []))
    nbformat.write(_nb(notebook_factory), str(nb_path))
    out = tmp_path / "student"
    student.write_copies(out, [nb_path])
    assert student.check_copies(out, [nb_path]) == []
    copy = nbformat.read(str(out / nb_path.name), as_version=4)
    copy.cells[2].source = SOLUTION
    nbformat.write(copy, str(out / nb_path.name))
    problems = student.check_copies(out, [nb_path])
    assert any("leaks" in p for p in problems) and any("out of date" in p for p in problems)
