"""``labkit calibrate``: measure the real app and write the twin's parameters file.

Starts ``python -m app`` on 127.0.0.1 (a free port, ``APP_CPU_WORK_MS=0`` and
``APP_STARTUP_DELAY_S=0`` so the app's own costs are measured; the manifests' knobs are added
on top by the twin) and measures, for the twin's :class:`~labkit.backends.sim.params.TwinParams`:

- ``startup_seconds``: process start to ``/readyz`` answering 200 (imports + model load);
  ``/healthz`` time is reported too;
- ``cpu_ms_per_request`` and ``cpu_ms_per_text``: the server process's CPU time
  (``/proc/<pid>/stat``) over sequential requests of 1 and of 50 sentences (the locustfile's
  typical body), fitted as ``cpu = per_request + per_text x texts``;
- ``base_latency_ms``: the median latency of a 50-sentence request alone minus its CPU time
  (the non-CPU part: HTTP, JSON, event loop);
- latency percentiles at concurrency 1..N (reported, not used by the twin);
- ``memory_mib_idle`` (RSS when ready and idle) and ``memory_mib_per_inflight`` (extra RSS per
  concurrent request at the highest concurrency).

Simplifies: one process on this machine's CPU, not a pod under a CPU limit; numbers vary with
the CPU, so the file records where and when they were measured. Linux only (reads /proc).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import LabkitError
from .files import write_text_atomic

PARAMS_FILE = Path(__file__).resolve().parent / "data" / "twin-params.json"
TYPICAL_TEXTS = 50   # the locustfile sends 1-99 sentences: 50 on average

#: What each key of the parameters file means (written into the file as ``_doc``).
DOCS: dict[str, str] = {
    "cpu_ms_per_request": "CPU ms every request costs whatever its size (HTTP, JSON, "
                          "framework); APP_CPU_WORK_MS is added on top by the twin",
    "cpu_ms_per_text": "CPU ms per sentence classified (vectorizer + model)",
    "base_latency_ms": "non-CPU time of one request on an idle server (ms)",
    "startup_seconds": "process start to /readyz = 200 (imports + model load), without "
                       "APP_STARTUP_DELAY_S",
    "memory_mib_idle": "resident memory of a ready, idle app process (MiB)",
    "memory_mib_per_inflight": "extra resident memory per request in flight (MiB)",
}


def _sentences(n: int) -> list[str]:
    """``n`` review sentences from ``app/reviews.py`` (the bodies the locustfile sends).

    Never import ``app.locustfile``: importing locust monkey-patches sockets and threads
    (gevent) and hangs this process.
    """
    from app.reviews import SENTENCES
    return [SENTENCES[i % len(SENTENCES)] for i in range(n)]


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError as e:
        raise LabkitError(f"cannot read /proc/{pid}/stat ({e}); calibration measures CPU time "
                          "through /proc and needs Linux (or WSL)") from e
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fit_cpu(texts_a: int, cpu_a: float, texts_b: int, cpu_b: float) -> tuple[float, float]:
    """(per_request, per_text) from the mean CPU ms of requests with two sizes (a line)."""
    if texts_a == texts_b:
        raise LabkitError("need two different request sizes to separate the two costs")
    per_text = max((cpu_b - cpu_a) / (texts_b - texts_a), 0.0)
    return max(cpu_a - per_text * texts_a, 0.0), per_text


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


class _App:
    """``python -m app`` on 127.0.0.1, timed from spawn to /healthz and /readyz."""

    def __init__(self, env: dict[str, str], startup_timeout: float = 60.0):
        from . import _procs
        from .appserver import _with_repo_path, ensure_model
        self.port = _procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = _with_repo_path({**os.environ, **ensure_model(env)})
        self._procs = _procs
        self.t0 = time.perf_counter()
        self.proc = _procs.spawn([sys.executable, "-m", "app", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--log-level", "warning"],
                                 env=full_env, cwd=str(_procs.REPO_ROOT),
                                 log=subprocess.DEVNULL)
        self.healthz_s = self._wait("/healthz", startup_timeout)
        self.readyz_s = self._wait("/readyz", startup_timeout)

    def _wait(self, path: str, timeout: float) -> float:
        import httpx
        deadline = self.t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise LabkitError(f"the app exited with status {self.proc.returncode} while "
                                  "starting; run `python -m app` to see why")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return time.perf_counter() - self.t0
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise LabkitError(f"the app did not answer {path} within {timeout:g} s")

    def close(self) -> None:
        self._procs.terminate(self.proc)


def _timed_posts(url: str, body: dict, n: int) -> list[float]:
    import httpx
    out = []
    with httpx.Client(timeout=30.0) as client:
        for _ in range(n):
            t = time.perf_counter()
            r = client.post(url, json=body)
            out.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise LabkitError(f"POST {url} answered {r.status_code}: {r.text[:200]}")
    return out


def _concurrent(url: str, body: dict, users: int, per_user: int,
                sample: Callable[[], None]) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            got = _timed_posts(url, body, per_user)
            with lock:
                latencies.extend(got)
        except BaseException as e:  # reported after the join
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(users)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        sample()
        time.sleep(0.01)
    for t in threads:
        t.join()
    if errors:
        raise LabkitError(f"a calibration request failed: {errors[0]}") from errors[0]
    return latencies


def calibrate(target: str = "local", *, out: str | Path | None = None, requests: int = 40,
              concurrency: tuple[int, ...] = (1, 2, 4), write: bool = True) -> dict[str, Any]:
    """Measure the app and write the twin's parameters; return what was written.

    ``requests`` is the number of sequential requests per size (and per user at each
    concurrency, divided by the concurrency). Load goes to 127.0.0.1 only.
    """
    if target != "local":
        raise LabkitError(f"calibrate(target={target!r}): only 'local' is supported: it runs "
                          "`python -m app` on 127.0.0.1; the cluster's app is the same image, "
                          "so its per-request costs match")
    if requests < 4:
        raise LabkitError("calibrate needs at least 4 requests per measurement")
    app = _App({"APP_CPU_WORK_MS": "0", "APP_STARTUP_DELAY_S": "0"})
    try:
        predict = app.url + "/predict"
        pid = app.proc.pid
        _timed_posts(predict, {"text": _sentences(TYPICAL_TEXTS)}, 3)   # warm up
        idle_rss = _proc_rss_mib(pid)
        cpu_ms: dict[int, float] = {}
        lat: dict[int, list[float]] = {}
        for texts in (1, TYPICAL_TEXTS):
            c0 = _proc_cpu_seconds(pid)
            lat[texts] = _timed_posts(predict, {"text": _sentences(texts)}, requests)
            cpu_ms[texts] = (_proc_cpu_seconds(pid) - c0) * 1000 / requests
        per_request, per_text = fit_cpu(1, cpu_ms[1], TYPICAL_TEXTS, cpu_ms[TYPICAL_TEXTS])
        by_conc: dict[str, dict[str, float]] = {}
        peak = {"rss": idle_rss}

        def sample() -> None:
            peak["rss"] = max(peak["rss"], _proc_rss_mib(pid))

        body = {"text": _sentences(TYPICAL_TEXTS)}
        for users in concurrency:
            got = _concurrent(predict, body, users, max(2, requests // users), sample)
            by_conc[str(users)] = {"p50_ms": round(percentile(got, 50), 2),
                                   "p95_ms": round(percentile(got, 95), 2),
                                   "requests": len(got)}
        typical_cpu = per_request + per_text * TYPICAL_TEXTS
        base_latency = max(statistics.median(lat[TYPICAL_TEXTS]) - typical_cpu, 0.0)
        top = max(concurrency)
        per_inflight = max(peak["rss"] - idle_rss, 0.0) / top
    finally:
        app.close()
    params = {
        "cpu_ms_per_request": round(per_request, 3),
        "cpu_ms_per_text": round(per_text, 4),
        "base_latency_ms": round(base_latency, 3),
        "startup_seconds": round(app.readyz_s, 3),
        "memory_mib_idle": round(idle_rss, 1),
        "memory_mib_per_inflight": round(per_inflight, 3),
    }
    result = {
        **params,
        "_doc": DOCS,
        "_measured": {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "labkit": __version__, "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "requests_per_size": requests, "healthz_seconds": round(app.healthz_s, 3),
            "cpu_ms_per_request_1_text": round(cpu_ms[1], 3),
            f"cpu_ms_per_request_{TYPICAL_TEXTS}_texts": round(cpu_ms[TYPICAL_TEXTS], 3),
            "latency_by_concurrency": by_conc,
        },
    }
    if write:
        path = Path(out) if out else PARAMS_FILE
        # an interrupted calibrate must not leave a truncated file every twin run then fails on
        write_text_atomic(path, json.dumps(result, indent=2) + "\n")
        result["_path"] = str(path)
    return result


def run_calibrate(out: str | None = None, requests: int = 200, *,
                  concurrency: tuple[int, ...] = (1, 2, 4, 8)) -> int:
    """``labkit calibrate``: measure, write, and print the parameters (exit status 0)."""
    print(f"labkit calibrate: starting the app on 127.0.0.1 and sending {requests} requests "
          f"per size, then at concurrency {', '.join(map(str, concurrency))} ...", flush=True)
    res = calibrate(out=out, requests=requests, concurrency=concurrency)
    for key in DOCS:
        print(f"  {key:>24} = {res[key]:<10} {DOCS[key]}")
    for users, row in res["_measured"]["latency_by_concurrency"].items():
        print(f"  concurrency {users:>2}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms")
    print(f"wrote {res['_path']} (the twin reads it by default)")
    return 0
