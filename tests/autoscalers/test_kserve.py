"""KServe InferenceService → Knative Service / Deployment + HPA / ScaledObject (spec §3)."""

from __future__ import annotations

import pytest

from labkit.autoscalers.keda import generated_hpa_manifest, scaled_object_from_manifest
from labkit.autoscalers.kpa import kpa_settings
from labkit.autoscalers.kserve import (
    deployment_mode, inference_service_resources, knative_service, standard_hpa,
    standard_scaled_object,
)
from labkit.errors import ManifestError

K = "autoscaling.knative.dev/"
CONTAINERS = [{"name": "kserve-container", "image": "ghcr.io/kyryl-opens-ml/app-kserve:latest"}]


def isvc(predictor=None, annotations=None, name="custom-model"):
    pred = {"containers": CONTAINERS}
    pred.update(predictor or {})
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"predictor": pred}}


def template_annotations(doc, **kw):
    return knative_service(doc, **kw)["spec"]["template"]["metadata"]["annotations"]


# ---------------------------------------------------------------- Knative mode (§3.2)

def test_scale_target_5_concurrency_gives_knative_target_3_5():
    doc = isvc({"scaleTarget": 5, "scaleMetric": "concurrency"})
    ksvc = knative_service(doc)
    ann = ksvc["spec"]["template"]["metadata"]["annotations"]
    assert (ann[K + "target"], ann[K + "metric"], ann[K + "class"]) == (
        "5", "concurrency", "kpa.autoscaling.knative.dev")
    cc = ksvc["spec"]["template"]["spec"].get("containerConcurrency", 0)
    assert kpa_settings(ann, container_concurrency=cc).target == pytest.approx(3.5)


@pytest.mark.parametrize("predictor, annotations, min_scale", [
    pytest.param({}, {}, "1", id="min-replicas-unset-gives-1"),
    pytest.param({}, {K + "min-scale": "0"}, "1", id="course-annotation-min-0-overwritten"),
    pytest.param({"minReplicas": 0}, {}, "0", id="min-replicas-0-allows-zero"),
    pytest.param({"minReplicas": 3}, {K + "min-scale": "1"}, "3", id="min-replicas-wins"),
])
def test_min_scale_from_min_replicas(predictor, annotations, min_scale):
    ann = template_annotations(isvc(predictor, annotations))
    assert ann[K + "min-scale"] == min_scale
    assert kpa_settings(ann).min_scale == int(min_scale)


@pytest.mark.parametrize("max_replicas, expected", [
    pytest.param(0, None, id="zero-unset"), pytest.param(10, "10", id="ten"),
])
def test_max_scale_only_when_set(max_replicas, expected):
    ann = template_annotations(isvc({"maxReplicas": max_replicas}))
    assert ann.get(K + "max-scale") == expected


def test_user_annotations_and_class_pass_through():
    ann = template_annotations(isvc(annotations={
        K + "target": "10", K + "scale-down-delay": "30s", K + "class": "hpa.autoscaling.knative.dev",
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}))
    assert ann[K + "target"] == "10" and ann[K + "scale-down-delay"] == "30s"
    assert ann[K + "class"] == "hpa.autoscaling.knative.dev"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in ann


def test_revision_spec_and_labels():
    ksvc = knative_service(isvc({"containerConcurrency": 4, "timeout": 60}))
    assert ksvc["apiVersion"] == "serving.knative.dev/v1" and ksvc["kind"] == "Service"
    assert ksvc["metadata"]["name"] == "custom-model-predictor"
    spec = ksvc["spec"]["template"]["spec"]
    assert (spec["containerConcurrency"], spec["timeoutSeconds"], spec["responseStartTimeoutSeconds"]) == (4, 60, 60)
    assert spec["containers"] == CONTAINERS
    labels = ksvc["spec"]["template"]["metadata"]["labels"]
    assert labels["serving.kserve.io/inferenceservice"] == "custom-model"
    assert ksvc["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


@pytest.mark.parametrize("allow, initial", [
    pytest.param("true", "0", id="zero-initial-allowed"), pytest.param("false", None, id="not-allowed"),
])
def test_min_zero_sets_initial_scale_zero_when_allowed(allow, initial):
    ann = template_annotations(isvc({"minReplicas": 0}),
                               knative_config={"allow-zero-initial-scale": allow})
    assert ann.get(K + "initial-scale") == initial


@pytest.mark.parametrize("annotations, default, mode", [
    pytest.param({}, "Knative", "Knative", id="configmap-default-serverless"),
    pytest.param({}, "Standard", "Standard", id="code-default-standard"),
    pytest.param({"serving.kserve.io/deploymentMode": "Serverless"}, "Standard", "Knative", id="legacy-serverless"),
    pytest.param({"serving.kserve.io/deploymentMode": "RawDeployment"}, "Knative", "Standard", id="legacy-raw"),
])
def test_deployment_mode(annotations, default, mode):
    assert deployment_mode(isvc(annotations=annotations), default=default) == mode


def test_model_format_predictor_is_refused_with_a_reason():
    doc = isvc()
    doc["spec"]["predictor"] = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}}
    with pytest.raises(ManifestError, match="containers"):
        knative_service(doc)


