"""A small fake Backend: deterministic synthetic rows, the interface of the real ones."""

from __future__ import annotations

import time

from labkit.load import LoadProfile
from labkit.timeline import Timeline, TimelineRecorder


class FakeBackend:
    """Appends one row per simulated second: replicas follow users / 10 (min 1, max 10).

    ``speed`` paces it like the twin (seconds of run per wall second; None = at once).
    Records every call so tests can assert what the panel asked for.
    """

    name = "sim"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.calls: list[tuple] = []
        self.recorder = TimelineRecorder({"backend": "fake"})
        self.profile: LoadProfile | None = None
        self.closed = False

    def deploy(self, variant):
        self.calls.append(("deploy", variant))
        self.recorder = TimelineRecorder({"backend": "fake", "variant": variant,
                                          "min_replicas": 1, "max_replicas": 10})
        return variant

    def load(self, profile):
        self.calls.append(("load", profile))
        self.profile = profile

    def run(self, duration, *, speed=None, stop=None):
        self.calls.append(("run", duration, speed))
        start = len(self.recorder)
        replicas = 1
        for i in range(int(duration)):
            if stop is not None and stop.is_set():
                break
            t = float(start + i)
            users = self.profile.users_at(t) if self.profile else 0
            want = max(1, min(10, round(users / 10)))
            if want != replicas:
                self.recorder.add_event(t, "HorizontalPodAutoscaler/app", "SuccessfulRescale",
                                        f"New size: {want}; reason: cpu resource utilization "
                                        "(percentage of request) above target")
                replicas = want
            self.recorder.add_sample({
                "time": t, "users": users, "rps": users / 3, "latency_p50": 80.0,
                "latency_p95": 900.0 if users > 10 * replicas else 200.0,
                "latency_p99": 1000.0, "errors": 0, "spec_replicas": replicas,
                "ready_replicas": replicas, "pending_pods": 0, "desired_replicas": want,
                "metric_name": "cpu", "metric_value": 50.0 * users / (10 * replicas),
                "metric_target": 50.0, "panic_mode": False})
            if speed:
                time.sleep(1.0 / speed)
        return self.timeline()

    def timeline(self) -> Timeline:
        return self.recorder.snapshot()

    def reset(self):
        self.recorder = TimelineRecorder({"backend": "fake"})

    def close(self):
        self.closed = True



def rows(n: int, start: int = 0, **overrides) -> list[dict]:
    """Sample rows for figure tests."""
    out = []
    for t in range(start, start + n):
        row = {"time": float(t), "users": t, "rps": t / 2, "latency_p50": 50.0,
               "latency_p95": 100.0, "latency_p99": 120.0, "errors": 0, "spec_replicas": 1 + t // 5,
               "ready_replicas": 1 + t // 6, "pending_pods": 0, "desired_replicas": 1 + t // 5,
               "metric_name": "cpu", "metric_value": 60.0, "metric_target": 50.0,
               "panic_mode": False}
        row.update(overrides)
        out.append(row)
    return out
