"""KEDA ScaledJob: one Kubernetes Job per batch of queued messages, as KEDA v2.20.2 decides it.

Pure rules, values in, decision out. Sources (kedacore/keda, tag v2.20.2):

- ``apis/keda/v1alpha1/scaledjob_types.go``: the spec, ``MinReplicaCount()`` and
  ``MaxReplicaCount()`` (which returns *max minus min* when both are set: the jobs KEDA may
  create above the floor), defaults min 0, max 100; ``withtriggers_types.go``: pollingInterval
  30 s.
- ``pkg/scaling/scaledjob/metrics.go``: ``CalculateQueueLengthAndMaxValue`` (queue length over
  the trigger's average-value target, capped at MaxReplicaCount) and ``IsScaledJobActive``
  (``multipleScalersCalculation`` max/min/avg/sum over *active* scalers; ceil to integers;
  min > 0 forces active).
- ``pkg/scaling/scale_handler.go``: ``getScaledJobState`` returns ``scaleTo`` = the queue
  length and ``maxScale`` = the jobs wanted, both ceiled.
- ``pkg/scaling/executor/scale_jobs.go``: ``getScalingDecision`` (top up to min first),
  ``NewScalingStrategy`` and the four ``GetEffectiveMaxScale`` rules, ``createJobs`` (create
  ``min(scaleTo, effectiveMaxScale)`` Jobs when active), ``getPendingJobCount`` (a running Job
  is pending while no pod runs or succeeded, or, with ``pendingPodConditions``, while no pod
  has them all) and ``cleanUp`` (keep the newest ``successfulJobsHistoryLimit`` /
  ``failedJobsHistoryLimit`` finished Jobs, default 100 each).

Simplifies: no ``scalingModifiers``, no ``envSourceContainerName``. What an edit does to the
Jobs already there (``rollout.strategy``) is the reconciler's, not the poll's: the twin's
ScaledJob loop does it (labkit/backends/sim/scaledjob_loop.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import ManifestError
from .keda_triggers import Trigger, parse_trigger

__all__ = [
    "ScalingStrategy", "ScaledJobSpec", "scaled_job_from_manifest", "ScalerMetrics",
    "target_average_value", "queue_length_and_max_value", "is_scaled_job_active",
    "effective_max_scale", "scaling_decision", "jobs_to_create", "JobView", "job_is_pending",
    "pending_job_count", "jobs_to_delete", "ScaledJobDecision", "decide",
]

STRATEGIES = ("default", "custom", "accurate", "eager")
CALCULATIONS = ("max", "min", "avg", "sum")
DEFAULT_HISTORY_LIMIT = 100
DEFAULT_MAX_REPLICA_COUNT = 100
DEFAULT_POLLING_INTERVAL = 30
SJ_LABEL = "scaledjob.keda.sh/name"       # label KEDA puts on every Job it creates


@dataclass(frozen=True)
class ScalingStrategy:
    """``spec.scalingStrategy``; ``strategy`` "" means default, as KEDA reads it."""

    strategy: str = "default"
    custom_scaling_queue_length_deduction: int | None = None
    custom_scaling_running_job_percentage: str = ""
    pending_pod_conditions: tuple[str, ...] = ()
    multiple_scalers_calculation: str = "max"

    def resolved(self) -> str:
        """The rule KEDA's ``NewScalingStrategy`` picks: custom with a percentage that does not
        parse as a float falls back to default (scale_jobs.go)."""
        if self.strategy == "custom" and _go_float(self.custom_scaling_running_job_percentage) is None:
            return "default"
        return self.strategy if self.strategy in STRATEGIES else "default"


@dataclass(frozen=True)
class ScaledJobSpec:
    """A parsed ScaledJob. ``min_replica_count``/``max_replica_count`` keep the fields as
    written (None = unset); use :meth:`min_replicas` / :meth:`max_replicas` for KEDA's values."""

    name: str
    job_target_ref: Mapping[str, Any]
    triggers: tuple[Trigger, ...]
    namespace: str = "default"
    polling_interval: int = DEFAULT_POLLING_INTERVAL
    successful_jobs_history_limit: int = DEFAULT_HISTORY_LIMIT
    failed_jobs_history_limit: int = DEFAULT_HISTORY_LIMIT
    min_replica_count: int | None = None
    max_replica_count: int | None = None
    scaling_strategy: ScalingStrategy = field(default_factory=ScalingStrategy)

    def min_replicas(self) -> int:
        """``MinReplicaCount()``: the field, capped at max; 0 when unset."""
        lo, hi = self.min_replica_count, self.max_replica_count
        if lo is None:
            return 0
        return hi if hi is not None and lo > hi else lo

    def max_replicas(self) -> int:
        """``MaxReplicaCount()``: max minus min (jobs above the floor); 100 when max is unset."""
        lo, hi = self.min_replica_count, self.max_replica_count
        if hi is None:
            return DEFAULT_MAX_REPLICA_COUNT
        if lo is not None and lo > hi:
            return hi
        return hi - self.min_replicas()


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)`` for the strings a manifest holds; None if it fails."""
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _int(spec: Mapping[str, Any], key: str, low: int, where: str) -> int | None:
    if key not in spec:
        return None
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ManifestError(f"ScaledJob spec.{key} must be an integer >= {low}, not {value!r}",
                            field=f"{where}.{key}")
    return value


def scaled_job_from_manifest(doc: Mapping[str, Any]) -> ScaledJobSpec:
    """Parse a ``keda.sh/v1alpha1`` ScaledJob; KEDA's defaults for what is unset."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    name = meta.get("name")
    if not name:
        raise ManifestError("ScaledJob needs metadata.name", field="metadata.name")
    target = spec.get("jobTargetRef")
    if not isinstance(target, Mapping) or not (target.get("template") or {}).get("spec"):
        raise ManifestError(f"ScaledJob/{name} needs spec.jobTargetRef.template.spec (the Job's "
                            "pod template)", field="spec.jobTargetRef")
    triggers = spec.get("triggers") or []
    if not triggers:
        raise ManifestError(f"ScaledJob/{name} needs at least one trigger", field="spec.triggers")
    raw = spec.get("scalingStrategy") or {}
    strategy = raw.get("strategy") or "default"
    if strategy not in STRATEGIES:
        raise ManifestError(f"ScaledJob/{name} scalingStrategy.strategy {strategy!r} is not one "
                            f"of {', '.join(STRATEGIES)}", field="spec.scalingStrategy.strategy")
    calc = raw.get("multipleScalersCalculation") or "max"
    if calc not in CALCULATIONS:
        raise ManifestError(f"ScaledJob/{name} multipleScalersCalculation {calc!r} is not one of "
                            f"{', '.join(CALCULATIONS)}",
                            field="spec.scalingStrategy.multipleScalersCalculation")
    deduction = raw.get("customScalingQueueLengthDeduction")
    scaling = ScalingStrategy(
        strategy=strategy,
        custom_scaling_queue_length_deduction=None if deduction is None else int(deduction),
        custom_scaling_running_job_percentage=str(raw.get("customScalingRunningJobPercentage", "")),
        pending_pod_conditions=tuple(raw.get("pendingPodConditions") or ()),
        multiple_scalers_calculation=calc)
    parsed = tuple(parse_trigger(t, i) for i, t in enumerate(triggers))
    for t in parsed:
        if t.is_resource:
            raise ManifestError(f"ScaledJob/{name}: a {t.type} trigger cannot drive a ScaledJob "
                                "(KEDA skips resource metrics for Jobs); use a queue trigger such "
                                "as redis", field=f"spec.triggers[{t.index}].type")
    return ScaledJobSpec(
        name=name, namespace=meta.get("namespace", "default"), job_target_ref=target,
        triggers=parsed,
        polling_interval=_int(spec, "pollingInterval", 1, "spec") or DEFAULT_POLLING_INTERVAL,
        successful_jobs_history_limit=_pick(_int(spec, "successfulJobsHistoryLimit", 0, "spec")),
        failed_jobs_history_limit=_pick(_int(spec, "failedJobsHistoryLimit", 0, "spec")),
        min_replica_count=_int(spec, "minReplicaCount", 0, "spec"),
        max_replica_count=_int(spec, "maxReplicaCount", 1, "spec"),
        scaling_strategy=scaling)


