"""One HPA reconcile, and sequences of them every 15 s (spec §1.3, §1.8–§1.12).

The sequences use an idealized target: the pods follow the written scale at once and are
Ready and long started, so what the rows show is the controller's own arithmetic (E8, E9,
E10's staircase), not pod start-up.
"""

from __future__ import annotations

import pytest

from labkit.autoscalers.behavior import HPAState, Recommendation
from labkit.autoscalers.hpa import Container, MetricError, PodInfo, PodMetric
from labkit.autoscalers.hpa_controller import (
    Condition, ControllerConfig, MetricStatus, reconcile)
from labkit.autoscalers.hpa_spec import hpa_spec_from_manifest

SYNC = 15.0
CPU_UP = "cpu resource utilization (percentage of request) above target"


def manifest(api="autoscaling/v2", **spec):
    doc = {"apiVersion": api, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"}, "minReplicas": 1, "maxReplicas": 20}}
    doc["spec"].update(spec)
    return hpa_spec_from_manifest(doc)


CPU50 = [{"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 50}}}]
QUEUE = {"type": "External", "external": {"metric": {"name": "queue"}, "target": {
    "type": "AverageValue", "averageValue": 5}}}


def ready_pods(n, *, cpu_request=200):
    requests = {} if cpu_request is None else {"cpu": cpu_request}
    return [PodInfo(f"p{i}", phase="Running", start_time=-1000.0, ready=True,
                    ready_transition_time=-990.0, containers=(Container("app", requests),))
            for i in range(n)]


class Fake:
    """A MetricsSource: CPU milli per pod (a list or one value for all), external values."""

    def __init__(self, cpu=None, external=None, fail=(), forbid=False):
        self.cpu, self.external, self.fail, self.forbid = cpu, external or {}, set(fail), forbid
        self.calls = 0

    def resource_metrics(self, resource, selector):
        self._called()
        if "cpu" in self.fail:
            raise MetricError("", "unable to fetch metrics from resource metrics API: down")
        return [PodMetric(name, -1.0, 15.0, {"app": {"cpu": v}}) for name, v in self.cpu]

    def pods_metric(self, name, selector):
        self._called()
        return []

    def object_metric(self, name, described_object, selector):
        self._called()
        raise MetricError("", "not served")

    def external_metric(self, name, selector):
        self._called()
        if name in self.fail:
            raise MetricError("", "adapter unavailable")
        return self.external.get(name, [])

    def _called(self):
        self.calls += 1
        assert not self.forbid, "the controller read metrics in a short-circuit path"


def fake_for(pod_list, cpu, **kw):
    values = cpu if isinstance(cpu, list) else [cpu] * len(pod_list)
    return Fake(cpu=[(p.name, v) for p, v in zip(pod_list, values)], **kw)


def run(spec, *, replicas, steps, cpu=lambda t: 2000, external=lambda t: {},
        config=ControllerConfig(), conditions=(), state=None):
    """Reconcile every 15 s from t=0; returns [(t, desired)] and the results."""
    seq, results = [], []
    for k in range(steps):
        now = k * SYNC
        pod_list = ready_pods(replicas)
        src = fake_for(pod_list, cpu(now), external=external(now))
        r = reconcile(spec, spec_replicas=replicas, status_replicas=replicas, pods=pod_list,
                      selector={"app": "web"}, metrics=src, state=state, now=now,
                      config=config, conditions=conditions)
        state, conditions, replicas = r.state, r.conditions, r.desired_replicas
        seq.append((now, replicas))
        results.append(r)
    return seq, results


def values(seq):
    return [v for _, v in seq]


def changes(seq, start):
    out, last = [], start
    for t, v in seq:
        if v != last:
            out.append((t, v))
            last = v
    return out


def cond(result, type_):
    return next(c for c in result.conditions if c.type == type_)


# ----------------------------------------------------------------------------- E8 / E9
SEQUENCE_CASES = [
    pytest.param(manifest(metrics=CPU50), [4, 8, 16, 20, 20], id="E8-nil-behavior-legacy"),
    pytest.param(manifest(api="autoscaling/v1", targetCPUUtilizationPercentage=50),
                 [4, 8, 16, 20, 20], id="E8-v1-is-legacy-too"),
    pytest.param(manifest(metrics=CPU50, behavior={}), [5, 10, 20, 20, 20],
                 id="E9-empty-behavior-defaulted"),
    pytest.param(manifest(metrics=CPU50, behavior={"scaleUp": {"selectPolicy": "Min"}}),
                 [2, 4, 8, 12, 16], id="selectPolicy-Min-scale-up"),
    pytest.param(manifest(metrics=CPU50, behavior={"scaleUp": {"selectPolicy": "Disabled"}}),
                 [1, 1, 1, 1, 1], id="selectPolicy-Disabled-scale-up"),
    pytest.param(manifest(metrics=CPU50, behavior={"scaleUp": {
        "stabilizationWindowSeconds": 30}}), [1, 1, 5, 10, 20],
                 id="scale-up-window-waits-until-all-recent-recs-are-high"),
]


@pytest.mark.parametrize("spec, expected", SEQUENCE_CASES)
def test_scale_up_sequences_from_one_replica(spec, expected):
    # every pod at 2000m of a 200m request: 1000 % vs 50 % -> the metric wants >= 20
    seq, _ = run(spec, replicas=1, steps=5)
    assert values(seq) == expected


def test_E8_conditions_and_events():
    _, results = run(manifest(metrics=CPU50), replicas=1, steps=4)
    first, last = results[0], results[-1]
    assert first.events[0].message == f"New size: 4; reason: {CPU_UP}"
    assert cond(first, "ScalingLimited").reason == "ScaleUpLimit"
    assert cond(last, "ScalingLimited").reason == "TooManyReplicas"
    assert cond(last, "AbleToScale").reason == "SucceededRescale"
    assert cond(last, "ScalingActive").message == (
        "the HPA was able to successfully calculate a replica count from cpu resource "
        "utilization (percentage of request)")
    assert first.state.scale_up_events == ()        # legacy path records no scale events


def test_E9_records_scale_events_only_on_behavior_path():
    _, results = run(manifest(metrics=CPU50, behavior={}), replicas=1, steps=3)
    # t0 +4, t15 +5, t30 +10: at t30 the t0 event is older than the 15 s period, so it is
    # marked outdated and its slot is reused
    assert [(e.replica_change, e.timestamp) for e in results[-1].state.scale_up_events] == \
        [(10, 30.0), (5, 15.0)]


# ----------------------------------------------------------------------------- E10
def test_E10_scale_down_staircase():
    spec = manifest(metrics=CPU50, minReplicas=10, maxReplicas=100, behavior={"scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60},
                     {"type": "Percent", "value": 10, "periodSeconds": 60}]}})
    seq, results = run(spec, replicas=80, steps=56, cpu=lambda t: 0)
    assert changes(seq, 80) == [(0, 72), (60, 64), (120, 57), (180, 51), (240, 45), (300, 40),
                                (360, 36), (420, 32), (480, 28), (540, 24), (600, 20),
                                (660, 16), (720, 12), (780, 10)]
    held = results[1]                                          # t = 15 s, still 72
    assert (held.rescale, cond(held, "ScalingLimited").reason) == (False, "ScaleDownLimit")
    assert cond(results[-1], "ScalingLimited").reason == "TooFewReplicas"


def test_selectPolicy_Disabled_scale_down_never_scales_down():
    spec = manifest(metrics=CPU50, behavior={"scaleDown": {"selectPolicy": "Disabled",
                                                           "stabilizationWindowSeconds": 0}})
    seq, results = run(spec, replicas=5, steps=30, cpu=lambda t: 0)
    assert set(values(seq)) == {5}
    assert cond(results[-1], "ScalingLimited").reason == "ScaleDownLimit"


# ----------------------------------------------------------------------------- scale down
def test_legacy_scale_down_waits_five_minutes_from_the_seeded_recommendation():
    seq, results = run(manifest(metrics=CPU50), replicas=4, steps=24, cpu=lambda t: 20)
    assert changes(seq, 4) == [(315, 1)]
    assert cond(results[0], "AbleToScale").reason == "ScaleDownStabilized"
    assert results[21].events[-1].message == "New size: 1; reason: All metrics below target"


def test_behavior_default_scale_down_window_comes_from_the_flag():
    config = ControllerConfig(downscale_stabilization=60.0)
    seq, _ = run(manifest(metrics=CPU50, behavior={}), replicas=4, steps=8, cpu=lambda t: 20,
                 config=config)
    # behavior windows count recommendations strictly newer than now - 60: the seeded one
    # (t=0) stops counting at t=60 (the legacy window would still count it at its edge)
    assert changes(seq, 4) == [(60, 1)]


def test_flapping_load_does_not_flap_replicas():
    # high, low, high, low ...: scale-up is immediate, scale-down waits for the window
    seq, results = run(manifest(metrics=CPU50), replicas=2, steps=16,
                       cpu=lambda t: 150 if int(t // 15) % 2 == 0 else 10)
    replicas = values(seq)
    assert replicas[0] == 3 and all(b >= a for a, b in zip(replicas, replicas[1:]))
    assert all(r.metric_desired_replicas < r.current_replicas for r in results[1::2])


# ----------------------------------------------------------------------------- one reconcile
def one(spec, *, replicas, cpu=None, pod_list=None, status=None, source=None, state=None,
        config=ControllerConfig(), conditions=(), now=0.0):
    pod_list = ready_pods(replicas) if pod_list is None else pod_list
    src = source if source is not None else fake_for(pod_list, cpu)
    return reconcile(spec, spec_replicas=replicas,
                     status_replicas=replicas if status is None else status, pods=pod_list,
                     selector={"app": "web"}, metrics=src, state=state, now=now,
                     config=config, conditions=conditions)


def test_rescale_event_text_E2():
    spec = manifest(metrics=[{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 70}}}])
    r = one(spec, replicas=3, cpu=[155, 160, 170])
    assert (r.desired_replicas, r.rescale) == (4, True)
    assert [(e.type, e.reason, e.message) for e in r.events] == [
        ("Normal", "SuccessfulRescale", f"New size: 4; reason: {CPU_UP}")]
    assert r.current_metrics == (MetricStatus(spec.metrics[0], 161, 80),)
    assert r.state.recommendations == (Recommendation(3, 0.0), Recommendation(4, 0.0))


def test_first_reconcile_seeds_state_and_later_state_is_kept():
    r = one(manifest(metrics=CPU50), replicas=3, cpu=100)
    assert r.state.recommendations[0] == Recommendation(3, 0.0)
    again = one(manifest(metrics=CPU50), replicas=3, cpu=100, state=r.state, now=15.0)
    assert again.state.recommendations[0] == Recommendation(3, 0.0)


E7_CASES = [
    # id, cpu per pod (proposal), external values, expected metric desired, desired, events
    pytest.param(120, {"queue": [95_000]}, 10, 6, ["SuccessfulRescale"],
                 id="E7-max-of-cpu-4-and-external-10"),
    pytest.param(160, "broken", 5, 5, ["FailedGetExternalMetric", "SuccessfulRescale"],
                 id="E7-broken-metric-does-not-block-scale-up"),
    pytest.param(60, "broken", None, 3, ["FailedGetExternalMetric",
                                         "FailedComputeMetricsReplicas"],
                 id="E7-broken-metric-blocks-scale-down"),
    pytest.param(100, "broken", 3, 3, ["FailedGetExternalMetric"],
                 id="broken-metric-with-no-change-proceeds"),
]


@pytest.mark.parametrize("cpu, external, metric_desired, desired, reasons", E7_CASES)
def test_multiple_metrics_and_errors(cpu, external, metric_desired, desired, reasons):
    spec = manifest(metrics=CPU50 + [{"type": "External", "external": {
        "metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": 10}}}])
    pod_list = ready_pods(3)
    src = fake_for(pod_list, cpu, external={} if external == "broken" else external,
                   fail={"queue"} if external == "broken" else ())
    r = one(spec, replicas=3, pod_list=pod_list, source=src)
    assert (r.metric_desired_replicas, r.desired_replicas) == (metric_desired, desired)
    assert [e.reason for e in r.events] == reasons
    active = cond(r, "ScalingActive")
    if metric_desired is None:
        assert (active.status, active.reason) == ("False", "FailedGetExternalMetric")
        assert r.events[-1].message.startswith(
            "invalid metrics (1 invalid out of 2), first error is: failed to get external "
            "metric value: failed to get queue external metric: unable to get external metric "
            "default/queue/nil: adapter unavailable")
    else:
        assert (active.status, active.reason) == ("True", "ValidMetricFound")


