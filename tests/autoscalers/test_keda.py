"""KEDA ScaledObject: defaults, generated HPA, activation state machine, fallback (§4.2–4.5, §4.7)."""

from __future__ import annotations

import math

import pytest

from labkit.autoscalers.keda import (
    Health, KEDAState, TriggerResult, apply_fallback, fallback_condition, generated_hpa_manifest,
    hpa_metric_value, new_keda_state, parse_bool_annotation, poll, scaled_object_from_manifest,
    trigger_result,
)
from labkit.autoscalers.keda_fallback import fallback_replicas, fallback_value_milli
from labkit.errors import ManifestError

REDIS = {"type": "redis", "metadata": {"address": "redis:6379", "listName": "jobs", "listLength": "5"}}
PROM = {"type": "prometheus", "metadata": {"serverAddress": "http://prom:9090", "query": "sum(q)",
                                           "threshold": "10", "activationThreshold": "50"}}
CPU = {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}


def so_doc(*, spec=None, annotations=None, triggers=(REDIS,), name="worker"):
    s = {"scaleTargetRef": {"name": "app"}, "triggers": list(triggers)}
    s.update(spec or {})
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "annotations": annotations or {}}, "spec": s}


def so(**kw):
    return scaled_object_from_manifest(so_doc(**kw))


def redis_result(so_, value=None, error=None):
    return trigger_result(so_.triggers[0], value=value, error=error)


# ---------------------------------------------------------------- spec and defaults (§4.2)

def test_defaults():
    s = so()
    assert (s.polling_interval, s.cooldown_period, s.initial_cooldown_period, s.min_replica_count,
            s.max_replica_count, s.idle_replica_count, s.fallback, s.hpa_behavior, s.hpa_name) == (
        30, 300, 0, 0, 100, None, None, None, "keda-hpa-worker")
    t = s.triggers[0]
    assert (t.metric_name, t.metric_type, t.target, t.activation_target) == (
        "s0-redis-jobs", "AverageValue", 5.0, 0.0)


@pytest.mark.parametrize("spec, field", [
    pytest.param({"idleReplicaCount": 2, "minReplicaCount": 2}, "idleReplicaCount", id="idle-not-below-min"),
    pytest.param({"minReplicaCount": 5, "maxReplicaCount": 3}, "minReplicaCount", id="min-above-max"),
    pytest.param({"pollingInterval": 0}, "pollingInterval", id="polling-below-1"),
    pytest.param({"fallback": {"failureThreshold": 3, "replicas": 2, "behavior": "sometimes"}},
                 "fallback.behavior", id="bad-fallback-behavior"),
    pytest.param({"advanced": {"scalingModifiers": {"formula": "a+b", "target": "2"}}},
                 "scalingModifiers", id="scaling-modifiers-refused"),
])
def test_invalid_specs(spec, field):
    with pytest.raises(ManifestError) as e:
        scaled_object_from_manifest(so_doc(spec=spec))
    assert field in str(e.value.field) and "ScaledObject/worker" in str(e.value)


@pytest.mark.parametrize("value, expected", [
    pytest.param(None, False, id="absent"), pytest.param("true", True, id="true"),
    pytest.param("True", True, id="True"), pytest.param("1", True, id="1"),
    pytest.param("f", False, id="f"), pytest.param("FALSE", False, id="FALSE"),
    pytest.param("0", False, id="0"), pytest.param("yes", True, id="other-counts-true"),
])
def test_flag_annotations_read_as_go_booleans(value, expected):
    ann = {} if value is None else {"autoscaling.keda.sh/paused": value}
    assert parse_bool_annotation(ann, "autoscaling.keda.sh/paused") is expected


# ---------------------------------------------------------------- generated HPA (§4.3)

@pytest.mark.parametrize("min_rc, hpa_min", [
    pytest.param(0, 1, id="min-0-hpa-1"), pytest.param(1, 1, id="min-1"),
    pytest.param(3, 3, id="min-3"),
])
def test_generated_hpa_min_is_at_least_one(min_rc, hpa_min):
    hpa = generated_hpa_manifest(so(spec={"minReplicaCount": min_rc, "maxReplicaCount": 7}))
    assert hpa["spec"]["minReplicas"] == hpa_min and hpa["spec"]["maxReplicas"] == 7


