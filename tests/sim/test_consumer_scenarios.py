"""A fixed-consumption workload on the twin, as Kubernetes' HPA e2e tests drive theirs.

Each scenario is one of kubernetes/kubernetes ``test/e2e/autoscaling/
horizontal_pod_autoscaling.go`` (``scaleUp``, ``scaleDown``, ``scaleOnIdleSideCar``,
``doNotScaleOnBusySidecar``) with its numbers: pods start at ``initPods``, the consumer burns
``initCPUTotal`` millicores over them, then ``cpuBurst``; the HPA must reach ``firstScale``
then ``secondScale``. No traffic: only the consumer moves the metric.
"""

from __future__ import annotations

import copy

from labkit.backends.sim import SimBackend
from labkit.manifests import load_variant

APP = "app-fastapi"


def _variant(*, pods: int, request: str, target: int, sidecar: bool = False,
             container_metric: bool = False):
    v = load_variant("hpa-v1")
    dep = copy.deepcopy(v.get("Deployment").doc)
    dep["spec"]["replicas"] = pods
    spec = dep["spec"]["template"]["spec"]
    spec["containers"][0]["resources"] = {"requests": {"cpu": request, "memory": "512Mi"},
                                          "limits": {"cpu": "1", "memory": "768Mi"}}
    if sidecar:
        spec["containers"].append({"name": "sidecar", "image": "labkit/app:0.1.0",
                                   "resources": {"requests": {"cpu": request,
                                                              "memory": "64Mi"}}})
    target_spec = {"type": "Utilization", "averageUtilization": target}
    metric = ({"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": APP, "target": target_spec}} if container_metric else
        {"type": "Resource", "resource": {"name": "cpu", "target": target_spec}})
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": APP},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": APP},
                    "minReplicas": 1, "maxReplicas": 5, "metrics": [metric]}}
    return v.replace(dep).replace(hpa)


def _last(tl) -> int:
    return int(tl.samples.spec_replicas.iloc[-1])


def test_scale_up_from_1_to_3_then_5_pods():
    """``scaleUp``: 1 pod, 500m requests, target 20 %; 250m in total -> 3 pods; 700m -> 5."""
    b = SimBackend()
    b.deploy(_variant(pods=1, request="500m", target=20))
    b.consume(cpu_millicores=250)
    assert _last(b.run(180)) == 3
    b.consume(cpu_millicores=700)
    assert _last(b.run(180)) == 5


def test_scale_down_from_5_to_3_then_1_pod():
    """``scaleDown``: 5 pods, 500m requests, target 30 %; 325m -> 3 pods (after the 5-minute
    downscale stabilization); 10m -> 1."""
    b = SimBackend()
    b.deploy(_variant(pods=5, request="500m", target=30))
    b.consume(cpu_millicores=325)
    assert _last(b.run(420)) == 3
    b.consume(cpu_millicores=10)
    assert _last(b.run(420)) == 1


def test_scale_on_the_app_container_with_an_idle_sidecar():
    """``scaleOnIdleSideCar``: ContainerResource on the app container, 250m requests per
    container, target 20 %; 125m -> 3 pods, 500m -> 5; the idle sidecar does not count."""
    b = SimBackend()
    b.deploy(_variant(pods=1, request="250m", target=20, sidecar=True, container_metric=True))
    b.consume(cpu_millicores=125)
    assert _last(b.run(180)) == 3
    b.consume(cpu_millicores=500)
    assert _last(b.run(180)) == 5


def test_a_busy_sidecar_does_not_scale_a_container_resource_hpa():
    """``doNotScaleOnBusySidecar``: the sidecar burns 250m, the app container idles; the
    ContainerResource HPA on the app container stays at 1 pod. The same load on a Resource
    (whole-pod) metric counts the sidecar: (250 + idle) / 1000m is above 20 %."""
    busy = SimBackend()
    busy.deploy(_variant(pods=1, request="500m", target=20, sidecar=True, container_metric=True))
    busy.consume(cpu_millicores=250, container="sidecar")
    assert (busy.run(180).samples.spec_replicas == 1).all()
    whole = SimBackend()
    whole.deploy(_variant(pods=1, request="500m", target=20, sidecar=True))
    whole.consume(cpu_millicores=250, container="sidecar")
    assert _last(whole.run(180)) == 2
