"""The live figure: incremental reads, events, shading, the background refresh, static output."""

from __future__ import annotations

import threading
import time

import pytest

from labkit.live import FigureModel, LiveFigure, figure, show
from labkit.live.figure import TRACES
from labkit.timeline import Timeline, TimelineRecorder

from live_fakes import rows

IDX = {name: i for i, name in enumerate(TRACES)}


def trace(fig, name):
    return fig.data[IDX[name]]


class SpyRecorder(TimelineRecorder):
    """Remembers which index each incremental read started at."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.reads: list[int] = []

    def rows_since(self, index):
        self.reads.append(index)
        return super().rows_since(index)


def test_refresh_reads_only_new_rows():
    rec = SpyRecorder({"min_replicas": 1, "max_replicas": 8})
    for r in rows(10):
        rec.add_sample(r)
    fig = LiveFigure(rec)
    assert fig.refresh() == 10
    for r in rows(5, start=10):
        rec.add_sample(r)
    assert fig.refresh() == 5
    assert fig.refresh() == 0  # nothing new: no redraw
    assert rec.reads == [0, 10, 15]
    assert fig.updates == 2
    spec = trace(fig.widget, "spec replicas")
    assert list(spec.x) == [float(t) for t in range(15)]
    assert list(spec.y) == [1 + t // 5 for t in range(15)]
    assert list(trace(fig.widget, "max replicas").y) == [8, 8]
    assert list(trace(fig.widget, "min replicas").x) == [0.0, 14.0]


def test_a_new_deploy_starts_the_figure_over(fake_backend):
    fig = LiveFigure(fake_backend)
    fake_backend.deploy("hpa-v1")
    fake_backend.load(None)
    fake_backend.run(20)
    fig.refresh()
    assert len(trace(fig.widget, "users").x) == 20
    fake_backend.deploy("hpa-v2")  # a new recorder, as the twin's deploy() makes
    fake_backend.run(5)
    fig.refresh()
    assert len(trace(fig.widget, "users").x) == 5


def test_snapshot_sources_are_sliced_and_restart_when_shorter():
    tl = {"now": Timeline.from_records(rows(12))}
    fig = LiveFigure(lambda: tl["now"])
    assert fig.refresh() == 12
    tl["now"] = Timeline.from_records(rows(14))
    assert fig.refresh() == 2
    tl["now"] = Timeline.from_records(rows(3))
    fig.refresh()
    assert len(trace(fig.widget, "users").x) == 3


def test_events_are_markers_with_reason_and_message_on_hover():
    rec = TimelineRecorder()
    for r in rows(10):
        rec.add_sample(r)
    rec.add_event(4.0, "HorizontalPodAutoscaler/app", "SuccessfulRescale",
                  "New size: 4; reason: cpu resource utilization (percentage of request) "
                  "above target")
    rec.add_event(6.0, "HorizontalPodAutoscaler/app", "FailedGetResourceMetric",
                  "missing request for cpu", type="Warning")
    fig = LiveFigure(rec)
    fig.refresh()
    ev = trace(fig.widget, "events")
    assert list(ev.x) == [4.0, 6.0]
    assert ev.y[0] == 4  # the new size, not the replicas before it
    assert ev.y[1] == 2  # no size in the message: the spec replicas at that time
    assert "SuccessfulRescale" in ev.text[0] and "above target" in ev.text[0]
    assert "Warning" in ev.text[1]
    normal, warning = ev.marker.color
    assert normal != warning  # a Warning event stands out from the Normal ones


def test_seconds_over_the_slo_are_shaded_on_the_latency_panel():
    p95 = [100, 900, 900, 100, 900]
    model = FigureModel(slo_ms=500)
    model.add([r | {"latency_p95": float(v)} for r, v in zip(rows(5), p95)])
    over = [(s["x0"], s["x1"], s["yref"]) for s in model.shapes() if s["name"] == "over SLO"]
    assert over == [(1.0, 3.0, "y5 domain"), (4.0, 5.0, "y5 domain")]


def test_the_target_is_labelled_with_its_value():
    model = FigureModel()
    model.add(rows(3, metric_name="cpu utilization (%)", metric_target=50.0))
    assert model.traces()["target"]["name"] == "target 50 %"
    model = FigureModel()
    model.add(rows(3, metric_name="concurrency (per pod)", metric_target=7.0))
    assert model.traces()["target"]["name"] == "target 7 per pod"


def test_a_live_run_has_a_fixed_axis_a_now_line_and_progress():
    fig = LiveFigure(TimelineRecorder(), duration=600)
    fig.model.speed = "10x"
    fig.model.add(rows(150), [], {"backend": "sim", "variant": "hpa-v1"})
    with fig.widget.batch_update():
        fig.model.write(fig.widget)
    assert tuple(fig.widget.layout.xaxis.range) == (0, 600)
    (now,) = [s for s in fig.widget.layout.shapes if s.name == "now"]
    assert now.x0 == now.x1 == 149.0
    assert fig.widget.layout.title.text == "t = 149 s of 600 s · 10x speed · hpa-v1 on the twin"


@pytest.mark.parametrize("panic, expected", [
    pytest.param([0, 1, 1, 1, 0, 0, 1, 1], [(1.0, 4.0), (6.0, 7.0)], id="two-panics"),
    pytest.param([0, 0, 0], [], id="never"),
    pytest.param([1, 0, 0], [(0.0, 1.0)], id="from-the-start"),
])
def test_panic_mode_is_shaded(panic, expected):
    model = FigureModel()
    model.add([r | {"panic_mode": bool(p)} for r, p in zip(rows(len(panic)), panic)])
    spans = [(s["x0"], s["x1"]) for s in model.shapes() if s["name"] == "panic"]
    assert spans == expected


def test_cold_start_is_shaded_until_one_more_pod_is_ready():
    ready = [0, 0, 0, 0, 1, 1]
    model = FigureModel()
    model.add([r | {"ready_replicas": n} for r, n in zip(rows(6), ready)],
              [{"time": 1.0, "object": "Revision/app-00001", "type": "Normal",
                "reason": "ColdStart", "message": "request waiting for a pod"}])
    (shape,) = model.shapes()
    assert (shape["name"], shape["x0"], shape["x1"]) == ("cold start", 1.0, 4.0)


def test_missing_latency_is_a_gap_and_the_slo_line_follows_meta():
    model = FigureModel(slo_ms=300)
    model.add(rows(3, latency_p95=float("nan")), [], {"slo_ms": 250})
    t = model.traces()
    assert t["latency p95"]["y"] == (None, None, None)
    assert t["SLO"]["y"] == (250, 250)


def test_background_refresh_runs_at_least_twice_a_second():
    rec = TimelineRecorder()
    fig = LiveFigure(rec, interval=0.25)
    fig.start()
    try:
        main_thread_free = threading.Event()
        main_thread_free.set()  # the caller got control back at once
        deadline = time.monotonic() + 1.6
        i = 0
        while time.monotonic() < deadline:
            rec.add_sample(rows(1, start=i)[0])
            i += 1
            time.sleep(0.05)
    finally:
        fig.stop()
    assert main_thread_free.is_set()
    assert len(trace(fig.widget, "users").x) == i  # the final refresh caught up
    assert fig.poll_rate >= 2.0, f"polled at {fig.poll_rate:.2f}/s"
    assert fig.update_rate >= 2.0, f"redrew at {fig.update_rate:.2f}/s"
    assert not fig.running


def test_static_figure_of_a_timeline_and_offline_html(tmp_path):
    tl = Timeline.from_records(rows(30), [], {"backend": "sim", "variant": "hpa-v2",
                                              "min_replicas": 1, "max_replicas": 5})
    fig = figure(tl)
    assert len(trace(fig, "spec replicas").x) == 30
    assert fig.layout.title.text == "hpa-v2 on the twin"
    tl.meta["profile"] = ("spike(duration=600.0, spawn_rate=10.0, base_users=2, "
                          "peak_users=60, start=30, length=150)")
    assert figure(tl).layout.title.text == "hpa-v2 on the twin · spike load, up to 60 users · 600 s"
    out = tmp_path / "run.html"
    show(tl, html_path=str(out))  # a plain script: no kernel, so only the file
    page = out.read_text()
    assert 'src="https://cdn.plot.ly' not in page and len(page) > 1_000_000  # embedded js


def test_live_figure_static_copy_keeps_the_data(fake_backend):
    fake_backend.deploy("hpa-v1")
    fake_backend.run(7)
    fig = LiveFigure(fake_backend)
    fig.refresh()
    copy = fig.static()
    assert type(copy).__name__ == "Figure"
    assert len(trace(copy, "ready replicas").x) == 7
