"""A long run's rows are kept as typed frames (TimelineRecorder): nothing changes for readers."""

from __future__ import annotations

import math

import pandas as pd

from labkit import timeline
from labkit.timeline import Timeline, TimelineRecorder


def _row(i: int) -> dict:
    return {"time": 100.0 + i, "users": i % 7, "rps": i / 3, "latency_p95": math.nan if i % 5
            else 12.5, "spec_replicas": 1 + i % 4, "metric_name": "cpu" if i % 2 else "",
            "metric_value": i * 0.1, "panic_mode": i % 3 == 0}


def test_rows_become_frames_and_the_timeline_is_the_same(monkeypatch):
    monkeypatch.setattr(timeline, "_CHUNK", 64)
    rec = TimelineRecorder()
    rec.origin = 100.0
    rows = [_row(i) for i in range(1000)]
    for r in rows:
        rec.add_sample(r)
    assert len(rec._frames) == 15 and len(rec) == 1000
    want = Timeline.from_records([{**r, "time": r["time"] - 100.0} for r in rows])
    pd.testing.assert_frame_equal(rec.snapshot().samples, want.samples)
    # incremental reads across the frames and the tail give the same rows
    since, _ = rec.rows_since(950)
    assert [r["time"] for r in since] == [float(i) for i in range(950, 1000)]
    older, _ = rec.rows_since(100)
    assert len(older) == 900 and older[0]["users"] == 100 % 7 and older[0]["time"] == 100.0


def test_restart_after_frames_keeps_the_rollout(monkeypatch):
    monkeypatch.setattr(timeline, "_CHUNK", 8)
    rec = TimelineRecorder()
    for i in range(20):
        rec.add_sample({"time": float(i), "users": i})
    rec.restart(15.0)
    tl = rec.snapshot()
    assert list(tl.rollout.time) == [float(t - 15) for t in range(15)] and len(tl) == 0
