"""Child processes that cannot outlive labkit: the local app and locust.

Each child is started:

- in its own session (``start_new_session``), so one ``killpg`` stops it and anything it
  forked, and a Ctrl+C in a terminal does not reach it half-way;
- with ``PR_SET_PDEATHSIG`` = SIGTERM on Linux, so the kernel kills it when labkit's
  process dies, even by SIGKILL (a Jupyter kernel restart). The signal fires when the
  *thread* that forked exits, so every child is forked from one long-lived spawner thread,
  not from the panel's short-lived run threads;
- in a registry stopped by an ``atexit`` hook, for the ordinary interpreter exit.
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Sequence
from urllib.parse import urlsplit

import httpx

from .errors import LabkitError, UnsafeTargetError

_PR_SET_PDEATHSIG = 1
_live: set[subprocess.Popen] = set()
_lock = threading.Lock()
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-spawner")

#: The repository root (parent of ``labkit/`` and ``app/``).
REPO_ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
          log: IO[bytes] | None = None) -> subprocess.Popen:
    """Start ``cmd`` as a child that dies with us (see the module docstring)."""
    def start() -> subprocess.Popen:
        return subprocess.Popen(list(cmd), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
    proc = _spawner.submit(start).result()
    with _lock:
        _live.add(proc)
    return proc


def terminate(proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
    """SIGTERM the child's process group, SIGKILL it after ``timeout`` s; return the exit code."""
    try:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout)
        else:  # the leader is gone; its group may not be
            _signal_group(proc, signal.SIGKILL)
    finally:
        with _lock:
            _live.discard(proc)
    return proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def running_children() -> list[subprocess.Popen]:
    """Children started here and not yet stopped (for tests and ``labkit down``)."""
    with _lock:
        return [p for p in _live if p.poll() is None]


@atexit.register
def stop_all() -> None:
    """Stop every child still running (registered with ``atexit``)."""
    with _lock:
        procs = list(_live)
    for p in procs:
        terminate(p, timeout=3.0)


def remove_log(path: str | None) -> None:
    """Delete a child's log file (after a clean stop: nobody needs it then)."""
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (we could bind it a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except (OSError, OverflowError):   # OverflowError: a port outside 0-65535
            return False


def require_free_port(port: int, host: str, what: str, flag: str = "--port") -> None:
    """One clear error, before starting anything, when the port is taken or impossible."""
    from .numbers import port as check_port
    check_port(port, flag.strip("-="), allow_zero=True)
    if not port_free(port, host):
        raise LabkitError(f"{host}:{port} is already in use, so {what} cannot listen there; "
                          f"stop whatever uses it (`ss -ltnp | grep :{port}` shows it) or "
                          f"choose another port with {flag}")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (including names) is not."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str, *, allow_remote: bool = False) -> str:
    """Return ``url`` if load may go there; refuse non-loopback hosts without the opt-in."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LabkitError(f"target {url!r} is not an http(s) URL; give e.g. "
                          "http://127.0.0.1:8080")
    if not allow_remote and not is_loopback(parts.hostname):
        raise UnsafeTargetError(
            f"refusing to send load to {parts.hostname}: only loopback (127.0.0.1, ::1, "
            "localhost) is allowed by default, so a lab never floods someone else's service. "
            "If you own that service (e.g. your kind gateway), pass allow_remote=True.")
    return url


def wait_http(url: str, proc: subprocess.Popen, *, timeout: float, what: str,
              log_path: str | None = None, fail_url: str | None = None) -> None:
    """Wait until ``url`` answers 2xx/3xx; fail early if ``proc`` exits, or if ``fail_url``
    (a liveness endpoint) answers 503: the process is up but will never become ready."""
    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabkitError(f"{what} exited with code {proc.returncode} before it answered on "
                              f"{url}{_log_hint(log_path)}")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code < 400:
                return
            last = f"HTTP {r.status_code}"
            if fail_url is not None:
                dead = httpx.get(fail_url, timeout=1.0)
                if dead.status_code == 503:
                    terminate(proc)
                    raise LabkitError(f"{what} is up but cannot become ready: {fail_url} says "
                                      f"{_status_of(dead)}{_log_hint(log_path)}")
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.1)
    terminate(proc)
    raise LabkitError(f"{what} did not answer on {url} within {timeout:g} s ({last})"
                      f"{_log_hint(log_path)}")


def _status_of(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    return str(body.get("status") or body.get("detail") or body)[:300] if isinstance(body, dict) \
        else str(body)[:300]


def _log_hint(log_path: str | None) -> str:
    if not log_path:
        return ""
    try:
        tail = Path(log_path).read_text(errors="replace").strip().splitlines()[-8:]
    except OSError:
        return ""
    return f"; its log ({log_path}) ends with:\n  " + "\n  ".join(tail)
