"""HPA normalization: from the metrics' proposal to the replicas written (spec §1.9, §1.10).

Pure functions after kubernetes/kubernetes ``horizontal.go`` [K-HZ] and the API defaulting of
``pkg/apis/autoscaling/v2/defaults.go`` [K-DEF2]. The controller's in-memory history
(recommendations, scale-up and scale-down events) is :class:`HPAState`: it comes in as an
argument and goes out as new data, with ``now`` given by the caller.

Two paths:

* legacy (``spec.behavior`` nil): 5-minute rolling maximum for scale-down, scale-up limited to
  ``max(2 × current, 4)``, min/max clamp; no scale events recorded;
* behavior: stabilization windows over the recommendations, then Pods/Percent policies over
  the scale events of each period, ``selectPolicy`` Max/Min/Disabled.

Time comparisons copy upstream exactly: a recommendation counts in a behavior window when it is
strictly newer than ``now − window``; in the legacy window when it is not strictly older; an
event counts in a policy period when strictly newer than ``now − period``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = [
    "ScalingPolicy", "ScalingRules", "Behavior", "default_behavior", "default_scale_up_rules",
    "default_scale_down_rules", "Recommendation", "ScaleEvent", "HPAState", "Normalized",
    "seed_state", "stabilize_legacy", "stabilize_with_behavior", "scale_up_limit",
    "scale_down_limit", "replicas_change_per_period", "normalize_legacy",
    "normalize_with_behavior", "store_scale_event",
]

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

# condition messages, verbatim [K-HZ]
MSG_READY = "recommended size matches current size"
MSG_DOWN_STABILIZED = ("recent recommendations were higher than current one, applying the "
                       "highest recent recommendation")
MSG_UP_STABILIZED = ("recent recommendations were lower than current one, applying the lowest "
                     "recent recommendation")
MSG_TOO_FEW = "the desired replica count is less than the minimum replica count"
MSG_TOO_MANY = "the desired replica count is more than the maximum replica count"
MSG_UP_LIMIT = "the desired replica count is increasing faster than the maximum scale rate"
MSG_DOWN_LIMIT = "the desired replica count is decreasing faster than the maximum scale rate"
MSG_WITHIN = "the desired count is within the acceptable range"


# ----------------------------------------------------------------------------- spec types
@dataclass(frozen=True)
class ScalingPolicy:
    """``HPAScalingPolicy``: ``type`` "Pods" or "Percent", ``value`` > 0, ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules`` of one direction; None means "not written" (defaulting fills it)."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior``: rules for ``scale_up`` and ``scale_down``."""

    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


def default_scale_up_rules(rules: ScalingRules | None) -> ScalingRules:
    """Fill unset scale-up fields: window 0, Max, [Pods 4/15 s, Percent 100/15 s] [K-DEF2]."""
    rules = rules or ScalingRules()
    return ScalingRules(
        stabilization_window_seconds=(0 if rules.stabilization_window_seconds is None
                                      else rules.stabilization_window_seconds),
        select_policy=rules.select_policy or "Max",
        policies=(rules.policies if rules.policies is not None
                  else (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))),
        tolerance=rules.tolerance)


def default_scale_down_rules(rules: ScalingRules | None,
                             downscale_stabilization: int | None = 300) -> ScalingRules:
    """Fill unset scale-down fields: Max, [Percent 100/15 s]; the window from the
    controller's ``--horizontal-pod-autoscaler-downscale-stabilization`` (None keeps it
    unset, as the API server leaves it) [K-DEF2, K-HZ]."""
    rules = rules or ScalingRules()
    window = rules.stabilization_window_seconds
    if window is None and downscale_stabilization is not None:
        window = int(downscale_stabilization)
    return ScalingRules(
        stabilization_window_seconds=window,
        select_policy=rules.select_policy or "Max",
        policies=(rules.policies if rules.policies is not None
                  else (ScalingPolicy("Percent", 100, 15),)),
        tolerance=rules.tolerance)