def _pick(value: int | None) -> int:
    return DEFAULT_HISTORY_LIMIT if value is None else value


# ---------------------------------------------------------------- metrics → (scaleTo, maxScale)

@dataclass(frozen=True)
class ScalerMetrics:
    """One trigger's read: the summed metric value, jobs it asks for, and its activity."""

    queue_length: float
    max_value: float
    is_active: bool


def target_average_value(targets: Sequence[float]) -> float:
    """``getTargetAverageValue``: the mean of the metric specs' average-value targets (0 if none)."""
    return sum(targets) / len(targets) if targets else 0.0


def queue_length_and_max_value(values: Sequence[float], targets: Sequence[float],
                               max_replica_count: int) -> tuple[float, float, float]:
    """``CalculateQueueLengthAndMaxValue``: (queue length, jobs wanted capped at max, target)."""
    queue_length = float(sum(values))
    target = target_average_value(targets)
    max_value = min(queue_length / target, float(max_replica_count)) if target != 0 else 0.0
    return queue_length, max_value, target


def is_scaled_job_active(metrics: Sequence[ScalerMetrics], calculation: str, min_replica_count: int,
                         max_replica_count: int) -> tuple[bool, int, int, float]:
    """``IsScaledJobActive``: (active, ceil(queue length), ceil(max value), max value).

    Only active scalers count. ``min`` keeps the first active scaler with the smallest
    non-zero length (KEDA's loop treats 0 as "none chosen yet").
    """
    queue_length = max_value = 0.0
    active = False
    live = [m for m in metrics if m.is_active]
    if calculation == "min":
        for m in live:
            if queue_length == 0 or m.queue_length < queue_length:
                queue_length, max_value, active = m.queue_length, m.max_value, True
    elif calculation == "avg":
        if live:
            queue_length = sum(m.queue_length for m in live) / len(live)
            max_value = sum(m.max_value for m in live) / len(live)
            active = True
    elif calculation == "sum":
        for m in live:
            queue_length += m.queue_length
            max_value += m.max_value
            active = True
    else:  # max (the default)
        for m in live:
            if m.queue_length > queue_length:
                queue_length, max_value, active = m.queue_length, m.max_value, True
    if min_replica_count > 0:
        active = True
    max_value = min(max_value, float(max_replica_count))
    return active, math.ceil(queue_length), math.ceil(max_value), max_value


