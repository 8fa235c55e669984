"""HPA replica calculation: one metric in, one proposal out (spec/autoscalers.md §1.4–§1.7).

Pure functions after kubernetes/kubernetes ``replica_calculator.go`` [K-RC] and
``metrics/utilization.go`` [K-MC]: pods, samples and ``now`` are arguments, nothing is read
from a clock or a client. Values are integer milli-units (``Quantity.MilliValue()``); the
integer truncations and ``ceil`` calls are the upstream ones, and so are the error messages.

Layers, bottom up (the types are in :mod:`labkit.autoscalers.hpa_types`):

* :func:`group_pods` and :func:`pod_requests`: counted / unready / missing / ignored pods and
  per-pod requests (§1.5);
* :func:`calc_resource_utilization_replicas`, :func:`calc_plain_metric_replicas`,
  :func:`calc_value_replicas`, :func:`calc_average_value_replicas`: the arithmetic on samples
  already fetched (used by the table tests);
* :func:`calc_replicas`: one ``MetricSpec`` against a :class:`MetricsSource`, raising
  :class:`MetricError` with the condition reason and the event text the controller reports.

Simplifies: no ``PodLevelResources`` subtleties beyond "pod-level requests win when set and no
container is named"; no ``AmbiguousSelector``/``InvalidSelector`` checks (the caller passes the
pods the selector matches).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .hpa_types import (INT32_MAX, INT64_MAX, Container, MetricError, MetricSpec, MetricsSource,
                        MetricTarget, PodGroups, PodInfo, PodMetric, PodSample,
                        ReplicaCalculation, Tolerances, label_selector_string)

__all__ = [
    "INT32_MAX", "INT64_MAX", "MetricTarget", "MetricSpec", "Container", "PodInfo", "PodMetric",
    "PodSample", "MetricsSource", "MetricError", "Tolerances", "PodGroups", "ReplicaCalculation",
    "pod_group", "group_pods", "pod_requests", "resource_samples", "ready_pod_count",
    "external_sum",
    "calc_resource_utilization_replicas", "calc_plain_metric_replicas", "calc_value_replicas",
    "calc_average_value_replicas", "calc_replicas", "label_selector_string",
]


# ----------------------------------------------------------------------------- helpers
def _ceil_int(x: float) -> int:
    return int(math.ceil(x))


def pod_group(pod: PodInfo, sample: Any, resource: str | None, now: float, *,
              cpu_initialization_period: float = 300.0,
              initial_readiness_delay: float = 30.0) -> str:
    """Where :func:`group_pods` puts one pod: "counted", "unready", "missing" or "ignored"."""
    if pod.deleting or pod.phase in ("Failed", "Succeeded"):
        return "ignored"
    if pod.phase == "Pending":
        return "unready"
    if sample is None:
        return "missing"
    if resource == "cpu":
        if pod.ready is None or pod.start_time is None:
            return "unready"
        rt = pod.ready_transition_time if pod.ready_transition_time is not None \
            else pod.start_time
        if pod.start_time + cpu_initialization_period > now:
            # still initializing: the sample window must lie after the pod became ready
            is_unready = (not pod.ready) or sample.timestamp < rt + sample.window
        else:
            # later: drop only pods that never became ready
            is_unready = (not pod.ready) and pod.start_time + initial_readiness_delay > rt
        if is_unready:
            return "unready"
    return "counted"


def group_pods(pods: Sequence[PodInfo], samples: Mapping[str, Any], resource: str | None,
               now: float, *, cpu_initialization_period: float = 300.0,
               initial_readiness_delay: float = 30.0) -> PodGroups:
    """Sort the selector's pods into counted, unready, missing and ignored (§1.5) [K-RC].

    * ignored: deleting, or phase Failed/Succeeded;
    * unready: phase Pending; for cpu only, also the readiness rule below;
    * missing: no sample;
    * cpu readiness: no Ready condition or no start time -> unready. Within
      ``cpu_initialization_period`` of the start: unready if not Ready or the sample's
      timestamp is before ``ready transition + sample window``. After it: unready only if not
      Ready and the transition came before ``start + initial_readiness_delay`` (never ready).

    ``samples`` maps pod name to anything with ``timestamp`` and ``window``.
    """
    groups: dict[str, list[str]] = {"counted": [], "unready": [], "missing": [], "ignored": []}
    for pod in pods:
        groups[pod_group(pod, samples.get(pod.name), resource, now,
                         cpu_initialization_period=cpu_initialization_period,
                         initial_readiness_delay=initial_readiness_delay)].append(pod.name)
    return PodGroups(tuple(groups["counted"]), tuple(groups["unready"]),
                     tuple(groups["missing"]), tuple(groups["ignored"]))


def pod_requests(pods: Sequence[PodInfo], resource: str, container: str | None = None
                 ) -> dict[str, int]:
    """Per-pod request of ``resource`` in milli-units, for every pod given (§1.5) [K-RC].

    Sum of the regular and restartable-init containers (plain init containers do not count);
    only ``container`` when one is named; the pod-level request when set and no container is
    named. Any gap fails the whole metric, with the upstream message.
    """
    requests: dict[str, int] = {}
    for pod in pods:
        if not container and pod.pod_requests_milli:
            if resource not in pod.pod_requests_milli:
                raise MetricError("", f"missing pod-level request for {resource} in Pod {pod.name}")
            requests[pod.name] = pod.pod_requests_milli[resource]
            continue
        total = 0
        found = False
        # Regular containers first, then sidecars (restartable init); plain init never count.
        for sidecars in (False, True):
            for c in pod.containers:
                wanted = c.restartable_init if sidecars else not (c.init or c.restartable_init)
                if not wanted:
                    continue
                if not container or c.name == container:
                    req = c.requests_milli.get(resource)
                    if req is None:
                        raise MetricError("", f"missing request for {resource} in container "
                                              f"{c.name} of Pod {pod.name}")
                    total += req
                if container and c.name == container:
                    found = True
                    break
            if found:
                break
        if container and not found:
            raise MetricError("", f"container {container} not found in Pod {pod.name}")
        requests[pod.name] = total
    return requests


def resource_samples(pod_metrics: Sequence[PodMetric], resource: str,
                     container: str | None = None) -> dict[str, PodSample]:
    """PodMetrics -> one sample per pod, as the metrics client builds them [K-MC].

    Without ``container``: the sum over all containers; a pod with no containers or with a
    container lacking ``resource`` gets no sample. With ``container``: that container's usage;
    a pod whose metrics lack it (or its resource) gets no sample (v1.33+).
    """
    out: dict[str, PodSample] = {}
    for m in pod_metrics:
        if container:
            usage = m.containers.get(container)
            if usage is None or resource not in usage:
                continue
            value = usage[resource]
        elif len(m.containers) == 1:   # the common case, without generator overhead
            (usage,) = m.containers.values()
            if resource not in usage:
                continue
            value = usage[resource]
        else:
            if not m.containers or any(resource not in u for u in m.containers.values()):
                continue
            value = sum(u[resource] for u in m.containers.values())
        out[m.pod] = PodSample(m.pod, value, m.timestamp, m.window)
    return out


def ready_pod_count(pods: Sequence[PodInfo]) -> int:
    """Running and Ready pods (terminating ones included), as Object/External Value use."""
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def external_sum(values: Sequence[int]) -> int:
    """Sum of all external series, saturating at the int64 maximum (§1.7)."""
    total = 0
    for v in values:
        if v > 0 and total > INT64_MAX - v:
            return INT64_MAX
        total += v
    return total


# ----------------------------------------------------------------------------- arithmetic
def _utilization_ratio(values: Mapping[str, int], requests: Mapping[str, int], target: int
                       ) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, integer %, raw average) over matched pods."""
    metrics_total = requests_total = entries = 0
    for pod, value in values.items():
        if pod not in requests:       # extraneous sample: no request to compare with
            continue
        metrics_total += value
        requests_total += requests[pod]
        entries += 1
    if requests_total == 0:
        raise MetricError("", "no metrics returned matched known pods")
    utilization = (metrics_total * 100) // requests_total
    return utilization / target, utilization, metrics_total // entries


