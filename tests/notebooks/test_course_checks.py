"""The verification checks judge a Timeline by what the autoscaler did."""

from __future__ import annotations

import pytest

from labkit import checks
from labkit.checks import VerificationFailed

from nbhelpers import fake_timeline

SPIKE = [1] * 30 + [2] * 15 + [4] * 15 + [6] * 60 + [3] * 60 + [1] * 60   # 240 s


@pytest.mark.parametrize("replicas, within, after, passed", [
    pytest.param(4, 15, 30, True, id="reached-4-in-time"),
    pytest.param(4, 10, 30, False, id="reached-4-too-late"),
    pytest.param(7, 300, 0, False, id="never-reached-7"),
    pytest.param(1, 0, 0, True, id="already-there"),
])
def test_reached(replicas, within, after, passed):
    c = checks.reached(fake_timeline(SPIKE), replicas, within=within, after=after)
    assert c.passed is passed
    assert bool(c) is passed


@pytest.mark.parametrize("replicas, within, after, passed", [
    pytest.param(1, 60, 120, True, id="back-to-1-in-time"),
    pytest.param(1, 30, 120, False, id="back-to-1-too-late"),
    pytest.param(0, 500, 0, False, id="never-zero"),
])
def test_back_to(replicas, within, after, passed):
    assert checks.back_to(fake_timeline(SPIKE), replicas, within=within, after=after).passed \
        is passed


@pytest.mark.parametrize("series, pods, per, passed", [
    pytest.param([5] * 10 + [4] * 60 + [3] * 60 + [2], 1, 60, True, id="one-per-minute"),
    pytest.param([5] * 10 + [4] * 30 + [3] * 60, 1, 60, False, id="two-in-a-minute"),
    pytest.param([5] * 10 + [3] * 60, 1, 60, False, id="two-at-once"),
    pytest.param([1] * 10 + [5] * 10, 1, 60, True, id="scale-up-ignored"),
])
def test_never_removes_more_than(series, pods, per, passed):
    c = checks.never_removes_more_than(fake_timeline(series), pods, per=per,
                                       hint="spec.behavior.scaleDown.policies")
    assert c.passed is passed
    if not passed:
        assert "spec.behavior.scaleDown.policies" in str(c)


def test_never_adds_more_than():
    tl = fake_timeline([1] * 5 + [5] * 5 + [10] * 5)
    assert not checks.never_adds_more_than(tl, 4, per=15).passed
    assert checks.never_adds_more_than(tl, 9, per=15).passed


@pytest.mark.parametrize("series, flapping", [
    pytest.param([2, 3, 2, 3, 2, 3], True, id="up-down-up"),
    pytest.param([1, 2, 4, 6, 6, 3, 1], False, id="one-reversal"),
    pytest.param([1, 1, 1], False, id="flat"),
])
def test_flaps_and_steady(series, flapping):
    tl = fake_timeline(series)
    assert checks.flaps(tl, at_least=2).passed is flapping
    assert checks.steady(tl, max_reversals=1).passed is (not flapping)


def test_p95_below_counts_seconds_over():
    tl = fake_timeline([1] * 10, p95=[100] * 7 + [900] * 3)
    assert not checks.p95_below(tl, 500).passed
    assert checks.p95_below(tl, 500, allow_seconds=3).passed
    assert checks.p95_below(tl, 500, until=6).passed


def test_events_metric_and_panic():
    events = [{"time": 15.0, "object": "HorizontalPodAutoscaler/app-fastapi", "type": "Warning",
               "reason": "FailedGetResourceMetric",
               "message": "missing request for cpu in container app-fastapi"}]
    tl = fake_timeline([1] * 30, events=events, metric=[float("nan")] * 30,
                       panic=[False] * 10 + [True] * 5 + [False] * 15)
    assert checks.event_seen(tl, "FailedGetResourceMetric", contains="missing request").passed
    assert not checks.event_seen(tl, "SuccessfulRescale").passed
    assert checks.no_event(tl, "SuccessfulRescale").passed
    assert checks.metric_unknown(tl).passed
    assert checks.panicked(tl, within=15).passed
    assert not checks.panicked(tl, within=5).passed


def test_pod_seconds():
    tl = fake_timeline([2] * 11)   # 10 s at 2 pods
    assert checks.pod_seconds(tl) == pytest.approx(20.0)
    assert checks.at_most_pod_seconds(tl, 20).passed


def test_require_prints_and_raises_with_hints(capsys):
    tl = fake_timeline(SPIKE)
    ok = checks.reached(tl, 4, within=60, after=30)
    bad = checks.reached(tl, 8, within=60, after=30, hint="raise maxReplicas")
    assert checks.require(ok) is None
    with pytest.raises(VerificationFailed, match="raise maxReplicas") as e:
        checks.require(ok, [bad])
    assert isinstance(e.value, AssertionError)
    assert "[PASS]" in capsys.readouterr().out


def test_require_needs_checks():
    with pytest.raises(Exception, match="no checks"):
        checks.require()


def test_fights_reads_alternating_rescale_events():
    def ev(t, obj, n):
        return {"time": t, "object": f"HorizontalPodAutoscaler/{obj}", "type": "Normal",
                "reason": "SuccessfulRescale", "message": f"New size: {n}; reason: x"}
    fight = [ev(30, "a", 4), ev(45, "b", 3), ev(45, "a", 6), ev(60, "b", 3), ev(60, "a", 6)]
    calm = [ev(30, "a", 4), ev(45, "a", 6), ev(300, "a", 1)]
    assert checks.fights(fake_timeline([1] * 10, events=fight), at_least=3).passed
    assert not checks.fights(fake_timeline([1] * 10, events=calm), at_least=1).passed