def default_behavior(b: Behavior, *, downscale_stabilization: int | float | None = 300
                     ) -> Behavior:
    """API defaulting of a non-nil ``behavior``, field by field (§1.10).

    A written ``policies`` list replaces the whole default list; written fields are kept.
    """
    return Behavior(scale_up=default_scale_up_rules(b.scale_up),
                    scale_down=default_scale_down_rules(
                        b.scale_down,
                        None if downscale_stabilization is None else int(downscale_stabilization)))


# ----------------------------------------------------------------------------- state
@dataclass(frozen=True)
class Recommendation:
    """An unstabilized recommendation (the metrics' proposal) and when it was made."""

    replicas: int
    timestamp: float


@dataclass(frozen=True)
class ScaleEvent:
    """A rescale the controller made: ``replica_change`` is ``|desired − current|``."""

    replica_change: int
    timestamp: float
    outdated: bool = False


@dataclass(frozen=True)
class HPAState:
    """The controller's per-HPA memory (lost on restart, §1.1).

    ``scaled_to_zero`` mirrors the ``ScaledToZero`` condition: None until a rescale set it.
    """

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()
    scaled_to_zero: bool | None = None


def seed_state(state: HPAState | None, spec_replicas: int, now: float) -> HPAState:
    """First reconcile after (re)start: recommendations start as ``[(spec replicas, now)]``."""
    state = state or HPAState()
    if state.recommendations:
        return state
    return replace(state, recommendations=(Recommendation(spec_replicas, now),))


@dataclass(frozen=True)
class Normalized:
    """What normalization decided, with the condition reasons and messages to set.

    ``able_to_scale_reason`` is ReadyForNewScale, ScaleUpStabilized or ScaleDownStabilized;
    ``scaling_limited_reason`` is DesiredWithinRange, TooFewReplicas, TooManyReplicas,
    ScaleUpLimit or ScaleDownLimit, and ``message`` its message.
    """

    desired_replicas: int
    able_to_scale_reason: str
    scaling_limited: bool
    scaling_limited_reason: str
    message: str
    state: HPAState
    able_to_scale_message: str = MSG_READY
    stabilized_replicas: int | None = None


# ----------------------------------------------------------------------------- stabilization
def _store(recs: tuple[Recommendation, ...], old_index: int | None, new: Recommendation
           ) -> tuple[Recommendation, ...]:
    """Overwrite the last old entry, or append when there is none."""
    if old_index is None:
        return recs + (new,)
    return recs[:old_index] + (new,) + recs[old_index + 1:]


def stabilize_legacy(recommendations: tuple[Recommendation, ...], desired: int, now: float,
                     window: float = 300.0) -> tuple[int, tuple[Recommendation, ...]]:
    """Max of ``desired`` and every recommendation not older than ``now − window`` (§1.9).

    Returns the stabilized value and the new list with ``(desired, now)`` stored.
    """
    cutoff = now - window
    stabilized, old = desired, None
    for i, rec in enumerate(recommendations):
        if rec.timestamp < cutoff:
            old = i
        elif rec.replicas > stabilized:
            stabilized = rec.replicas
    return stabilized, _store(recommendations, old, Recommendation(desired, now))


def stabilize_with_behavior(recommendations: tuple[Recommendation, ...], *, desired: int,
                            current: int, up_window: float, down_window: float, now: float
                            ) -> tuple[int, str, str, tuple[Recommendation, ...]]:
    """Step A of §1.10: scale up only to the lowest, down only to the highest recent rec.

    Returns (stabilized, reason, message, new recommendations).
    """
    up_cutoff, down_cutoff = now - up_window, now - down_window
    up_rec = down_rec = desired
    old = None
    for i, rec in enumerate(recommendations):
        if rec.timestamp > up_cutoff:
            up_rec = min(up_rec, rec.replicas)
        if rec.timestamp > down_cutoff:
            down_rec = max(down_rec, rec.replicas)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old = i
    stabilized = current
    if stabilized < up_rec:
        stabilized = up_rec
    if stabilized > down_rec:
        stabilized = down_rec
    if desired >= current:
        reason, message = "ScaleUpStabilized", MSG_UP_STABILIZED
    else:
        reason, message = "ScaleDownStabilized", MSG_DOWN_STABILIZED
    return stabilized, reason, message, _store(recommendations, old,
                                               Recommendation(desired, now))