# ---------------------------------------------------------------- the four strategies

def effective_max_scale(strategy: ScalingStrategy, max_scale: int, running: int, pending: int,
                        max_replica_count: int, scale_to: int) -> tuple[int, int]:
    """``GetEffectiveMaxScale`` of the strategy KEDA picks: (effective max scale, scale to).

    - default: ``maxScale - running``.
    - custom: ``maxScale - deduction - int(running * percentage)``, capped at max replicas.
    - accurate: if ``maxScale + running - pending > max`` then ``max - running`` else
      ``maxScale - pending`` (pending Jobs will take messages already counted).
    - eager: ``min(max - running - pending, maxScale)``, and scale to max replicas.
    """
    rule = strategy.resolved()
    if rule == "custom":
        deduction = strategy.custom_scaling_queue_length_deduction or 0
        percentage = _go_float(strategy.custom_scaling_running_job_percentage) or 0.0
        result = max_scale - deduction - int(running * percentage)
        return min(result, max_replica_count), scale_to
    if rule == "accurate":
        if max_scale + running - pending > max_replica_count:
            return max_replica_count - running, scale_to
        return max_scale - pending, scale_to
    if rule == "eager":
        return min(max_replica_count - running - pending, max_scale), max_replica_count
    return max_scale - running, scale_to


def scaling_decision(spec: ScaledJobSpec, running: int, scale_to: int, max_scale: int,
                     pending: int) -> tuple[int, int]:
    """``getScalingDecision``: below min, top up to min; else the strategy on jobs above min."""
    floor = spec.min_replicas()
    if running < floor:
        return floor - running, floor - running
    return effective_max_scale(spec.scaling_strategy, max_scale, running - floor, pending,
                               spec.max_replicas(), scale_to)


def jobs_to_create(is_active: bool, scale_to: int, effective_max: int) -> int:
    """``RequestJobScale`` + ``createJobs``: ``min(scaleTo, effectiveMaxScale)`` when active."""
    effective_max = max(effective_max, 0)
    if not is_active or effective_max <= 0:
        return 0
    return min(scale_to, effective_max)


