"""KEDA ScaledObject spec: parsing, KEDA's defaults and the admission webhook's rules (§4.2).

Source: kedacore/keda, tag ``v2.20.2`` (the version labkit installs, see
``labkit/backends/kind/versions.py``): ``apis/keda/v1alpha1/scaledobject_types.go`` (defaults,
``GetHPAMinReplicas``, ``CheckReplicaCountBoundsAreValid``) and
``apis/keda/v1alpha1/scaledobject_webhook.go`` (``verifyReplicaCount``, ``verifyFallback``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ManifestError
from .keda_triggers import Trigger, parse_trigger

FALLBACK_BEHAVIORS = ("static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower")
ANN_PAUSED = "autoscaling.keda.sh/paused"
ANN_PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
ANN_PAUSED_SCALE_IN = "autoscaling.keda.sh/paused-scale-in"
ANN_PAUSED_SCALE_OUT = "autoscaling.keda.sh/paused-scale-out"
ANN_FORCE_ACTIVATION = "autoscaling.keda.sh/force-activation"
SO_LABEL = "scaledobject.keda.sh/name"
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_bool_annotation(annotations: Mapping[str, str], key: str) -> bool:
    """A flag annotation: absent → False; Go booleans as written; any other value → True (§4.2)."""
    if key not in annotations:
        return False
    return _GO_BOOLS.get(str(annotations[key]), True)


@dataclass(frozen=True)
class Fallback:
    """``spec.fallback``: failures tolerated, replicas to fall back to, and how (§4.5)."""

    failure_threshold: int
    replicas: int
    behavior: str = "static"


@dataclass(frozen=True)
class ScaleTargetRef:
    """``spec.scaleTargetRef`` (KEDA defaults: ``apps/v1`` ``Deployment``)."""

    name: str
    kind: str = "Deployment"
    api_version: str = "apps/v1"


@dataclass(frozen=True)
class ScaledObjectSpec:
    """A parsed ScaledObject with KEDA's defaults applied (§4.2)."""

    name: str
    scale_target_ref: ScaleTargetRef
    triggers: tuple[Trigger, ...]
    namespace: str = "default"
    polling_interval: int = 30
    cooldown_period: int = 300
    initial_cooldown_period: int = 0
    min_replica_count: int = 0
    max_replica_count: int = 100
    idle_replica_count: int | None = None
    fallback: Fallback | None = None
    hpa_behavior: Mapping[str, Any] | None = None
    hpa_name_override: str | None = None
    restore_to_original_replica_count: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def hpa_name(self) -> str:
        return hpa_name(self)

    @property
    def paused_replicas(self) -> int | None:
        raw = self.annotations.get(ANN_PAUSED_REPLICAS)
        return None if raw is None else int(raw)

    @property
    def paused(self) -> bool:
        """``paused`` true, or ``paused-replicas`` present whatever its value (§4.2)."""
        return parse_bool_annotation(self.annotations, ANN_PAUSED) or ANN_PAUSED_REPLICAS in self.annotations

    @property
    def paused_scale_in(self) -> bool:
        return parse_bool_annotation(self.annotations, ANN_PAUSED_SCALE_IN)

    @property
    def paused_scale_out(self) -> bool:
        return parse_bool_annotation(self.annotations, ANN_PAUSED_SCALE_OUT)

    @property
    def force_activation(self) -> bool:
        return parse_bool_annotation(self.annotations, ANN_FORCE_ACTIVATION)


def hpa_name(so: ScaledObjectSpec) -> str:
    """``advanced.horizontalPodAutoscalerConfig.name`` or ``keda-hpa-<name>``."""
    return so.hpa_name_override or f"keda-hpa-{so.name}"


DEFAULT_MIN_REPLICA_COUNT = 0     # scaledobject_types.go: MinReplicaCount default 0
DEFAULT_MAX_REPLICA_COUNT = 100   # defaultHPAMaxReplicas
DEFAULT_HPA_MIN_REPLICAS = 1      # defaultHPAMinReplicas


def hpa_min_replicas(min_replica_count: int | None) -> int:
    """``GetHPAMinReplicas``: ``minReplicaCount`` when set and > 0, else 1."""
    return min_replica_count if min_replica_count else DEFAULT_HPA_MIN_REPLICAS


def replica_bounds_problem(min_replica_count: int | None, max_replica_count: int,
                           idle_replica_count: int | None) -> tuple[str, str] | None:
    """The admission webhook's replica-count check: ``(field, message)`` if KEDA refuses, else None.

    ``CheckReplicaCountBoundsAreValid`` (kedacore/keda v2.20.2,
    ``apis/keda/v1alpha1/scaledobject_types.go``), called by the webhook's
    ``verifyReplicaCount``. The minimum it compares is 0 when ``minReplicaCount`` is unset, else
    the HPA's minimum (``GetHPAMinReplicas``, at least 1). So ``idleReplicaCount: 0`` is valid
    with ``minReplicaCount: 0`` written out (0 < 1) and refused with it left unset (0 >= 0).
    Messages are upstream's, then what to do.
    """
    lo = 0 if min_replica_count is None else hpa_min_replicas(min_replica_count)
    if lo > max_replica_count:
        return ("spec.minReplicaCount",
                f"MinReplicaCount={lo} must be less than MaxReplicaCount={max_replica_count} "
                "(KEDA's webhook refuses it); lower minReplicaCount or raise maxReplicaCount")
    if idle_replica_count is not None and idle_replica_count >= lo:
        hint = ("write minReplicaCount: 0 explicitly (KEDA then compares with the HPA's minimum, "
                "1)" if min_replica_count is None else "idleReplicaCount must be below it; in "
                "practice only 0 is useful")
        return ("spec.idleReplicaCount",
                f"IdleReplicaCount={idle_replica_count} must be less than "
                f"MinReplicaCount={lo} (KEDA's webhook refuses it); {hint}")
    return None


