"""Knative, KServe and KEDA dynamics on the twin, from the shipped manifests."""

from __future__ import annotations

import copy

from labkit.backends.sim import SimBackend
from labkit.load import Constant, Step

from .conftest import edited, simulate

#: Some load, silence long enough to scale to zero, then one user again at t = 500.
IDLE_THEN_ONE = Step(steps=((0, 0), (20, 5), (120, 0), (500, 1), (560, 0)), duration=700,
                     spawn_rate=50)


def test_knative_scales_to_zero_after_idle_and_the_next_request_pays_the_cold_start():
    tl = simulate("knative", IDLE_THEN_ONE, 700)
    s = tl.samples
    # Last request ~t=121: the stable window (60 s) must empty, then the 30 s scale-down delay,
    # then the retention period / grace period before the pod goes.
    zero_at = s[(s.time > 120) & (s.spec_replicas == 0)].time.min()
    assert 120 + 60 <= zero_at <= 120 + 60 + 30 + 30 + 15
    cold = tl.events_with("ColdStart")
    assert len(cold) == 1 and cold.time[0] >= 500
    after = s[(s.time >= 500) & (s.time <= 530)]
    warm = s[(s.time >= 30) & (s.time <= 110)]
    # The first requests waited in the activator for a pod to start: seconds, not milliseconds.
    assert after.latency_p95.max() > 3000
    assert warm.latency_p95.max() < 500
    assert after.errors.sum() == 0


def test_panic_mode_scales_a_10x_burst_faster_than_the_stable_window():
    burst = Step(steps=((0, 10), (200, 100)), duration=400, spawn_rate=100)
    no_panic = edited("knative", "Service", lambda d: d["spec"]["template"]["metadata"][
        "annotations"].__setitem__("autoscaling.knative.dev/panic-threshold-percentage", "1000"))
    s = simulate("knative", burst, 400).samples
    calm = simulate(no_panic, burst, 400).samples
    window = (s.time > 200) & (s.time <= 215)
    assert s[window].panic_mode.any()
    assert not calm.panic_mode[calm.time > 100].any()
    # Within 15 s the panic window has seen the burst; the 60 s stable window has not.
    assert s[window].spec_replicas.max() >= 5
    assert calm[(calm.time > 200) & (calm.time <= 215)].spec_replicas.max() <= 2
    # In panic the KPA never scales down.
    after = s[s.time > 200]
    start = after[after.panic_mode].time.min()
    end = after[(after.time > start) & ~after.panic_mode].time.min()
    episode = after[(after.time >= start) & (after.time < end)]
    assert len(episode) > 30 and (episode.spec_replicas.diff().dropna() >= 0).all()


def test_kserve_without_min_replicas_zero_never_reaches_zero():
    def drop_min(doc):
        doc["spec"]["predictor"].pop("minReplicas", None)
    v = edited("kserve", "InferenceService", drop_min)
    tl = simulate(v, IDLE_THEN_ONE, 700)
    assert tl.samples[tl.samples.time > 30].spec_replicas.min() == 1
    shipped = simulate("kserve", IDLE_THEN_ONE, 700)
    assert shipped.samples.spec_replicas.min() == 0


def test_keda_goes_to_zero_after_cooldown_while_its_hpa_says_min_1_and_activates_again():
    b = SimBackend()
    b.deploy("keda")
    b.load(IDLE_THEN_ONE)
    tl = b.run(700)
    keda = b.world.autoscalers[0]
    assert keda.hpa.spec.min_replicas == 1          # what `kubectl get hpa` shows
    assert keda.so.min_replica_count == 0
    ev = tl.events
    down = ev[(ev.reason == "KEDAScaleTargetDeactivated") & (ev.time > 120)]
    up = ev[(ev.reason == "KEDAScaleTargetActivated") & (ev.time >= 500)]
    assert len(down) >= 1 and len(up) == 1
    cooldown = keda.so.cooldown_period
    # Last active poll is just after the last request (~t=121); strictly after the cooldown,
    # at the next poll.
    assert 120 + cooldown < down.time.iloc[0] <= 125 + cooldown + keda.so.polling_interval
    assert up.time.iloc[0] <= 500 + keda.so.polling_interval + 1
    assert "from 0 to 1" in up.message.iloc[0]
    # The gateway held that request while the pod started: a cold start, as with Knative.
    cold = tl.events_with("ColdStart")
    assert (cold.time >= 500).sum() == 1 and "KEDA gateway" in cold.message.iloc[-1]
    # While at zero the HPA is idle, as upstream: ScalingActive=False, ScalingDisabled.
    b2 = SimBackend()
    b2.deploy("keda")
    b2.run(60)
    cond = b2.world.autoscalers[0].hpa.condition("ScalingActive")
    assert (cond.status, cond.reason) == ("False", "ScalingDisabled")


def test_keda_falls_back_to_fixed_replicas_when_the_metric_source_fails():
    def add_fallback(doc):
        doc["spec"]["fallback"] = {"failureThreshold": 3, "replicas": 4}
        doc["spec"]["minReplicaCount"] = 1
    v = edited("keda", "ScaledObject", add_fallback)
    b = SimBackend()
    b.deploy(v)
    b.load(Constant(users=5, duration=400))
    b.run(100)
    assert b.timeline().samples.spec_replicas.iloc[-1] < 4
    b.inject_fault("keda-trigger")
    tl = b.run(120)
    s = tl.samples
    assert s[s.time > 160].spec_replicas.max() == 4
    assert len(tl.events_with("ScaledObjectFallbackActivated")) == 1
    keda = b.world.autoscalers[0]
    assert keda.condition("Fallback").status == "True"


def test_kserve_standard_mode_runs_through_the_hpa():
    def standard(doc):
        doc["metadata"].setdefault("annotations", {})[
            "serving.kserve.io/deploymentMode"] = "Standard"
        doc["spec"]["predictor"].update(minReplicas=1, maxReplicas=5, scaleMetric="cpu",
                                        scaleTarget=50)
    v = edited("kserve", "InferenceService", standard)
    b = SimBackend()
    b.deploy(v)
    b.load(Constant(users=100, duration=300))
    tl = b.run(300)
    hpa = b.world.autoscalers[0]
    assert hpa.spec.behavior is not None            # KServe sets an empty behavior: defaults
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 5)
    assert tl.samples.spec_replicas.max() == 5
    assert tl.events_with("SuccessfulRescale").message.str.contains("cpu resource").any()