# ----------------------------------------------------------------------------- rate limits
def replicas_change_per_period(events: tuple[ScaleEvent, ...], period_seconds: float,
                               now: float) -> int:
    """Sum of the changes of events strictly newer than ``now − period``."""
    cutoff = now - period_seconds
    return sum(e.replica_change for e in events if e.timestamp > cutoff)


def scale_up_limit(current: int, up_events: tuple[ScaleEvent, ...],
                   down_events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float) -> int:
    """Highest count the scale-up policies allow now (§1.10 step B).

    ``periodStart = current − added + removed`` within each policy's period; Pods adds
    ``value``, Percent gives ``ceil(periodStart × (1 + value/100))``; Max takes the largest,
    Min the smallest, Disabled returns ``current``.
    """
    if rules.select_policy == "Disabled":
        return current
    choose = min if rules.select_policy == "Min" else max
    result: int | None = None
    for p in rules.policies or ():
        start = (current - replicas_change_per_period(up_events, p.period_seconds, now)
                 + replicas_change_per_period(down_events, p.period_seconds, now))
        if p.type == "Pods":
            proposed = start + p.value
        else:
            proposed = math.ceil(start * (1 + p.value / 100))
        result = proposed if result is None else choose(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, up_events: tuple[ScaleEvent, ...],
                     down_events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float
                     ) -> int:
    """Lowest count the scale-down policies allow now (§1.10 step B).

    Pods subtracts ``value``, Percent gives ``trunc(periodStart × (1 − value/100))``; Max
    takes the *smallest* (largest change), Min the largest, Disabled returns ``current``.
    """
    if rules.select_policy == "Disabled":
        return current
    choose = max if rules.select_policy == "Min" else min
    result: int | None = None
    for p in rules.policies or ():
        start = (current - replicas_change_per_period(up_events, p.period_seconds, now)
                 + replicas_change_per_period(down_events, p.period_seconds, now))
        if p.type == "Pods":
            proposed = start - p.value
        else:
            proposed = int(start * (1 - p.value / 100))      # Go int32(): toward zero
        result = proposed if result is None else choose(result, proposed)
    return current if result is None else result


# ----------------------------------------------------------------------------- the two paths
def normalize_legacy(*, current_replicas: int, metric_desired_replicas: int, min_replicas: int,
                     max_replicas: int, state: HPAState, now: float,
                     downscale_stabilization: float = 300.0) -> Normalized:
    """``normalizeDesiredReplicas``: the path when ``spec.behavior`` is nil (§1.9) [K-HZ]."""
    stabilized, recs = stabilize_legacy(state.recommendations, metric_desired_replicas, now,
                                        downscale_stabilization)
    if stabilized != metric_desired_replicas:
        able, able_msg = "ScaleDownStabilized", MSG_DOWN_STABILIZED
    else:
        able, able_msg = "ReadyForNewScale", MSG_READY
    up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current_replicas, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > up_limit:
        maximum, reason, message = up_limit, "ScaleUpLimit", MSG_UP_LIMIT
    else:
        maximum, reason, message = max_replicas, "TooManyReplicas", MSG_TOO_MANY
    if stabilized < min_replicas:
        desired, reason, message = min_replicas, "TooFewReplicas", MSG_TOO_FEW
    elif stabilized > maximum:
        desired = maximum
    else:
        desired, reason, message = stabilized, "DesiredWithinRange", MSG_WITHIN
    return Normalized(desired, able, desired != stabilized, reason, message,
                      replace(state, recommendations=recs), able_msg, stabilized)