def test_generated_hpa_shape():
    hpa = generated_hpa_manifest(so(triggers=(PROM, REDIS, CPU)))
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["metadata"]["name"] == "keda-hpa-worker"
    assert "behavior" not in hpa["spec"]          # nil → legacy HPA path
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["External", "External", "Resource"]
    prom, redis, cpu = hpa["spec"]["metrics"]
    assert prom["external"] == {
        "metric": {"name": "s0-prometheus",
                   "selector": {"matchLabels": {"scaledobject.keda.sh/name": "worker"}}},
        "target": {"type": "AverageValue", "averageValue": "10"}}
    assert redis["external"]["metric"]["name"] == "s1-redis-jobs"
    assert cpu == {"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 60}}}


@pytest.mark.parametrize("trigger, name, target", [
    pytest.param({"type": "metrics-api", "metricType": "Value",
                  "metadata": {"url": "http://app:8000/stats", "valueLocation": "queue.depth",
                               "targetValue": "2.5"}},
                 "s0-metric-api-queue-depth", {"type": "Value", "value": "2500m"}, id="metrics-api-value"),
    pytest.param({"type": "cron", "metadata": {"timezone": "Europe/Berlin", "start": "0 9 * * 1-5",
                                               "end": "0 17 * * 1-5", "desiredReplicas": "5"}},
                 "s0-cron-Europe-Berlin-09xx1-5-017xx1-5", {"type": "AverageValue", "averageValue": "1"},
                 id="cron-target-1"),
    pytest.param({"type": "redis", "metadata": {"address": "r:6379", "listName": "a/b.c",
                                                "listLength": "2000"}},
                 "s0-redis-a-b-c", {"type": "AverageValue", "averageValue": "2k"}, id="redis-normalized"),
])
def test_metric_names_and_targets(trigger, name, target):
    m = generated_hpa_manifest(so(triggers=(trigger,)))["spec"]["metrics"][0]["external"]
    assert m["metric"]["name"] == name and m["target"] == target


def test_behavior_copied_and_paused_scale_in_out_disable_directions():
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    hpa = generated_hpa_manifest(so(spec={"advanced": {"horizontalPodAutoscalerConfig": {
        "behavior": behavior, "name": "custom"}}}, annotations={
        "autoscaling.keda.sh/paused-scale-in": "true", "autoscaling.keda.sh/paused-scale-out": "true"}))
    assert hpa["metadata"]["name"] == "custom"
    assert hpa["spec"]["behavior"] == {
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Disabled"},
        "scaleUp": {"selectPolicy": "Disabled"}}
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 60}}   # input untouched


def test_paused_replicas_pins_hpa_bounds():
    hpa = generated_hpa_manifest(so(annotations={"autoscaling.keda.sh/paused-replicas": "0"}))
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)


def test_generated_hpa_runs_through_hpa_spec():
    hpa_spec = pytest.importorskip("labkit.autoscalers.hpa_spec")
    spec = hpa_spec.hpa_spec_from_manifest(generated_hpa_manifest(so(triggers=(REDIS, CPU))))
    assert spec.min_replicas == 1 and spec.max_replicas == 100
    assert [m.type for m in spec.metrics] == ["External", "Resource"]
    assert spec.metrics[0].target.average_value_milli == 5000


# ---------------------------------------------------------------- activation state machine (§4.4)

def poll_once(s, state, *, value=None, error=None, c, now, ready=None):
    results = [] if all(t.is_resource for t in s.triggers) else [
        trigger_result(s.triggers[0], value=value, error=error)]
    return poll(s, state, results=results, current_replicas=c, now=now, ready_pods=ready)


@pytest.mark.parametrize("initial_cooldown, now, scaled", [
    pytest.param(0, 0.5, True, id="first-poll-scales-to-zero"),
    pytest.param(0, 0.0, False, id="strict-at-creation"),
    pytest.param(120, 90, False, id="initial-cooldown-holds"),
    pytest.param(120, 120.5, True, id="after-initial-cooldown"),
])
def test_new_scaled_object_min_0_inactive_goes_to_zero(initial_cooldown, now, scaled):
    s = so(spec={"initialCooldownPeriod": initial_cooldown})
    r = poll_once(s, new_keda_state(0), value=0, c=1, now=now)
    assert r.scale_to == (0 if scaled else None)
    active = {c.type: c for c in r.conditions}["Active"]
    assert active.reason == ("ScalerNotActive" if scaled else "ScalerCooldown")
    assert [e.reason for e in r.events] == (["KEDAScaleTargetDeactivated"] if scaled else [])