# ---------------------------------------------------------------- Jobs: pending and history

@dataclass(frozen=True)
class JobView:
    """What KEDA reads of one Job it owns, and of that Job's pods."""

    name: str
    finished: str | None = None              # None, "Complete" or "Failed"
    completion_time: float | None = None
    pod_phases: tuple[str, ...] = ()         # e.g. ("Pending",), ("Running",)
    pod_conditions: tuple[frozenset[str], ...] = ()  # per pod: condition types that are True


def job_is_pending(job: JobView, pending_pod_conditions: Sequence[str] = ()) -> bool:
    """A running Job is pending while no pod is Running/Succeeded, or, with
    ``pendingPodConditions``, while no single pod has every listed condition True."""
    if job.finished:
        return False
    if pending_pod_conditions:
        wanted = set(pending_pod_conditions)
        return not any(wanted <= set(c) for c in job.pod_conditions)
    return not any(p in ("Running", "Succeeded") for p in job.pod_phases)


def pending_job_count(jobs: Sequence[JobView], pending_pod_conditions: Sequence[str] = ()) -> int:
    return sum(job_is_pending(j, pending_pod_conditions) for j in jobs)


def jobs_to_delete(jobs: Sequence[JobView], successful_limit: int = DEFAULT_HISTORY_LIMIT,
                   failed_limit: int = DEFAULT_HISTORY_LIMIT) -> list[str]:
    """``cleanUp``: the oldest finished Jobs past each history limit, oldest first."""
    out: list[str] = []
    for kind, limit in (("Complete", successful_limit), ("Failed", failed_limit)):
        done = sorted((j for j in jobs if j.finished == kind),
                      key=lambda j: j.completion_time or 0.0)
        out += [j.name for j in done[:max(0, len(done) - limit)]]
    return out


# ---------------------------------------------------------------- one polling cycle

@dataclass(frozen=True)
class ScaledJobDecision:
    """One poll's outcome, with the numbers ``kubectl describe scaledjob`` and the log show."""

    is_active: bool
    queue_length: int            # scaleTo as KEDA computes it
    max_scale: int               # jobs the triggers ask for
    running: int
    pending: int
    effective_max_scale: int
    create: int                  # Jobs created this poll
    delete: tuple[str, ...] = ()
    events: tuple[tuple[str, str], ...] = ()   # (reason, message)


def decide(spec: ScaledJobSpec, values: Sequence[float | None], jobs: Sequence[JobView], *,
           was_active: bool = False) -> ScaledJobDecision:
    """One ScaledJob polling cycle: trigger values in (None = scaler error), Jobs to create out.

    ``values[i]`` is trigger i's metric (for redis: the list length). Activity per trigger is
    ``value > activation threshold``; errored triggers are skipped, as KEDA skips them.
    """
    metrics = []
    for trigger, value in zip(spec.triggers, values):
        if value is None:
            continue
        ql, mv, _ = queue_length_and_max_value([value], [trigger.target], spec.max_replicas())
        metrics.append(ScalerMetrics(ql, mv, value > trigger.activation_target))
    active, scale_to, max_scale, _ = is_scaled_job_active(
        metrics, spec.scaling_strategy.multiple_scalers_calculation, spec.min_replicas(),
        spec.max_replicas())
    running = sum(1 for j in jobs if not j.finished)
    pending = pending_job_count(jobs, spec.scaling_strategy.pending_pod_conditions)
    effective, scale_to = scaling_decision(spec, running, scale_to, max_scale, pending)
    create = jobs_to_create(active, scale_to, effective)
    events: list[tuple[str, str]] = []
    if create:
        events.append(("KEDAJobsCreated", f"Created {create} jobs"))
    if active and not was_active:
        events.append(("ScaledJobActive", "Scaling is performed because triggers are active"))
    if not active and was_active:
        events.append(("ScaledJobInactive",
                       "Scaling is not performed because triggers are not active"))
    delete = jobs_to_delete(jobs, spec.successful_jobs_history_limit,
                            spec.failed_jobs_history_limit)
    return ScaledJobDecision(active, scale_to, max_scale, running, pending, max(effective, 0),
                             create, tuple(delete), tuple(events))