def _usage_ratio(values: Mapping[str, int], target: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: (ratio, truncated average) over every sample."""
    average = sum(values.values()) // len(values)
    return average / target, average


def _check_pods(pods: Sequence[PodInfo]) -> None:
    if not pods:
        raise MetricError("", "no pods returned by selector while calculating replica count")


def _slow_path(ratio: float, new_ratio: float, n: int, current: int, tol: Tolerances) -> int:
    """Steps 6-7 of §1.5: keep ``current`` when within tolerance or the direction flips."""
    if tol.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = _ceil_int(new_ratio * n)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def calc_resource_utilization_replicas(
        samples: Mapping[str, PodSample], pods: Sequence[PodInfo], *, current_replicas: int,
        target_utilization: int, resource: str, container: str | None = None, now: float,
        tolerances: Tolerances = Tolerances(), cpu_initialization_period: float = 300.0,
        initial_readiness_delay: float = 30.0, timestamp: float | None = None
) -> ReplicaCalculation:
    """``GetResourceReplicas`` on fetched samples: Utilization targets (§1.5) [K-RC].

    Raises :class:`MetricError` (reason "") with the calculator's message.
    """
    _check_pods(pods)
    groups = group_pods(pods, samples, resource, now,
                        cpu_initialization_period=cpu_initialization_period,
                        initial_readiness_delay=initial_readiness_delay)
    dropped = set(groups.ignored) | set(groups.unready)
    values = {p: s.value_milli for p, s in samples.items() if p not in dropped}
    if not values:
        raise MetricError("", "did not receive metrics for targeted pods (pods might be unready)")
    requests = pod_requests(pods, resource, container)
    ratio, utilization, raw = _utilization_ratio(values, requests, target_utilization)

    def result(replicas: int) -> ReplicaCalculation:
        return ReplicaCalculation(replicas, utilization, raw, timestamp, groups)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return result(current_replicas)
        return result(_ceil_int(ratio * groups.ready_count))

    if groups.missing:
        if ratio < 1.0:
            # on a scale-down, missing pods use 100 % of their request (or the target if higher)
            fallback = max(100, target_utilization)
            for pod in groups.missing:
                values[pod] = requests[pod] * fallback // 100
        elif ratio > 1.0:
            # on a scale-up, missing pods use nothing
            for pod in groups.missing:
                values[pod] = 0
    if scale_up_with_unready:
        for pod in groups.unready:
            values[pod] = 0
    new_ratio, _, _ = _utilization_ratio(values, requests, target_utilization)
    return result(_slow_path(ratio, new_ratio, len(values), current_replicas, tolerances))


def calc_plain_metric_replicas(
        samples: Mapping[str, PodSample], pods: Sequence[PodInfo], *, current_replicas: int,
        target_milli: int, resource: str | None = None, now: float,
        tolerances: Tolerances = Tolerances(), cpu_initialization_period: float = 300.0,
        initial_readiness_delay: float = 30.0, timestamp: float | None = None
) -> ReplicaCalculation:
    """``calcPlainMetricReplicas``: AverageValue of a resource or a Pods metric (§1.5) [K-RC].

    ``resource`` is the resource name for Resource AverageValue (cpu gets the readiness rule),
    None for custom Pods metrics. Missing pods are assumed at exactly the target on a
    scale-down. Raises :class:`MetricError` (reason "").
    """
    _check_pods(pods)
    groups = group_pods(pods, samples, resource, now,
                        cpu_initialization_period=cpu_initialization_period,
                        initial_readiness_delay=initial_readiness_delay)
    dropped = set(groups.ignored) | set(groups.unready)
    values = {p: s.value_milli for p, s in samples.items() if p not in dropped}
    if not values:
        raise MetricError("", "did not receive metrics for targeted pods (pods might be unready)")
    ratio, average = _usage_ratio(values, target_milli)

    def result(replicas: int) -> ReplicaCalculation:
        return ReplicaCalculation(replicas, None, average, timestamp, groups)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return result(current_replicas)
        return result(_ceil_int(ratio * groups.ready_count))

    if groups.missing:
        if ratio < 1.0:
            for pod in groups.missing:
                values[pod] = target_milli
        elif ratio > 1.0:
            for pod in groups.missing:
                values[pod] = 0
    if scale_up_with_unready:
        for pod in groups.unready:
            values[pod] = 0
    new_ratio, _ = _usage_ratio(values, target_milli)
    return result(_slow_path(ratio, new_ratio, len(values), current_replicas, tolerances))


def calc_value_replicas(value_milli: int, target_milli: int, *, current_replicas: int,
                        pods: Sequence[PodInfo], tolerances: Tolerances = Tolerances(),
                        timestamp: float | None = None) -> ReplicaCalculation:
    """Object/External ``Value`` target: ``ceil(v/T × ready pods)`` (§1.4, §1.7) [K-RC].

    With ``current_replicas == 0`` the proposal is ``ceil(v/T)`` and tolerance is skipped
    (scale from zero). Capped at the int32 maximum.
    """
    ratio = value_milli / target_milli
    if current_replicas == 0:
        return ReplicaCalculation(_ceil_int(ratio), None, value_milli, timestamp)
    if tolerances.is_within(ratio):
        return ReplicaCalculation(current_replicas, None, value_milli, timestamp)
    if not pods:
        raise MetricError("", "unable to calculate ready pods: no pods returned by selector "
                              "while calculating replica count")
    proposal = ratio * ready_pod_count(pods)
    replicas = INT32_MAX if proposal > INT32_MAX else _ceil_int(proposal)
    return ReplicaCalculation(replicas, None, value_milli, timestamp)


def calc_average_value_replicas(value_milli: int, target_milli: int, *, status_replicas: int,
                                tolerances: Tolerances = Tolerances(), cap_int32: bool = True,
                                timestamp: float | None = None) -> ReplicaCalculation:
    """Object/External ``AverageValue`` target: ``ceil(v/T)`` unless ``v/(T×status)`` is
    within tolerance (§1.4) [K-RC].

    Reports the per-pod value ``ceil(v/status)`` (0 when status is 0; the int64 maximum when
    ``v`` is at it). ``cap_int32`` caps the proposal (External upstream; Object has no guard).
    """
    if status_replicas:
        ratio = value_milli / (target_milli * status_replicas)
    else:
        ratio = math.inf if value_milli else math.nan
    replicas = status_replicas
    if not tolerances.is_within(ratio):
        proposal = math.ceil(value_milli / target_milli)
        replicas = INT32_MAX if cap_int32 and proposal > INT32_MAX else proposal
    if float(value_milli) >= float(INT64_MAX):
        per_pod = INT64_MAX
    elif status_replicas == 0:
        per_pod = 0
    else:
        per_pod = _ceil_int(value_milli / status_replicas)
    return ReplicaCalculation(replicas, None, per_pod, timestamp)


# ----------------------------------------------------------------------------- one metric
_REASONS = {"Resource": "FailedGetResourceMetric",
            "ContainerResource": "FailedGetContainerResourceMetric",
            "Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
            "External": "FailedGetExternalMetric"}


def _outer(metric: MetricSpec, err: str) -> str:
    """The wrap ``computeReplicasForMetric`` puts around a metric's error [K-HZ]."""
    if metric.type == "Resource":
        return f"failed to get {metric.name} resource metric value: {err}"
    if metric.type == "ContainerResource":
        return f"failed to get {metric.name} container metric value: {err}"
    if metric.type == "Pods":
        return f"failed to get pods metric value: {err}"
    if metric.type == "Object":
        return f"failed to get object metric value: {err}"
    return f"failed to get external metric value: {err}"


def _prefixed(prefix: str, message: str) -> str:
    return message if message.startswith(prefix) else prefix + message


def calc_replicas(metric: MetricSpec, *, current_replicas: int, status_replicas: int,
                  pods: Sequence[PodInfo], metrics: MetricsSource, selector: Mapping[str, str],
                  now: float, tolerance_up: float = 0.1, tolerance_down: float = 0.1,
                  cpu_initialization_period: float = 300.0,
                  initial_readiness_delay: float = 30.0,
                  namespace: str = "default") -> ReplicaCalculation:
    """One metric's proposal (§1.4), fetching from ``metrics`` [K-HZ, K-RC, K-MC].

    ``current_replicas`` is the scale's spec replicas; ``status_replicas`` its status
    replicas (Object/External AverageValue divide by it); ``pods`` the pods the target's
    selector matches.

    Raises
    ------
    MetricError
        With ``reason`` ``FailedGet<Type>Metric`` (or ``InvalidMetricSourceType``), ``message``
        the Warning event's text and ``error`` the text chained into
        ``FailedComputeMetricsReplicas``.
    """
    tol = Tolerances(down=tolerance_down, up=tolerance_up)
    if metric.type not in _REASONS:
        msg = f'unknown metric source type "{metric.type}"'
        raise MetricError("InvalidMetricSourceType", msg, msg)
    reason = _REASONS[metric.type]
    t = metric.target
    kw = dict(now=now, tolerances=tol, cpu_initialization_period=cpu_initialization_period,
              initial_readiness_delay=initial_readiness_delay)
    try:
        if metric.type in ("Resource", "ContainerResource"):
            return _resource(metric, current_replicas, pods, metrics, selector, kw)
        if metric.type == "Pods":
            if t.average_value_milli is None:
                raise MetricError("", "invalid pods metric source: no average value target set")
            try:
                raw = list(metrics.pods_metric(metric.name, selector))
                if not raw:
                    raise MetricError("", "no metrics returned from custom metrics API")
            except MetricError as e:
                raise MetricError("", f"unable to get metric {metric.name}: {e.message}") from e
            samples = {s.pod: s for s in raw}
            return calc_plain_metric_replicas(samples, pods, current_replicas=current_replicas,
                                              target_milli=t.average_value_milli,
                                              timestamp=raw[0].timestamp, **kw)
        if metric.type == "Object":
            return _object(metric, current_replicas, status_replicas, pods, metrics, tol,
                           namespace)
        return _external(metric, current_replicas, status_replicas, pods, metrics, tol,
                         namespace)
    except MetricError as e:
        if e.reason:          # already final (raised by _object/_external)
            raise
        raise MetricError(reason, e.message, _outer(metric, e.error)) from e


def _resource(metric: MetricSpec, current: int, pods: Sequence[PodInfo],
              metrics: MetricsSource, selector: Mapping[str, str], kw: dict
              ) -> ReplicaCalculation:
    t, res = metric.target, metric.name
    container = metric.container if metric.type == "ContainerResource" else None
    average = t.average_value_milli is not None
    wrap = f"failed to get {res} usage: " if average else f"failed to get {res} utilization: "
    if not average and t.average_utilization is None:
        raise MetricError("", "invalid resource metric source: neither an average utilization "
                              "target nor an average value (usage) target was set")
    try:
        try:
            raw = list(metrics.resource_metrics(res, selector))
            if not raw:
                raise MetricError("", "no metrics returned from resource metrics API")
        except MetricError as e:
            raise MetricError("", _prefixed(f"unable to get metrics for resource {res}: ",
                                            e.message)) from e
        samples = resource_samples(raw, res, container)
        if average:
            return calc_plain_metric_replicas(samples, pods, current_replicas=current,
                                              target_milli=t.average_value_milli, resource=res,
                                              timestamp=raw[0].timestamp, **kw)
        return calc_resource_utilization_replicas(
            samples, pods, current_replicas=current, target_utilization=t.average_utilization,
            resource=res, container=container, timestamp=raw[0].timestamp, **kw)
    except MetricError as e:
        raise MetricError("", wrap + e.message) from e


def _object(metric: MetricSpec, current: int, status: int, pods: Sequence[PodInfo],
            metrics: MetricsSource, tol: Tolerances, namespace: str) -> ReplicaCalculation:
    t, reason = metric.target, _REASONS["Object"]
    obj = metric.described_object or {}
    value_target = t.type == "Value" and t.value_milli is not None
    average_target = t.type == "AverageValue" and t.average_value_milli is not None
    if not value_target and not average_target:
        msg = "invalid object metric source: neither a value target nor an average value " \
              "target was set"
        raise MetricError(reason, msg, _outer(metric, msg))
    try:
        value = metrics.object_metric(metric.name, obj, metric.selector)
    except MetricError as e:
        # upstream's format string puts the arguments in this (odd) order
        msg = (f"unable to get metric {metric.name}: {obj.get('kind', '')} on {namespace} "
               f"{obj.get('name', '')}/{e.message}")
        err = msg if value_target else f"failed to get {metric.name} object metric: {msg}"
        raise MetricError(reason, msg, _outer(metric, err)) from e
    if value_target:
        try:
            return calc_value_replicas(value, t.value_milli, current_replicas=current, pods=pods,
                                       tolerances=tol)
        except MetricError as e:
            raise MetricError(reason, e.message, _outer(metric, e.error)) from e
    return calc_average_value_replicas(value, t.average_value_milli, status_replicas=status,
                                       tolerances=tol, cap_int32=False)


def _external(metric: MetricSpec, current: int, status: int, pods: Sequence[PodInfo],
              metrics: MetricsSource, tol: Tolerances, namespace: str) -> ReplicaCalculation:
    t, reason = metric.target, _REASONS["External"]
    if t.average_value_milli is None and t.value_milli is None:
        msg = "invalid external metric source: neither a value target nor an average value " \
              "target was set"
        raise MetricError(reason, msg, _outer(metric, msg))
    try:
        values = list(metrics.external_metric(metric.name, metric.selector))
        if not values:
            raise MetricError("", "no metrics returned from external metrics API")
    except MetricError as e:
        msg = _prefixed(f"unable to get external metric {namespace}/{metric.name}/"
                        f"{label_selector_string(metric.selector)}: ", e.message)
        err = (f"failed to get {metric.name} external metric: {msg}"
               if t.average_value_milli is not None
               else f"failed to get external metric {metric.name}: {msg}")
        raise MetricError(reason, msg, _outer(metric, err)) from e
    value = external_sum(values)
    if t.average_value_milli is not None:
        return calc_average_value_replicas(value, t.average_value_milli, status_replicas=status,
                                           tolerances=tol)
    try:
        return calc_value_replicas(value, t.value_milli, current_replicas=current, pods=pods,
                                   tolerances=tol)
    except MetricError as e:
        msg = f"failed to get external metric {metric.name}: {e.message}"
        raise MetricError(reason, e.message, _outer(metric, msg)) from e