@pytest.mark.parametrize("now, scaled", [
    pytest.param(390, False, id="exactly-cooldown-not-yet"),
    pytest.param(390.5, True, id="strictly-after"),
])
def test_cooldown_is_strict(now, scaled):
    s = so()
    state = KEDAState(created_at=0, last_active_time=90)
    r = poll_once(s, state, value=0, c=3, now=now)
    assert r.scale_to == (0 if scaled else None)


def test_kd3_scale_to_zero_after_cooldown_with_30s_polls():
    s = so()
    state, zero_at = new_keda_state(0), None
    for now in range(30, 600, 30):
        r = poll_once(s, state, value=4 if now <= 90 else 0, c=2, now=now)
        state = r.state
        if r.scale_to == 0:
            zero_at = now
            break
    assert state.last_active_time == 90 and zero_at == 420


@pytest.mark.parametrize("min_rc, expected", [
    pytest.param(0, 1, id="min-0-to-1"), pytest.param(3, 3, id="min-3-to-3"),
])
def test_activation_from_zero(min_rc, expected):
    s = so(spec={"minReplicaCount": min_rc})
    r = poll_once(s, new_keda_state(0), value=1, c=0, now=10)
    assert r.scale_to == expected and r.state.last_active_time == 10
    assert [e.reason for e in r.events] == ["KEDAScaleTargetActivated"]
    assert {c.type: c.reason for c in r.conditions}["Active"] == "ScalerActive"


def test_kd2_one_item_activates_then_hpa_takes_over():
    s = so()
    r = poll_once(s, new_keda_state(0), value=1, c=0, now=30)
    assert r.scale_to == 1
    r = poll_once(s, r.state, value=23, c=1, now=60)
    assert r.scale_to is None and r.active and r.state.last_active_time == 60


def test_min_at_least_one_never_changes_replicas_for_activity():
    s = so(spec={"minReplicaCount": 2})
    state = KEDAState(created_at=0, last_active_time=0)
    r = poll_once(s, state, value=0, c=5, now=10_000)
    assert r.scale_to is None and not r.active


def test_below_min_without_idle_is_raised_to_min():
    r = poll_once(so(spec={"minReplicaCount": 2}), new_keda_state(0), value=0, c=1, now=5)
    assert r.scale_to == 2


@pytest.mark.parametrize("annotations", [
    pytest.param({"autoscaling.keda.sh/paused": "true"}, id="paused"),
    pytest.param({"autoscaling.keda.sh/paused-replicas": "4"}, id="paused-replicas-any-value"),
])
def test_paused_leaves_replicas_and_active_condition(annotations):
    s = so(annotations=annotations)
    state = new_keda_state(0)
    r = poll_once(s, state, value=100, c=0, now=50)
    conds = {c.type: c for c in r.conditions}
    assert r.scale_to is None and r.events == ()
    assert conds["Paused"].status == "True" and conds["Paused"].reason == "ScaledObjectPaused"
    assert conds["Active"].status == "Unknown"


def test_paused_scale_out_blocks_activation():
    s = so(annotations={"autoscaling.keda.sh/paused-scale-out": "true"})
    r = poll_once(s, new_keda_state(0), value=10, c=0, now=5)
    assert r.scale_to is None and r.state.last_active_time is None
    assert {c.type: c.status for c in r.conditions}["Active"] == "True"


def test_paused_scale_in_blocks_deactivation_but_not_raise_to_min():
    s = so(annotations={"autoscaling.keda.sh/paused-scale-in": "true"})
    r = poll_once(s, KEDAState(created_at=0, last_active_time=0), value=0, c=3, now=1000)
    assert r.scale_to is None
    s2 = so(spec={"minReplicaCount": 2}, annotations={"autoscaling.keda.sh/paused-scale-in": "1"})
    assert poll_once(s2, new_keda_state(0), value=0, c=0, now=5).scale_to == 2