# ---------------------------------------------------------------- Standard mode, hpa (§3.3)

STD = {"serving.kserve.io/deploymentMode": "Standard"}


@pytest.mark.parametrize("predictor, min_r, max_r", [
    pytest.param({}, 1, 1, id="unset-max-equals-min-no-autoscaling"),
    pytest.param({"minReplicas": 0, "maxReplicas": 5}, 1, 5, id="min-0-raised-to-1"),
    pytest.param({"minReplicas": 3}, 3, 3, id="max-unset-equals-min"),
    pytest.param({"minReplicas": 2, "maxReplicas": 8}, 2, 8, id="both-set"),
])
def test_standard_hpa_bounds(predictor, min_r, max_r):
    hpa = standard_hpa(isvc(predictor, STD))
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (min_r, max_r)
    assert hpa["spec"]["behavior"] == {}
    assert hpa["spec"]["scaleTargetRef"]["name"] == "custom-model-predictor"


@pytest.mark.parametrize("predictor, metrics", [
    pytest.param({}, [("cpu", "Utilization", 80)], id="default-cpu-80"),
    pytest.param({"scaleMetric": "cpu", "scaleTarget": 50}, [("cpu", "Utilization", 50)], id="cpu-50"),
    pytest.param({"scaleMetric": "memory", "scaleTarget": 70}, [("memory", "Utilization", 70)], id="memory-70"),
    pytest.param({"scaleMetric": "memory"}, [], id="memory-without-target-none"),
    pytest.param({"scaleMetric": "concurrency", "scaleTarget": 5}, [], id="concurrency-no-metric"),
    pytest.param({"autoScaling": {"metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
        {"type": "External", "external": {"metric": {"backend": "prometheus"}}}]}},
        [("cpu", "Utilization", 80)], id="autoscaling-resource-only"),
])
def test_standard_hpa_metrics(predictor, metrics):
    hpa = standard_hpa(isvc(predictor, STD))
    got = [(m["resource"]["name"], m["resource"]["target"]["type"],
            m["resource"]["target"]["averageUtilization"]) for m in hpa["spec"].get("metrics", [])]
    assert got == metrics


def test_standard_hpa_through_hpa_spec_defaults_to_cpu_80():
    hpa_spec = pytest.importorskip("labkit.autoscalers.hpa_spec")
    spec = hpa_spec.hpa_spec_from_manifest(standard_hpa(isvc({"scaleMetric": "concurrency"}, STD)))
    assert spec.min_replicas == 1 and spec.max_replicas == 1
    assert [(m.type, m.name, m.target.average_utilization) for m in spec.metrics] == [("Resource", "cpu", 80)]


def test_standard_resources_by_class():
    kinds = lambda ann: [d["kind"] for d in inference_service_resources(isvc({}, {**STD, **ann}))]
    assert kinds({}) == ["Deployment", "HorizontalPodAutoscaler"]
    assert kinds({"serving.kserve.io/autoscalerClass": "keda"}) == ["Deployment", "ScaledObject"]
    assert kinds({"serving.kserve.io/autoscalerClass": "none"}) == ["Deployment"]
    assert [d["kind"] for d in inference_service_resources(isvc())] == ["Service"]
    with pytest.raises(ManifestError, match="autoscalerClass"):
        kinds({"serving.kserve.io/autoscalerClass": "magic"})


# ---------------------------------------------------------------- Standard mode, keda (§3.4)

KEDA_METRICS = {"autoScaling": {"metrics": [
    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
    {"type": "External", "external": {
        "metric": {"backend": "prometheus", "serverAddress": "http://prom:9090", "query": "sum(rate(x[1m]))"},
        "target": {"type": "Value", "value": "50"}}}],
    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120}}}}


def test_standard_scaled_object():
    so = standard_scaled_object(isvc({**KEDA_METRICS, "maxReplicas": 4}, STD))
    spec = so["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 4)
    assert spec["triggers"] == [
        {"type": "cpu", "metadata": {"value": "80"}, "metricType": "Utilization"},
        {"type": "prometheus", "metadata": {"serverAddress": "http://prom:9090",
                                            "query": "sum(rate(x[1m]))", "threshold": "50.000000"}}]
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0}, "scaleDown": {"stabilizationWindowSeconds": 120}}


@pytest.mark.parametrize("predictor, min_r, max_r", [
    pytest.param({}, 1, 1, id="default-min-1"),
    pytest.param({"minReplicas": 0, "maxReplicas": 3}, 0, 3, id="min-0-kept-for-keda"),
])
def test_standard_scaled_object_bounds_and_generated_hpa(predictor, min_r, max_r):
    so_doc = standard_scaled_object(isvc({**KEDA_METRICS, **predictor}, STD))
    so = scaled_object_from_manifest(so_doc)
    assert (so.min_replica_count, so.max_replica_count) == (min_r, max_r)
    hpa = generated_hpa_manifest(so)
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 120}
