"""Live or static: who started the kernel decides."""

from __future__ import annotations

import pytest

from labkit.live import frontend


@pytest.mark.parametrize("cmdlines, expected", [
    pytest.param(["/venv/bin/python /venv/bin/jupyter-lab --no-browser"], True, id="jupyterlab"),
    pytest.param(["python -m papermill in.ipynb out.ipynb", "bash"], False, id="papermill"),
    pytest.param(["python -m pytest --nbval-lax notebooks/"], False, id="nbval"),
    pytest.param(["python -m ipykernel_launcher", "jupyter-nbconvert --execute"], False,
                 id="nbconvert-grandparent"),
    pytest.param(["/venv/bin/jupyter-lab --notebook-dir=/tmp/pytest-of-root/x",
                  "python -m pytest tests/browser"], True, id="lab-started-by-pytest"),
    pytest.param(["node /root/.vscode-server/server.js"], True, id="vscode"),
    pytest.param(["bash", "sshd"], None, id="unknown"),
])
def test_classify_parents(cmdlines, expected):
    assert frontend.classify_parents(cmdlines) is expected


def test_no_kernel_means_static(monkeypatch):
    monkeypatch.delenv("LABKIT_LIVE", raising=False)
    assert frontend.in_kernel() is False
    assert frontend.widget_frontend() is False


@pytest.mark.parametrize("value, expected", [("1", True), ("live", True), ("0", False),
                                             ("static", False)])
def test_environment_override(monkeypatch, value, expected):
    monkeypatch.setenv("LABKIT_LIVE", value)
    assert frontend.widget_frontend() is expected