@pytest.mark.parametrize("c, active, scale_to", [
    pytest.param(0, True, 2, id="idle-to-min-on-activity"),
    pytest.param(2, False, 0, id="min-to-idle-after-cooldown"),
    pytest.param(0, False, None, id="stays-idle"),
])
def test_idle_replica_count(c, active, scale_to):
    s = so(spec={"idleReplicaCount": 0, "minReplicaCount": 2})
    r = poll_once(s, KEDAState(created_at=0, last_active_time=0), value=9 if active else 0, c=c, now=400)
    assert r.scale_to == scale_to


def test_activation_threshold_wins_over_scaling_threshold():
    # value 40, threshold 10, activationThreshold 50 → inactive, scaled to 0 after cooldown.
    s = so(triggers=(PROM,))
    r = poll_once(s, KEDAState(created_at=0, last_active_time=0), value=40, c=4, now=301)
    assert not r.active and r.scale_to == 0


def test_cpu_only_scaled_object_is_always_active():
    s = so(triggers=(CPU,))
    r = poll_once(s, new_keda_state(0), c=0, now=5)
    assert r.active and r.scale_to == 1


def test_force_activation():
    s = so(annotations={"autoscaling.keda.sh/force-activation": "true"})
    assert poll_once(s, new_keda_state(0), value=0, c=0, now=5).scale_to == 1


def test_error_without_fallback_sets_ready_false():
    r = poll_once(so(), new_keda_state(0), error="connection refused", c=2, now=5)
    conds = {c.type: c for c in r.conditions}
    assert (conds["Ready"].status, conds["Ready"].reason) == ("False", "TriggerError")
    assert r.scale_to is None


def test_partial_error_while_active_keeps_last_active():
    s = so(triggers=(REDIS, PROM))
    results = [trigger_result(s.triggers[0], value=9),
               trigger_result(s.triggers[1], error="prometheus down")]
    r = poll(s, KEDAState(created_at=0, last_active_time=5), results=results, current_replicas=2, now=50)
    conds = {c.type: c for c in r.conditions}
    assert conds["Ready"].reason == "PartialTriggerError" and r.state.last_active_time == 5


# ---------------------------------------------------------------- fallback (§4.5)

FB = {"fallback": {"failureThreshold": 3, "replicas": 6}}


def test_fourth_failure_is_the_first_replaced():
    s = so(spec=FB)
    state = new_keda_state(0)
    outcomes = []
    for i in range(5):
        r = poll_once(s, state, error="redis down", c=2, now=30 * (i + 1), ready=2)
        state = r.state
        outcomes.append((r.results[0].error is None, state.health["s0-redis-jobs"].number_of_failures))
    assert outcomes == [(False, 1), (False, 2), (False, 3), (True, 4), (True, 5)]
    assert state.conditions["Fallback"].reason == "FallbackExists"


def test_fallback_activates_from_zero_and_emits_events():
    s = so(spec=FB)
    state = KEDAState(created_at=0, health={"s0-redis-jobs": Health(3, "Failing")},
                      conditions=new_keda_state(0).conditions)
    r = poll_once(s, state, error="redis down", c=0, now=10)
    assert r.scale_to == 1 and r.results[0].fallback and r.results[0].value == 30
    assert [e.reason for e in r.events] == ["ScaledObjectFallbackActivated", "KEDAScaleTargetActivated"]
    r2 = poll_once(s, r.state, value=1, c=1, now=40)
    assert [e.reason for e in r2.events] == ["ScaledObjectFallbackDeactivated"]
    assert r2.state.health["s0-redis-jobs"] == Health(0, "Happy")
    assert r2.state.conditions["Fallback"].status == "False"


def test_error_below_threshold_with_fallback_replicas_nonzero_changes_nothing():
    s = so(spec=FB)
    r = poll_once(s, KEDAState(created_at=0, last_active_time=0), error="x", c=3, now=1000)
    assert r.scale_to is None
    assert {c.type: c.reason for c in r.conditions}["Active"] == "ScalerNotActive"
    assert {c.type: c.status for c in r.conditions}["Ready"] == "True"


def test_fallback_replicas_zero_falls_through_to_scale_in():
    s = so(spec={"fallback": {"failureThreshold": 3, "replicas": 0}})
    r = poll_once(s, KEDAState(created_at=0, last_active_time=0), error="x", c=3, now=1000)
    assert r.scale_to == 0