def test_missing_cpu_request_reports_unknown_and_exact_messages():
    pod_list = ready_pods(2, cpu_request=None)
    r = one(manifest(metrics=CPU50), replicas=2, pod_list=pod_list, cpu=100)
    inner = "failed to get cpu utilization: missing request for cpu in container app of Pod p0"
    assert [(e.type, e.reason, e.message) for e in r.events] == [
        ("Warning", "FailedGetResourceMetric", inner),
        ("Warning", "FailedComputeMetricsReplicas",
         f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource "
         f"metric value: {inner}")]
    assert cond(r, "ScalingActive") == Condition(
        "ScalingActive", "False", "FailedGetResourceMetric",
        f"the HPA was unable to compute the replica count: {inner}", 0.0)
    assert r.current_metrics == (MetricStatus(r.current_metrics[0].metric, None, None),)
    assert (r.rescale, r.desired_replicas, r.metric_desired_replicas) == (False, 2, None)


def test_no_metrics_from_metrics_server():
    r = one(manifest(metrics=CPU50), replicas=2, source=Fake(cpu=[]))
    assert r.events[0].message == ("failed to get cpu utilization: unable to get metrics for "
                                   "resource cpu: no metrics returned from resource metrics API")


SHORT_CIRCUIT_CASES = [
    pytest.param(25, 20, "Current number of replicas above Spec.MaxReplicas", id="above-max"),
    pytest.param(1, 2, "Current number of replicas below Spec.MinReplicas", id="below-min"),
]


