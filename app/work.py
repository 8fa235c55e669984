"""The teaching knob APP_CPU_WORK_MS: burn a fixed amount of CPU time per request."""

from __future__ import annotations

import hashlib
import time

_CHECK_EVERY = 64  # hashes between clock reads: keeps the overshoot to a few microseconds


def burn_cpu(ms: float) -> int:
    """Hash in a loop until this thread has used ``ms`` milliseconds of CPU; return the rounds.

    The budget is CPU time of the calling thread (``time.thread_time``), not wall time: a
    request costs the same CPU whether the pod is idle or throttled, and when threads or
    pods share a core they wait for it, so latency grows with load as on a busy node.
    """
    if ms <= 0:
        return 0
    deadline = time.thread_time() + ms / 1000.0
    digest = b"labkit"
    rounds = 0
    while True:
        for _ in range(_CHECK_EVERY):
            digest = hashlib.sha256(digest).digest()
        rounds += _CHECK_EVERY
        if time.thread_time() >= deadline:
            return rounds


def infer_texts(model, texts: list[str], cpu_work_ms: float) -> list[list[float]]:
    """One prediction as every route and the worker pay for it: the knob's CPU, then the model."""
    burn_cpu(cpu_work_ms)
    return model.predict_proba(texts)