@pytest.mark.parametrize("metric_type, target, replicas, ready, milli, hpa", [
    pytest.param("AverageValue", 5, 6, 3, 30_000, 6, id="average-value-5x6"),
    pytest.param("Value", 100, 6, 3, 200_000, 6, id="value-100x6-over-3-ready"),
    pytest.param("Value", 10, 1, 3, 3_333, 1, id="value-truncated-milli"),
])
def test_synthetic_fallback_values(metric_type, target, replicas, ready, milli, hpa):
    trig = {"type": "prometheus", "metricType": metric_type,
            "metadata": {"serverAddress": "http://p", "query": "q", "threshold": str(target)}}
    s = so(triggers=(trig,), spec={"fallback": {"failureThreshold": 0, "replicas": replicas}})
    t = s.triggers[0]
    assert fallback_value_milli(t, replicas, ready) == milli
    out = apply_fallback(s, {}, t, trigger_result(t, error="down"), current_replicas=2, ready_pods=ready)
    assert out.value_milli == milli and out.result.active
    # What the HPA computes from it: AverageValue → ceil(value/target); Value → ceil(ready·value/target).
    ratio = milli / 1000 / target
    computed = math.ceil(ratio) if metric_type == "AverageValue" else math.ceil(ratio * ready)
    assert computed == hpa


def test_value_fallback_with_no_ready_pods_fails():
    trig = {"type": "prometheus", "metricType": "Value",
            "metadata": {"serverAddress": "http://p", "query": "q", "threshold": "10"}}
    s = so(triggers=(trig,), spec={"fallback": {"failureThreshold": 0, "replicas": 3}})
    out = apply_fallback(s, {}, s.triggers[0], trigger_result(s.triggers[0], error="down"),
                         current_replicas=2, ready_pods=0)
    assert out.result.error and out.value_milli is None


@pytest.mark.parametrize("behavior, current, expected", [
    pytest.param("static", 9, 4, id="static"), pytest.param("currentReplicas", 9, 9, id="current"),
    pytest.param("currentReplicasIfHigher", 2, 4, id="if-higher-keeps-fallback"),
    pytest.param("currentReplicasIfHigher", 9, 9, id="if-higher-current"),
    pytest.param("currentReplicasIfLower", 2, 2, id="if-lower-current"),
    pytest.param("currentReplicasIfLower", 9, 4, id="if-lower-fallback"),
])
def test_fallback_behaviors(behavior, current, expected):
    s = so(spec={"fallback": {"failureThreshold": 1, "replicas": 4, "behavior": behavior}})
    assert fallback_replicas(s.fallback, current) == expected


def test_without_fallback_health_is_untouched():
    s = so()
    old = {"s0-redis-jobs": Health(7, "Failing")}
    t = s.triggers[0]
    assert apply_fallback(s, old, t, trigger_result(t, value=1), current_replicas=1, ready_pods=1).health is old
    assert apply_fallback(s, old, t, trigger_result(t, error="e"), current_replicas=1, ready_pods=1).health is old


def test_invalid_fallback_behaves_like_none():
    s = so(spec={"fallback": {"failureThreshold": -1, "replicas": 3}})
    r = poll_once(s, new_keda_state(0), error="e", c=2, now=5)
    assert r.state.health == {} and r.state.conditions["Fallback"].status == "Unknown"
    assert {c.type: c.reason for c in r.conditions}["Ready"] == "TriggerError"


def test_non_static_behavior_needs_current_replicas():
    s = so(spec={"fallback": {"failureThreshold": 0, "replicas": 3, "behavior": "currentReplicas"}})
    t = s.triggers[0]
    out = apply_fallback(s, {}, t, trigger_result(t, error="e"), current_replicas=None, ready_pods=1)
    assert out.result.error == "e" and out.health[t.metric_name] == Health(1, "Failing")


def test_hpa_reads_share_the_failure_counters():
    s = so(spec=FB)
    state = new_keda_state(0)
    t = s.triggers[0]
    for i in range(3):
        out, state = hpa_metric_value(s, state, result=trigger_result(t, error="down"),
                                      current_replicas=2, ready_pods=2, now=i)
        assert out.value_milli is None
    r = poll_once(s, state, error="down", c=2, now=30, ready=2)
    assert r.results[0].fallback and r.state.health[t.metric_name].number_of_failures == 4
    assert fallback_condition(s, r.state.health).status == "True"
