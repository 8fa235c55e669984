"""A HorizontalPodAutoscaler manifest (autoscaling/v1 or v2) -> the typed spec the HPA uses.

Does what the API server does before the controller ever sees the object (spec §1.13):
v1 -> v2 conversion (``targetCPUUtilizationPercentage: X`` becomes one Resource cpu
Utilization X metric), v2 defaulting (``minReplicas`` 1; no metrics -> cpu Utilization 80;
a non-nil ``behavior`` filled field by field, the scale-down window left for the controller)
[K-V1, K-DEF2], and the validation that would make ``kubectl apply`` fail [K-VAL].

Simplifies: the v1 annotations that carry v2-only fields (``autoscaling.alpha.kubernetes.io/
metrics``, ``.../behavior``) are not read; autoscaling/v2beta1 and v2beta2 are refused (removed
from the API server in 1.25 and 1.26).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ManifestError
from .behavior import Behavior, ScalingPolicy, ScalingRules, default_behavior
from .hpa_types import MetricSpec, MetricTarget
from .quantity import InvalidQuantityError, parse_quantity_milli

__all__ = ["ScaleTargetRef", "HPASpec", "hpa_spec_from_manifest", "DEFAULT_CPU_UTILIZATION"]

DEFAULT_CPU_UTILIZATION = 80
MAX_STABILIZATION_WINDOW = 3600
MAX_PERIOD_SECONDS = 1800


@dataclass(frozen=True)
class ScaleTargetRef:
    """``spec.scaleTargetRef``."""

    kind: str
    name: str
    api_version: str = "apps/v1"


@dataclass(frozen=True)
class HPASpec:
    """A HorizontalPodAutoscaler as the controller works on it: v2, defaulted.

    ``behavior`` is None when the manifest has none (legacy path, always for v1); otherwise
    API-defaulted, with ``scale_down.stabilization_window_seconds`` None when unwritten (the
    controller fills it from its flag). ``api_version`` is the manifest's.
    """

    name: str
    namespace: str
    scale_target_ref: ScaleTargetRef
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    behavior: Behavior | None
    api_version: str = "autoscaling/v2"


class _Parser:
    """Carries the object name and file path into every error message."""

    def __init__(self, name: str, path: str | None):
        self.obj, self.path = f"HorizontalPodAutoscaler/{name}", path

    def fail(self, field: str, message: str) -> ManifestError:
        return ManifestError(f"{field}: {message}", path=self.path, obj=self.obj, field=field)

    def mapping(self, value: Any, field: str, *, required: bool = False) -> Mapping[str, Any]:
        if value is None:
            if required:
                raise self.fail(field, "is required")
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, f"must be a mapping, got {type(value).__name__} {value!r}")
        return value

    def integer(self, value: Any, field: str, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(field, f"must be greater than or equal to {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(field, f"must be less than or equal to {maximum}, got {value}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(field, f"is required and must be a non-empty string, got {value!r}")
        return value

    def quantity(self, value: Any, field: str) -> int:
        try:
            milli = parse_quantity_milli(value)
        except InvalidQuantityError as e:
            raise self.fail(field, str(e)) from e
        if milli <= 0:
            raise self.fail(field, f"must be positive, got {value!r}")
        return milli


def hpa_spec_from_manifest(doc: Mapping[str, Any], *, path: str | None = None) -> HPASpec:
    """Parse, convert, default and validate one HorizontalPodAutoscaler manifest.

    Raises
    ------
    labkit.errors.ManifestError
        Naming the object and field, for what the API server would reject.
    """
    meta = doc.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, Mapping) else None
    p = _Parser(str(name or "<unnamed>"), path)
    if doc.get("kind") != "HorizontalPodAutoscaler":
        raise p.fail("kind", f"expected HorizontalPodAutoscaler, got {doc.get('kind')!r}")
    api_version = doc.get("apiVersion")
    if api_version in ("autoscaling/v2beta1", "autoscaling/v2beta2"):
        raise p.fail("apiVersion", f"{api_version} was removed from Kubernetes (1.25/1.26); "
                                   "write apiVersion: autoscaling/v2 (same fields as v2beta2)")
    if api_version not in ("autoscaling/v1", "autoscaling/v2"):
        raise p.fail("apiVersion", f"expected autoscaling/v1 or autoscaling/v2, got "
                                   f"{api_version!r}")
    name = p.string(name, "metadata.name")
    namespace = meta.get("namespace") or "default"
    spec = p.mapping(doc.get("spec"), "spec", required=True)

    ref = p.mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef", required=True)
    target_ref = ScaleTargetRef(kind=p.string(ref.get("kind"), "spec.scaleTargetRef.kind"),
                                name=p.string(ref.get("name"), "spec.scaleTargetRef.name"),
                                api_version=ref.get("apiVersion") or "apps/v1")
    if "maxReplicas" not in spec:
        raise p.fail("spec.maxReplicas", "is required (the most pods the HPA may create)")
    max_replicas = p.integer(spec["maxReplicas"], "spec.maxReplicas", minimum=1)
    min_replicas = 1 if spec.get("minReplicas") is None else \
        p.integer(spec["minReplicas"], "spec.minReplicas", minimum=0)

    if api_version == "autoscaling/v1":
        metrics = _v1_metrics(p, spec)
        behavior = None
    else:
        raw_metrics = spec.get("metrics")
        if raw_metrics is not None and not isinstance(raw_metrics, list):
            raise p.fail("spec.metrics", "must be a list of metric specs")
        metrics = tuple(_metric(p, m, f"spec.metrics[{i}]")
                        for i, m in enumerate(raw_metrics or ()))
        raw_behavior = spec.get("behavior")
        behavior = None if raw_behavior is None else default_behavior(
            _behavior(p, raw_behavior), downscale_stabilization=None)
    if not metrics:
        # v2 defaulting: no metric means average CPU utilization 80 %
        metrics = (MetricSpec("Resource", "cpu",
                              MetricTarget("Utilization",
                                           average_utilization=DEFAULT_CPU_UTILIZATION)),)

    if max_replicas < min_replicas:
        raise p.fail("spec.maxReplicas", f"must be greater than or equal to minReplicas "
                                         f"({min_replicas}), got {max_replicas}")
    if min_replicas == 0 and not any(m.type in ("Object", "External") for m in metrics):
        raise p.fail("spec.minReplicas", "0 needs at least one Object or External metric "
                                         "(cpu/memory cannot wake a workload with no pods); "
                                         "set minReplicas: 1 or add an External metric")
    return HPASpec(name=name, namespace=namespace, scale_target_ref=target_ref,
                   min_replicas=min_replicas, max_replicas=max_replicas, metrics=metrics,
                   behavior=behavior, api_version=api_version)


def _v1_metrics(p: _Parser, spec: Mapping[str, Any]) -> tuple[MetricSpec, ...]:
    """autoscaling/v1 -> v2: ``targetCPUUtilizationPercentage`` becomes one cpu metric."""
    for v2_only in ("metrics", "behavior"):
        if v2_only in spec:
            raise p.fail(f"spec.{v2_only}", "is an autoscaling/v2 field; write apiVersion: "
                                            "autoscaling/v2 to use it")
    value = spec.get("targetCPUUtilizationPercentage")
    if value is None:
        return ()
    pct = p.integer(value, "spec.targetCPUUtilizationPercentage", minimum=1)
    return (MetricSpec("Resource", "cpu", MetricTarget("Utilization", average_utilization=pct)),)


def _target(p: _Parser, raw: Any, field: str, allowed: tuple[str, ...]) -> MetricTarget:
    t = p.mapping(raw, field, required=True)
    kind = t.get("type")
    if kind not in ("Utilization", "Value", "AverageValue"):
        raise p.fail(f"{field}.type", f"must be Utilization, Value or AverageValue, got {kind!r}")
    if kind not in allowed:
        raise p.fail(f"{field}.type", f"{kind} is not allowed here; use "
                                      f"{' or '.join(allowed)}")
    util = value = average = None
    if t.get("averageUtilization") is not None:
        util = p.integer(t["averageUtilization"], f"{field}.averageUtilization", minimum=1)
    if t.get("value") is not None:
        value = p.quantity(t["value"], f"{field}.value")
    if t.get("averageValue") is not None:
        average = p.quantity(t["averageValue"], f"{field}.averageValue")
    needed = {"Utilization": ("averageUtilization", util), "Value": ("value", value),
              "AverageValue": ("averageValue", average)}[kind]
    if needed[1] is None:
        raise p.fail(f"{field}.{needed[0]}", f"is required when type is {kind}")
    return MetricTarget(kind, average_utilization=util, average_value_milli=average,
                        value_milli=value)


def _metric(p: _Parser, raw: Any, field: str) -> MetricSpec:
    m = p.mapping(raw, field, required=True)
    kind = m.get("type")
    if kind == "Resource":
        src = p.mapping(m.get("resource"), f"{field}.resource", required=True)
        target = _target(p, src.get("target"), f"{field}.resource.target",
                         ("Utilization", "AverageValue"))
        if target.average_utilization is not None and target.average_value_milli is not None:
            raise p.fail(f"{field}.resource.target", "may not set both a target raw value and "
                                                     "a target utilization")
        return MetricSpec("Resource", p.string(src.get("name"), f"{field}.resource.name"), target)
    if kind == "ContainerResource":
        src = p.mapping(m.get("containerResource"), f"{field}.containerResource", required=True)
        target = _target(p, src.get("target"), f"{field}.containerResource.target",
                         ("Utilization", "AverageValue"))
        return MetricSpec("ContainerResource",
                          p.string(src.get("name"), f"{field}.containerResource.name"), target,
                          container=p.string(src.get("container"),
                                             f"{field}.containerResource.container"))
    if kind in ("Pods", "Object", "External"):
        key = kind.lower()
        src = p.mapping(m.get(key), f"{field}.{key}", required=True)
        metric = p.mapping(src.get("metric"), f"{field}.{key}.metric", required=True)
        metric_name = p.string(metric.get("name"), f"{field}.{key}.metric.name")
        selector = metric.get("selector")
        if selector is not None:
            selector = dict(p.mapping(selector, f"{field}.{key}.metric.selector"))
        allowed = ("AverageValue",) if kind == "Pods" else ("Value", "AverageValue")
        target = _target(p, src.get("target"), f"{field}.{key}.target", allowed)
        described = None
        if kind == "Object":
            obj = p.mapping(src.get("describedObject"), f"{field}.object.describedObject",
                            required=True)
            described = {"apiVersion": obj.get("apiVersion", ""),
                         "kind": p.string(obj.get("kind"),
                                          f"{field}.object.describedObject.kind"),
                         "name": p.string(obj.get("name"),
                                          f"{field}.object.describedObject.name")}
        return MetricSpec(kind, metric_name, target, selector=selector,
                          described_object=described)
    raise p.fail(f"{field}.type", f"must be Resource, ContainerResource, Pods, Object or "
                                  f"External, got {kind!r}")


def _rules(p: _Parser, raw: Any, field: str) -> ScalingRules | None:
    if raw is None:
        return None
    r = p.mapping(raw, field)
    window = r.get("stabilizationWindowSeconds")
    if window is not None:
        window = p.integer(window, f"{field}.stabilizationWindowSeconds", minimum=0,
                           maximum=MAX_STABILIZATION_WINDOW)
    select = r.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        raise p.fail(f"{field}.selectPolicy", f"must be Max, Min or Disabled, got {select!r}")
    policies = None
    if r.get("policies") is not None:
        raw_policies = r["policies"]
        if not isinstance(raw_policies, list) or not raw_policies:
            raise p.fail(f"{field}.policies", "must specify at least one Policy")
        policies = tuple(_policy(p, x, f"{field}.policies[{i}]")
                         for i, x in enumerate(raw_policies))
    tolerance = None
    if r.get("tolerance") is not None:
        try:
            tolerance = parse_quantity_milli(r["tolerance"]) / 1000
        except InvalidQuantityError as e:
            raise p.fail(f"{field}.tolerance", str(e)) from e
        if tolerance < 0:
            raise p.fail(f"{field}.tolerance", f"must be greater than or equal to 0, got "
                                               f"{r['tolerance']!r}")
    return ScalingRules(window, select, policies, tolerance)


def _policy(p: _Parser, raw: Any, field: str) -> ScalingPolicy:
    x = p.mapping(raw, field, required=True)
    kind = x.get("type")
    if kind not in ("Pods", "Percent"):
        raise p.fail(f"{field}.type", f"must be Pods or Percent, got {kind!r}")
    return ScalingPolicy(kind, p.integer(x.get("value"), f"{field}.value", minimum=1),
                         p.integer(x.get("periodSeconds"), f"{field}.periodSeconds", minimum=1,
                                   maximum=MAX_PERIOD_SECONDS))


def _behavior(p: _Parser, raw: Any) -> Behavior:
    b = p.mapping(raw, "spec.behavior")
    return Behavior(scale_up=_rules(p, b.get("scaleUp"), "spec.behavior.scaleUp"),
                    scale_down=_rules(p, b.get("scaleDown"), "spec.behavior.scaleDown"))
