"""``python -m app`` and ``app.serve``: start, or refuse to start with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import app


def run_cli(built, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", "--port", "1", *args],
                          cwd=built.workdir, env={**os.environ, "PYTHONPATH": "", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, says", [
    pytest.param({"APP_CPU_WORK_MS": "lots"},
                 "error: APP_CPU_WORK_MS='lots' is not a valid float; accepted: float from 0 "
                 "to 10000 (milliseconds of CPU per request)", id="cpu-work"),
    pytest.param({"APP_STARTUP_DELAY_S": "-5"},
                 "error: APP_STARTUP_DELAY_S='-5' is out of range; accepted: float from 0 to "
                 "3600 (seconds before ready)", id="startup-delay"),
    pytest.param({"MODEL_NAME": "My Model"}, "error: MODEL_NAME='My Model' is not a valid "
                 "model name", id="model-name"),
    pytest.param({"APP_MODEL_PATH": "/nonexistent/model.joblib"},
                 "error: APP_MODEL_PATH='/nonexistent/model.joblib': no model file there",
                 id="model-path"),
])
def test_invalid_environment_fails_at_start(built, env, says):
    done = run_cli(built, **env)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Uvicorn running" not in done.stderr  # it never listened


def test_help_lists_the_options_and_knobs(built):
    done = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=built.workdir,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for word in ("--host", "--port", "APP_CPU_WORK_MS", "APP_STARTUP_DELAY_S", "MODEL_NAME"):
        assert word in done.stdout


def test_public_names(built):
    assert callable(app.serve) and callable(app.create_app)
    assert app.Settings(model_path=built.model_path).model_name == "custom-model"
    with pytest.raises(app.SettingsError, match="APP_CPU_WORK_MS"):
        app.serve(cpu_work_ms="fast", model_path=built.model_path)
    with pytest.raises(AttributeError):
        app.nothing_here  # noqa: B018
