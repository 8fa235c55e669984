"""Benchmark (not a test): jobs per second of ONE asynchronous worker (app/worker.py).

Run: ``python benchmarks/bench_worker.py [--jobs N] [--json]``. Starts Debian's
``redis-server`` on a free 127.0.0.1 port (append-only file, fsync always, in a temporary
directory), queues N jobs drawn as the locustfile draws a request (1-99 sentences, seeded),
starts one ``python -m app.worker`` at default settings, and times the drain from the first
job taken to the last result written. It also reads the worker's CPU time (psutil), so the
CPU per job can be set beside ``bench_app.py``'s CPU per synchronous request. Both servers
are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.jobs import JobQueue  # noqa: E402
from app.reviews import request_for  # noqa: E402
from app.train import ensure_model  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(jobs: int = 200, seed: int = 20240601) -> dict:
    """Drain ``jobs`` queued jobs with one worker; return jobs/s and CPU ms per job."""
    ensure_model()
    binary = shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        redis_proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", data, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        worker = None
        try:
            url = f"redis://127.0.0.1:{port}/0"
            queue = JobQueue.from_url(url, "bench")
            deadline = time.monotonic() + 10
            while True:
                try:
                    queue.client.ping()
                    break
                except Exception:  # noqa: BLE001 - still starting
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            rng = random.Random(seed)
            sentences = 0
            for _ in range(jobs):
                texts = request_for(rng, "predict", "custom-model")[1]["text"]
                sentences += len(texts)
                queue.enqueue(texts, max_queue=jobs + 1)
            worker = subprocess.Popen(
                [sys.executable, "-m", "app.worker", "--log-level", "warning"], cwd=REPO,
                env={**os.environ, "APP_REDIS_URL": url, "APP_QUEUE": "bench"},
                stdin=subprocess.DEVNULL, start_new_session=True)
            ps = psutil.Process(worker.pid)
            while queue.client.llen("bench") == jobs:  # model loading
                time.sleep(0.01)
            t0, cpu0 = time.monotonic(), sum(ps.cpu_times()[:2])
            while queue.stats().done < jobs:
                assert worker.poll() is None, "the worker exited"
                time.sleep(0.01)
            wall, cpu = time.monotonic() - t0, sum(ps.cpu_times()[:2]) - cpu0
        finally:
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(15)
            redis_proc.kill()
            redis_proc.wait(10)
    return {"jobs": jobs, "mean_sentences": round(sentences / jobs, 1),
            "drain_s": round(wall, 2), "jobs_per_s": round(jobs / wall, 1),
            "cpu_ms_per_job": round(1000 * cpu / jobs, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    row = measure(args.jobs)
    print(json.dumps(row) if args.json else
          f"one worker: {row['jobs']} jobs (~{row['mean_sentences']} sentences each) in "
          f"{row['drain_s']} s = {row['jobs_per_s']} jobs/s, {row['cpu_ms_per_job']} ms CPU/job")


if __name__ == "__main__":
    main()
