"""The Dockerfile cannot be built here: check what it says, and run what it runs."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.app.conftest import APP_DIR, dockerfile_instructions, free_port

INSTRUCTIONS = dockerfile_instructions()


def only(name: str) -> str:
    (args,) = [a for ins, a in INSTRUCTIONS if ins == name]
    return args


def test_base_image_is_slim_and_pinned():
    image = only("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image
    assert ":latest" not in image


def test_runs_as_a_non_root_user():
    user = only("USER")
    assert user == "10001"
    assert "groupadd --gid 10001" in next(a for i, a in INSTRUCTIONS if "useradd" in a)
    # USER comes after every RUN, so nothing at run time is root.
    last_run = max(n for n, (ins, _) in enumerate(INSTRUCTIONS) if ins == "RUN")
    assert INSTRUCTIONS.index(("USER", user)) > last_run


def test_requirements_are_all_pinned():
    lines = [ln for ln in (APP_DIR / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][\w.]*", ln) for ln in lines), lines
    names = {ln.split("==")[0].lower().replace("_", "-") for ln in lines}
    assert {"fastapi", "uvicorn", "scikit-learn", "prometheus-client", "httpx"} <= names
    assert "pip install --no-cache-dir -r /srv/app/requirements.txt" in " ".join(
        a for i, a in INSTRUCTIONS if i == "RUN")


def test_build_context_is_app_and_model_is_not_copied():
    assert only("WORKDIR") == "/srv"
    assert ("COPY", ". /srv/app/") in INSTRUCTIONS
    assert "model/" in (APP_DIR / ".dockerignore").read_text().split()


def test_training_step_wrote_a_model(built):
    """The session fixture ran the Dockerfile's RUN ... python -m app.train word for word."""
    assert "held-out accuracy" in built.train_output
    assert built.model_path.stat().st_size < 5_000_000


def test_cmd_serves_with_the_baked_model(start_app, built):
    cmd = json.loads(only("CMD"))
    assert cmd == ["python", "-m", "app", "--host", "0.0.0.0", "--port", "8080"]
    assert only("EXPOSE") == "8080"
    # start_app runs the same module with the same (default) model path, on loopback.
    running = start_app()
    assert running.post("/predict", json={"text": ["Great fun."]}).status_code == 200
