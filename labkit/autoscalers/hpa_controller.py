"""One HPA reconcile as a pure function (spec/autoscalers.md §1.3, §1.8, §1.11, §1.12).

``reconcile`` is ``reconcileAutoscaler`` of kubernetes/kubernetes ``horizontal.go`` [K-HZ]
with the scale subresource, the pod list and the metrics APIs passed in, and the decision,
the status, the events and the controller's new in-memory state returned as data. The caller
(the twin's HPA loop) writes the scale when ``rescale`` is True and calls again one sync
period later.

Simplifies: reading and writing the scale never fails (no ``FailedGetScale`` /
``FailedRescale``); no selector checks (``InvalidSelector``, ``AmbiguousSelector``); when every
metric fails, upstream leaves ``status.desiredReplicas`` and ``currentMetrics`` as they were,
here ``desired_replicas`` is the current count and failed metrics report None.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from .behavior import HPAState, Normalized, normalize_legacy, normalize_with_behavior, \
    seed_state, store_scale_event
from .hpa import calc_replicas
from .hpa_types import MetricError, MetricSpec, MetricsSource, PodInfo, ReplicaCalculation
from .hpa_spec import HPASpec

__all__ = ["ControllerConfig", "Condition", "MetricStatus", "HPAEvent", "ReconcileResult",
           "reconcile", "set_condition", "tolerances_for"]


@dataclass(frozen=True)
class ControllerConfig:
    """kube-controller-manager flags and feature gates that change the HPA (§1.2, §6).

    ``configurable_tolerance``: the ``HPAConfigurableTolerance`` gate (1.35+ on).
    ``scale_to_zero_gate``: ``HPAScaleToZero`` with the 1.37 ``ScaledToZero`` condition; False
    gives the ≤1.36 behaviour (``current == 0`` disables the HPA unless ``minReplicas`` is 0).
    """

    sync_period: float = 15.0
    tolerance: float = 0.1
    downscale_stabilization: float = 300.0
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0
    configurable_tolerance: bool = True
    scale_to_zero_gate: bool = True


@dataclass(frozen=True)
class Condition:
    """A status condition as ``kubectl describe hpa`` lists it."""

    type: str
    status: str
    reason: str
    message: str
    last_transition_time: float | None = None


@dataclass(frozen=True)
class MetricStatus:
    """One entry of ``status.currentMetrics``.

    ``current_value_milli`` is the value the status shows: average value (Resource raw average
    usage, Pods, Object/External AverageValue per pod) or value (Object/External Value);
    ``current_utilization`` the integer percent for Utilization targets. None: not available
    (``<unknown>`` in ``kubectl get hpa``).
    """

    metric: MetricSpec
    current_value_milli: int | None = None
    current_utilization: int | None = None


@dataclass(frozen=True)
class HPAEvent:
    """An event the controller records on the HPA (``type`` Normal or Warning)."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class ReconcileResult:
    """Everything one reconcile decided.

    ``conditions`` is the HPA's whole condition list after this reconcile (the ``conditions``
    argument updated in place by type, as ``setCondition`` does). ``metric_desired_replicas`` is
    the combined proposal before normalization (None when metrics were not evaluated), and
    ``metric_proposals`` each metric's own proposal in ``spec.metrics`` order (None for a metric
    that failed; empty when metrics were not evaluated): what a decision trace shows.
    """

    current_replicas: int
    desired_replicas: int
    rescale: bool
    metric_desired_replicas: int | None
    current_metrics: tuple[MetricStatus, ...]
    conditions: tuple[Condition, ...]
    events: tuple[HPAEvent, ...]
    state: HPAState
    rescale_reason: str = ""
    normalized: Normalized | None = None
    metric_proposals: tuple[int | None, ...] = ()


def set_condition(conditions: tuple[Condition, ...], type: str, status: str, reason: str,
                  message: str, now: float) -> tuple[Condition, ...]:
    """``setCondition``: replace by type (append if new); the transition time moves only when
    the status changes."""
    for i, c in enumerate(conditions):
        if c.type == type:
            t = c.last_transition_time if c.status == status else now
            return conditions[:i] + (Condition(type, status, reason, message, t),) + \
                conditions[i + 1:]
    return conditions + (Condition(type, status, reason, message, now),)


def tolerances_for(spec: HPASpec, config: ControllerConfig) -> tuple[float, float]:
    """(down, up): the flag's tolerance, overridden per direction by ``behavior.*.tolerance``
    when the ``HPAConfigurableTolerance`` gate is on (§1.6)."""
    down = up = config.tolerance
    b = spec.behavior
    if b is not None and config.configurable_tolerance:
        if b.scale_down is not None and b.scale_down.tolerance is not None:
            down = b.scale_down.tolerance
        if b.scale_up is not None and b.scale_up.tolerance is not None:
            up = b.scale_up.tolerance
    return down, up