@pytest.mark.parametrize("current, desired, reason", SHORT_CIRCUIT_CASES)
def test_short_circuits_skip_metrics(current, desired, reason):
    spec = manifest(metrics=CPU50, minReplicas=2, behavior={})
    r = one(spec, replicas=current, source=Fake(forbid=True))
    assert (r.desired_replicas, r.rescale, r.rescale_reason) == (desired, True, reason)
    assert r.events[0].message == f"New size: {desired}; reason: {reason}"
    assert [c.type for c in r.conditions] == ["AbleToScale", "ScaledToZero"]
    events = r.state.scale_up_events + r.state.scale_down_events
    assert [e.replica_change for e in events] == [abs(desired - current)]


def test_tolerance_from_behavior_and_its_gate():
    spec = manifest(metrics=CPU50, behavior={"scaleUp": {"tolerance": 0.05}})
    assert one(spec, replicas=10, cpu=108).desired_replicas == 11
    off = ControllerConfig(configurable_tolerance=False)
    assert one(spec, replicas=10, cpu=108, config=off).desired_replicas == 10
    assert one(manifest(metrics=CPU50), replicas=10, cpu=108).desired_replicas == 10


def test_condition_transition_time_moves_only_on_status_change():
    spec = manifest(metrics=CPU50)
    a = one(spec, replicas=3, cpu=100, now=0.0)
    b = one(spec, replicas=3, cpu=100, now=15.0, state=a.state, conditions=a.conditions)
    assert cond(b, "ScalingActive").last_transition_time == 0.0
    c = one(spec, replicas=3, now=30.0, state=b.state, conditions=b.conditions,
            source=Fake(cpu=[], fail={"cpu"}))
    assert cond(c, "ScalingActive").last_transition_time == 30.0
    assert [x.type for x in c.conditions] == ["AbleToScale", "ScalingActive", "ScalingLimited"]


