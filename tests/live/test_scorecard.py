"""Scorecard of a finished run, and the comparison of several."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit.live import compare_figure
from labkit.scorecard import SCORECARD_KEYS, compare, scorecard, table
from labkit.timeline import Timeline


def timeline(spec, p95=None, errors=None, step=1.0, events=(), meta=None):
    n = len(spec)
    samples = [{"time": i * step, "users": 10, "rps": 2.0, "spec_replicas": s,
                "ready_replicas": max(0, s - 1), "latency_p95": (p95 or [100] * n)[i],
                "errors": (errors or [0] * n)[i]} for i, s in enumerate(spec)]
    return Timeline.from_records(samples, events, meta or {})


def rescale(t, size):
    return {"time": t, "object": "HorizontalPodAutoscaler/app", "type": "Normal",
            "reason": "SuccessfulRescale", "message": f"New size: {size}; reason: cpu above target"}


@pytest.mark.parametrize("tl, expected", [
    pytest.param(timeline([1, 1, 3, 3, 1, 1], events=[rescale(2, 3), rescale(4, 1)],
                          meta={"min_replicas": 1}),
                 {"pod_seconds": 10.0, "ready_pod_seconds": 4.0, "peak_replicas": 3,
                  "requests": 12.0, "time_to_first_scale_out": 2.0, "time_back_to_min": 4.0},
                 id="scale-out-and-back"),
    pytest.param(timeline([2, 2, 2], step=15.0),
                 {"pod_seconds": 90.0, "time_to_first_scale_out": None,
                  "time_back_to_min": None}, id="never-scales-15s-scrapes"),
    pytest.param(timeline([1, 1, 2, 2], events=[rescale(1, 1), rescale(2, 2)]),
                 {"time_to_first_scale_out": 2.0, "time_back_to_min": None},
                 id="first-event-is-no-scale-out"),
    pytest.param(timeline([0, 0, 1, 1, 0], meta={"min_replicas": 0}),
                 {"time_to_first_scale_out": 2.0, "time_back_to_min": 4.0},
                 id="no-events-scale-from-zero"),
    pytest.param(timeline([1] * 5, p95=[100, 600, 700, float("nan"), 499], errors=[0, 1, 2, 0, 0]),
                 {"seconds_over_slo": 2.0, "errors": 3}, id="slo-and-errors"),
    pytest.param(timeline([1, 1], events=[{"time": 0.5, "object": "Revision/app", "type": "Normal",
                                           "reason": "ColdStart", "message": "waiting"}] * 2),
                 {"cold_starts": 2}, id="cold-starts"),
])
def test_scorecard(tl, expected):
    card = scorecard(tl, slo_ms=500)
    assert list(card) == list(SCORECARD_KEYS)
    assert {k: card[k] for k in expected} == expected


def test_slo_comes_from_meta_when_not_given():
    tl = timeline([1, 1], p95=[300, 300], meta={"slo_ms": 200})
    assert scorecard(tl)["seconds_over_slo"] == 2.0
    assert scorecard(tl, slo_ms=400)["seconds_over_slo"] == 0.0


def test_empty_timeline_has_a_scorecard():
    card = scorecard(Timeline.from_records([]))
    assert card["pod_seconds"] == 0.0 and card["time_to_first_scale_out"] is None


def test_compare_table_and_figure():
    runs = {"hpa-v1": timeline([1, 2, 2, 1]), "keda": timeline([0, 3, 3, 0])}
    table = compare(runs)
    assert list(table.index) == ["hpa-v1", "keda"]
    assert table.loc["keda", "pod_seconds"] == 6.0
    assert table.loc["hpa-v1", "time_back_to_min"] == 3.0
    assert math.isnan(table.loc["keda", "time_back_to_min"]) is False
    fig = compare_figure(runs, slo_ms=300)
    names = [t.name for t in fig.data]
    assert names.count("hpa-v1") == 2 and "pod-seconds" in names
    assert fig.layout.shapes[0].y0 == 300


def test_the_readable_table_has_units_rounding_and_dashes():
    runs = {"hpa-v1": timeline([1, 2, 2, 1], p95=[100.4, 120.6, 900.2, 110.0]),
            "flat": timeline([1, 1, 1])}
    t = table(compare(runs, slo_ms=500))
    assert list(t.columns) == ["pod-seconds", "seconds over SLO", "p95 (ms)", "errors",
                               "cold starts", "first scale-out (s)", "back to min (s)"]
    assert t.loc["hpa-v1"].tolist()[:2] == ["6", "1"]
    assert t.loc["flat", "first scale-out (s)"] == "–"  # never happened: a dash, not NaN
    one = table(scorecard(runs["hpa-v1"], slo_ms=500))
    assert len(one) == 1 and one.iloc[0]["back to min (s)"] == "3"


@pytest.mark.parametrize("first", ["", "from labkit.scorecard import compare",
                                   "import labkit.live", "labkit.compare"])
def test_package_scorecard_stays_callable(first):
    """The package docstring's example works every time (review D16): the lazy export used to
    be replaced by the submodule of the same name after its first use."""
    code = f"""
import labkit
{first}
tl = labkit.run("hpa-v1", "spike", 120)
a = labkit.scorecard(tl)
b = labkit.scorecard(tl)
from labkit.scorecard import scorecard
assert a == b == scorecard(tl), (a, b)
assert callable(labkit.scorecard) and callable(labkit.compare)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(labkit.__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_compare_shows_a_readable_table_and_keeps_its_numbers():
    runs = {"hpa-v1": timeline([1, 2, 2, 1], p95=[100.4, 120.6, 900.2, 110.0]),
            "flat": timeline([1, 1, 1])}
    t = compare(runs, slo_ms=500)
    assert t.loc["hpa-v1", "pod_seconds"] == 6.0  # numbers for code
    shown = t._repr_html_()
    assert "pod-seconds" in shown and "pod_seconds" not in shown and "NaN" not in shown
    chosen = t[["pod_seconds", "peak_replicas"]]  # a notebook's choice of columns
    assert list(chosen.readable().columns) == ["pod-seconds", "peak pods"]
    assert "peak pods" in repr(chosen)
