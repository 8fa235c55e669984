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


# --- Redis for the asynchronous mode (Debian's redis-server; .ci/run installs it) -----------

class RedisServer:
    """A real ``redis-server`` on 127.0.0.1 with an append-only file fsynced on every write.

    ``kill()`` is a crash (SIGKILL), ``start()`` brings it back on the same port and data
    directory, reloading the append-only file: what a Redis pod restart does with a volume.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, ("redis-server is not installed: apt-get install -y redis-server "
                        "(.ci/run does this)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--daemonize", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, f"redis-server exited {self.proc.returncode}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not answer PING in 10 s"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self):
        import redis
        return redis.Redis.from_url(self.url, decode_responses=True)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """One Redis per test module, stopped (and checked stopped) at the end."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()
    assert server.proc.poll() is not None


@pytest.fixture
def start_worker(built, tmp_path_factory):
    """``start_worker(*args, **env)``: run ``python -m app.worker`` as the image would."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        log = tmp_path_factory.mktemp("workerlog") / "worker.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.worker", "--log-level", "info", *args],
                cwd=built.workdir, env={**os.environ, "PYTHONPATH": "", **env},
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True)
        proc.log = log  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        _stop(proc)
