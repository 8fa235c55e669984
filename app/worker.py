"""``python -m app.worker``: take jobs from the Redis queue, run the model, write the results.

One worker runs one job at a time with the same model and the same APP_CPU_WORK_MS cost as
``POST /predict`` (so one worker serves what one synchronous request thread serves).

- As a Deployment (KEDA ScaledObject): ``python -m app.worker`` runs until SIGTERM, then
  finishes the job in hand, gives back nothing it has not finished, and exits 0.
- As a Job (KEDA ScaledJob): ``python -m app.worker --batch N`` takes up to N jobs and exits
  0, or sooner once the queue stays empty for ``--idle-exit`` seconds.

Redis restarting is survived: the worker retries with a back-off (up to 2 s) and keeps the
result it has computed until it can write it. The delivery guarantee is in app/jobs.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.jobs import UNAVAILABLE, JobQueue
from app.settings import Settings, SettingsError

log = logging.getLogger("app.worker")

_TAKE_TIMEOUT_S = 1.0     # BLMOVE wait: how fast SIGTERM and the idle exit are noticed


@dataclass
class WorkerStats:
    """What one worker did (returned by :func:`run_worker`, logged at exit)."""

    done: int = 0
    failed: int = 0
    duplicates: int = 0       # finished by someone else first: not run, or result not written
    reaped: int = 0           # ids of dead workers this worker put back in the queue
    busy_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def worker_name() -> str:
    """Pod name (the hostname in Kubernetes), process id and a random tail: unique per run."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Lease(threading.Thread):
    """Renews the worker's lease every third of ``lease_s`` until stopped (daemon thread)."""

    def __init__(self, queue: JobQueue, worker: str, lease_s: float) -> None:
        super().__init__(daemon=True, name="lease")
        self.queue, self.worker, self.lease_s = queue, worker, lease_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                self.queue.renew(self.worker, self.lease_s)
            except UNAVAILABLE:
                pass  # Redis away: the main loop reports it; renew on the next beat


def _retry(what: str, call, stop: threading.Event, stats: WorkerStats) -> Any:
    """Run ``call`` until Redis answers; back off 0.1 s doubling to 2 s. None if stopped."""
    delay = 0.1
    while True:
        try:
            return call()
        except UNAVAILABLE as e:
            if not stats.errors or stats.errors[-1] != what:
                stats.errors.append(what)
                log.warning("Redis unavailable while %s (%s); retrying", what, e)
            if stop.is_set() and what != "writing a result":
                return None
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def run_worker(settings: Settings, *, batch: int = 0, idle_exit_s: float | None = None,
               stop: threading.Event | None = None, name: str | None = None) -> WorkerStats:
    """Serve jobs until ``stop`` is set, ``batch`` jobs are done, or the queue idles.

    ``batch`` 0 means no limit; ``idle_exit_s`` None means never exit for idleness.
    """
    if not settings.redis_url:
        raise SettingsError("APP_REDIS_URL is empty: the worker needs the Redis that holds the "
                            "queue, e.g. APP_REDIS_URL=redis://127.0.0.1:6379/0")
    from app.model import load_model
    from app.work import infer_texts

    model = load_model(settings.model_path)
    stop = stop or threading.Event()
    queue = JobQueue.from_url(settings.redis_url, settings.queue_name)
    name = name or worker_name()
    stats = WorkerStats()
    _retry("registering", lambda: queue.register(name, settings.lease_s), stop, stats)
    lease = _Lease(queue, name, settings.lease_s)
    lease.start()
    log.info("worker %s serving queue %s at %s", name, settings.queue_name, settings.redis_url)
    idle_since = time.monotonic()
    next_reap = 0.0
    try:
        while not stop.is_set() and (batch == 0 or stats.done + stats.failed < batch):
            if time.monotonic() >= next_reap:
                stats.reaped += _retry("reaping", lambda: queue.reap(name), stop, stats) or 0
                next_reap = time.monotonic() + settings.lease_s / 2
            job_id = _retry("taking a job", lambda: queue.take(name, _TAKE_TIMEOUT_S), stop, stats)
            if job_id is None:
                if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    log.info("queue empty for %.1f s: exiting", idle_exit_s)
                    break
                continue
            _serve_one(queue, name, job_id, settings, model, infer_texts, stop, stats)
            idle_since = time.monotonic()
    finally:
        lease.stopped.set()
        if not _redis_down(queue):  # else the lease lapses and another worker reaps
            _retry("leaving", lambda: queue.unregister(name), threading.Event(), stats)
        log.info("worker %s: %d done, %d failed, %d duplicates, %d reaped", name, stats.done,
                 stats.failed, stats.duplicates, stats.reaped)
    return stats


def _redis_down(queue: JobQueue) -> bool:
    try:
        queue.client.ping()
        return False
    except UNAVAILABLE:
        return True


def _serve_one(queue: JobQueue, name: str, job_id: str, settings: Settings, model, infer_texts,
               stop: threading.Event, stats: WorkerStats) -> None:
    """Run one taken job and write its outcome once (see app/jobs.py for the guarantee)."""
    started = _retry("starting a job", lambda: queue.start(job_id, name), stop, stats)
    if started is None:
        stats.duplicates += 1
        return
    body, attempts = started
    result, error = None, None
    if attempts > settings.max_attempts:
        error = (f"gave up after {settings.max_attempts} deliveries (APP_MAX_ATTEMPTS): the "
                 "workers that took it stopped before finishing")
    elif not isinstance(body, dict) or not _valid_texts(body.get("text"), settings.max_texts):
        error = "unreadable job body: expected {\"text\": [1 to APP_MAX_TEXTS strings]}"
    else:
        t0 = time.monotonic()
        result = {"probs": infer_texts(model, body["text"], settings.cpu_work_ms)}
        stats.busy_s += time.monotonic() - t0
    wrote = _retry("writing a result", lambda: queue.finish(
        job_id, name, result=result, error=error, ttl_s=settings.result_ttl_s), stop, stats)
    if not wrote:
        stats.duplicates += 1
    elif error is None:
        stats.done += 1
    else:
        stats.failed += 1
        log.warning("job %s failed: %s", job_id, error)


def _valid_texts(texts: Any, max_texts: int) -> bool:
    return (isinstance(texts, list) and 1 <= len(texts) <= max_texts
            and all(isinstance(t, str) for t in texts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.worker", description="Serve inference jobs from the Redis queue.",
        epilog="Knobs by environment: APP_REDIS_URL (required), APP_QUEUE, APP_CPU_WORK_MS, "
               "APP_MODEL_PATH, APP_WORKER_LEASE_S, APP_MAX_ATTEMPTS, APP_RESULT_TTL_S.")
    parser.add_argument("--batch", type=int, default=0, metavar="N",
                        help="exit after N jobs (a ScaledJob's Job); 0 = run until SIGTERM")
    parser.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                        help="exit once the queue stayed empty this long (default: 5 with "
                             "--batch, never without)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    if args.batch < 0 or (args.idle_exit is not None and args.idle_exit < 0):
        parser.error("--batch and --idle-exit take a number >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    idle = args.idle_exit if args.idle_exit is not None else (5.0 if args.batch else None)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run_worker(Settings.from_env(), batch=args.batch, idle_exit_s=idle, stop=stop)
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
