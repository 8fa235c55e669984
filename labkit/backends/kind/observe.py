"""API objects -> Timeline rows and events: pure functions over the JSON the API server returns.

The kind backend polls (about once a second) the scale target's Deployment, its pods, the
autoscaler object (HorizontalPodAutoscaler autoscaling/v2; Knative PodAutoscaler
autoscaling.internal.knative.dev/v1alpha1; KEDA ScaledObject plus the HPA it owns) and the
namespace's Events, and turns them into the same columns the twin writes
(:data:`labkit.timeline.SAMPLE_COLUMNS`). Everything here takes plain dicts (what
``kubectl get -o json`` prints), so tests feed recorded API responses.

Metric names and units follow the twin (:func:`labkit.backends.sim.hpa_loop.metric_reading`):
``"cpu utilization (%)"`` for Utilization targets, ``"<metric> (per pod)"`` for AverageValue,
``"<metric>"`` for Value.
Simplifies: the first metric of an HPA is shown (the twin does the same); the KPA's panic
mode and observed concurrency come from the Knative autoscaler's Prometheus endpoint when it
can be read, else they are NaN/False (the PodAutoscaler status does not carry them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from ...autoscalers.keda_scaledjob import queue_length_and_max_value, scaled_job_from_manifest

NAN = float("nan")


# -- small helpers ---------------------------------------------------------------------------------
def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 API timestamp (``2026-11-28T10:00:03Z`` or with micro-seconds) as UTC."""
    if not value:
        return None
    v = value.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(v).astimezone(timezone.utc)
    except ValueError:
        return None


_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``"4600m"``, ``"128Mi"``, ``5``) as a float; NaN if unreadable."""
    if value is None:
        return NAN
    if isinstance(value, (int, float)):
        return float(value)
    m = re.fullmatch(r"\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2) not in _SUFFIX:
        return NAN
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _status(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("status") or {}


def conditions(obj: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """``status.conditions`` keyed by type: ``{"AbleToScale": {"status": "True", ...}}``."""
    return {c.get("type", ""): c for c in _status(obj).get("conditions") or []}


def ref(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` as kubectl prints it."""
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


# -- workloads -------------------------------------------------------------------------------------
def deployment_replicas(deploy: Mapping[str, Any] | None) -> tuple[int, int]:
    """(spec.replicas, status.readyReplicas) of a Deployment; (0, 0) when it does not exist."""
    if not deploy:
        return 0, 0
    spec = (deploy.get("spec") or {}).get("replicas")
    return int(1 if spec is None else spec), int(_status(deploy).get("readyReplicas") or 0)


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return _status(pod).get("phase") == "Running" and \
        conditions(pod).get("Ready", {}).get("status") == "True"


def pending_pods(pods: Iterable[Mapping[str, Any]]) -> int:
    """Pods not yet scheduled: phase Pending and no node (the twin's ``pending_pods``)."""
    return sum(1 for p in pods if _status(p).get("phase") == "Pending"
               and not (p.get("spec") or {}).get("nodeName"))


def ready_pods(pods: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for p in pods if pod_is_ready(p))


def job_finished(job: Mapping[str, Any]) -> str | None:
    """``Complete`` or ``Failed`` when a batch/v1 Job has that condition True, else None."""
    for kind in ("Complete", "Failed"):
        if conditions(job).get(kind, {}).get("status") == "True":
            return kind
    return None


