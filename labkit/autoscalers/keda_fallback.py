"""KEDA fallback: health counters, synthetic values and the Fallback condition (spec §4.5) [KD-FB].

Pure functions over the ``status.health`` map; the same rules serve the operator's poll and the
metrics adapter (the HPA's reads), which share the counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .keda_spec import Fallback, ScaledObjectSpec
from .keda_triggers import Trigger, TriggerResult
from .status import Condition


@dataclass(frozen=True)
class Health:
    """One ``status.health`` entry: consecutive failures and ``Happy``/``Failing``."""

    number_of_failures: int = 0
    status: str = "Happy"


@dataclass(frozen=True)
class FallbackOutcome:
    """A metric read after fallback: the (possibly synthetic) result and the new health map."""

    result: TriggerResult
    health: Mapping[str, Health]
    value_milli: int | None = None


def fallback_configured(so: "ScaledObjectSpec") -> bool:
    """Fallback counts only when set and valid: threshold ≥ 0 and replicas ≥ 0 (§4.5)."""
    fb = so.fallback
    return fb is not None and fb.failure_threshold >= 0 and fb.replicas >= 0


def fallback_replicas(fallback: "Fallback", current_replicas: int) -> int:
    """``R`` by behavior: static → replicas; currentReplicas; IfHigher → max; IfLower → min."""
    b = fallback.behavior
    if b == "currentReplicas":
        return current_replicas
    if b == "currentReplicasIfHigher":
        return max(current_replicas, fallback.replicas)
    if b == "currentReplicasIfLower":
        return min(current_replicas, fallback.replicas)
    return fallback.replicas


def fallback_value_milli(trigger: Trigger, replicas: int, ready_pods: int | None) -> int:
    """The synthetic value in milli-units, truncated: AverageValue ``target·R``; Value ``target·R/ready``.

    Raises ValueError for a Value metric with no ready pods (the request fails).
    """
    if trigger.metric_type == "Value":
        if not ready_pods:
            raise ValueError("fallback for a Value metric needs ready pods; found 0")
        return int(trigger.target * replicas / ready_pods * 1000)
    return int(trigger.target * replicas * 1000)


def apply_fallback(so: "ScaledObjectSpec", health: Mapping[str, Health], trigger: Trigger,
                   result: TriggerResult, *, current_replicas: int | None,
                   ready_pods: int | None) -> FallbackOutcome:
    """Evaluate one metric read through KEDA's fallback (§4.5) [KD-FB ``GetMetricsWithFallback``].

    - without a configured fallback: values and errors pass through, health untouched;
    - success → ``{0, Happy}``; error → failures + 1, ``Failing``; once failures exceed the
      threshold the read succeeds with the synthetic value and counts as active;
    - ``current_replicas`` is the target's spec replicas (``None`` = read failed), needed unless the
      behavior is static.
    """
    if trigger.is_resource or not fallback_configured(so):
        return FallbackOutcome(result, health,
                               None if result.value is None else int(result.value * 1000))
    new = dict(health)
    if result.error is None:
        new[result.metric_name] = Health(0, "Happy")
        return FallbackOutcome(result, new, int(result.value * 1000))
    failures = health.get(result.metric_name, Health()).number_of_failures + 1
    new[result.metric_name] = Health(failures, "Failing")
    fb = so.fallback
    if failures <= fb.failure_threshold:
        return FallbackOutcome(result, new)
    if fb.behavior != "static" and current_replicas is None:
        return FallbackOutcome(result, new)
    try:
        value = fallback_value_milli(trigger, fallback_replicas(fb, current_replicas or 0), ready_pods)
    except ValueError as e:
        return FallbackOutcome(TriggerResult(result.metric_name, None, False, str(e)), new)
    return FallbackOutcome(TriggerResult(result.metric_name, value / 1000, True, None, fallback=True),
                           new, value)


def fallback_condition(so: "ScaledObjectSpec", health: Mapping[str, Health]) -> Condition:
    """True (``FallbackExists``) if a metric is Failing beyond the threshold, else False."""
    threshold = so.fallback.failure_threshold
    if any(h.status == "Failing" and h.number_of_failures > threshold for h in health.values()):
        return Condition("Fallback", "True", "FallbackExists",
                         "At least one trigger is falling back on this scaled object")
    return Condition("Fallback", "False", "NoFallbackFound",
                     "No fallbacks are active on this scaled object")