def _metric_status(metric: MetricSpec, calc: ReplicaCalculation | None) -> MetricStatus:
    if calc is None:
        return MetricStatus(metric)
    return MetricStatus(metric, calc.raw_value_milli, calc.utilization)


def reconcile(spec: HPASpec, *, spec_replicas: int, status_replicas: int,
              pods: Sequence[PodInfo], selector: Mapping[str, str], metrics: MetricsSource,
              state: HPAState | None, now: float, config: ControllerConfig = ControllerConfig(),
              conditions: Sequence[Condition] = (),
              calc: Callable[..., ReplicaCalculation] = calc_replicas) -> ReconcileResult:
    """One ``reconcileAutoscaler`` (§1.3) [K-HZ].

    Parameters
    ----------
    spec_replicas, status_replicas
        The target's scale: ``spec.replicas`` (the current count) and ``status.replicas``.
    pods
        The pods the target's selector matches.
    state
        The controller's memory from the previous reconcile; None after a (re)start, which
        seeds the recommendations with ``(spec_replicas, now)``.
    conditions
        The HPA's status conditions so far (for transition times and the ``ScaledToZero``
        condition, which survives controller restarts).
    calc
        One metric's proposal: :func:`~labkit.autoscalers.hpa.calc_replicas`, or an equivalent
        with the same arguments and results (the twin's, which reads its pods in cohorts).
    """
    current = spec_replicas
    state = seed_state(state, current, now)
    conds = tuple(c for c in conditions
                  if config.scale_to_zero_gate or c.type != "ScaledToZero")
    events: list[HPAEvent] = []
    conds = set_condition(conds, "AbleToScale", "True", "SucceededGetScale",
                          "the HPA controller was able to get the target's current scale", now)
    min_r, max_r = spec.min_replicas, spec.max_replicas

    gate = config.scale_to_zero_gate
    prior = next((c for c in conds if c.type == "ScaledToZero"), None)
    scaled_to_zero = (prior.status == "True") if prior is not None else bool(state.scaled_to_zero)
    scaled_to_zero = gate and scaled_to_zero
    has_object_or_external = any(m.type in ("Object", "External") for m in spec.metrics)

    desired = 0
    reason = ""
    compute = False
    disabled = False
    if current == 0:
        if gate:
            # 1.37: metrics only when the HPA itself scaled to zero (KEP-2021)
            compute = (min_r != 0 and scaled_to_zero) or (scaled_to_zero and
                                                          has_object_or_external)
            disabled = not compute
        else:
            # ≤1.36: zero replicas with minReplicas > 0 is "implicit maintenance mode"
            disabled = min_r != 0
            compute = not disabled
    elif current > max_r:
        desired, reason = max_r, "Current number of replicas above Spec.MaxReplicas"
    elif current < min_r:
        desired, reason = min_r, "Current number of replicas below Spec.MinReplicas"
    else:
        compute = True

    metric_desired: int | None = None
    statuses: tuple[MetricStatus, ...] = ()
    proposals: tuple[int | None, ...] = ()
    normalized: Normalized | None = None
    if disabled:
        conds = set_condition(conds, "ScalingActive", "False", "ScalingDisabled",
                              "scaling is disabled since the replica count of the target is "
                              "zero", now)
        rescale = False
    elif compute:
        outcome = _compute_metrics(spec, current, status_replicas, pods, selector, metrics, now,
                                   config, calc)
        events.extend(outcome.events)
        statuses, proposals = outcome.statuses, outcome.proposals
        if outcome.replicas is None:
            # every metric failed, or one failed and the rest want fewer pods: do nothing
            assert outcome.failure is not None
            conds = set_condition(conds, "ScalingActive", "False", outcome.failure.reason,
                                  f"the HPA was unable to compute the replica count: "
                                  f"{outcome.failure.message}", now)
            events.append(HPAEvent("Warning", "FailedComputeMetricsReplicas",
                                   outcome.error or ""))
            return ReconcileResult(current, current, False, None, statuses, conds,
                                   tuple(events), _sync_flag(state, conds, gate), "", None,
                                   proposals)
        conds = set_condition(conds, "ScalingActive", "True", "ValidMetricFound",
                              f"the HPA was able to successfully calculate a replica count "
                              f"from {outcome.metric_name}", now)
        metric_desired = outcome.replicas
        rescale_metric = ""
        if metric_desired > desired:
            desired, rescale_metric = metric_desired, outcome.metric_name
        if desired > current:
            reason = f"{rescale_metric} above target"
        if desired < current:
            reason = "All metrics below target"
        if spec.behavior is None:
            normalized = normalize_legacy(
                current_replicas=current, metric_desired_replicas=desired, min_replicas=min_r,
                max_replicas=max_r, state=state, now=now,
                downscale_stabilization=config.downscale_stabilization)
        else:
            normalized = normalize_with_behavior(
                behavior=spec.behavior, current_replicas=current, metric_desired_replicas=desired,
                min_replicas=min_r, max_replicas=max_r, state=state, now=now,
                downscale_stabilization=config.downscale_stabilization)
        state = normalized.state
        conds = set_condition(conds, "AbleToScale", "True", normalized.able_to_scale_reason,
                              normalized.able_to_scale_message, now)
        conds = set_condition(conds, "ScalingLimited",
                              "True" if normalized.scaling_limited else "False",
                              normalized.scaling_limited_reason, normalized.message, now)
        desired = normalized.desired_replicas
        if current == 0 and min_r != 0 and scaled_to_zero and desired < min_r:
            desired = min_r
        rescale = desired != current
    else:
        rescale = True

    if rescale:
        conds = set_condition(conds, "AbleToScale", "True", "SucceededRescale",
                              f"the HPA controller was able to update the target scale to "
                              f"{desired}", now)
        events.append(HPAEvent("Normal", "SuccessfulRescale",
                               f"New size: {desired}; reason: {reason}"))
        state = store_scale_event(state, spec.behavior, current, desired, now)
        if gate:
            if current > 0 and desired == 0 and min_r == 0 and has_object_or_external:
                conds = set_condition(conds, "ScaledToZero", "True", "ScaledToZero",
                                      "the HPA controller scaled the workload to zero", now)
            else:
                conds = set_condition(conds, "ScaledToZero", "False", "NotScaledToZero",
                                      "the HPA controller did not scale the workload to zero",
                                      now)
    else:
        desired = current
    return ReconcileResult(current, desired, rescale, metric_desired, statuses, conds,
                           tuple(events), _sync_flag(state, conds, gate), reason, normalized,
                           proposals)


