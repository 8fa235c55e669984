"""Real load: locust as a subprocess, steered through its web API by a LoadProfile.

Locust never runs inside labkit's process: importing it monkey-patches the standard library
with gevent, which hangs a Jupyter kernel. Instead, what a learner would type::

    locust -f app/locustfile.py --web-host 127.0.0.1 --web-port 8089 -H http://127.0.0.1:8080

and then labkit does what the locust web page does: ``POST /swarm`` (user_count,
spawn_rate, host) to start or resize, ``POST /stop``, ``GET /stats/requests`` every second.

What goes into each Timeline row:

- ``rps``: requests completed per second over the last ``rps_window`` seconds (5), from
  locust's request counter. Locust's own ``current_rps`` averages the window from 12 s to
  2 s ago, so it reads 0 for the first ~5 s and lags every change; it is kept in
  :class:`LocustStats` for comparison with the web page;
- ``latency_p50``/``latency_p95``: locust's current percentiles (about the last 10 s);
- ``latency_p99``: cumulative since the swarm started (locust keeps no windowed p99);
- ``errors``: failures since the previous row; ``users``: locust's running user count.

Locust caches ``/stats/requests`` for 2 s, so every value may be up to 2 s old.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from . import _procs
from .errors import LabkitError
from .load import LoadProfile
from .timeline import Timeline, TimelineRecorder

#: The locustfile shipped with the app.
DEFAULT_LOCUSTFILE = _procs.REPO_ROOT / "app" / "locustfile.py"


@dataclass(frozen=True)
class LocustStats:
    """One reading of ``GET /stats/requests`` (the "Aggregated" row and the current window)."""

    state: str
    user_count: int
    current_rps: float
    fail_ratio: float
    num_requests: int
    num_failures: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None

    @classmethod
    def from_json(cls, report: dict[str, Any]) -> "LocustStats":
        total = (report.get("stats") or [{}])[-1]
        current = report.get("current_response_time_percentiles") or {}
        return cls(state=str(report.get("state", "missing")),
                   user_count=int(report.get("user_count") or 0),
                   current_rps=float(report.get("current_rps") or 0.0),
                   fail_ratio=float(report.get("fail_ratio") or 0.0),
                   num_requests=int(total.get("num_requests") or 0),
                   num_failures=int(total.get("num_failures") or 0),
                   latency_p50=_ms(current.get("response_time_percentile_0.5")),
                   latency_p95=_ms(current.get("response_time_percentile_0.95")),
                   latency_p99=_ms(total.get("response_time_percentile_0.99"))
                   if total.get("num_requests") else None)

    def row(self, time: float, *, rps: float, errors: int) -> dict[str, Any]:
        """A Timeline sample row (load columns only; the backend adds the cluster's)."""
        return {"time": time, "users": self.user_count, "rps": rps,
                "latency_p50": self.latency_p50, "latency_p95": self.latency_p95,
                "latency_p99": self.latency_p99, "errors": errors}


def _ms(v: Any) -> float | None:
    return None if v is None else float(v)


class LocustProcess:
    """A locust subprocess with its web API on 127.0.0.1 (a context manager).

    ``target_url`` must be loopback unless ``allow_remote=True`` (raises
    :class:`~labkit.errors.UnsafeTargetError`). The process dies with labkit (see
    ``labkit/_procs.py``) and on :meth:`close`.
    """

    def __init__(self, target_url: str, *, locustfile: str | Path | None = None,
                 allow_remote: bool = False, web_port: int | None = None,
                 startup_timeout: float = 30.0, env: dict[str, str] | None = None):
        self.target_url = _procs.check_target(target_url, allow_remote=allow_remote)
        self.locustfile = Path(locustfile or DEFAULT_LOCUSTFILE)
        if not self.locustfile.is_file():
            raise LabkitError(f"{self.locustfile}: no locustfile there; pass locustfile= the "
                              "path of one (the app ships app/locustfile.py)")
        self.web_port = web_port or _procs.free_port()
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})   # LOCUST_* settings read by the locustfile
        self.proc = None
        self.log_path: str | None = None
        # Only this object knows the token; app/locustfile.py refuses POSTs without it.
        self._token = secrets.token_urlsafe(24)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}", timeout=5.0,
                                  headers={"X-Labkit-Token": self._token})

    def start(self) -> "LocustProcess":
        """Start locust (once: a second call while it runs does nothing) and wait for its API."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self._http.is_closed:
            raise LabkitError("this LocustProcess was closed; make a new one")
        _procs.require_free_port(self.web_port, "127.0.0.1", "locust", flag="web_port=")
        fd, self.log_path = tempfile.mkstemp(prefix="labkit-locust-", suffix=".log")
        cmd = [sys.executable, "-m", "locust", "-f", str(self.locustfile),
               "--web-host", "127.0.0.1", "--web-port", str(self.web_port),
               "-H", self.target_url]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env,
               "LOCUST_LABKIT_TOKEN": self._token}
        with os.fdopen(fd, "wb") as log:
            self.proc = _procs.spawn(cmd, env=env, log=log)
        _procs.wait_http(f"http://127.0.0.1:{self.web_port}/", self.proc,
                         timeout=self.startup_timeout, what="locust", log_path=self.log_path)
        if self.proc.poll() is not None:   # someone else's locust answered on that port
            raise LabkitError(f"locust exited with code {self.proc.returncode} although "
                              f"127.0.0.1:{self.web_port} answered; see its log {self.log_path}")
        return self

    def _running(self) -> None:
        if self.proc is None or self._http.is_closed:
            raise LabkitError("locust is not running: call start() first (or use "
                              "`with LocustProcess(url) as lp:`); a closed one cannot restart")

    def _post(self, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        self._running()
        try:
            r = self._http.post(path, data=data)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise LabkitError(f"locust's web API {path} failed ({e}); see its log "
                              f"{self.log_path}") from e

    def swarm(self, user_count: int, spawn_rate: float) -> None:
        """Start, or resize, the swarm (the web page's Start/Edit button)."""
        self._post("/swarm", {"user_count": int(user_count), "spawn_rate": float(spawn_rate),
                              "host": self.target_url})

    def stop(self) -> None:
        """Stop every user (the swarm can start again)."""
        self._post("/stop")

    def reset_stats(self) -> None:
        """Zero the statistics (the web page's "Reset stats")."""
        self._running()
        try:
            self._http.post("/stats/reset").raise_for_status()
        except httpx.HTTPError as e:
            raise LabkitError(f"locust's /stats/reset failed ({e}); see its log "
                              f"{self.log_path}") from e

    def stats(self) -> LocustStats:
        self._running()
        try:
            r = self._http.get("/stats/requests")
            r.raise_for_status()
            return LocustStats.from_json(r.json())
        except (httpx.HTTPError, ValueError) as e:
            raise LabkitError(f"locust's /stats/requests failed ({e}); see its log "
                              f"{self.log_path}") from e

    def close(self) -> None:
        """Stop the users and the process (SIGTERM, then SIGKILL); delete the log unless
        locust failed on its own (then the log says why)."""
        if self.proc is not None:
            failed = self.proc.poll() not in (None, 0)
            if not failed:
                try:
                    self._http.post("/stop", timeout=1.0)
                except httpx.HTTPError:
                    pass
            _procs.terminate(self.proc)
            self.proc = None
            if not failed:
                _procs.remove_log(self.log_path)
        self._http.close()

    def __enter__(self) -> "LocustProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


StatsCallback = Callable[[LocustStats, dict[str, Any]], None]


def drive(profile: LoadProfile, target_url: str, *, on_stats: StatsCallback | None = None,
          recorder: TimelineRecorder | None = None, stop: threading.Event | None = None,
          allow_remote: bool = False, locustfile: str | Path | None = None,
          interval: float = 1.0, grace: float = 5.0, rps_window: float = 5.0,
          headers: dict[str, str] | None = None) -> Timeline:
    """Follow ``profile`` with real locust users against ``target_url``; return the Timeline.

    Each ``interval`` seconds: set locust's user count to ``round(profile.users_at(t))``
    (resizing only when it changes; 0 users stops the swarm), read the stats, append a row to
    ``recorder`` and call ``on_stats(stats, row)``. The run is bounded: it ends after
    ``profile.duration`` seconds (or when ``stop`` is set), and locust gets ``grace`` seconds
    to exit. Locust is stopped on return, on an exception and on KeyboardInterrupt.
    The profile's think time, its mode (``async`` posts jobs to ``/jobs``) and ``headers``
    (only ``Host`` is supported, for Kourier) reach the locustfile as ``LOCUST_*``
    environment variables.
    """
    env = {"LOCUST_WAIT_MIN": str(profile.wait_min), "LOCUST_WAIT_MAX": str(profile.wait_max)}
    if profile.mode == "async":   # producers: POST /jobs, answered 202 at once
        env["LOCUST_PATH"] = "jobs"
    for name, value in (headers or {}).items():
        if name.lower() != "host":
            raise LabkitError(f"drive(headers=...): only a Host header is supported, not {name}")
        env["LOCUST_HOST_HEADER"] = value
    _procs.check_target(target_url, allow_remote=allow_remote)
    rec = recorder if recorder is not None else TimelineRecorder()
    rec.meta.setdefault("backend", "locust")
    rec.meta.update(target=target_url, profile=profile.describe())
    stop = stop or threading.Event()
    with LocustProcess(target_url, locustfile=locustfile, allow_remote=allow_remote,
                       startup_timeout=max(grace, 10.0) * 3, env=env) as locust:
        t0 = time.monotonic()
        users: int | None = None
        failures = 0
        tick = 0
        counts: deque[tuple[float, int]] = deque()  # (t, requests completed) for rps
        while not stop.is_set():
            t = time.monotonic() - t0
            if t >= profile.duration:
                break
            want = max(0, round(profile.users_at(t)))
            if want != users:
                if want:
                    locust.swarm(want, profile.spawn_rate)
                else:
                    locust.stop()
                users = want
            st = locust.stats()
            counts.append((t, st.num_requests))
            while len(counts) > 2 and counts[1][0] <= t - rps_window:
                counts.popleft()
            t_old, n_old = counts[0]
            rps = (st.num_requests - n_old) / (t - t_old) if t > t_old else 0.0
            row = st.row(round(t, 3), rps=round(rps, 3),
                         errors=max(0, st.num_failures - failures))
            failures = st.num_failures
            rec.add_sample(row)
            if on_stats is not None:
                on_stats(st, row)
            tick += 1
            stop.wait(max(0.0, t0 + tick * interval - time.monotonic()))
        rec.meta["stats"] = asdict(locust.stats())
    return rec.snapshot()
