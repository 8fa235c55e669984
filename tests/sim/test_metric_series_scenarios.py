"""Metrics as data: External, Pods and Object series and a KEDA prometheus trigger on the twin."""

from __future__ import annotations

import copy

from labkit.backends.sim import SimBackend
from labkit.manifests import load_variant

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app-fastapi"}


def _hpa(metric: dict, max_replicas: int = 10) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "app-fastapi"},
            "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": max_replicas,
                     "metrics": [metric]}}


def _twin(metric: dict, name: str, series, source: str) -> SimBackend:
    b = SimBackend()
    b.set_metric(name, series, source=source)
    b.deploy(load_variant("hpa-v1").replace(_hpa(metric)))
    return b


def _sizes(tl) -> list[int]:
    return [int(m.split(";")[0].split()[-1]) for m in tl.events_with("SuccessfulRescale").message]


def test_an_external_metric_from_a_queue_length_series():
    """kubernetes/website ``horizontal-pod-autoscale-walkthrough.md``, "Autoscaling on metrics
    not related to Kubernetes objects": ``queue_messages_ready`` (selector queue=worker_tasks),
    AverageValue 30 -> one pod per 30 messages; here the queue holds 150 messages from t = 60
    (ceil(150 / 30) = 5 pods) and empties at t = 300 (back to 1 after the 5-minute
    downscale stabilization)."""
    metric = {"type": "External", "external": {
        "metric": {"name": "queue_messages_ready",
                   "selector": {"matchLabels": {"queue": "worker_tasks"}}},
        "target": {"type": "AverageValue", "averageValue": "30"}}}
    b = _twin(metric, "queue_messages_ready", [(0, 0), (60, 150), (300, 0)], "External")
    tl = b.run(700)
    s = tl.samples
    assert s[s.time < 60].spec_replicas.max() == 1
    assert s[(s.time > 60) & (s.time < 300)].spec_replicas.max() == 5
    assert s[(s.time > 300) & (s.time < 590)].spec_replicas.min() == 5   # stabilization
    assert s.spec_replicas.iloc[-1] == 1
    assert s[s.time == 100].metric_value.iloc[0] == 150 / 5               # per pod, as kubectl


def test_a_pods_metric_each_pod_reports():
    """The walkthrough's ``packets-per-second`` Pods metric, AverageValue 1k: every pod reports
    2k, so each sync wants twice the pods, limited to max(2 x current, 4) (spec §1.9) and to
    maxReplicas."""
    metric = {"type": "Pods", "pods": {"metric": {"name": "packets-per-second"},
                                       "target": {"type": "AverageValue", "averageValue": "1k"}}}
    tl = _twin(metric, "packets-per-second", 2000, "Pods").run(120)
    assert _sizes(tl)[:4] == [2, 4, 8, 10]


def test_an_object_metric_of_an_ingress():
    """The walkthrough's Object metric ``requests-per-second`` of Ingress main-route, Value 10k:
    at 25k with one ready pod the HPA wants ceil(2.5 x 1) = 3 (spec §1.4)."""
    metric = {"type": "Object", "object": {
        "metric": {"name": "requests-per-second"},
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                            "name": "main-route"},
        "target": {"type": "Value", "value": "10k"}}}
    tl = _twin(metric, "requests-per-second", 25000, "Object").run(20)
    assert _sizes(tl)[0] == 3


def test_a_missing_custom_metric_is_a_failed_get_as_without_an_adapter():
    metric = {"type": "Pods", "pods": {"metric": {"name": "nobody-serves-this"},
                                       "target": {"type": "AverageValue", "averageValue": "1"}}}
    b = SimBackend()
    b.deploy(load_variant("hpa-v1").replace(_hpa(metric)))
    assert len(b.run(30).events_with("FailedGetPodsMetric"))


def test_keda_prometheus_trigger_activation_scale_out_and_in():
    """kedacore/keda v2.20.2 ``tests/scalers/prometheus/prometheus_test.go``: min 0, max 2,
    pollingInterval 3, cooldownPeriod 1, threshold 20, activationThreshold 20. Below the
    activation threshold the target stays at 0 (60 s); above, it reaches max (within 3 min);
    when the value drops, back to 0 (within 5 min)."""
    query = 'sum(rate(http_requests_total{app="app-fastapi"}[2m]))'
    v = load_variant("keda")
    so = copy.deepcopy(v.get("ScaledObject").doc)
    so["spec"].update({"minReplicaCount": 0, "maxReplicaCount": 2, "pollingInterval": 3,
                       "cooldownPeriod": 1, "triggers": [{"type": "prometheus", "metadata": {
                           "serverAddress": "http://prometheus.default.svc:9090",
                           "threshold": "20", "activationThreshold": "20", "query": query}}]})
    b = SimBackend()
    b.set_metric(query, [(0, 10), (60, 100), (240, 0)])
    b.deploy(v.replace(so))
    tl = b.run(540)
    s = tl.samples
    assert (s[s.time < 60].spec_replicas == 0).all()
    assert s[(s.time > 60) & (s.time <= 240)].spec_replicas.max() == 2
    assert s[s.time > 240 + 300 - 1].spec_replicas.iloc[-1] == 0
    assert "triggered by s0-prometheus" in tl.events_with("KEDAScaleTargetActivated").message[0]


def test_a_series_can_be_a_load_profile():
    """A ramp profile as the queue length: the External metric follows its shape."""
    from labkit.load import Step
    metric = {"type": "External", "external": {
        "metric": {"name": "queue_messages_ready"},
        "target": {"type": "AverageValue", "averageValue": "30"}}}
    b = _twin(metric, "queue_messages_ready", Step(steps=((0, 0), (30, 90)), duration=600),
              "External")
    assert b.run(120).samples.spec_replicas.iloc[-1] == 3
