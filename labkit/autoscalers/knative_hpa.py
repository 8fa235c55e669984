"""The HPA Knative makes for a revision of class ``hpa.autoscaling.knative.dev``.

knative/serving knative-v1.23.0 ``pkg/reconciler/autoscaling/hpa/resources/hpa.go``
(``MakeHPA``) with ``pkg/apis/autoscaling/v1alpha1/pa_lifecycle.go`` (``ScaleBounds``,
``Target``, ``Window``, ``Metric``), as a pure function from the revision's annotations and
``config-autoscaler``:

- named after the revision (the PodAutoscaler's name), targeting its Deployment;
- ``minReplicas`` = ``min-scale`` (annotation, else the ConfigMap), left unset when 0 (so the
  API's default, 1: this class never scales to zero); ``maxReplicas`` = ``max-scale``, 0
  meaning no limit (2^31 - 1);
- one metric, only when a ``target`` annotation is set: ``cpu`` -> Resource cpu Utilization
  ``ceil(target)``; ``memory`` -> Resource memory AverageValue ``target`` MiB; any other
  metric -> a Pods metric of that name, AverageValue ``target`` (whole units); without a
  target the API server's default applies (cpu at 80 %);
- a ``window`` annotation becomes both stabilization windows of ``behavior``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .knative_annotations import lookup
from .knative_settings import parse_duration

MAX_INT32 = 2**31 - 1


def _number(annotations: Mapping[str, str], name: str) -> float | None:
    found = lookup(annotations, name)
    if found is None:
        return None
    try:
        return float(found[1])
    except ValueError:
        return None


def _seconds(text: str) -> int | None:
    try:
        return int(parse_duration(text))
    except ValueError:
        return None


def knative_hpa_manifest(revision: str, deployment: str, annotations: Mapping[str, str], *,
                         config: Mapping[str, str] | None = None,
                         namespace: str = "default") -> dict[str, Any]:
    """``MakeHPA`` for one revision (see the module docstring)."""
    cfg = config or {}
    lo = _number(annotations, "min-scale")
    lo = float(cfg.get("min-scale", 0)) if lo is None else lo
    hi = _number(annotations, "max-scale")
    hi = float(cfg.get("max-scale", 0)) if hi is None else hi
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "maxReplicas": int(hi) if hi else MAX_INT32}
    if lo > 0:
        spec["minReplicas"] = int(lo)
    metric_found = lookup(annotations, "metric")
    metric = metric_found[1] if metric_found else "cpu"   # defaultMetric for the HPA class
    target = _number(annotations, "target")
    if target is not None:
        if metric == "cpu":
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": int(math.ceil(target))}}}]
        elif metric == "memory":
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": f"{int(target)}Mi"}}}]
        else:
            spec["metrics"] = [{"type": "Pods", "pods": {"metric": {"name": metric}, "target": {
                "type": "AverageValue", "averageValue": str(int(target))}}}]
    window = lookup(annotations, "window")
    seconds = _seconds(window[1]) if window else None
    if seconds is not None:
        spec["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": seconds},
                            "scaleUp": {"stabilizationWindowSeconds": seconds}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": revision, "namespace": namespace,
                         "annotations": dict(annotations)},
            "spec": spec}
