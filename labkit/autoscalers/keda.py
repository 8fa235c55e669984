"""KEDA ScaledObject: the HPA KEDA generates and the activation state machine.

The spec, its defaults and the webhook's rules are in :mod:`labkit.autoscalers.keda_spec`
(re-exported here).

Spec/autoscalers.md §4.1–4.5 [KD-SO, KD-HPA, KD-EX, KD-SH, KD-FB]. KEDA owns 0 ↔ 1 (or idle ↔
min) in :func:`poll`; the generated HPA (a manifest dict for ``hpa_spec_from_manifest``) owns 1 ↔ N.

Simplifies: ``advanced.scalingModifiers`` is refused (no formula engine); the HPA's
``app.kubernetes.io/version`` label and owner references are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from .keda_fallback import (FallbackOutcome, Health, apply_fallback, fallback_condition,
                            fallback_configured, fallback_replicas, fallback_value_milli)
from .keda_spec import (ANN_FORCE_ACTIVATION, ANN_PAUSED, ANN_PAUSED_REPLICAS,
                        ANN_PAUSED_SCALE_IN, ANN_PAUSED_SCALE_OUT, SO_LABEL, Fallback,
                        ScaledObjectSpec, ScaleTargetRef, hpa_name, parse_bool_annotation,
                        scaled_object_from_manifest)
from .keda_triggers import (Trigger, TriggerResult, cron_active, hpa_metric_spec, metrics_api_value,
                            prometheus_value, trigger_result)
from .status import Condition, Event

__all__ = [
    "Fallback", "ScaleTargetRef", "ScaledObjectSpec", "scaled_object_from_manifest", "hpa_name",
    "generated_hpa_manifest", "KEDAState", "new_keda_state", "PollResult", "poll",
    "hpa_metric_value", "Health", "apply_fallback", "fallback_condition", "fallback_configured",
    "fallback_replicas", "fallback_value_milli", "Trigger", "TriggerResult", "trigger_result",
    "cron_active", "metrics_api_value", "prometheus_value", "parse_bool_annotation",
    "ANN_PAUSED", "ANN_PAUSED_REPLICAS", "ANN_PAUSED_SCALE_IN", "ANN_PAUSED_SCALE_OUT",
    "ANN_FORCE_ACTIVATION", "SO_LABEL",
]

def generated_hpa_manifest(so: ScaledObjectSpec) -> dict:
    """The autoscaling/v2 HPA KEDA creates for ``so`` (§4.3) [KD-HPA ``newHPAForScaledObject``].

    - ``minReplicas = max(1, minReplicaCount)``, ``maxReplicas = maxReplicaCount``; with
      ``paused-replicas: N`` both are ``max(1, N)``;
    - ``behavior`` = the ScaledObject's (copied) or absent (nil → legacy HPA path); the
      paused-scale-in/out annotations set ``selectPolicy: Disabled`` for that direction;
    - one metric per trigger, External metrics carry the ``scaledobject.keda.sh/name`` selector;
      sorted by type (stable).
    """
    behavior = None if so.hpa_behavior is None else _deep_copy(so.hpa_behavior)
    for flag, direction in ((so.paused_scale_in, "scaleDown"), (so.paused_scale_out, "scaleUp")):
        if flag:
            behavior = behavior or {}
            behavior.setdefault(direction, {})
            behavior[direction]["selectPolicy"] = "Disabled"
    min_r, max_r = max(1, so.min_replica_count), so.max_replica_count
    if so.paused_replicas is not None:
        min_r = max_r = max(1, so.paused_replicas)
    metrics = sorted((hpa_metric_spec(t, so.name) for t in so.triggers), key=lambda m: m["type"])
    name = hpa_name(so)
    labels = {"app.kubernetes.io/name": name[:63].rstrip("-._"),
              "app.kubernetes.io/part-of": so.name,
              "app.kubernetes.io/managed-by": "keda-operator", **so.labels}
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": so.scale_target_ref.api_version,
                           "kind": so.scale_target_ref.kind, "name": so.scale_target_ref.name},
        "minReplicas": min_r, "maxReplicas": max_r, "metrics": metrics}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": so.namespace, "labels": labels,
                         "annotations": dict(so.annotations)},
            "spec": spec}


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_deep_copy(v) for v in obj]
    return obj


# ---------------------------------------------------------------- operator state and poll

@dataclass(frozen=True)
class KEDAState:
    """What the ScaledObject status carries between polls (§5): times, health, conditions."""

    created_at: float
    last_active_time: float | None = None
    health: Mapping[str, Health] = field(default_factory=dict)
    conditions: Mapping[str, Condition] = field(default_factory=dict)

    @property
    def fallback_active(self) -> bool:
        c = self.conditions.get("Fallback")
        return c is not None and c.status == "True"


def new_keda_state(created_at: float) -> KEDAState:
    """A new ScaledObject: never active; Paused False, the other conditions Unknown
    (``GetInitializedConditions``, kedacore/keda v2.20.2 ``apis/keda/v1alpha1/condition_types.go``)."""
    initial = {t: Condition(t, "Unknown") for t in ("Ready", "Active", "Fallback")}
    initial["Paused"] = Condition("Paused", "False")
    return KEDAState(created_at=created_at, conditions=initial)


@dataclass(frozen=True)
class PollResult:
    """One poll: the replicas KEDA writes (``None`` = no write), new state, conditions, events."""

    scale_to: int | None
    state: KEDAState
    conditions: tuple[Condition, ...]
    events: tuple[Event, ...]
    active: bool
    results: tuple[TriggerResult, ...] = ()


_ACTIVE_MSG = {"ScalerActive": "Scaling is performed because triggers are active",
               "ScalerNotActive": "Scaling is not performed because triggers are not active",
               "ScalerCooldown": "Scaler cooling down because triggers are not active"}


def _cond(conds: dict, ctype: str, status: str, reason: str, message: str, now: float) -> None:
    old = conds.get(ctype)
    since = old.last_transition_time if old is not None and old.status == status else now
    conds[ctype] = Condition(ctype, status, reason, message, since)


def _evaluate(so: ScaledObjectSpec, state: KEDAState, results: Sequence[TriggerResult], *,
              current_replicas: int | None, ready_pods: int | None
              ) -> tuple[list[TriggerResult], dict[str, Health]]:
    by_name = {r.metric_name: r for r in results}
    health = dict(state.health)
    out = []
    for t in so.triggers:
        if t.is_resource:
            continue
        r = by_name.get(t.metric_name) or TriggerResult(t.metric_name, None, False,
                                                        f"no result for {t.metric_name}")
        outcome = apply_fallback(so, health, t, r, current_replicas=current_replicas,
                                 ready_pods=ready_pods)
        health = dict(outcome.health)
        out.append(outcome.result)
    return out, health


def poll(so: ScaledObjectSpec, state: KEDAState, *, results: Sequence[TriggerResult],
         current_replicas: int, now: float, ready_pods: int | None = None) -> PollResult:
    """One operator poll (§4.4) [KD-EX ``RequestScale``, KD-SH ``checkScalers``].

    Event words from kedacore/keda v2.20.2 ``pkg/scaling/executor/scale_scaledobjects.go``
    (``scaleFromZeroOrIdle``, ``scaleToZeroOrIdle``) and ``pkg/common/message/message.go``
    (fallback; both fallback events are Normal, ``scale_handler.go`` ``checkScalers``).

    ``results``: the raw scaler reads of the non-cpu/memory triggers (see ``trigger_result``);
    fallback (§4.5) is applied here. ``current_replicas``: the target's spec replicas.
    The first matching row of the §4.4 table decides; both cooldown comparisons are strict.
    """
    conds = dict(state.conditions)
    events: list[Event] = []
    # status.scaleTargetKind is the GVK string, e.g. apps/v1.Deployment (gvkr_types.go GVKString)
    ref = so.scale_target_ref
    target = f"{ref.api_version}.{ref.kind} {so.namespace}/{ref.name}"
    if so.paused:
        # Paused: the loop stops; replicas and the Active condition are left alone.
        _cond(conds, "Paused", "True", "ScaledObjectPaused", "ScaledObject is paused", now)
        new = replace(state, conditions=conds)
        return PollResult(None, new, tuple(conds.values()), (), False)
    # Unpausing is the reconciler's job (labkit.autoscalers.keda_reconciler), not the poll's:
    # the executor only ever sets Paused=True (``handlePaused``, scale_scaledobjects.go).

    evaluated, health = _evaluate(so, state, results, current_replicas=current_replicas,
                                  ready_pods=ready_pods)
    in_fallback = any(r.fallback for r in evaluated)
    if fallback_configured(so):
        was_true = state.fallback_active
        fc = fallback_condition(so, health)
        _cond(conds, "Fallback", fc.status, fc.reason, fc.message, now)
        if in_fallback and not was_true:
            events.append(Event("ScaledObjectFallbackActivated", "ScaledObject fallback is active"))
        elif not in_fallback and was_true:
            events.append(Event("ScaledObjectFallbackDeactivated",
                                "ScaledObject fallback is no longer active"))

    _cond(conds, "Ready", "True", "ScaledObjectReady",
          "ScaledObject is defined correctly and is ready for scaling", now)
    all_resource = all(t.is_resource for t in so.triggers)
    active = so.force_activation or all_resource or any(r.active for r in evaluated)
    error = next((r.error for r in evaluated if r.error), None)
    c, lo, idle = current_replicas, so.min_replica_count, so.idle_replica_count
    last_active = state.last_active_time
    scale_to: int | None = None

    def set_active(status: str, reason: str) -> None:
        _cond(conds, "Active", status, reason, _ACTIVE_MSG[reason], now)

    if active and (c == 0 or (idle is not None and c < lo)):
        set_active("True", "ScalerActive")
        if not so.paused_scale_out:
            scale_to = lo if lo > 0 else 1
            last_active = now
            why = ("caused by forced activation annotation" if so.force_activation else
                   "triggered by " + ";".join(r.metric_name for r in evaluated if r.active))
            events.append(Event("KEDAScaleTargetActivated",
                                f"Scaled {target} from {c} to {scale_to}, {why}"))
    elif active and error:
        set_active("True", "ScalerActive")
        _cond(conds, "Ready", "Unknown", "PartialTriggerError",
              f"Some triggers have errors: {error}", now)
    elif active:
        set_active("True", "ScalerActive")
        last_active = now
    elif error and so.fallback is not None and so.fallback.replicas != 0 and fallback_configured(so):
        set_active("False", "ScalerNotActive")
    elif error and not fallback_configured(so):
        set_active("False", "ScalerNotActive")
        _cond(conds, "Ready", "False", "TriggerError", f"Triggers defined in ScaledObject are "
              f"not working correctly: {error}", now)
    elif (idle is not None and c > idle) or (c > 0 and lo == 0):
        if so.paused_scale_in:
            set_active("False", "ScalerNotActive")
        elif _cooled_down(so, state, now):
            scale_to = idle if idle is not None else lo
            set_active("False", "ScalerNotActive")
            events.append(Event("KEDAScaleTargetDeactivated",
                                f"Deactivated {target} from {c} to {scale_to}"))
        else:
            set_active("False", "ScalerCooldown")
    elif idle is None and c < lo:
        set_active("False", "ScalerNotActive")
        scale_to = lo
    else:
        set_active("False", "ScalerNotActive")

    new = KEDAState(created_at=state.created_at, last_active_time=last_active,
                    health=health if fallback_configured(so) else state.health, conditions=conds)
    return PollResult(scale_to, new, tuple(conds.values()), tuple(events), active, tuple(evaluated))


def _cooled_down(so: ScaledObjectSpec, state: KEDAState, now: float) -> bool:
    """Cooldown over: ``lastActive + cooldown < now``, or never active and ``created + initial < now``."""
    if state.last_active_time is not None:
        return state.last_active_time + so.cooldown_period < now
    return state.created_at + so.initial_cooldown_period < now


def hpa_metric_value(so: ScaledObjectSpec, state: KEDAState, *, result: TriggerResult,
                     current_replicas: int | None, ready_pods: int | None, now: float
                     ) -> tuple[FallbackOutcome, KEDAState]:
    """One metrics-adapter read for the HPA (§4.1, §4.5): the value in milli-units or an error.

    Updates the same health counters as :func:`poll` (and the Fallback condition when configured).
    """
    trigger = next((t for t in so.triggers if t.metric_name == result.metric_name), None)
    if trigger is None:
        raise KeyError(f"{result.metric_name} is not a metric of ScaledObject/{so.name}")
    outcome = apply_fallback(so, state.health, trigger, result, current_replicas=current_replicas,
                             ready_pods=ready_pods)
    if not fallback_configured(so):
        return outcome, state
    conds = dict(state.conditions)
    fc = fallback_condition(so, outcome.health)
    _cond(conds, "Fallback", fc.status, fc.reason, fc.message, now)
    return outcome, replace(state, health=dict(outcome.health), conditions=conds)
