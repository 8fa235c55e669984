"""``kubectl apply`` / ``kubectl delete`` on the running twin, while load runs.

Each scenario reproduces an upstream end-to-end test or documented behaviour (cited per test);
the controllers' reactions are those of :mod:`labkit.backends.sim.apply`.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from labkit.backends.sim import SimBackend
from labkit.errors import BackendError
from labkit.load import Constant, Step
from labkit.manifests import load_variant

SO = "scaledobject.keda.sh/app-fastapi"


def _doc(variant: str, kind: str) -> dict:
    return copy.deepcopy(load_variant(variant).get(kind).doc)


def _annotate(doc: dict, **annotations: str | None) -> dict:
    ann = doc["metadata"].setdefault("annotations", {})
    for k, v in annotations.items():
        key = f"autoscaling.keda.sh/{k.replace('_', '-')}"
        if v is None:
            ann.pop(key, None)
        else:
            ann[key] = v
    return doc


def _window(tl, start: float, end: float):
    s = tl.samples
    return s[(s.time >= start) & (s.time <= end)]


def test_editing_the_hpa_target_while_load_runs_scales_at_the_next_sync():
    """The HPA walkthrough (kubernetes/website ``horizontal-pod-autoscale-walkthrough.md``): more
    CPU than the target -> more replicas; here the target is lowered while the same load runs."""
    b = SimBackend()
    b.deploy("hpa-v1")
    b.load(Constant(users=10, duration=900))
    before = b.run(300).samples.iloc[-1]
    doc = _doc("hpa-v1", "HorizontalPodAutoscaler")
    doc["spec"]["targetCPUUtilizationPercentage"] = max(5, int(before.metric_value) // 2)
    assert b.apply(doc) == ["horizontalpodautoscaler.autoscaling/app-fastapi configured"]
    assert b.apply(doc) == ["horizontalpodautoscaler.autoscaling/app-fastapi unchanged"]
    tl = b.run(120)
    # Seen at the next sync (<= 15 s) and acted on: more pods than before.
    assert _window(tl, 301, 320).metric_target.iloc[-1] == doc["spec"][
        "targetCPUUtilizationPercentage"]
    up = tl.events_with("SuccessfulRescale")
    assert (up.time > 300).any() and up[up.time > 300].time.min() <= 300 + 16
    assert tl.samples.spec_replicas.iloc[-1] > before.spec_replicas


def test_an_edited_hpa_keeps_its_recommendation_history():
    """kubernetes/kubernetes v1.36 ``horizontal.go``: recommendations are keyed by the HPA's
    namespace/name and dropped only when it is deleted, so the scale-down stabilization window
    (hpa-v2: 300 s) still counts from before the edit: load stops at t = 200, the edit comes
    at t = 400, and the scale-down starts about 300 s after the load stopped, not after the
    edit."""
    b = SimBackend()
    b.deploy("hpa-v2")
    b.load(Step(steps=((0, 40), (200, 0)), duration=900, spawn_rate=50))
    high = b.run(400).samples
    assert high[high.time < 200].spec_replicas.max() >= 2
    doc = _doc("hpa-v2", "HorizontalPodAutoscaler")
    doc["spec"]["maxReplicas"] = 12
    assert b.apply(doc) == ["horizontalpodautoscaler.autoscaling/app-fastapi configured"]
    assert b.world.autoscalers[0].state.recommendations[0].timestamp < b.world.clock.now - 60
    tl = b.run(300)
    downs = tl.samples[(tl.samples.time > 400) & (tl.samples.spec_replicas.diff() < 0)]
    assert not downs.empty and downs.time.min() < 400 + 200


def test_deleting_the_hpa_leaves_the_replicas_where_they_are():
    b = SimBackend()
    b.deploy("hpa-v1")
    b.load(Constant(users=40, duration=600))
    n = b.run(200).samples.spec_replicas.iloc[-1]
    assert n >= 2
    assert b.delete("hpa", "app-fastapi") == [
        'horizontalpodautoscaler.autoscaling "app-fastapi" deleted']
    b.load(None)
    tl = b.run(400)
    assert (tl.samples[tl.samples.time > 200].spec_replicas == n).all()
    with pytest.raises(BackendError, match="NotFound"):
        b.delete("hpa", "app-fastapi")


def test_keda_paused_replicas_holds_the_count_and_removing_it_resumes_scaling():
    """kedacore/keda v2.20.2 ``tests/internals/pause_scaledobject``: paused at 0 the target stays
    at 0 although the trigger is active; unpaused it scales out; paused at N it goes to N with
    no activity; unpaused it returns to min (0)."""
    b = SimBackend()
    b.deploy("keda")                                   # min 0: at 0 after the rollout
    doc = _annotate(_doc("keda", "ScaledObject"), paused_replicas="0")
    assert b.apply(doc) == [f"{SO} configured"]
    b.load(Constant(users=5, duration=60))
    tl = b.run(60)
    assert (tl.samples.spec_replicas == 0).all()       # active trigger, paused at 0
    assert b.world.autoscalers[0].hpa is None           # the HPA is deleted while paused

    b.apply(_annotate(doc, paused_replicas=None))
    b.load(Constant(users=5, duration=60))
    tl = b.run(60)
    assert _window(tl, 61, 120).spec_replicas.max() >= 1

    b.load(None)
    b.apply(_annotate(doc, paused_replicas="5"))
    tl = b.run(60)
    assert _window(tl, 121, 180).spec_replicas.iloc[-1] == 5

    b.apply(_annotate(doc, paused_replicas=None))
    tl = b.run(150)                                    # cooldown 60 s, polls every 5 s
    assert tl.samples.spec_replicas.iloc[-1] == 0
    ev = tl.events[(tl.events.object == "ScaledObject/app-fastapi") & (tl.events.time >= 0)]
    reasons = list(ev.reason)
    assert reasons[:4] == ["ScaledObjectPaused", "KEDAScalersStopped", "ScaledObjectUnpaused",
                           "KEDAScalersStarted"]
    assert reasons.count("ScaledObjectPaused") == 2 and reasons.count("ScaledObjectUnpaused") == 2


def test_keda_paused_scale_in_keeps_the_replicas_when_the_load_stops():
    """kedacore/keda v2.20.2 ``tests/internals/pause_scale_in``: with ``paused-scale-in: "true"``
    the replica count does not change although nothing is active (the HPA's scaleDown is
    Disabled and the poll does not deactivate)."""
    b = SimBackend()
    b.deploy("keda")
    b.load(Constant(users=60, duration=120))
    n = b.run(120).samples.spec_replicas.iloc[-1]
    assert n >= 2
    b.apply(_annotate(_doc("keda", "ScaledObject"), paused_scale_in="true"))
    b.load(None)
    tl = b.run(400)
    assert (tl.samples[tl.samples.time > 125].spec_replicas == n).all()
    assert b.world.autoscalers[0].condition("Paused").status == "True"


def test_keda_restores_the_original_replica_count_when_the_scaledobject_is_deleted():
    """kedacore/keda v2.20.2 ``tests/internals/restore_original``: a Deployment at 2, a
    ScaledObject with ``advanced.restoreToOriginalReplicaCount`` scales it to 4; deleting the
    ScaledObject puts it back to 2 (``finalizeScaledObject``)."""
    v = load_variant("keda")
    dep = copy.deepcopy(v.get("Deployment", "app-fastapi").doc)
    dep["spec"]["replicas"] = 2
    v = dataclasses.replace(v.replace(dep), objects=tuple(
        o for o in v.replace(dep).objects if o.kind != "ScaledObject"))
    b = SimBackend()
    b.deploy(v)
    b.load(Constant(users=40, duration=600))
    so = _doc("keda", "ScaledObject")
    so["spec"]["advanced"] = {"restoreToOriginalReplicaCount": True}
    assert b.apply(so) == [f"{SO} created"]
    tl = b.run(180)
    assert tl.samples.spec_replicas.max() >= 4
    assert b.delete("scaledobject", "app-fastapi") == ['scaledobject.keda.sh "app-fastapi" deleted']
    tl = b.run(60)
    assert tl.samples.spec_replicas.iloc[-1] == 2
    ev = tl.events[tl.events.object == "ScaledObject/app-fastapi"]
    assert list(ev.reason[:3]) == ["KEDAScalersStarted", "ScaledObjectReady",
                                   "KEDAScalersStarted"]
    assert list(ev.reason[-2:]) == ["KEDAScalersStopped", "ScaledObjectDeleted"]
    assert b.world.autoscalers == []


def test_a_scaledobject_spec_edit_updates_its_hpa_in_place():
    """Lowering ``maxReplicaCount`` under load: KEDA updates its HPA (same object, new
    ``maxReplicas``) and the HPA scales down to it at its next sync ("Current number of
    replicas above Spec.MaxReplicas"); the scale loop restarts without a second
    ``KEDAScalersStarted`` (``HandleScalableObject``)."""
    b = SimBackend()
    b.deploy("keda")
    b.load(Constant(users=60, duration=600))
    assert b.run(120).samples.spec_replicas.iloc[-1] > 2
    doc = _doc("keda", "ScaledObject")
    doc["spec"]["maxReplicaCount"] = 2
    assert b.apply(doc) == [f"{SO} configured"]
    tl = b.run(30)
    assert tl.samples.spec_replicas.iloc[-1] == 2
    assert b.world.autoscalers[0].hpa.spec.max_replicas == 2
    started = tl.events_with("KEDAScalersStarted")
    assert list(started[started.time >= 0].message) == ["Scaler metrics-api is built"]


def test_the_twin_says_what_it_cannot_change_yet():
    b = SimBackend()
    b.deploy("knative")
    ksvc = _doc("knative", "Service")
    assert b.apply(ksvc) == ["service.serving.knative.dev/app-knative unchanged"]
    with pytest.raises(BackendError, match="cannot create ConfigMap/x"):
        b.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(BackendError, match="cannot delete kind"):
        b.delete("pod", "x")


def _keda_without_scaledobject():
    v = load_variant("keda")
    return dataclasses.replace(v, objects=tuple(o for o in v.objects if o.kind != "ScaledObject"))


def test_a_scaledobject_created_idle_waits_out_its_initial_cooldown():
    """kedacore/keda v2.20.2 ``tests/internals/initial_delay_cooldownperiod``: a Deployment at 1,
    a ScaledObject (min 0, cooldownPeriod 5, initialCooldownPeriod 120, a kubernetes-workload
    trigger on ``pod=no-matches``, value 1): still 1 replica 90 s later, 0 within the next
    120 s."""
    b = SimBackend()
    b.deploy(_keda_without_scaledobject())
    so = _doc("keda", "ScaledObject")
    so["spec"].update({"cooldownPeriod": 5, "initialCooldownPeriod": 120,
                       "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                           "scaleDown": {"stabilizationWindowSeconds": 15}}}},
                       "triggers": [{"type": "kubernetes-workload", "metadata": {
                           "podSelector": "pod=no-matches", "value": "1"}}]})
    assert b.apply(so) == [f"{SO} created"]
    tl = b.run(210)
    assert (tl.samples[tl.samples.time <= 90].spec_replicas == 1).all()
    assert tl.samples.spec_replicas.iloc[-1] == 0


def test_a_scaledobject_created_while_traffic_flows_never_goes_to_zero():
    """The normal case on a cluster: traffic already flows when the ScaledObject is applied.
    Its first poll finds the trigger active, so the target is never scaled to zero (spec §4.4,
    ``RequestScale``), whereas one created on an idle Deployment goes to zero at once
    (initialCooldownPeriod 0)."""
    busy = SimBackend()
    busy.deploy(_keda_without_scaledobject())
    busy.load(Constant(users=20, duration=300))
    busy.run(60)
    busy.apply(_doc("keda", "ScaledObject"))
    tl = busy.run(240)
    assert tl.samples[tl.samples.time > 60].spec_replicas.min() >= 1
    assert tl.samples.errors.sum() == 0
    idle = SimBackend()
    idle.deploy(_keda_without_scaledobject())
    idle.apply(_doc("keda", "ScaledObject"))
    assert idle.run(10).samples.spec_replicas.iloc[-1] == 0


def test_a_kubernetes_workload_trigger_follows_the_pods_it_selects():
    """kedacore/keda v2.20.2 ``pkg/scalers/kubernetes_workload_scaler.go``: the metric is the
    number of pods matching ``podSelector`` (AverageValue ``value`` per replica): the app's 3
    pods with value 1 want 3 replicas of the gateway."""
    v = load_variant("keda")
    app = copy.deepcopy(v.get("Deployment", "app-fastapi").doc)
    app["spec"]["replicas"] = 3
    v = dataclasses.replace(v.replace(app), objects=tuple(
        o for o in v.replace(app).objects if o.kind != "ScaledObject"))
    b = SimBackend()
    b.deploy(v)
    so = _doc("keda", "ScaledObject")
    so["metadata"]["name"] = "gateway"
    so["spec"].update({"scaleTargetRef": {"name": "app-gateway"}, "minReplicaCount": 1,
                       "triggers": [{"type": "kubernetes-workload", "metadata": {
                           "podSelector": "app.kubernetes.io/name=app-fastapi",
                           "value": "1"}}]})
    b.apply(so)
    b.run(60)
    assert b.world.workloads["app-gateway"].spec_replicas == 3


def test_applying_another_variant_by_name_is_kubectl_apply_k():
    """``apply("hpa-v2")`` on a running hpa-v1: the Deployment and Service are unchanged, the
    HPA becomes the v2 object (same name, so it keeps its history)."""
    b = SimBackend()
    b.deploy("hpa-v1")
    assert sorted(b.apply("hpa-v2")) == [
        "deployment.apps/app-fastapi unchanged",
        "horizontalpodautoscaler.autoscaling/app-fastapi configured",
        "service/app-fastapi unchanged"]
    assert len(b.world.autoscalers[0].spec.metrics) == 2


def test_a_scaledobject_whose_target_does_not_exist_is_accepted_and_reported():
    """kedacore/keda v2.20.2 ``tests/internals/events/events_test.go``
    (``testTargetNotFoundErr``): the ScaledObject is created; KEDA records Warning
    ``ScaledObjectCheckFailed`` "Target resource doesn't exist" and "ScaledObject doesn't have
    correct scaleTargetRef specification: ..."; nothing scales. Pointing it at the app then
    makes it work."""
    b = SimBackend()
    b.deploy(_keda_without_scaledobject())
    so = _doc("keda", "ScaledObject")
    so["spec"]["scaleTargetRef"]["name"] = "no-such-app"
    assert b.apply(so) == [f"{SO} created"]
    tl = b.run(30)
    failed = tl.events_with("ScaledObjectCheckFailed")
    assert list(failed.message) == [
        "Target resource doesn't exist",
        "ScaledObject doesn't have correct scaleTargetRef specification: "
        'deployments.apps "no-such-app" not found']
    assert (failed.type == "Warning").all() and (tl.samples.spec_replicas == 1).all()
    assert b.world.autoscalers[0].condition("Ready").status == "False"
    b.apply(_doc("keda", "ScaledObject"))
    assert b.run(30).samples.spec_replicas.iloc[-1] == 0     # idle: KEDA scales it to zero
