"""The control panel: widgets -> the plain labkit.lab.run path, Start/Stop, headless fallback."""

from __future__ import annotations

import time

import pytest

import labkit.lab
from labkit.errors import LabkitError
from labkit.lab import build_profile
from labkit.live import Lab, panel
from labkit.live.figure import TRACES
from labkit.load import Constant, Diurnal, Ramp, Spike, Step, Trace

USERS = list(TRACES).index("users")


def make_lab(backend, **kw):
    return Lab(backend, live=True, interval=0.05, **kw)


def test_settings_are_the_widgets_values(fake_backend):
    lab = make_lab(fake_backend, variant="knative", profile="ramp", users=80, duration=120,
                   spawn_rate=5, speed=None, seed=3, slo_ms=400)
    lab.users.value = 90
    lab.speed.value = "30x"
    assert lab.settings() == {"variant": "knative", "profile": "ramp", "duration": 120.0,
                              "users": 90, "spawn_rate": 5.0, "speed": 30.0, "seed": 3,
                              "slo_ms": 400}


def test_start_button_calls_the_plain_function(monkeypatch, fake_backend):
    calls = []

    def fake_run(variant, profile, duration, **kw):
        calls.append((variant, profile, duration, kw))
        return fake_backend.timeline()

    monkeypatch.setattr(labkit.lab, "run", fake_run)
    lab = make_lab(fake_backend, variant="keda", profile="step", users=40, duration=60,
                   speed=None)
    lab.start_button.click()
    lab.wait(5)
    (variant, profile, duration, kw), = calls
    assert (variant, profile, duration) == ("keda", "step", 60.0)
    assert kw["backend"] is fake_backend and kw["users"] == 40 and kw["speed"] is None
    assert kw["stop"] is not None  # the Stop button's event
    assert lab.error is None


def test_start_runs_in_the_background_and_the_figure_follows(fake_backend):
    lab = make_lab(fake_backend, variant="hpa-v1", profile="spike", users=100, duration=40,
                   speed=None)
    lab.start_button.click()
    tl = lab.wait(10)
    assert len(tl) == 40 and tl.meta["variant"] == "hpa-v1"
    assert len(lab.figure.widget.data[USERS].x) == 40
    assert lab.status.value.startswith("done: 40 s") and "pod-seconds" in lab.status.value
    assert "seconds over SLO" in lab.status.value and "p95 (ms)" in lab.status.value
    assert not lab.start_button.disabled and lab.stop_button.disabled
    assert [c[0] for c in fake_backend.calls] == ["deploy", "load", "run"]


def test_stop_button_ends_the_run_early(fake_backend):
    lab = make_lab(fake_backend, profile="constant", users=10, duration=10_000, speed=100.0)
    lab.start_button.click()
    assert lab.running and lab.start_button.disabled
    lab.stop_button.click()
    tl = lab.wait(10)
    assert not lab.running
    assert 0 < len(tl) < 10_000


def test_errors_show_in_the_panel(fake_backend):
    lab = make_lab(fake_backend, profile="trace", duration=30)
    lab.start_button.click()
    lab.wait(5)
    assert isinstance(lab.error, LabkitError)
    assert "trace CSV field" in lab.status.value and "error" in lab.status.value


def test_trace_path_widget_only_shows_for_trace(fake_backend):
    lab = make_lab(fake_backend, profile="spike")
    assert lab.trace_path.layout.display == "none"
    lab.profile.value = "trace"
    assert lab.trace_path.layout.display is None


def test_headless_panel_runs_at_once_and_keeps_the_timeline(fake_backend, capsys):
    lab = panel(fake_backend, live=False, variant="hpa-v2", profile="constant", users=20,
                duration=15, speed=None)
    assert len(lab.timeline) == 15
    assert len(lab.figure.widget.data[USERS].x) == 15


def test_speed_slider_only_for_the_twin(fake_backend):
    fake_backend.name = "kind"
    lab = make_lab(fake_backend)
    assert lab.speed.layout.display == "none"
    assert lab.settings()["speed"] is None


@pytest.mark.parametrize("name, cls, at, expected", [
    pytest.param("constant", Constant, [0, 50, 99], [100, 100, 100], id="constant"),
    pytest.param("step", Step, [0, 19, 20, 69, 70], [10, 10, 100, 100, 10], id="step"),
    pytest.param("ramp", Ramp, [0, 25, 50, 99], [0, 50, 100, 100], id="ramp"),
    pytest.param("spike", Spike, [0, 9, 10, 39, 40], [5, 5, 100, 100, 5], id="spike"),
    pytest.param("diurnal", Diurnal, [0, 50], [10, 100], id="diurnal-one-day-per-run"),
])
def test_profile_from_widget_values(name, cls, at, expected):
    p = build_profile(name, duration=100, users=100, spawn_rate=7)
    assert isinstance(p, cls) and p.duration == 100 and p.spawn_rate == 7
    assert [round(p.users_at(t)) for t in at] == expected


def test_trace_profile_needs_a_file(tmp_path):
    with pytest.raises(LabkitError, match="trace_path"):
        build_profile("trace", duration=60, users=10)
    csv = tmp_path / "t.csv"
    csv.write_text("time,users\n0,3\n30,12\n")
    p = build_profile("trace", duration=60, users=10, trace_path=str(csv))
    assert isinstance(p, Trace) and p.users_at(31) == 12 and p.duration == 60


def test_explicit_parameters_override_the_fitted_shape():
    p = build_profile("spike", duration=100, users=100, start=50)
    assert p.users_at(45) == 5 and p.users_at(55) == 100


def test_plain_run_owns_a_named_backend_and_leaves_an_instance_open(fake_backend):
    tl = labkit.lab.run("hpa-v2", "ramp", 12, backend=fake_backend, users=30, slo_ms=300)
    assert len(tl) == 12 and tl.meta["slo_ms"] == 300 and "ramp" in tl.meta["profile"]
    assert not fake_backend.closed


def test_the_dropdown_offers_the_variant_it_is_given(fake_backend):
    # 00-setup starts its panel on "base" (the app alone), which is not an autoscaling variant
    lab = make_lab(fake_backend, variant="base", profile="constant", users=5, duration=30)
    assert lab.variant.value == "base"
    assert list(lab.variant.options) == ["base", *labkit.lab.VARIANTS]
    assert list(make_lab(fake_backend, variant="keda").variant.options) == list(
        labkit.lab.VARIANTS)


def test_stop_says_where_the_run_stopped(fake_backend):
    lab = make_lab(fake_backend, profile="constant", users=10, duration=10_000, speed=100.0)
    lab.start_button.click()
    time.sleep(0.2)
    lab.stop_button.click()
    tl = lab.wait(10)
    end = int(tl.samples.time.iloc[-1])
    assert lab.status.value.startswith(f"stopped at t = {end} s of 10000 s")
    assert "labkit-panel" in lab.widget._dom_classes


def test_the_figure_axis_follows_the_duration_widget(fake_backend):
    lab = make_lab(fake_backend, duration=120, speed=10.0)
    assert tuple(lab.figure.widget.layout.xaxis.range) == (0, 120)
    lab.duration.value = 600
    assert tuple(lab.figure.widget.layout.xaxis.range) == (0, 600)
    assert lab.figure.widget.layout.title.text.startswith("t = 0 s of 600 s · 10x speed")
