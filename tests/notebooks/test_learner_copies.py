"""`make lab` opens learner copies: made once, never overwritten, never inside notebooks/;
their verification cells say "Not yet" for an unsolved exercise instead of raising."""

from __future__ import annotations

import argparse

import nbformat
import pytest

from labkit import checks, commands, student
from labkit.checks import VerificationFailed
from labkit.errors import LabkitError
from labkit.exercises import ExerciseResult

from nbhelpers import fake_timeline


def test_learner_copies_are_stripped_and_then_left_alone(tmp_path):
    out = tmp_path / "learner"
    written, kept = student.learner_copies(out)
    names = sorted(p.name for p in written)
    assert "00-setup.ipynb" in names and "demo-live.ipynb" in names and kept == []
    assert not (out / "INSTRUCTOR.md").exists() and not (out / "conftest.py").exists()
    first = out / "01-hpa-v1.ipynb"
    nb = nbformat.read(str(first), as_version=4)
    assert all(c.source == student.STUB for c in nb.cells
               if "solution" in c.metadata.get("tags", []))
    first.write_text(first.read_text().replace("maxReplicas: 10", "maxReplicas: 5"))
    (out / "02-hpa-v2.ipynb").unlink()
    written, kept = student.learner_copies(out)
    assert [p.name for p in written] == ["02-hpa-v2.ipynb"]  # only the deleted one
    assert first in kept and "maxReplicas: 5" in first.read_text()  # the learner's edit


def test_nothing_is_written_over_the_course_notebooks():
    with pytest.raises(LabkitError, match="refusing"):
        student.learner_copies(student.NOTEBOOKS)
    with pytest.raises(LabkitError, match="labkit student --out student"):
        student.write_copies(str(student.NOTEBOOKS) + "/")


def _unsolved():
    tl = fake_timeline([1] * 60)
    ok = checks.reached(tl, 1, within=10, after=0)
    bad = checks.reached(tl, 3, within=30, after=0, hint="raise maxReplicas to 3 or more")
    return ok, ExerciseResult("quota", "reach 3 pods", (ok, bad))


def test_a_learner_copy_says_not_yet_with_what_is_missing(monkeypatch, capsys):
    monkeypatch.setenv(checks.LEARNER_ENV, "1")
    ok, result = _unsolved()
    assert checks.require(ok, result) is None
    out = capsys.readouterr().out
    assert "Not yet: exercise 'quota' is not solved" in out
    assert "missing: at least 3 ready replicas" in out and "raise maxReplicas to 3" in out
    # a failure that is not an unsolved exercise still raises, learner or not
    broken = checks.reached(fake_timeline([1] * 10), 5, within=5, after=0)
    with pytest.raises(VerificationFailed):
        checks.require(broken, result)


def test_instructor_copies_and_headless_runs_still_raise(monkeypatch, tmp_path):
    monkeypatch.delenv(checks.LEARNER_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    ok, result = _unsolved()
    with pytest.raises(VerificationFailed, match="raise maxReplicas"):
        checks.require(ok, result)


@pytest.mark.parametrize("instructor", [False, True], ids=["learner", "instructor"])
def test_labkit_lab_serves_learner_copies_unless_instructor(monkeypatch, tmp_path, instructor):
    calls = []
    # labkit lab execs JupyterLab (SIGTERM must reach it); record instead of exec'ing
    monkeypatch.setattr(commands.os, "execve",
                        lambda path, cmd, env: calls.append((cmd, env)))
    monkeypatch.setattr(student, "LEARNER_DIR", tmp_path / "learner")
    monkeypatch.delenv(checks.LEARNER_ENV, raising=False)
    args = argparse.Namespace(port=18888, no_browser=True, instructor=instructor)
    assert commands.lab(args) == 0
    (cmd, env), = calls
    root = next(a.split("=", 1)[1] for a in cmd if a.startswith("--notebook-dir="))
    if instructor:
        # the repository as root: jupytext pairs notebooks/ with scripts/course/ on save
        assert root == str(student.NOTEBOOKS.parent) and checks.LEARNER_ENV not in env
        assert "--ServerApp.default_url=/lab/tree/notebooks" in cmd
    else:
        assert root == str(tmp_path / "learner") and env[checks.LEARNER_ENV] == "1"
        assert (tmp_path / "learner" / "01-hpa-v1.ipynb").exists()
    assert "--ip=127.0.0.1" in cmd and "--port=18888" in cmd
    assert any(a.startswith("--LabApp.app_settings_dir=") for a in cmd)  # no news pop-up


@pytest.mark.parametrize("how", ["folder-marker", "notebook-metadata"])
def test_a_learner_copy_says_not_yet_without_the_env_var(monkeypatch, tmp_path, capsys, how):
    """Opened with plain `jupyter lab` (no LABKIT_LEARNER): the copy itself says what it is."""
    out = tmp_path / "learner"
    student.learner_copies(out)
    copy = out / "01-hpa-v1.ipynb"
    assert nbformat.read(str(copy), as_version=4).metadata["labkit"] == {"copy": "learner"}
    assert (out / checks.LEARNER_MARKER).is_file()
    monkeypatch.delenv(checks.LEARNER_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert not checks.learner_mode()
    if how == "folder-marker":   # a kernel runs in its notebook's folder
        monkeypatch.chdir(out)
    else:                        # jupyter_server names the notebook in the kernel's env
        (out / checks.LEARNER_MARKER).unlink()
        monkeypatch.setenv("JPY_SESSION_NAME", str(copy))
    assert checks.learner_mode()
    ok, result = _unsolved()
    assert checks.require(ok, result) is None
    assert "Not yet: exercise 'quota' is not solved" in capsys.readouterr().out
    monkeypatch.setenv(checks.LEARNER_ENV, "0")   # the env var still wins, either way
    with pytest.raises(VerificationFailed):
        checks.require(ok, result)


def test_the_instructor_notebooks_are_not_learner_copies(monkeypatch, tmp_path):
    monkeypatch.delenv(checks.LEARNER_ENV, raising=False)
    monkeypatch.chdir(student.NOTEBOOKS)
    monkeypatch.setenv("JPY_SESSION_NAME", str(student.NOTEBOOKS / "01-hpa-v1.ipynb"))
    assert not checks.learner_mode()
    student.write_copies(tmp_path / "student", [student.NOTEBOOKS / "01-hpa-v1.ipynb"])
    assert (tmp_path / "student" / checks.LEARNER_MARKER).is_file()  # `labkit student` too