def _sync_flag(state: HPAState, conds: tuple[Condition, ...], gate: bool) -> HPAState:
    """Mirror the ScaledToZero condition into the state; drop it when the gate is off."""
    c = next((c for c in conds if c.type == "ScaledToZero"), None)
    flag = None if (c is None or not gate) else c.status == "True"
    return replace(state, scaled_to_zero=flag)


@dataclass(frozen=True)
class _Outcome:
    replicas: int | None
    metric_name: str
    statuses: tuple[MetricStatus, ...]
    events: tuple[HPAEvent, ...]
    failure: MetricError | None
    error: str | None
    proposals: tuple[int | None, ...] = ()


def _compute_metrics(spec: HPASpec, current: int, status_replicas: int,
                     pods: Sequence[PodInfo], selector: Mapping[str, str],
                     metrics: MetricsSource, now: float, config: ControllerConfig,
                     calc: Callable[..., ReplicaCalculation] = calc_replicas) -> _Outcome:
    """``computeReplicasForMetrics``: the max of the valid proposals (§1.8) [K-HZ].

    A failure blocks the reconcile when every metric failed or when the valid ones want
    fewer pods than ``current`` (so a broken metric blocks scale-down, never scale-up).
    """
    down, up = tolerances_for(spec, config)
    replicas, name = 0, ""
    statuses: list[MetricStatus] = []
    proposals: list[int | None] = []
    events: list[HPAEvent] = []
    first: MetricError | None = None
    invalid = 0
    for metric in spec.metrics:
        try:
            proposal = calc(metric, current_replicas=current,
                            status_replicas=status_replicas, pods=pods, metrics=metrics,
                            selector=selector, now=now, tolerance_up=up, tolerance_down=down,
                            cpu_initialization_period=config.cpu_initialization_period,
                            initial_readiness_delay=config.initial_readiness_delay,
                            namespace=spec.namespace)
        except MetricError as e:
            events.append(HPAEvent("Warning", e.reason, e.message))
            statuses.append(_metric_status(metric, None))
            proposals.append(None)
            if first is None:
                first = e
            invalid += 1
            continue
        statuses.append(_metric_status(metric, proposal))
        proposals.append(proposal.replicas)
        if replicas == 0 or proposal.replicas > replicas:
            replicas, name = proposal.replicas, metric.display()
    if not spec.metrics:
        first = MetricError("InvalidMetricSourceType", "the HPA has no metrics to scale on")
    error = None
    if first is not None:
        error = (f"invalid metrics ({invalid} invalid out of {len(spec.metrics)}), first error "
                 f"is: {first.error}")
    if invalid >= len(spec.metrics) or (invalid > 0 and replicas < current):
        return _Outcome(None, "", tuple(statuses), tuple(events), first, error,
                        tuple(proposals))
    return _Outcome(replicas, name, tuple(statuses), tuple(events), None, error,
                    tuple(proposals))
