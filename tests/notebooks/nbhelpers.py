"""Helpers for the course tests: a fake Timeline and tiny notebooks built on the fly."""

from __future__ import annotations

from typing import Sequence

import nbformat
from labkit.timeline import Timeline


def fake_timeline(replicas: Sequence[int], *, p95: Sequence[float] | None = None,
                  events: Sequence[dict] = (), panic: Sequence[bool] | None = None,
                  metric: Sequence[float] | None = None) -> Timeline:
    """One sample per second with the given spec (= ready) replicas."""
    rows = []
    for t, r in enumerate(replicas):
        rows.append({"time": float(t), "users": 1, "rps": 1.0, "latency_p50": 10.0,
                     "latency_p95": p95[t] if p95 is not None else 20.0, "latency_p99": 30.0,
                     "errors": 0, "spec_replicas": r, "ready_replicas": r, "pending_pods": 0,
                     "desired_replicas": r, "metric_name": "cpu utilization (%)",
                     "metric_value": metric[t] if metric is not None else 50.0,
                     "metric_target": 50.0,
                     "panic_mode": panic[t] if panic is not None else False})
    return Timeline.from_records(rows, events, {"backend": "fake"})


def make_notebook(path, cells: Sequence[tuple[str, str, Sequence[str]]]) -> str:
    """Write a notebook of (cell_type, source, tags) triples; return its path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for kind, source, tags in cells:
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = new(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return str(path)