def job_replicas(jobs: Iterable[Mapping[str, Any]],
                 pods: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(Jobs still running, their pods Running and Ready) for a ScaledJob's Jobs: the
    queue-jobs variant's ``spec_replicas`` and ``ready_replicas``."""
    active = sum(1 for j in jobs if not job_finished(j)
                 and not (j.get("metadata") or {}).get("deletionTimestamp"))
    return active, ready_pods(pods)


# -- autoscalers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """What one autoscaler object says at one poll."""

    desired_replicas: int | None
    metric_name: str = ""
    metric_value: float = NAN
    metric_target: float = NAN
    panic_mode: bool = False
    conditions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _metric_key(m: Mapping[str, Any]) -> tuple[str, str]:
    """(type, metric name) of a spec.metrics or status.currentMetrics entry."""
    t = m.get("type", "")
    body = m.get({"Resource": "resource", "ContainerResource": "containerResource",
                  "Pods": "pods", "Object": "object", "External": "external"}.get(t, ""), {}) or {}
    name = body.get("name") or (body.get("metric") or {}).get("name", "")
    return t, name


def _body(m: Mapping[str, Any]) -> Mapping[str, Any]:
    t = m.get("type", "")
    key = t[0].lower() + t[1:] if t else ""
    return m.get(key) or {}


def hpa_metric(spec_metric: Mapping[str, Any],
               current: Sequence[Mapping[str, Any]]) -> tuple[str, float, float]:
    """(name, value, target) of one autoscaling/v2 metric, in the units ``kubectl get hpa`` uses."""
    _, name = _metric_key(spec_metric)
    target = _body(spec_metric).get("target") or {}
    cur_entry = next((c for c in current if _metric_key(c) == _metric_key(spec_metric)), None)
    cur = _body(cur_entry).get("current") or {} if cur_entry else {}
    ttype = target.get("type", "")
    if ttype == "Utilization":
        value = cur.get("averageUtilization")
        return (f"{name} utilization (%)", NAN if value is None else float(value),
                float(target.get("averageUtilization") or 0))
    if ttype == "AverageValue":
        return (f"{name} (per pod)", quantity(cur.get("averageValue")),
                quantity(target.get("averageValue")))
    return (name, quantity(cur.get("value")), quantity(target.get("value")))


def hpa_reading(hpa: Mapping[str, Any] | None) -> Reading:
    """An autoscaling/v2 HorizontalPodAutoscaler's recommendation and first metric.

    ``status.desiredReplicas`` is the recommendation; ``currentMetrics`` pairs with
    ``spec.metrics`` by type and name (they are not in the same order when one is unknown).
    """
    if not hpa:
        return Reading(None)
    st = _status(hpa)
    metrics = (hpa.get("spec") or {}).get("metrics") or []
    name, value, target = ("", NAN, NAN)
    if metrics:
        name, value, target = hpa_metric(metrics[0], st.get("currentMetrics") or [])
    elif "targetCPUUtilizationPercentage" in (hpa.get("spec") or {}):  # read as autoscaling/v1
        name = "cpu utilization (%)"
        target = float(hpa["spec"]["targetCPUUtilizationPercentage"])
        cur = st.get("currentCPUUtilizationPercentage")
        value = NAN if cur is None else float(cur)
    desired = st.get("desiredReplicas")
    return Reading(None if desired is None else int(desired), name, value, target, False,
                   conditions(hpa))


def pa_reading(pa: Mapping[str, Any] | None,
               autoscaler_metrics: Mapping[str, float] | None = None) -> Reading:
    """A Knative PodAutoscaler: ``status.desiredScale`` and, when scraped, the KPA's metrics.

    ``desiredScale`` is absent until the KPA has decided once; -1 means "not yet known"
    (Knative's sentinel), both read as None. ``autoscaler_metrics`` is
    :func:`kpa_metrics` of the Knative autoscaler's metrics endpoint.
    """
    if not pa:
        return Reading(None)
    st = _status(pa)
    desired = st.get("desiredScale")
    desired = None if desired is None or int(desired) < 0 else int(desired)
    ann = (pa.get("metadata") or {}).get("annotations") or {}
    metric = ann.get("autoscaling.knative.dev/metric", "concurrency")
    m = autoscaler_metrics or {}
    return Reading(desired, f"{metric} (per pod)" if m else "",
                   m.get("stable_per_pod", NAN), m.get("target_per_pod", NAN),
                   bool(m.get("panic_mode", 0.0) >= 1.0), conditions(pa))


def scaled_object_reading(so: Mapping[str, Any] | None, hpa: Mapping[str, Any] | None,
                          spec_replicas: int) -> Reading:
    """A KEDA ScaledObject with the HPA it owns (``status.hpaName``).

    KEDA itself moves the target between 0 and 1 (condition ``Active``); the HPA moves it
    between 1 and max. So: zero replicas and not Active -> the recommendation is 0.
    """
    h = hpa_reading(hpa)
    # ScaledObject conditions are keyed "ScaledObject/name#Type" so events name their object.
    conds = {**h.conditions, **{f"{ref(so)}#{k}": c for k, c in conditions(so).items()}}
    active = conditions(so).get("Active", {}).get("status") == "True"
    desired = h.desired_replicas
    if so and not active and spec_replicas == 0:
        desired = 0
    return Reading(desired, h.metric_name, h.metric_value, h.metric_target, False, conds)


def queue_stats(body: str) -> dict[str, Any]:
    """The enqueue API's ``GET /queue`` JSON (app/jobs.py ``QueueStats``): ``length`` (what
    KEDA's redis trigger reads), ``oldest_age_s``, ``processing``, ``done``, ...; a
    BackendError when the body is not that."""
    import json

    from ...errors import BackendError
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise BackendError(f"GET /queue did not answer JSON: {str(body)[:80]!r}") from None
    if not isinstance(data, dict) or "length" not in data:
        raise BackendError(f"GET /queue answered without a length: {str(body)[:80]!r}")
    return data


def scaled_job_reading(sj: Mapping[str, Any] | None, queue_length: float | None) -> Reading:
    """A KEDA ScaledJob on one redis trigger, with the list's length read from the app.

    KEDA writes no replica recommendation into a ScaledJob's status, so ``desired`` is what
    its poll computes from the same number: ``ceil(LLEN / listLength)`` Jobs, at most
    ``maxReplicaCount`` (labkit.autoscalers.keda_scaledjob, KEDA v2.20.2).
    """
    if not sj:
        return Reading(None)
    spec = scaled_job_from_manifest(sj)
    trig = spec.triggers[0]
    conds = {f"{ref(sj)}#{k}": c for k, c in conditions(sj).items()}
    name = f"{trig.metadata.get('listName', trig.metric_name)} list length"
    if queue_length is None:
        return Reading(None, name, NAN, trig.target, False, conds)
    _, wanted, _ = queue_length_and_max_value([queue_length], [trig.target], spec.max_replicas())
    return Reading(math.ceil(wanted), name, float(queue_length), trig.target, False, conds)


_PROM_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+([^\s]+)")


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition -> (metric name, labels, value) triples."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _PROM_LINE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            continue
    return out


#: The Knative 1.23 autoscaler's metrics in Prometheus form -> our keys.
#: OpenTelemetry names since knative-v1.19.0: knative/serving knative-v1.23.0
#: pkg/autoscaler/scaling/metrics.go (kn.revision.pods.desired, kn.revision.capacity.excess,
#: kn.revision.panic.mode, kn.revision.concurrency.{stable,panic,target} or
#: kn.revision.rps.{stable,panic,target}) and pkg/reconciler/autoscaling/kpa/metrics.go
#: (kn.revision.pods.count = ready pods, ...). The Prometheus exporter
#: (vendor/knative.dev/pkg/observability/metrics/prometheus_enabled.go:
#: otlptranslator.UnderscoreEscapingWithSuffixes) turns dots into underscores, drops
#: "{...}" units and spells "/s" as "_per_second" (vendor/github.com/prometheus/otlptranslator
#: unit_namer.go); gauges get no "_total".
KPA_METRICS = {
    "kn_revision_panic_mode": "panic_mode",
    "kn_revision_concurrency_stable": "stable_concurrency",
    "kn_revision_concurrency_panic": "panic_concurrency",
    "kn_revision_concurrency_target": "target_per_pod",
    "kn_revision_rps_stable_per_second": "stable_concurrency",
    "kn_revision_rps_panic_per_second": "panic_concurrency",
    "kn_revision_rps_target_per_second": "target_per_pod",
    "kn_revision_pods_desired": "desired_pods",
    "kn_revision_pods_count": "ready_pods",
    "kn_revision_capacity_excess": "excess_capacity",
}
#: Attribute keys, knative/serving knative-v1.23.0 pkg/metrics/key.go (kn.revision.name,
#: k8s.namespace.name), set per revision in cmd/autoscaler/main.go; as Prometheus labels.
REVISION_LABEL = "kn_revision_name"
NAMESPACE_LABEL = "k8s_namespace_name"


def kpa_metrics(text: str, revision: str, namespace: str | None = None) -> dict[str, float]:
    """The KPA's view of one revision from the autoscaler's ``/metrics`` (Knative 1.23).

    Returns ``panic_mode`` (1/0), ``stable_concurrency`` (what the KPA observed over the
    stable window, summed over the revision's pods: it decides ``ceil(stable / target)`` pods,
    pkg/autoscaler/scaling/autoscaler.go), ``target_per_pod``, ``desired_pods``,
    ``ready_pods`` and ``stable_per_pod`` = stable concurrency / ready pods.
    """
    found: dict[str, float] = {}
    for name, labels, value in parse_prometheus(text):
        key = KPA_METRICS.get(name)
        if key is None or labels.get(REVISION_LABEL) != revision:
            continue
        if namespace is not None and labels.get(NAMESPACE_LABEL, namespace) != namespace:
            continue
        found[key] = value
    if "stable_concurrency" in found:
        pods = found.get("ready_pods") or 1.0
        found["stable_per_pod"] = found["stable_concurrency"] / max(pods, 1.0)
    return found


# -- events ----------------------------------------------------------------------------------------
def event_time(ev: Mapping[str, Any]) -> datetime | None:
    """When an Event last happened (core/v1 and events.k8s.io/v1 spellings)."""
    series = ev.get("series") or {}
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        t = parse_time(ev.get(key))
        if t:
            return t
    t = parse_time(series.get("lastObservedTime"))
    return t or parse_time((ev.get("metadata") or {}).get("creationTimestamp"))


def event_rows(events: Iterable[Mapping[str, Any]], start: datetime,
               seen: set[tuple[str, Any]], *,
               objects: Sequence[str] | None = None,
               since: datetime | None = None) -> list[dict[str, Any]]:
    """New Events (not in ``seen``, at or after ``since``, default ``start``) as Timeline event
    rows with times relative to ``start``, oldest first.

    ``since`` before ``start`` keeps the rollout's events (the deploy began at ``since``) with
    negative times. ``seen`` holds (uid, count) pairs and is updated, so a repeated event
    (count 2, 3...) appears again, as ``kubectl get events -w`` shows it. ``objects``
    (``Kind/name`` or ``Kind/`` prefixes) limits rows to the lab's objects.
    """
    first = since if since is not None and since < start else start
    rows = []
    for ev in events:
        inv = ev.get("involvedObject") or ev.get("regarding") or {}
        obj = f"{inv.get('kind', '?')}/{inv.get('name', '?')}"
        if objects is not None and not any(obj == o or (o.endswith("/") and obj.startswith(o))
                                           for o in objects):
            continue
        when = event_time(ev)
        if when is None or when < first:
            continue
        key = ((ev.get("metadata") or {}).get("uid") or obj + str(ev.get("reason")),
               ev.get("count") or (ev.get("series") or {}).get("count") or 1)
        if key in seen:
            continue
        seen.add(key)
        rows.append({"time": (when - start).total_seconds(), "object": obj,
                     "type": ev.get("type") or "Normal", "reason": ev.get("reason") or "",
                     "message": ev.get("message") or ev.get("note") or ""})
    rows.sort(key=lambda r: r["time"])
    return rows


def condition_events(previous: Mapping[str, Mapping[str, str]],
                     current: Mapping[str, Mapping[str, str]], obj: str,
                     time: float) -> list[dict[str, Any]]:
    """An event row for each condition whose status or reason changed since the last poll.

    HPA conditions (AbleToScale, ScalingActive, ScalingLimited) are where ``kubectl describe
    hpa`` explains *why* it does not scale (``ScaleDownStabilized``, ``TooManyReplicas``,
    ``FailedGetResourceMetric``); they are not Events, so we turn their changes into rows.
    """
    rows = []
    for ctype, c in current.items():
        old = previous.get(ctype)
        if old and (old.get("status"), old.get("reason")) == (c.get("status"), c.get("reason")):
            continue
        source, _, name = ctype.rpartition("#")
        # A condition that is False is bad news, except those that report a limit or a mode.
        healthy = c.get("status") == "True" or name in ("ScalingLimited", "Fallback", "Paused")
        rows.append({"time": time, "object": source or obj,
                     "type": "Normal" if healthy else "Warning",
                     "reason": c.get("reason") or name,
                     "message": f"{name}={c.get('status')}: {c.get('message', '')}".strip()})
    return rows


# -- one sample ------------------------------------------------------------------------------------
def sample_row(time: float, *, deployment: Mapping[str, Any] | None,
               pods: Sequence[Mapping[str, Any]], reading: Reading,
               load: Mapping[str, Any] | None = None,
               queue: Mapping[str, Any] | None = None,
               replicas: tuple[int, int] | None = None) -> dict[str, Any]:
    """One Timeline row from one poll; ``load`` is the latest row of :func:`labkit.loadgen.drive`
    (users, rps, latency_p50/p95/p99, errors) or None when no load runs; ``queue`` the enqueue
    API's ``GET /queue`` (``length``, ``oldest_age_s``) for the queue variants, else None;
    ``replicas`` (spec, ready) when the scaled things are not a Deployment (a ScaledJob's
    Jobs, :func:`job_replicas`)."""
    spec, ready = replicas if replicas is not None else deployment_replicas(deployment)
    desired = reading.desired_replicas if reading.desired_replicas is not None else spec
    load = load or {}
    return {
        "time": time,
        "users": int(load.get("users") or 0),
        "rps": float(load.get("rps") or 0.0),
        "latency_p50": _num(load.get("latency_p50")),
        "latency_p95": _num(load.get("latency_p95")),
        "latency_p99": _num(load.get("latency_p99")),
        "errors": int(load.get("errors") or 0),
        "spec_replicas": spec,
        "ready_replicas": ready if deployment or replicas is not None else ready_pods(pods),
        "pending_pods": pending_pods(pods),
        "desired_replicas": desired,
        "metric_name": reading.metric_name,
        "metric_value": reading.metric_value,
        "metric_target": reading.metric_target,
        "panic_mode": reading.panic_mode,
        "queue_length": _num(queue.get("length")) if queue else NAN,
        "oldest_job_age": _num(queue.get("oldest_age_s")) if queue else NAN,
    }


def _num(value: Any) -> float:
    return NAN if value is None else float(value)
