"""HPA manifests -> HPASpec: v1 conversion, v2 defaulting and validation (spec §1.10, §1.13)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from labkit.autoscalers.behavior import ScalingPolicy, ScalingRules
from labkit.autoscalers.hpa import MetricSpec, MetricTarget
from labkit.autoscalers.hpa_spec import hpa_spec_from_manifest
from labkit.errors import ManifestError

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def v2(**spec):
    doc = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"}, "maxReplicas": 10}}
    doc["spec"].update(spec)
    return doc


def v1(**spec):
    doc = v2(**spec)
    doc["apiVersion"] = "autoscaling/v1"
    return doc


CPU = lambda pct: MetricSpec("Resource", "cpu", MetricTarget("Utilization",  # noqa: E731
                                                             average_utilization=pct))


def test_v1_with_target_converts_to_one_cpu_metric_and_legacy_path():
    spec = hpa_spec_from_manifest(v1(targetCPUUtilizationPercentage=50, minReplicas=2))
    assert (spec.metrics, spec.behavior, spec.min_replicas, spec.api_version) == \
        ((CPU(50),), None, 2, "autoscaling/v1")


def test_v1_without_target_defaults_to_cpu_80_and_min_1():
    spec = hpa_spec_from_manifest(v1())
    assert (spec.metrics, spec.min_replicas, spec.max_replicas) == ((CPU(80),), 1, 10)


def test_v2_without_metrics_defaults_to_cpu_80():
    assert hpa_spec_from_manifest(v2()).metrics == (CPU(80),)


def test_v2_empty_behavior_is_defaulted_with_scale_down_window_left_to_the_controller():
    b = hpa_spec_from_manifest(v2(behavior={})).behavior
    assert b.scale_up == ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15),
                                                 ScalingPolicy("Percent", 100, 15)), None)
    assert b.scale_down == ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),), None)


def test_v2_behavior_field_by_field():
    b = hpa_spec_from_manifest(v2(behavior={
        "scaleUp": {"selectPolicy": "Min", "tolerance": "50m"},
        "scaleDown": {"stabilizationWindowSeconds": 60,
                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
                      "tolerance": 0.2}})).behavior
    assert b.scale_up.select_policy == "Min"
    assert b.scale_up.stabilization_window_seconds == 0
    assert len(b.scale_up.policies) == 2
    assert b.scale_up.tolerance == pytest.approx(0.05)
    assert b.scale_down == ScalingRules(60, "Max", (ScalingPolicy("Pods", 1, 30),), 0.2)


def test_v2_metric_kinds_and_quantities():
    spec = hpa_spec_from_manifest(v2(minReplicas=0, metrics=[
        {"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": "256Mi"}}},
        {"type": "ContainerResource", "containerResource": {
            "name": "cpu", "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 60}}},
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {
            "type": "AverageValue", "averageValue": "500m"}}},
        {"type": "Object", "object": {
            "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
            "metric": {"name": "hits"}, "target": {"type": "Value", "value": 30}}},
        {"type": "External", "external": {
            "metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}},
            "target": {"type": "AverageValue", "averageValue": 5}}},
    ]))
    assert [m.type for m in spec.metrics] == ["Resource", "ContainerResource", "Pods",
                                              "Object", "External"]
    assert spec.metrics[0].target.average_value_milli == 268435456000
    assert spec.metrics[1].container == "app"
    assert spec.metrics[2].target.average_value_milli == 500
    assert spec.metrics[3].target.value_milli == 30_000
    assert spec.metrics[3].described_object["kind"] == "Service"
    assert spec.metrics[4].selector == {"matchLabels": {"q": "jobs"}}
    assert spec.min_replicas == 0


@pytest.mark.parametrize("path", sorted(MANIFESTS.glob("*/hpa*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_manifests_parse(path):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "HorizontalPodAutoscaler":
            spec = hpa_spec_from_manifest(doc, path=str(path))
            assert spec.max_replicas >= spec.min_replicas


ERROR_CASES = [
    pytest.param(lambda d: d["spec"].pop("maxReplicas"), "spec.maxReplicas",
                 id="maxReplicas-required"),
    pytest.param(lambda d: d["spec"].update(maxReplicas=0), "spec.maxReplicas",
                 id="maxReplicas-positive"),
    pytest.param(lambda d: d["spec"].update(minReplicas=5, maxReplicas=3), "spec.maxReplicas",
                 id="max-below-min"),
    pytest.param(lambda d: d["spec"].update(minReplicas=0), "spec.minReplicas",
                 id="min-0-needs-object-or-external"),
    pytest.param(lambda d: d["spec"].update(minReplicas="1"), "spec.minReplicas",
                 id="min-not-int"),
    pytest.param(lambda d: d["spec"].pop("scaleTargetRef"), "spec.scaleTargetRef",
                 id="target-required"),
    pytest.param(lambda d: d.update(apiVersion="autoscaling/v2beta2"), "apiVersion",
                 id="v2beta2-removed"),
    pytest.param(lambda d: d.update(apiVersion="apps/v1"), "apiVersion", id="wrong-api"),
    pytest.param(lambda d: d.update(kind="Deployment"), "kind", id="wrong-kind"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleUp": {"selectPolicy": "Fastest"}}),
                 "spec.behavior.scaleUp.selectPolicy", id="bad-selectPolicy"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleDown": {"policies": []}}),
                 "spec.behavior.scaleDown.policies", id="empty-policies"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleDown": {"policies": [
        {"type": "Pods", "value": 1, "periodSeconds": 1801}]}}),
                 "spec.behavior.scaleDown.policies[0].periodSeconds", id="period-too-long"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleDown": {"policies": [
        {"type": "Pods", "value": 0, "periodSeconds": 15}]}}),
                 "spec.behavior.scaleDown.policies[0].value", id="policy-value-zero"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleUp": {
        "stabilizationWindowSeconds": 3601}}),
                 "spec.behavior.scaleUp.stabilizationWindowSeconds", id="window-too-long"),
    pytest.param(lambda d: d["spec"].update(behavior={"scaleUp": {"tolerance": "-1"}}),
                 "spec.behavior.scaleUp.tolerance", id="negative-tolerance"),
    pytest.param(lambda d: d["spec"].update(metrics=[{"type": "Pods", "pods": {
        "metric": {"name": "rps"}, "target": {"type": "Value", "value": 1}}}]),
                 "spec.metrics[0].pods.target.type", id="pods-metric-value-target"),
    pytest.param(lambda d: d["spec"].update(metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization"}}}]),
                 "spec.metrics[0].resource.target.averageUtilization",
                 id="utilization-missing"),
    pytest.param(lambda d: d["spec"].update(metrics=[{"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "AverageValue", "averageValue": "lots"}}}]),
                 "spec.metrics[0].resource.target.averageValue", id="bad-quantity"),
    pytest.param(lambda d: d["spec"].update(metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]),
                 "spec.metrics[0].resource.target.averageUtilization", id="utilization-zero"),
    pytest.param(lambda d: d["spec"].update(metrics=[{"type": "Http"}]),
                 "spec.metrics[0].type", id="unknown-metric-type"),
]


@pytest.mark.parametrize("edit, field", ERROR_CASES)
def test_invalid_manifests_name_the_field(edit, field):
    doc = copy.deepcopy(v2())
    edit(doc)
    with pytest.raises(ManifestError) as e:
        hpa_spec_from_manifest(doc, path="manifests/x/hpa.yaml")
    assert e.value.field == field
    assert "HorizontalPodAutoscaler/web" in str(e.value)
    assert "manifests/x/hpa.yaml" in str(e.value)


def test_v1_refuses_v2_fields():
    with pytest.raises(ManifestError) as e:
        hpa_spec_from_manifest(v1(behavior={}))
    assert e.value.field == "spec.behavior" and "autoscaling/v2" in str(e.value)