# ----------------------------------------------------------------------------- minReplicas 0
ZERO = manifest(metrics=[QUEUE], minReplicas=0,
                behavior={"scaleDown": {"stabilizationWindowSeconds": 0}})


def test_scale_to_zero_and_back_with_the_ScaledToZero_condition():
    queue = {0.0: [0], 15.0: [0], 30.0: [23_000], 45.0: [23_000]}
    seq, results = run(ZERO, replicas=2, steps=4, external=lambda t: {"queue": queue[t]})
    assert values(seq) == [0, 0, 4, 5]
    stz = cond(results[0], "ScaledToZero")
    assert (stz.status, stz.reason) == ("True", "ScaledToZero")
    assert results[0].state.scaled_to_zero is True
    assert (results[1].rescale, cond(results[1], "ScalingActive").reason) == \
        (False, "ValidMetricFound")
    stz = cond(results[2], "ScaledToZero")
    assert (stz.status, stz.reason) == ("False", "NotScaledToZero")
    assert results[2].events[-1].message == \
        "New size: 4; reason: external metric queue(nil) above target"


ZERO_CASES = [
    # id, spec, gate, prior ScaledToZero condition, expected desired, ScalingActive reason
    pytest.param(ZERO, True, None, 0, "ScalingDisabled",
                 id="1.37-zero-set-by-someone-else-stays-paused"),
    pytest.param(ZERO, True, "True", 4, "ValidMetricFound",
                 id="1.37-zero-set-by-the-hpa-wakes-up"),
    pytest.param(ZERO, False, None, 4, "ValidMetricFound",
                 id="1.36-min-0-always-evaluates"),
    pytest.param(manifest(metrics=[QUEUE], minReplicas=1), False, None, 0, "ScalingDisabled",
                 id="1.36-zero-with-min-1-is-maintenance-mode"),
    pytest.param(manifest(metrics=[QUEUE], minReplicas=1), True, None, 0, "ScalingDisabled",
                 id="1.37-zero-with-min-1-keda-style-idle"),
    pytest.param(manifest(metrics=[QUEUE], minReplicas=2), True, "True", 2, "ValidMetricFound",
                 id="1.37-min-raised-after-scale-to-zero-gives-at-least-min"),
]


