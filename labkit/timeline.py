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
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
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

_COLUMN_NAMES = tuple(SAMPLE_COLUMNS)
_CHUNK = 8192   # recorder rows per typed frame
assert _COLUMN_NAMES[0] == "time"

#: Events columns.
EVENT_COLUMNS: tuple[str, ...] = ("time", "object", "type", "reason", "message")

_INT_COLUMNS = ("users", "errors", "spec_replicas", "ready_replicas", "pending_pods",
                "desired_replicas")


_FLOAT_COLUMNS = ("time", "rps", "latency_p50", "latency_p95", "latency_p99", "metric_value",
                  "metric_target", "queue_length", "oldest_job_age")


def _column_array(name: str, values: Sequence[Any]) -> Any:
    """A column as a typed numpy array when its values allow (a day of samples converts in
    milliseconds), else as a list for :func:`_typed` to coerce."""
    try:
        if name in _FLOAT_COLUMNS:
            return np.array(values, dtype="float64")   # None -> NaN
        if name in _INT_COLUMNS:
            return np.array(values, dtype="int64")
    except (TypeError, ValueError):
        pass
    return list(values)


def _typed(s: pd.DataFrame) -> pd.DataFrame:
    """The sample table with its column types: int64 counts (NA -> 0), float64 measurements
    (NA -> NaN), bool panic mode, str metric name."""
    for col in _INT_COLUMNS:
        s[col] = pd.to_numeric(s[col], errors="coerce").fillna(0).astype("int64")
    for col in _FLOAT_COLUMNS:
        s[col] = pd.to_numeric(s[col], errors="coerce").astype("float64")
    s["panic_mode"] = s["panic_mode"].astype(object).fillna(False).astype(bool)
    s["metric_name"] = s["metric_name"].astype(object).fillna("").astype(str)
    return s


def _samples_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Sample rows -> a DataFrame with every column of :data:`SAMPLE_COLUMNS`, typed."""
    return _typed(pd.DataFrame(list(rows), columns=list(SAMPLE_COLUMNS)))


def _columns_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows of values in :data:`SAMPLE_COLUMNS` order -> the typed DataFrame."""
    columns = dict(zip(_COLUMN_NAMES, zip(*rows))) if rows else \
        {c: () for c in _COLUMN_NAMES}
    return _typed(pd.DataFrame({c: _column_array(c, columns[c]) for c in _COLUMN_NAMES},
                               columns=list(_COLUMN_NAMES)))


def _events_table(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    e = pd.DataFrame(list(events), columns=list(EVENT_COLUMNS))
    e["time"] = pd.to_numeric(e["time"], errors="coerce").astype("float64")
    return e


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
        return cls(_samples_frame(samples), _events_table(events), dict(meta or {}),
                   _samples_frame(rollout))

    @classmethod
    def from_rows(cls, samples: Sequence[Sequence[Any]],
                  events: Iterable[Mapping[str, Any]] = (),
                  meta: Mapping[str, Any] | None = None,
                  rollout: Sequence[Sequence[Any]] = ()) -> "Timeline":
        """Build a Timeline from rows of values in :data:`SAMPLE_COLUMNS` order (None is NA)."""
        return cls(_columns_frame(samples), _events_table(events), dict(meta or {}),
                   _columns_frame(rollout))

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
        # rows as lists of values in column order; every _CHUNK rows become one typed frame
        # (a week of 1 s rows is 604,801 rows: about 140 bytes each as frames)
        self._rows: list[list[Any]] = []
        self._frames: list[pd.DataFrame] = []
        self._framed = 0    # rows in _frames
        self._rollout: list[list[Any]] = []
        self._events: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = dict(meta or {})

    def add_sample(self, row: Mapping[str, Any]) -> None:
        """Append one row; its ``time`` is backend time (the origin is subtracted). Columns the
        row lacks are NA; keys that are not sample columns are dropped."""
        self.add_values(list(map(row.get, _COLUMN_NAMES)))

    def add_values(self, values: list[Any]) -> None:
        """Append one row given as its values in :data:`SAMPLE_COLUMNS` order (the list is
        kept; ``time``, backend time, comes first and the origin is subtracted)."""
        if len(values) != len(_COLUMN_NAMES):
            raise ValueError(f"a sample has {len(_COLUMN_NAMES)} values, got {len(values)}")
        values[0] = values[0] - self.origin
        with self._lock:
            rows = self._rows
            rows.append(values)
            if len(rows) >= _CHUNK:
                self._frames.append(_columns_frame(rows))
                self._framed += len(rows)
                self._rows = []

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
            self._unframe()
            shift = self.origin - origin
            for row in self._rows:
                row[0] += shift
            self._rollout.extend(r for r in self._rows if r[0] < 0)
            self._rows.clear()
            for ev in self._events:
                ev["time"] += shift
            self.origin = origin

    def _unframe(self) -> None:
        """Turn the typed frames back into rows (before times are shifted; rare)."""
        if self._frames:
            old = [list(r) for f in self._frames for r in f.itertuples(index=False, name=None)]
            self._rows = old + self._rows
            self._frames, self._framed = [], 0

    def __len__(self) -> int:
        return self._framed + len(self._rows)

    def rows_since(self, index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Samples from ``index`` on and all events (cheap incremental reads for live plots)."""
        with self._lock:
            events = list(self._events)
            tail = self._rows[max(index - self._framed, 0):]
            older: list[dict[str, Any]] = []
            start = 0
            for f in self._frames:
                if index < start + len(f):
                    older += f.iloc[max(index - start, 0):].to_dict("records")
                start += len(f)
        return older + [dict(zip(_COLUMN_NAMES, r)) for r in tail], events

    def snapshot(self) -> Timeline:
        with self._lock:
            frames, rows = list(self._frames), list(self._rows)
            events, rollout = list(self._events), list(self._rollout)
        t = Timeline.from_rows(rows, events, self.meta, rollout)
        if frames:
            t.samples = pd.concat([*frames, t.samples], ignore_index=True)
        return t

    def clear(self) -> None:
        """Forget every row and event; time counts from backend time 0 again."""
        with self._lock:
            self.origin = 0.0
            self._rows.clear()
            self._frames, self._framed = [], 0
            self._events.clear()
            self._rollout.clear()
