"""Fixtures that build the app as the Dockerfile does and run it for real on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app"
DOCKERFILE = APP_DIR / "Dockerfile"


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with ``\\`` continuations joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Built:
    """A copy of app/ laid out as in the image (WORKDIR /srv, app in /srv/app)."""

    workdir: Path
    model_path: Path
    train_output: str


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """COPY app/ and RUN the Dockerfile's training command, word for word but the paths."""
    srv = tmp_path_factory.mktemp("srv")
    shutil.copytree(APP_DIR, srv / "app", ignore=shutil.ignore_patterns(
        "model", "__pycache__", "*.pyc"))
    (run,) = [args for ins, args in dockerfile_instructions() if ins == "RUN" and "app.train" in args]
    train_cmd = shlex.split(run.split("&&")[0])
    env = dict(os.environ)
    while "=" in train_cmd[0]:  # leading VAR=value words; keep the user's corpus cache
        train_cmd.pop(0)
    assert train_cmd[:3] == ["python", "-m", "app.train"], train_cmd
    argv = [sys.executable, *train_cmd[1:]]
    argv = [a.replace("/srv/", f"{srv}/") for a in argv]
    done = subprocess.run(argv, cwd=srv, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    model = srv / "app" / "model" / "model.joblib"
    assert model.is_file()
    return Built(workdir=srv, model_path=model, train_output=done.stdout)


@dataclass
class RunningApp:
    url: str
    proc: subprocess.Popen
    log: Path

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kw)

    def metrics_text(self) -> str:
        return self.get("/metrics").text


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="session")
def start_app(built, tmp_path_factory):
    """``start_app(**env)``: run ``python -m app`` (the image's CMD) on a free loopback port.

    Returns once ``/healthz`` answers (not ``/readyz``: some tests watch readiness flip).
    """
    procs: list[subprocess.Popen] = []

    def start(wait_ready: bool = True, **env: str) -> RunningApp:
        port = free_port()
        log = tmp_path_factory.mktemp("applog") / "app.log"
        full_env = {**os.environ, "PYTHONPATH": "", **env}
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning"], cwd=built.workdir, env=full_env,
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True)
        procs.append(proc)
        app = RunningApp(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
        deadline = time.monotonic() + 30
        path = "/readyz" if wait_ready else "/healthz"
        while True:
            assert proc.poll() is None, f"app exited {proc.returncode}: {log.read_text()}"
            try:
                if app.get(path).status_code == 200:
                    return app
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"app not up in 30 s: {log.read_text()}"
            time.sleep(0.05)

    yield start
    for proc in procs:
        _stop(proc)


@pytest.fixture(scope="module")
def app_default(start_app) -> RunningApp:
    """One app at the default settings, ready."""
    return start_app()