@pytest.mark.parametrize("spec, gate, prior, desired, active", ZERO_CASES)
def test_current_zero(spec, gate, prior, desired, active):
    conditions = () if prior is None else (
        Condition("ScaledToZero", prior, "ScaledToZero", "", -100.0),)
    queue = [23_000] if desired != 2 else [0]
    r = one(spec, replicas=0, pod_list=[], source=Fake(external={"queue": queue}),
            config=ControllerConfig(scale_to_zero_gate=gate), conditions=conditions)
    assert (r.desired_replicas, cond(r, "ScalingActive").reason) == (desired, active)
    if active == "ScalingDisabled":
        assert cond(r, "ScalingActive").message == \
            "scaling is disabled since the replica count of the target is zero"
        assert r.events == () and r.current_metrics == ()
    if not gate:
        assert all(c.type != "ScaledToZero" for c in r.conditions)
        assert r.state.scaled_to_zero is None


def test_scaled_to_zero_survives_a_controller_restart_through_the_conditions():
    first = one(ZERO, replicas=2, pod_list=ready_pods(2),
                source=Fake(external={"queue": [0]}))
    assert first.desired_replicas == 0
    woken = one(ZERO, replicas=0, pod_list=[], source=Fake(external={"queue": [12_000]}),
                state=None, conditions=first.conditions, now=600.0)
    assert woken.desired_replicas == 3


def test_state_flag_alone_also_enables_scale_from_zero():
    woken = one(ZERO, replicas=0, pod_list=[], source=Fake(external={"queue": [12_000]}),
                state=HPAState(scaled_to_zero=True))
    assert woken.desired_replicas == 3
