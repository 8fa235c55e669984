"""The HPA dynamics learners will see, run on the twin from the shipped manifests."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit.autoscalers.hpa_controller import ControllerConfig
from labkit.backends.sim import SimBackend
from labkit.load import Constant, Spike, Step

from .conftest import edited, simulate

SPIKE = Spike(base_users=2, peak_users=100, start=30, length=300, duration=1200)


def rescales(tl) -> pd.DataFrame:
    ev = tl.events_with("SuccessfulRescale").copy()
    ev["size"] = ev.message.str.extract(r"New size: (\d+)").astype(int)
    return ev


def test_cpu_spike_scales_out_then_back_after_the_stabilization_window():
    tl = simulate("hpa-v1", SPIKE, 1200)
    s = tl.samples
    during = s[(s.time >= 30) & (s.time <= 150)]
    assert during.spec_replicas.max() >= 5, "a 50x spike must scale out within 2 minutes"
    ev = rescales(tl)
    first_down = ev[ev.message.str.contains("All metrics below target")].time.min()
    drop = SPIKE.start + SPIKE.length
    # The last high recommendation is at most one sync + one scrape after the drop; the
    # legacy path keeps the 5-minute maximum, so nothing scales down before drop + 300 s.
    assert first_down >= drop + 300 - 15
    assert first_down <= drop + 300 + 45
    assert s[s.time >= first_down + 60].spec_replicas.max() == 1


BIG_SPIKE = SPIKE.with_(peak_users=250)


def test_behavior_shapes_a_different_staircase_than_the_legacy_path():
    no_behavior = edited("hpa-v2", "HorizontalPodAutoscaler", lambda d: d["spec"].pop("behavior"))
    with_b = rescales(simulate("hpa-v2", BIG_SPIKE, 1200))
    legacy = rescales(simulate(no_behavior, BIG_SPIKE, 1200))
    # Legacy scale-up limit: at most max(2c, 4) per sync. Course behavior: max(+100 %, +4 pods)
    # per 30 s, so it reaches the peak in fewer, larger steps.
    ups_l = legacy[legacy.time < SPIKE.start + SPIKE.length]
    ups_b = with_b[with_b.time < SPIKE.start + SPIKE.length]
    prev = 1
    for size in ups_l["size"]:
        assert size <= max(2 * prev, 4)
        prev = size
    assert ups_b["size"].max() == ups_l["size"].max() == 10
    # The behavior path obeys its own policies (per 30 s: +100 % or +4 pods, whichever is more,
    # counted from the replicas at the start of the period), so the staircase differs.
    prev = 1
    for size in ups_b["size"]:
        assert size <= max(2 * prev, prev + 4)
        prev = size
    assert list(zip(ups_b.time, ups_b["size"])) != list(zip(ups_l.time, ups_l["size"]))
    # Scale-down: 50 % per 60 s with behavior (several steps), one jump without.
    drop = SPIKE.start + SPIKE.length
    downs_b = with_b[with_b.time > drop]
    downs_l = legacy[legacy.time > drop]
    assert len(downs_b) >= 2 and len(downs_l) >= 1
    sizes = [ups_b["size"].max()] + list(downs_b["size"])
    for before, after in zip(sizes, sizes[1:]):
        assert after >= int(before * 0.5), "never more than 50 % removed per step"
    assert list(zip(with_b.time, with_b["size"])) != list(zip(legacy.time, legacy["size"]))


@pytest.mark.parametrize("window,max_rescales", [(0, None), (300, 4)])
def test_flapping_needs_a_scale_down_window(window, max_rescales):
    def set_window(doc):
        doc["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = window
    v = edited("hpa-v2", "HorizontalPodAutoscaler", set_window)
    wave = Step(steps=tuple((t, 40 if (t // 60) % 2 == 0 else 12) for t in range(0, 1200, 60)),
                duration=1200)
    n = len(rescales(simulate(v, wave, 1200)))
    if max_rescales is None:
        assert n >= 8, f"with a 0 s window the HPA follows every wave ({n} rescales)"
    else:
        assert n <= max_rescales, f"a 300 s window holds the peak ({n} rescales)"


def test_max_replicas_reached_sets_scaling_limited():
    b = SimBackend()
    b.deploy("hpa-v1")
    b.load(Constant(users=400, duration=400))
    tl = b.run(400)
    assert tl.samples.spec_replicas.max() == 10
    assert tl.samples.spec_replicas.iloc[-1] == 10
    hpa = b.world.autoscalers[0]
    limited = hpa.condition("ScalingLimited")
    assert limited.status == "True" and limited.reason == "TooManyReplicas"
    assert tl.samples.metric_value.iloc[-1] > tl.samples.metric_target.iloc[-1]


def test_pods_stay_pending_when_the_node_is_full():
    # 2 CPUs allocatable, 950m for kube-system: room for five 200m pods.
    tl = simulate("hpa-v1", Constant(users=400, duration=300), 300,
                  params={"node_cpu_milli": 2000})
    last = tl.samples.iloc[-1]
    assert last.spec_replicas == 10
    assert last.ready_replicas == 5
    assert last.pending_pods == 5


def test_missing_cpu_request_is_the_unknown_trap():
    def drop_requests(doc):
        res = doc["spec"]["template"]["spec"]["containers"][0]["resources"]
        res.pop("requests")
        res.pop("limits")
    v = edited("hpa-v1", "Deployment", drop_requests)
    tl = simulate(v, Constant(users=100, duration=200), 200)
    failed = tl.events_with("FailedGetResourceMetric")
    assert len(failed) > 0
    assert failed.message.str.contains("missing request for cpu").any()
    assert tl.samples.metric_value.isna().all(), "kubectl would show <unknown>"
    assert tl.samples.spec_replicas.max() == 1


def test_new_pods_startup_cpu_is_ignored_during_initialization():
    # Model loading burns CPU; without the CPU initialization heuristic that burst would look
    # like load, and the HPA would overshoot.
    load = Constant(users=25, duration=600)
    with_heuristic = simulate("hpa-v1", load, 600)
    without = simulate("hpa-v1", load, 600, hpa_config=ControllerConfig(
        cpu_initialization_period=0, initial_readiness_delay=0))
    assert with_heuristic.samples.spec_replicas.max() < without.samples.spec_replicas.max()


def test_runs_are_deterministic_for_a_seed():
    a = simulate("hpa-v2", SPIKE, 600, seed=7).samples
    b = simulate("hpa-v2", SPIKE, 600, seed=7).samples
    c = simulate("hpa-v2", SPIKE, 600, seed=8).samples
    pd.testing.assert_frame_equal(a, b)
    assert not a.rps.equals(c.rps)
