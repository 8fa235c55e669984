"""Benchmark (not a test): CPU time and latency of one request to the real app.

Run: ``python benchmarks/bench_app.py [--requests N] [--json]``. Starts ``python -m app`` on
127.0.0.1 (training the model first if the checkout has none), sends requests one at a time
(concurrency 1) and reads the server's CPU time (user + system, psutil) before and after.
The twin's per-request CPU cost is calibrated from the row at the default settings with
~50 sentences, the locustfile's typical request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.reviews import SENTENCES  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.train import ensure_model  # noqa: E402

DEFAULT_CPU_WORK_MS = Settings.__dataclass_fields__["cpu_work_ms"].default


@dataclass(frozen=True)
class Row:
    cpu_work_ms: float
    sentences: int
    requests: int
    cpu_ms_per_request: float
    latency_ms_mean: float
    latency_ms_p50: float
    latency_ms_p95: float
    server_rss_mb: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cpu_work_ms: float) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "APP_CPU_WORK_MS": str(cpu_work_ms)}
    proc = subprocess.Popen([sys.executable, "-m", "app", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit("the app did not become ready in 60 s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def measure(client: httpx.Client, url: str, server: psutil.Process, *, cpu_work_ms: float,
            sentences: int, requests: int, seed: int = 0) -> Row:
    """Send ``requests`` requests of ``sentences`` texts one by one; CPU and latency per request."""
    rng = random.Random(seed)
    bodies = [{"text": rng.choices(SENTENCES, k=sentences)} for _ in range(requests)]
    for body in bodies[:10]:  # warm up: first-call costs are not steady state
        client.post(url + "/predict", json=body).raise_for_status()
    before = server.cpu_times()
    latencies = []
    for body in bodies:
        t0 = time.perf_counter()
        client.post(url + "/predict", json=body).raise_for_status()
        latencies.append((time.perf_counter() - t0) * 1000)
    after = server.cpu_times()
    cpu_s = (after.user + after.system) - (before.user + before.system)
    return Row(cpu_work_ms=cpu_work_ms, sentences=sentences, requests=requests,
               cpu_ms_per_request=round(cpu_s * 1000 / requests, 2),
               latency_ms_mean=round(statistics.fmean(latencies), 2),
               latency_ms_p50=round(statistics.median(latencies), 2),
               latency_ms_p95=round(statistics.quantiles(latencies, n=20)[18], 2),
               server_rss_mb=round(server.memory_info().rss / 2**20, 1))


def run(requests: int, cpu_work_values: list[float], sizes: list[int]) -> list[Row]:
    ensure_model()
    rows = []
    for cpu_work_ms in cpu_work_values:
        proc, url = _start(cpu_work_ms)
        try:
            server = psutil.Process(proc.pid)
            with httpx.Client(timeout=30) as client:
                rows += [measure(client, url, server, cpu_work_ms=cpu_work_ms, sentences=n,
                                 requests=requests) for n in sizes]
        finally:
            _stop(proc)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per row (200)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    # Default settings first (the calibration row is 50 sentences), then the model alone.
    rows = run(args.requests, [DEFAULT_CPU_WORK_MS, 0.0], [50, 1, 99])
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(),
               "processor": platform.processor() or platform.machine()}
    if args.json:
        print(json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=2))
        return 0
    print(f"app benchmark, concurrency 1, {args.requests} requests per row "
          f"(python {machine['python']}, {machine['cpus']} CPUs)")
    print(f"{'cpu_work_ms':>11} {'sentences':>9} {'cpu ms/req':>10} {'lat mean':>9} "
          f"{'p50':>7} {'p95':>7} {'rss MB':>7}")
    for r in rows:
        print(f"{r.cpu_work_ms:>11g} {r.sentences:>9} {r.cpu_ms_per_request:>10.2f} "
              f"{r.latency_ms_mean:>9.2f} {r.latency_ms_p50:>7.2f} {r.latency_ms_p95:>7.2f} "
              f"{r.server_rss_mb:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
