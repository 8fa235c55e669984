"""Every fixture's field names exist in the upstream type it stands for (see fixtures/README.md).

The field lists are the JSON names of the upstream Go structs at the pinned tags, read from
the files cited in fixtures/README.md; a fixture key outside them is a fixture nobody can
trace to upstream.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
META = {"apiVersion", "kind", "metadata", "spec", "status"}
DUCK_STATUS = {"observedGeneration", "conditions", "annotations"}   # knative.dev/pkg duckv1.Status
K8S_CONDITION = {"type", "status", "lastTransitionTime", "reason", "message"}
KNATIVE_CONDITION = K8S_CONDITION | {"severity", "lastUpdateTime"}   # knative.dev/pkg apis.Condition
METRIC_VALUE = {"value", "averageValue", "averageUtilization"}

# kubernetes/api v0.36.3
HPA_STATUS = {"observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas",
              "currentMetrics", "conditions"}
METRIC_STATUS = {"type", "object", "pods", "resource", "containerResource", "external"}
DEPLOYMENT_STATUS = {"observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                     "availableReplicas", "unavailableReplicas", "terminatingReplicas",
                     "conditions", "collisionCount"}
POD_STATUS = {"observedGeneration", "phase", "conditions", "message", "reason",
              "nominatedNodeName", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
              "initContainerStatuses", "containerStatuses", "qosClass",
              "ephemeralContainerStatuses", "resize", "resourceClaimStatuses",
              "extendedResourceClaimStatus", "allocatedResources", "resources",
              "nodeAllocatableResourceClaimStatuses"}
POD_CONDITION = {"type", "observedGeneration", "status", "lastProbeTime", "lastTransitionTime",
                 "reason", "message"}
EVENT = {"apiVersion", "kind", "metadata", "involvedObject", "reason", "message", "source",
         "firstTimestamp", "lastTimestamp", "count", "type", "eventTime", "series", "action",
         "related", "reportingComponent", "reportingInstance"}
OBJECT_REFERENCE = {"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                    "fieldPath"}
# knative/serving knative-v1.23.0
KSVC_STATUS = DUCK_STATUS | {"latestReadyRevisionName", "latestCreatedRevisionName", "url",
                             "address", "traffic"}
PA_STATUS = DUCK_STATUS | {"serviceName", "metricsServiceName", "desiredScale", "actualScale"}
# kserve/kserve v0.20.0
ISVC_STATUS = DUCK_STATUS | {"address", "url", "components", "modelStatus", "canaryStatuses",
                             "deploymentMode", "servingRuntimeName",
                             "clusterServingRuntimeName"}
ISVC_COMPONENT = {"latestReadyRevision", "latestCreatedRevision", "previousRolledoutRevision",
                  "latestRolledoutRevision", "traffic", "url", "restUrl", "grpcUrl", "address"}
ISVC_CONDITIONS = {"PredictorRouteReady", "TransformerRouteReady", "ExplainerRoutesReady",
                   "PredictorConfigurationReady", "TransformerConfigurationReady",
                   "ExplainerConfigurationReady", "PredictorReady", "TransformerReady",
                   "ExplainerReady", "IngressReady", "RoutesReady", "LatestDeploymentReady",
                   "CanaryPredictorReady", "Stopped", "Ready"}
# kedacore/keda v2.20.2
SO_STATUS = {"scaleTargetKind", "scaleTargetGVKR", "originalReplicaCount", "lastActiveTime",
             "externalMetricNames", "resourceMetricNames", "compositeScalerName", "conditions",
             "health", "triggersActivity", "pausedReplicaCount", "hpaName", "triggersTypes",
             "authenticationsTypes"}
SO_CONDITIONS = {"Ready", "Active", "Fallback", "Paused", "HPAActive"}


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _subset(keys, allowed, where):
    extra = set(keys) - set(allowed)
    assert not extra, f"{where}: {sorted(extra)} not in the upstream type"


@pytest.mark.parametrize("name", ["hpa-v2-scaling.json", "hpa-v2-no-metrics.json",
                                  "hpa-keda.json"])
def test_hpa_fixtures(name):
    hpa = _load(name)
    _subset(hpa, META, name)
    _subset(hpa["status"], HPA_STATUS, name)
    for m in hpa["status"].get("currentMetrics") or []:
        _subset(m, METRIC_STATUS, name)
        if not m["type"]:   # an HPA that could not read its metric reports {type: ""}
            continue
        body = m[m["type"][0].lower() + m["type"][1:]]
        _subset(body.get("current", {}), METRIC_VALUE, name)
    for c in hpa["status"]["conditions"]:
        _subset(c, K8S_CONDITION, name)


def test_deployment_pods_and_events():
    _subset(_load("deployment.json")["status"], DEPLOYMENT_STATUS, "deployment.json")
    for pod in _load("pods.json")["items"]:
        _subset(pod["status"], POD_STATUS, "pods.json")
        for c in pod["status"].get("conditions") or []:
            _subset(c, POD_CONDITION, "pods.json")
    for ev in _load("events.json")["items"]:
        _subset(ev, EVENT, "events.json")
        _subset(ev["involvedObject"], OBJECT_REFERENCE, "events.json")


def test_knative_fixtures():
    _subset(_load("knative-service.json")["status"], KSVC_STATUS, "knative-service.json")
    pa = _load("podautoscaler.json")
    _subset(pa["status"], PA_STATUS, "podautoscaler.json")
    for c in pa["status"]["conditions"]:
        _subset(c, KNATIVE_CONDITION, "podautoscaler.json")


def test_kserve_fixture():
    st = _load("inferenceservice.json")["status"]
    _subset(st, ISVC_STATUS, "inferenceservice.json")
    _subset(st["components"]["predictor"], ISVC_COMPONENT, "inferenceservice.json")
    _subset({c["type"] for c in st["conditions"]}, ISVC_CONDITIONS, "inferenceservice.json")
    assert st["deploymentMode"] == "Knative"


@pytest.mark.parametrize("name", ["scaledobject-active.json", "scaledobject-idle.json"])
def test_keda_fixtures(name):
    st = _load(name)["status"]
    _subset(st, SO_STATUS, name)
    _subset({c["type"] for c in st["conditions"]}, SO_CONDITIONS, name)


def test_every_fixture_states_its_provenance():
    readme = (FIXTURES / "README.md").read_text()
    for f in FIXTURES.iterdir():
        if f.name != "README.md":
            assert f"`{f.name}`" in readme, f"{f.name} has no provenance in fixtures/README.md"
    assert (FIXTURES / "autoscaler-metrics.txt").read_text().startswith(
        "# Knative Serving knative-v1.23.0")
