"""The HPA's data types: metric specs, pods, samples, the metrics source and one proposal.

Values in and out of :mod:`labkit.autoscalers.hpa` (the replica calculation), shaped like
kubernetes/kubernetes ``pkg/apis/autoscaling`` and ``pkg/controller/podautoscaler/metrics``
(spec/autoscalers.md §1.4–§1.7). Integer milli-units, as ``Quantity.MilliValue()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from ..errors import LabkitError

def label_selector_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector as Go's ``%+v`` prints it in upstream messages."""
    if selector is None:
        return "nil"
    labels = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []
    ml = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    me = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or [])}],}},"
        for e in exprs)
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{ml}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{me}}},}}")


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


# ----------------------------------------------------------------------------- types
@dataclass(frozen=True)
class MetricTarget:
    """``MetricTarget``: ``type`` is "Utilization", "AverageValue" or "Value"."""

    type: str
    average_utilization: int | None = None
    average_value_milli: int | None = None
    value_milli: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics`` (autoscaling/v2), flattened.

    ``type`` is "Resource", "ContainerResource", "Pods", "Object" or "External"; ``name`` is
    the resource name (cpu, memory) or the metric name; ``selector`` is the metric's
    LabelSelector dict (``{"matchLabels": ..., "matchExpressions": ...}``) and
    ``described_object`` the Object metric's ``{"apiVersion", "kind", "name"}``.
    """

    type: str
    name: str
    target: MetricTarget
    container: str | None = None
    selector: Mapping[str, Any] | None = field(default=None, hash=False)
    described_object: Mapping[str, Any] | None = field(default=None, hash=False)

    def display(self) -> str:
        """The metric's name in upstream reason texts (``... above target``) [K-HZ]."""
        t = self.target
        if self.type in ("Resource", "ContainerResource"):
            if t.average_value_milli is not None:
                return f"{self.name} resource"
            if self.type == "ContainerResource":
                return f"{self.name} container resource utilization (percentage of request)"
            return f"{self.name} resource utilization (percentage of request)"
        if self.type == "Pods":
            return f"pods metric {self.name}"
        if self.type == "Object":
            kind = (self.described_object or {}).get("kind", "")
            return f"{kind} metric {self.name}"
        if self.type == "External":
            return f"external metric {self.name}({label_selector_string(self.selector)})"
        return f"{self.type} metric {self.name}"


@dataclass(frozen=True)
class Container:
    """A container of a pod's spec with its requests in milli-units (``{"cpu": 200}``).

    ``init`` marks an init container; ``restartable_init`` a sidecar (``restartPolicy:
    Always``), whose requests count like a regular container's.
    """

    name: str
    requests_milli: Mapping[str, int] = field(default_factory=dict, hash=False)
    restartable_init: bool = False
    init: bool = False


@dataclass(frozen=True)
class PodInfo:
    """What the HPA reads of a pod: phase, deletion, start time, Ready condition, requests.

    ``ready`` is the Ready condition's status (None: the pod has no Ready condition yet) and
    ``ready_transition_time`` its ``lastTransitionTime``. ``pod_requests_milli`` are pod-level
    requests (``spec.resources.requests``), used when set and no container is named.
    """

    name: str
    phase: str = "Running"
    deleting: bool = False
    start_time: float | None = None
    ready: bool | None = None
    ready_transition_time: float | None = None
    containers: tuple[Container, ...] = ()
    pod_requests_milli: Mapping[str, int] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class PodMetric:
    """A ``metrics.k8s.io`` PodMetrics item: usage per container and resource, milli-units."""

    pod: str
    timestamp: float
    window: float
    containers: Mapping[str, Mapping[str, int]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class PodSample:
    """One pod's value of a metric (custom Pods metric, or a resource after summing)."""

    pod: str
    value_milli: int
    timestamp: float = 0.0
    window: float = 60.0


class MetricsSource(Protocol):
    """The metrics APIs the controller reads; every method raises :class:`MetricError`.

    Raise with the metrics *client's* message (e.g. ``"unable to fetch metrics from resource
    metrics API: ..."``); :func:`calc_replicas` adds the calculator's prefix. An empty list is
    fine to return: the HPA turns it into the upstream "no metrics returned ..." error.
    """

    def resource_metrics(self, resource: str, selector: Mapping[str, str]
                         ) -> Sequence[PodMetric]: ...

    def pods_metric(self, name: str, selector: Mapping[str, str]) -> Sequence[PodSample]: ...

    def object_metric(self, name: str, described_object: Mapping[str, Any],
                      selector: Mapping[str, Any] | None) -> int: ...

    def external_metric(self, name: str, selector: Mapping[str, Any] | None
                        ) -> Sequence[int]: ...


class MetricError(LabkitError):
    """A metric could not give a proposal.

    ``reason`` is the condition/event reason (``FailedGetResourceMetric``, ...), ``message`` the
    text of the Warning event, ``error`` the text the controller chains into
    ``FailedComputeMetricsReplicas`` (defaults to ``message``).
    """

    def __init__(self, reason: str, message: str, error: str | None = None):
        super().__init__(message)
        self.reason, self.message = reason, message
        self.error = message if error is None else error


@dataclass(frozen=True)
class Tolerances:
    """Scale-down and scale-up tolerance; a ratio within ``[1 - down, 1 + up]`` is no change."""

    down: float = 0.1
    up: float = 0.1

    def is_within(self, ratio: float) -> bool:
        """Inclusive on both ends (§1.6)."""
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


@dataclass(frozen=True)
class PodGroups:
    """Pods by how the calculation treats them (§1.5), each a tuple of names in pod order."""

    counted: tuple[str, ...] = ()
    unready: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def ready_count(self) -> int:
        return len(self.counted)


@dataclass(frozen=True)
class ReplicaCalculation:
    """One metric's proposal and what the status reports for it.

    ``utilization`` is the integer percent (Utilization targets only); ``raw_value_milli`` the
    reported value: raw average usage, average value, object/external value, or the per-pod
    value of AverageValue targets (§1.4 "Reported value").
    """

    replicas: int
    utilization: int | None = None
    raw_value_milli: int | None = None
    timestamp: float | None = None
    groups: PodGroups | None = field(default=None, compare=False)
