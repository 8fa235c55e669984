"""Serve the inference app locally on 127.0.0.1, as a child process labkit cleans up.

What a learner would type: ``python -m app --host 127.0.0.1 --port 8080`` (or
``labkit app serve``). Used by the live lab to aim real locust load at the app without a
cluster, and by the load tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping

from . import _procs
from .errors import LabkitError, UnsafeTargetError


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"


def ensure_model(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Settings with a usable ``APP_MODEL_PATH``: given, the image's default, or trained once.

    The container image trains its model at build time (``python -m app.train``); a source
    checkout has none, so the first local start trains one into ``~/.cache/labkit/`` (~6 s).
    """
    env = dict(env or {})
    if env.get("APP_MODEL_PATH") or os.environ.get("APP_MODEL_PATH"):
        return env
    default = _procs.REPO_ROOT / "app" / "model" / "model.joblib"
    if default.is_file():
        return env
    cached = _cache_dir() / "model.joblib"
    if not cached.is_file():
        print(f"labkit: no trained model yet; training one into {cached} "
              "(python -m app.train, about 6 s)", flush=True)
        cached.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "app.train", "--out", str(cached)],
                              cwd=str(_procs.REPO_ROOT), capture_output=True, text=True,
                              env=_with_repo_path(dict(os.environ)))
        if done.returncode != 0:
            raise LabkitError(f"training the app's model failed (python -m app.train --out "
                              f"{cached}):\n{done.stderr.strip()[-2000:]}")
    env["APP_MODEL_PATH"] = str(cached)
    return env


def _with_repo_path(env: dict[str, str]) -> dict[str, str]:
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_procs.REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


class AppServer:
    """The app as a subprocess: ``with AppServer() as app: ... app.url ...``.

    ``env`` adds the app's settings (environment variables, see ``app/settings.py``).
    ``start()`` returns once ``/readyz`` answers; ``close()`` stops the process group.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 env: Mapping[str, str] | None = None, allow_remote: bool = False,
                 startup_timeout: float = 60.0):
        if not allow_remote and not _procs.is_loopback(host):
            raise UnsafeTargetError(f"refusing to bind the app to {host}: the lab serves it on "
                                    "loopback only; pass allow_remote=True to expose it")
        self.host, self.port = host, port or _procs.free_port()
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.proc = None
        self.log_path: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "AppServer":
        if self.proc is not None and self.proc.poll() is None:
            return self
        _procs.require_free_port(self.port, self.host, "the app")
        fd, self.log_path = tempfile.mkstemp(prefix="labkit-app-", suffix=".log")
        env = _with_repo_path({**os.environ, **ensure_model(self.env)})
        with os.fdopen(fd, "wb") as log:
            self.proc = _procs.spawn([sys.executable, "-m", "app", "--host", self.host,
                                      "--port", str(self.port)], env=env,
                                     cwd=str(_procs.REPO_ROOT), log=log)
        _procs.wait_http(f"{self.url}/readyz", self.proc, timeout=self.startup_timeout,
                         what="the app (python -m app)", log_path=self.log_path,
                         fail_url=f"{self.url}/healthz")  # 503 there: the model failed to load
        return self

    def close(self) -> None:
        """Stop the app; delete its log unless the app failed on its own (the log says why)."""
        if self.proc is not None:
            failed = self.proc.poll() not in (None, 0)
            _procs.terminate(self.proc)
            self.proc = None
            if not failed:
                _procs.remove_log(self.log_path)

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.proc is not None and self.proc.poll() is None else "stopped"
        return f"<AppServer {self.url} {state}>"


def serve(host: str = "127.0.0.1", port: int = 8080, *, allow_remote: bool = False,
          env: Mapping[str, str] | None = None) -> int:
    """``labkit app serve``: run the app in the foreground until Ctrl+C; return its exit code."""
    server = AppServer(host=host, port=port, env=env, allow_remote=allow_remote)
    server.start()
    print(f"labkit: the app is serving on {server.url} (POST /predict, /healthz, /readyz, "
          f"/metrics); log: {server.log_path}; Ctrl+C to stop", flush=True)
    try:
        return server.proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.close()


def log_tail(server: AppServer, lines: int = 20) -> str:
    """The last lines of the app's log (for error messages and tests)."""
    if not server.log_path:
        return ""
    return "\n".join(Path(server.log_path).read_text(errors="replace").splitlines()[-lines:])
