"""`labkit lab` becomes JupyterLab, so SIGTERM to it ends JupyterLab too (review D23)."""

from __future__ import annotations

import os
import subprocess

import pytest

from labkit import _procs
from labkit.cli import main


class Exec(Exception):
    pass


def test_labkit_lab_execs_jupyterlab_instead_of_starting_a_child(monkeypatch, capsys):
    calls = []

    def fake_execv(path, argv, env=None):
        calls.append((path, argv))
        raise Exec

    def no_child(*args, **kwargs):
        raise AssertionError("a child JupyterLab is orphaned when `labkit lab` gets SIGTERM")

    monkeypatch.setattr(os, "execve", fake_execv)
    monkeypatch.setattr(subprocess, "call", no_child)
    monkeypatch.setattr(subprocess, "Popen", no_child)
    port = _procs.free_port()
    with pytest.raises(Exec):
        main(["lab", "--port", str(port), "--no-browser"])
    (path, argv), = calls
    assert argv[0] == path and argv[1] == "lab"
    assert "--ip=127.0.0.1" in argv and f"--port={port}" in argv and "--no-browser" in argv
    assert "starting JupyterLab" in capsys.readouterr().out
