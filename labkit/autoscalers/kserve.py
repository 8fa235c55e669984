"""KServe InferenceService → the objects KServe creates for its predictor (spec/autoscalers.md §3) [KS].

- Knative mode: a Knative Service whose revision template carries the autoscaling annotations
  (``minReplicas`` default **1** always overwrites ``min-scale``; ``scaleTarget`` → ``target``).
- Standard mode, class ``hpa``: a Deployment plus an autoscaling/v2 HPA (behavior ``{}``).
- Standard mode, class ``keda``: a Deployment plus a ScaledObject.

Simplifies: only the predictor component with ``containers`` (custom predictor) is mapped; model
servers picked by ``modelFormat`` need a ServingRuntime image and are refused; canary traffic,
transformer and explainer are out of scope.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ManifestError
from .keda_triggers import parse_quantity

DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
KNATIVE = "autoscaling.knative.dev/"
DEFAULT_MIN_REPLICAS = 1
DEFAULT_CPU_UTILIZATION = 80
# The shipped inferenceservice-config sets "Serverless" (Knative); the code's fallback is Standard.
DEFAULT_DEPLOYMENT_MODE = "Knative"
_MODES = {"Knative": "Knative", "Serverless": "Knative", "Standard": "Standard",
          "RawDeployment": "Standard"}
_CLASSES = ("hpa", "keda", "external", "none")
_KEDA_BEHAVIOR_DEFAULTS = {"scaleUp": 0, "scaleDown": 300}


def deployment_mode(doc: Mapping[str, Any], *, default: str = DEFAULT_DEPLOYMENT_MODE) -> str:
    """``Knative`` or ``Standard`` from the annotation (legacy names accepted) or the default."""
    ann = (doc.get("metadata") or {}).get("annotations") or {}
    raw = ann.get(DEPLOYMENT_MODE, default)
    if raw not in _MODES:
        raise ManifestError(f"{DEPLOYMENT_MODE}={raw!r} is unknown; use Knative or Standard",
                            obj=_obj(doc), field=f"metadata.annotations.{DEPLOYMENT_MODE}")
    return _MODES[raw]


def _obj(doc: Mapping[str, Any]) -> str:
    return f"InferenceService/{(doc.get('metadata') or {}).get('name', '')}"


def _component(doc: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], dict, dict, list]:
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", ""))
    pred = (doc.get("spec") or {}).get("predictor")
    if not pred:
        raise ManifestError("spec.predictor is required", obj=_obj(doc), field="spec.predictor")
    containers = pred.get("containers")
    if not containers:
        raise ManifestError("the twin maps custom predictors only: give spec.predictor.containers "
                            "(model servers chosen by modelFormat need a ServingRuntime image)",
                            obj=_obj(doc), field="spec.predictor.containers")
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    annotations.update({k: str(v) for k, v in (pred.get("annotations") or {}).items()})
    labels = {**{k: str(v) for k, v in (meta.get("labels") or {}).items()},
              **{k: str(v) for k, v in (pred.get("labels") or {}).items()},
              "serving.kserve.io/inferenceservice": name, "component": "predictor"}
    return f"{name}-predictor", pred, annotations, labels, list(containers)


def _min_replicas(pred: Mapping[str, Any]) -> int | None:
    raw = pred.get("minReplicas")
    return None if raw is None else int(raw)


def inference_service_resources(doc: Mapping[str, Any], *,
                                default_deployment_mode: str = DEFAULT_DEPLOYMENT_MODE,
                                knative_config: Mapping[str, str] | None = None) -> list[dict]:
    """The manifests KServe would create for the predictor, by deployment mode and class (§3).

    ``knative_config`` is ``config-autoscaler`` (``allow-zero-initial-scale``): with
    ``minReplicas: 0`` and zero initial scale allowed, KServe also sets ``initial-scale: "0"``.
    """
    mode = deployment_mode(doc, default=default_deployment_mode)
    if mode == "Knative":
        return [knative_service(doc, knative_config=knative_config)]
    name, pred, annotations, labels, containers = _component(doc)
    cls = annotations.get(AUTOSCALER_CLASS, "hpa")
    if cls not in _CLASSES:
        raise ManifestError(f"{AUTOSCALER_CLASS}={cls!r} is unknown; use one of "
                            f"{', '.join(_CLASSES)}", obj=_obj(doc),
                            field=f"metadata.annotations.{AUTOSCALER_CLASS}")
    mn = _min_replicas(pred)
    replicas = max(DEFAULT_MIN_REPLICAS, mn if mn is not None else DEFAULT_MIN_REPLICAS)
    ns = (doc.get("metadata") or {}).get("namespace", "default")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": f"isvc.{name}"}},
                 "template": {"metadata": {"labels": {**labels, "app": f"isvc.{name}"},
                                           "annotations": annotations},
                              "spec": {"containers": containers}}}}
    if cls == "hpa":
        return [deployment, standard_hpa(doc)]
    if cls == "keda":
        return [deployment, standard_scaled_object(doc)]
    return [deployment]


def knative_service(doc: Mapping[str, Any], *,
                    knative_config: Mapping[str, str] | None = None) -> dict:
    """Knative mode (§3.2) [KS ``ksvc_reconciler.go`` ``setAutoScalingAnnotations``].

    - class ``kpa`` unless the user set one; ``scaleTarget`` → ``target``; ``scaleMetric`` → ``metric``;
    - ``min-scale`` = ``minReplicas`` or 1 when unset (overwriting any ``min-scale`` annotation);
    - ``max-scale`` only if ``maxReplicas`` ≠ 0; ``containerConcurrency`` and ``timeout`` go to
      the revision spec.
    """
    name, pred, annotations, labels, containers = _component(doc)
    annotations.setdefault(KNATIVE + "class", "kpa.autoscaling.knative.dev")
    if pred.get("scaleTarget") is not None:
        annotations[KNATIVE + "target"] = str(pred["scaleTarget"])
    if pred.get("scaleMetric") is not None:
        annotations[KNATIVE + "metric"] = str(pred["scaleMetric"])
    mn = _min_replicas(pred)
    min_scale = DEFAULT_MIN_REPLICAS if mn is None else mn
    annotations[KNATIVE + "min-scale"] = str(min_scale)
    if int(pred.get("maxReplicas") or 0) != 0:
        annotations[KNATIVE + "max-scale"] = str(int(pred["maxReplicas"]))
    cfg = knative_config or {}
    if min_scale == 0 and str(cfg.get("allow-zero-initial-scale", "false")) == "true":
        annotations[KNATIVE + "initial-scale"] = "0"
    rev_spec: dict[str, Any] = {"containers": containers}
    if pred.get("containerConcurrency") is not None:
        rev_spec["containerConcurrency"] = int(pred["containerConcurrency"])
    if pred.get("timeout") is not None:
        rev_spec["timeoutSeconds"] = int(pred["timeout"])
        rev_spec["responseStartTimeoutSeconds"] = int(pred["timeout"])
    meta = doc.get("metadata") or {}
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": meta.get("namespace", "default"),
                         "labels": {k: str(v) for k, v in (meta.get("labels") or {}).items()}},
            "spec": {"template": {"metadata": {"labels": labels, "annotations": annotations},
                                  "spec": rev_spec},
                     "traffic": [{"latestRevision": True, "percent": 100}]}}


def _hpa_metrics(pred: Mapping[str, Any]) -> list[dict]:
    """Metrics of the Standard/hpa HPA (§3.3) [KS ``hpa_reconciler.go`` ``getHPAMetrics``]."""
    metrics: list[dict] = []
    auto = pred.get("autoScaling")
    if auto is not None:
        for m in auto.get("metrics") or []:
            res = m.get("resource") or {}
            tgt = res.get("target") or {}
            if res.get("name") == "cpu":
                util = tgt.get("averageUtilization", DEFAULT_CPU_UTILIZATION)
                metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": int(util)}}})
            elif res.get("name") == "memory":
                target: dict[str, Any] = {}
                if tgt.get("type") == "Utilization":
                    target = {"type": "Utilization", "averageUtilization": tgt.get("averageUtilization")}
                elif tgt.get("type") == "AverageValue":
                    target = {"type": "AverageValue", "averageValue": str(tgt.get("averageValue"))}
                metrics.append({"type": "Resource", "resource": {"name": "memory", "target": target}})
        return metrics
    metric = pred.get("scaleMetric") or "cpu"
    target = pred.get("scaleTarget")
    if metric == "cpu":
        util = int(target) if target is not None else DEFAULT_CPU_UTILIZATION
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": util}}})
    elif metric == "memory" and target is not None:
        metrics.append({"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "Utilization", "averageUtilization": int(target)}}})
    return metrics


def standard_hpa(doc: Mapping[str, Any]) -> dict:
    """Standard mode, class hpa (§3.3): ``min = max(1, minReplicas)``, ``max = max(maxReplicas, min)``.

    ``behavior`` is an empty object (the behavior path with defaults); no metrics → the HPA API
    default (CPU 80 %).
    """
    name, pred, annotations, labels, _ = _component(doc)
    mn = _min_replicas(pred)
    min_r = DEFAULT_MIN_REPLICAS if mn is None or mn < DEFAULT_MIN_REPLICAS else mn
    max_r = max(int(pred.get("maxReplicas") or 0), min_r)
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": min_r, "maxReplicas": max_r, "behavior": {}}
    metrics = _hpa_metrics(pred)
    if metrics:
        spec["metrics"] = metrics
    meta = doc.get("metadata") or {}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": meta.get("namespace", "default"),
                         "labels": labels, "annotations": annotations},
            "spec": spec}


def _keda_triggers(pred: Mapping[str, Any]) -> list[dict]:
    """Triggers from ``autoScaling.metrics`` (§3.4) [KS ``keda_reconciler.go`` ``getKedaMetrics``]."""
    triggers: list[dict] = []
    for m in ((pred.get("autoScaling") or {}).get("metrics") or []):
        mtype = m.get("type")
        if mtype == "Resource":
            res = m.get("resource") or {}
            tgt = res.get("target") or {}
            ttype = tgt.get("type", "")
            value = "0"
            if ttype == "Utilization":
                util = tgt.get("averageUtilization")
                if util is None and res.get("name") == "cpu":
                    util = DEFAULT_CPU_UTILIZATION
                if util is not None:
                    value = str(int(util))
            elif ttype == "AverageValue" and tgt.get("averageValue") is not None:
                value = str(tgt["averageValue"])
            elif ttype == "Value" and tgt.get("value") is not None:
                value = str(tgt["value"])
            triggers.append({"type": str(res.get("name")), "metadata": {"value": value},
                             "metricType": ttype})
        elif mtype == "External":
            ext = m.get("external") or {}
            metric = ext.get("metric") or {}
            threshold = float(_quantity_value((ext.get("target") or {}).get("value", 0)))
            meta = {"serverAddress": str(metric.get("serverAddress", "")),
                    "query": str(metric.get("query", "")), "threshold": f"{threshold:f}"}
            if metric.get("backend") == "prometheus" and metric.get("namespace"):
                meta["namespace"] = str(metric["namespace"])
            triggers.append({"type": str(metric.get("backend", "")), "metadata": meta})
        elif mtype == "PodMetric":
            pm = m.get("podmetric") or {}
            metric = pm.get("metric") or {}
            if metric.get("backend") == "opentelemetry":
                target = float(_quantity_value((pm.get("target") or {}).get("value", 0)))
                meta = {"metricQuery": str(metric.get("query", "")), "targetValue": f"{target:f}",
                        "scalerAddress": str(metric.get("serverAddress", ""))}
                triggers.append({"type": "external", "metadata": meta})
    return triggers


def _quantity_value(raw: Any) -> float:
    return float(raw) if isinstance(raw, (int, float)) else parse_quantity(str(raw))


def standard_scaled_object(doc: Mapping[str, Any]) -> dict:
    """Standard mode, class keda (§3.4): min = ``minReplicas`` (default 1), max = ``max(maxReplicas, min)``.

    Stabilization windows from ``autoScaling.behavior`` (defaults: up 0 s, down 300 s) go to
    ``advanced.horizontalPodAutoscalerConfig.behavior``.
    """
    name, pred, annotations, labels, _ = _component(doc)
    mn = _min_replicas(pred)
    min_r = DEFAULT_MIN_REPLICAS if mn is None else mn
    max_r = max(int(pred.get("maxReplicas") or 0), min_r)
    user = (pred.get("autoScaling") or {}).get("behavior") or {}
    behavior = {}
    for direction, default in _KEDA_BEHAVIOR_DEFAULTS.items():
        window = (user.get(direction) or {}).get("stabilizationWindowSeconds", default)
        behavior[direction] = {"stabilizationWindowSeconds": int(window)}
    meta = doc.get("metadata") or {}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": meta.get("namespace", "default"),
                         "labels": labels, "annotations": annotations},
            "spec": {"scaleTargetRef": {"name": name}, "minReplicaCount": min_r,
                     "maxReplicaCount": max_r, "triggers": _keda_triggers(pred),
                     "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}}}}