def _int(spec: Mapping[str, Any], key: str, default: int | None, obj: str, lo: int = 0) -> int | None:
    raw = spec.get(key, default)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < lo:
        raise ManifestError(f"spec.{key}={raw!r} must be an integer >= {lo}", obj=obj,
                            field=f"spec.{key}")
    return raw


def scaled_object_from_manifest(doc: Mapping[str, Any], *, path: str | None = None) -> ScaledObjectSpec:
    """Parse a ``keda.sh/v1alpha1`` ScaledObject and apply KEDA's defaults (§4.2).

    Raises ManifestError for fields KEDA would refuse (idle ≥ min, min > max, bad fallback
    behavior, unsupported triggers) and for ``advanced.scalingModifiers`` (not simulated).
    """
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", ""))
    obj = f"ScaledObject/{name}"
    spec = doc.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("name"):
        raise ManifestError("spec.scaleTargetRef.name is required: name the Deployment to scale",
                            path=path, obj=obj, field="spec.scaleTargetRef.name")
    target = ScaleTargetRef(name=str(ref["name"]), kind=str(ref.get("kind") or "Deployment"),
                            api_version=str(ref.get("apiVersion") or "apps/v1"))
    try:
        polling = _int(spec, "pollingInterval", 30, obj, lo=1)
        cooldown = _int(spec, "cooldownPeriod", 300, obj)
        initial_cooldown = _int(spec, "initialCooldownPeriod", 0, obj)
        min_set = _int(spec, "minReplicaCount", None, obj)
        max_rc = _int(spec, "maxReplicaCount", DEFAULT_MAX_REPLICA_COUNT, obj)
        idle = _int(spec, "idleReplicaCount", None, obj)
    except ManifestError as e:
        e.path = path
        raise
    problem = replica_bounds_problem(min_set, max_rc, idle)
    if problem is not None:
        field_, message = problem
        raise ManifestError(message, path=path, obj=obj, field=field_)
    min_rc = DEFAULT_MIN_REPLICA_COUNT if min_set is None else min_set
    fb = None
    if spec.get("fallback") is not None:
        raw = spec["fallback"]
        behavior = raw.get("behavior") or "static"
        if behavior not in FALLBACK_BEHAVIORS:
            raise ManifestError(f"fallback.behavior {behavior!r} must be one of "
                                f"{', '.join(FALLBACK_BEHAVIORS)}", path=path, obj=obj,
                                field="spec.fallback.behavior")
        fb = Fallback(failure_threshold=int(raw.get("failureThreshold", 0)),
                      replicas=int(raw.get("replicas", 0)), behavior=behavior)
    advanced = spec.get("advanced") or {}
    if advanced.get("scalingModifiers"):
        raise ManifestError("advanced.scalingModifiers is not simulated by the twin (no formula "
                            "engine); remove it or use the kind backend", path=path, obj=obj,
                            field="spec.advanced.scalingModifiers")
    hpa_cfg = advanced.get("horizontalPodAutoscalerConfig") or {}
    raw_triggers = spec.get("triggers") or []
    if not raw_triggers:
        raise ManifestError("spec.triggers is empty: add at least one trigger", path=path,
                            obj=obj, field="spec.triggers")
    try:
        namespace = str(meta.get("namespace") or "default")
        triggers = tuple(parse_trigger(t, i, namespace=namespace)
                         for i, t in enumerate(raw_triggers))
    except ManifestError as e:
        raise ManifestError(str(e), path=path, obj=obj, field=e.field) from e
    names = [t.metric_name for t in triggers if not t.is_resource]
    if len(names) != len(set(names)):
        raise ManifestError("two triggers produce the same metric name", path=path, obj=obj,
                            field="spec.triggers")
    return ScaledObjectSpec(
        name=name, namespace=str(meta.get("namespace") or "default"), scale_target_ref=target,
        triggers=triggers, polling_interval=polling, cooldown_period=cooldown,
        initial_cooldown_period=initial_cooldown, min_replica_count=min_rc,
        max_replica_count=max_rc, idle_replica_count=idle, fallback=fb,
        hpa_behavior=hpa_cfg.get("behavior"), hpa_name_override=hpa_cfg.get("name"),
        restore_to_original_replica_count=bool(advanced.get("restoreToOriginalReplicaCount", False)),
        annotations=dict(meta.get("annotations") or {}), labels=dict(meta.get("labels") or {}))
