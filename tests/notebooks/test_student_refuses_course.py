"""`labkit student --out notebooks` must not strip the course notebooks in place (review D29)."""

from __future__ import annotations

import pytest

from labkit.cli import main
from labkit.verify import NOTEBOOKS


@pytest.mark.parametrize("out", ["notebooks", "notebooks/", "./notebooks/../notebooks", "link"])
def test_student_copies_never_overwrite_the_course(monkeypatch, tmp_path, capsys, out):
    before = {p.name: p.read_bytes() for p in NOTEBOOKS.glob("*.ipynb")}
    assert before, "the course has notebooks"
    monkeypatch.chdir(NOTEBOOKS.parent if out != "link" else tmp_path)
    if out == "link":
        (tmp_path / "link").symlink_to(NOTEBOOKS)
    assert main(["student", "--out", out]) == 1
    assert "refusing" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in NOTEBOOKS.glob("*.ipynb")} == before