def normalize_with_behavior(*, behavior: Behavior, current_replicas: int,
                            metric_desired_replicas: int, min_replicas: int, max_replicas: int,
                            state: HPAState, now: float, downscale_stabilization: float = 300.0
                            ) -> Normalized:
    """``normalizeDesiredReplicasWithBehaviors`` (§1.10) [K-HZ].

    ``behavior`` is defaulted here (idempotent), so a raw spec behavior is fine.
    """
    b = default_behavior(behavior, downscale_stabilization=downscale_stabilization)
    up, down = b.scale_up, b.scale_down
    assert up is not None and down is not None
    current = current_replicas
    stabilized, st_reason, st_msg, recs = stabilize_with_behavior(
        state.recommendations, desired=metric_desired_replicas, current=current,
        up_window=up.stabilization_window_seconds or 0,
        down_window=down.stabilization_window_seconds or 0, now=now)
    if stabilized != metric_desired_replicas:
        able, able_msg = st_reason, st_msg
    else:
        able, able_msg = "ReadyForNewScale", MSG_READY

    desired, reason, message = stabilized, "DesiredWithinRange", MSG_WITHIN
    if stabilized > current:
        limit = max(scale_up_limit(current, state.scale_up_events, state.scale_down_events,
                                   up, now), current)
        if max_replicas > limit:
            maximum, lim_reason, lim_msg = limit, "ScaleUpLimit", MSG_UP_LIMIT
        else:
            maximum, lim_reason, lim_msg = max_replicas, "TooManyReplicas", MSG_TOO_MANY
        if stabilized > maximum:
            desired, reason, message = maximum, lim_reason, lim_msg
    elif stabilized < current:
        limit = min(scale_down_limit(current, state.scale_up_events, state.scale_down_events,
                                     down, now), current)
        if min_replicas < limit:
            minimum, lim_reason, lim_msg = limit, "ScaleDownLimit", MSG_DOWN_LIMIT
        else:
            minimum, lim_reason, lim_msg = min_replicas, "TooFewReplicas", MSG_TOO_FEW
        if stabilized < minimum:
            desired, reason, message = minimum, lim_reason, lim_msg
    return Normalized(desired, able, desired != stabilized, reason, message,
                      replace(state, recommendations=recs), able_msg, stabilized)


def _longest_period(rules: ScalingRules | None) -> int:
    return max((p.period_seconds for p in (rules.policies or ())), default=0) if rules else 0


def _store_event(events: tuple[ScaleEvent, ...], longest: float, change: int, now: float
                 ) -> tuple[ScaleEvent, ...]:
    cutoff = now - longest
    marked = tuple(replace(e, outdated=True) if e.timestamp < cutoff and not e.outdated else e
                   for e in events)
    new = ScaleEvent(change, now)
    last = None
    for i, e in enumerate(marked):
        if e.outdated:
            last = i
    if last is None:
        return marked + (new,)
    return marked[:last] + (new,) + marked[last + 1:]


def store_scale_event(state: HPAState, behavior: Behavior | None, current_replicas: int,
                      desired_replicas: int, now: float) -> HPAState:
    """Record a rescale (behavior path only; a nil behavior records nothing) (§1.10).

    In the direction's list, events older than the direction's longest policy period are
    marked outdated (the mark stays); the new event overwrites the last marked entry or is
    appended.
    """
    if behavior is None:
        return state
    b = default_behavior(behavior, downscale_stabilization=None)
    if desired_replicas > current_replicas:
        return replace(state, scale_up_events=_store_event(
            state.scale_up_events, _longest_period(b.scale_up),
            desired_replicas - current_replicas, now))
    return replace(state, scale_down_events=_store_event(
        state.scale_down_events, _longest_period(b.scale_down),
        current_replicas - desired_replicas, now))
