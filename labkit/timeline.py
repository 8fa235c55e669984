"""The Timeline: the one format both backends produce and every plot, report and check reads.

A Timeline is two tables and a little metadata:

- ``samples``: one row per sample (per second on the twin, per scrape on kind), with the
  columns in :data:`SAMPLE_COLUMNS`;
- ``events``: the Kubernetes-style events table (time, object, type, reason, message), e.g.
  ``SuccessfulRescale  New size: 4; reason: cpu resource utilization (percentage of request)
  above target``;
- ``meta``: what was run (backend, variant, profile, min/max replicas, SLO, seed, ...);
- ``rollout``: the samples recorded while the variant rolled out, before the run's t = 0
  (negative times, same columns as ``samples``). Events of the rollout (a ScaledObject's
  creation, KEDA's first scale to zero, an HPA's first failed metric read) stay in ``events``
  with their negative times, so nothing the controllers did at creation is lost.

Times are seconds since the start of the run. Latencies are milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pandas as pd

#: Sample columns, in order, with their meaning.
SAMPLE_COLUMNS: dict[str, str] = {
    "time": "seconds since the start of the run",
    "users": "simulated or locust users",
    "rps": "completed requests per second",
    "latency_p50": "median response time over the sample interval (ms)",
    "latency_p95": "95th percentile response time (ms)",
    "latency_p99": "99th percentile response time (ms)",
    "errors": "failed requests in the sample interval",
    "spec_replicas": "the scale target's spec.replicas",
    "ready_replicas": "pods Running and Ready",
    "pending_pods": "pods not yet scheduled (phase Pending, no node)",
    "desired_replicas": "the autoscaler's latest recommendation",
    "metric_name": "the scaling metric shown (the first of the autoscaler's metrics)",
    "metric_value": "its current value (percent for Utilization, else per-pod or total units)",
    "metric_target": "its target in the same units",
    "panic_mode": "Knative KPA panic mode (False for other autoscalers)",
    "queue_length": "jobs waiting in the Redis list (LLEN; NaN for variants without a queue)",
    "oldest_job_age": "seconds the oldest waiting job has waited (0 when none waits)",
}

#: Events columns.
EVENT_COLUMNS: tuple[str, ...] = ("time", "object", "type", "reason", "message")

_INT_COLUMNS = ("users", "errors", "spec_replicas", "ready_replicas", "pending_pods",
                "desired_replicas")


def _samples_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Sample rows -> a DataFrame with every column of :data:`SAMPLE_COLUMNS`, typed."""
    s = pd.DataFrame(list(rows), columns=list(SAMPLE_COLUMNS))
    for col in _INT_COLUMNS:
        s[col] = pd.to_numeric(s[col], errors="coerce").fillna(0).astype("int64")
    for col in ("time", "rps", "latency_p50", "latency_p95", "latency_p99",
                "metric_value", "metric_target", "queue_length", "oldest_job_age"):
        s[col] = pd.to_numeric(s[col], errors="coerce").astype("float64")
    s["panic_mode"] = s["panic_mode"].astype(object).fillna(False).astype(bool)
    s["metric_name"] = s["metric_name"].astype(object).fillna("").astype(str)
    return s


@dataclass
class Timeline:
    """Samples, events and metadata of one run (see the module docstring)."""

    samples: pd.DataFrame
    events: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    rollout: pd.DataFrame = field(default_factory=lambda: _samples_frame(()))

    @classmethod
    def from_records(cls, samples: Iterable[Mapping[str, Any]],
                     events: Iterable[Mapping[str, Any]] = (),
                     meta: Mapping[str, Any] | None = None,
                     rollout: Iterable[Mapping[str, Any]] = ()) -> "Timeline":
        """Build a Timeline from row dicts; missing columns are filled with NA."""
        e = pd.DataFrame(list(events), columns=list(EVENT_COLUMNS))
        e["time"] = pd.to_numeric(e["time"], errors="coerce").astype("float64")
        return cls(_samples_frame(samples), e, dict(meta or {}), _samples_frame(rollout))

    # -- convenient views -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def duration(self) -> float:
        """Seconds covered by the samples."""
        return float(self.samples["time"].iloc[-1]) if len(self.samples) else 0.0

    def between(self, start: float, end: float) -> "Timeline":
        """The part of the run with ``start <= time <= end``."""
        s = self.samples[(self.samples.time >= start) & (self.samples.time <= end)]
        e = self.events[(self.events.time >= start) & (self.events.time <= end)]
        return Timeline(s.reset_index(drop=True), e.reset_index(drop=True), dict(self.meta))

    def events_with(self, reason: str) -> pd.DataFrame:
        """Events whose reason is ``reason`` (e.g. ``"SuccessfulRescale"``)."""
        return self.events[self.events.reason == reason].reset_index(drop=True)

    def to_csv(self, prefix: str) -> tuple[str, str]:
        """Write ``PREFIX_samples.csv`` and ``PREFIX_events.csv``; return the two paths."""
        paths = (f"{prefix}_samples.csv", f"{prefix}_events.csv")
        self.samples.to_csv(paths[0], index=False)
        self.events.to_csv(paths[1], index=False)
        return paths

    def __repr__(self) -> str:
        m = self.meta
        return (f"<Timeline {m.get('backend', '?')}/{m.get('variant', '?')}: "
                f"{len(self.samples)} samples over {self.duration:.0f} s, "
                f"{len(self.events)} events>")


class TimelineRecorder:
    """Collects samples and events as a run goes; readers take consistent snapshots.

    Backends append from their run loop (possibly a background thread); the live figure
    calls :meth:`snapshot` from another thread. Appends and snapshots hold one lock.
    """

    def __init__(self, meta: Mapping[str, Any] | None = None):
        self.origin = 0.0   # backend time that is the Timeline's t = 0 (see restart())
        self._lock = threading.Lock()
        self._samples: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._rollout: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = dict(meta or {})

    def add_sample(self, row: Mapping[str, Any]) -> None:
        """Append one row; its ``time`` is backend time (the origin is subtracted)."""
        row = dict(row)
        row["time"] = row["time"] - self.origin
        with self._lock:
            self._samples.append(row)

    def add_event(self, time: float, obj: str, reason: str, message: str,
                  type: str = "Normal") -> None:
        with self._lock:
            self._events.append({"time": time - self.origin, "object": obj, "type": type,
                                 "reason": reason, "message": message})

    def restart(self, origin: float) -> None:
        """Count time from ``origin`` (backend time): the run starts there.

        What was recorded before it is the rollout: its samples move to ``rollout`` and its
        events stay, both with negative times (samples at or after ``origin`` are dropped: the
        run records its own row at t = 0).
        """
        with self._lock:
            shift = self.origin - origin
            for row in self._samples:
                row["time"] += shift
            self._rollout.extend(r for r in self._samples if r["time"] < 0)
            self._samples.clear()
            for ev in self._events:
                ev["time"] += shift
            self.origin = origin

    def __len__(self) -> int:
        return len(self._samples)

    def rows_since(self, index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Samples from ``index`` on and all events (cheap incremental reads for live plots)."""
        with self._lock:
            return list(self._samples[index:]), list(self._events)

    def snapshot(self) -> Timeline:
        with self._lock:
            samples, events = list(self._samples), list(self._events)
            rollout = list(self._rollout)
        return Timeline.from_records(samples, events, self.meta, rollout)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()
            self._events.clear()
            self._rollout.clear()
