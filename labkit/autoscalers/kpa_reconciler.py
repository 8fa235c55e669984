"""KPA reconciler: bounds, initial scale, SKS mode, activators, Active condition, scale to zero.

Spec/autoscalers.md §2.6–2.7 [KN-KPA ``kpa.go``, ``scaler.go``; KN-REG ``pa_lifecycle.go``].
One call = one PodAutoscaler reconcile; the state goes in and comes back out.

Simplifies: the activator probe succeeds exactly when the SKS was already in Proxy mode at the
previous reconcile (or TBC = −1); condition messages are Knative's; PA ``Ready`` is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .knative_settings import KPASettings
from .kpa import MIN_ACTIVATORS, PROGRESS_DEADLINE
from .status import Condition

ACTIVATION_TIMEOUT_BUFFER = 30.0
ACTIVATION_TIMEOUT = PROGRESS_DEADLINE + ACTIVATION_TIMEOUT_BUFFER   # 630 s (§2.7 step 4)
PROBE_RETRY = 1.0   # re-check period while the activator is not yet in path [KN-KPA]

_MESSAGES = {
    ("True", ""): "",
    ("Unknown", "Queued"): "Requests to the target are being buffered as resources are provisioned.",
    ("False", "NoTraffic"): "The target is not receiving traffic.",
    ("False", "TimedOut"): "The target could not be activated.",
}


@dataclass(frozen=True)
class PAState:
    """What the PodAutoscaler status and its ServerlessService carry between reconciles.

    ``active_status`` is the PA ``Active`` condition: ``Unknown`` = activating (the initial
    state), ``True`` = active, ``False`` = inactive; ``active_transition_time`` is when it last
    changed (status or reason). ``sks_mode`` is ``None`` before the SKS exists.
    """

    active_status: str = "Unknown"
    active_reason: str = ""
    active_transition_time: float = 0.0
    sks_mode: str | None = None
    proxy_since: float | None = None
    scale_target_initialized: bool = False

    @property
    def activating(self) -> bool:
        return self.active_status == "Unknown"

    @property
    def active(self) -> bool:
        return self.active_status == "True"

    @property
    def inactive(self) -> bool:
        return self.active_status == "False"

    def active_for(self, now: float) -> float:
        """Seconds since the PA became Active (−1 when it is not Active)."""
        return now - self.active_transition_time if self.active else -1.0

    def inactive_for(self, now: float) -> float:
        """Seconds since the PA became Inactive (−1 when it is not Inactive)."""
        return now - self.active_transition_time if self.inactive else -1.0

    def proxy_for(self, now: float) -> float:
        """Seconds the SKS has been in Proxy mode (0 when it is serving)."""
        return now - self.proxy_since if self.sks_mode == "Proxy" and self.proxy_since is not None else 0.0


def new_pa_state(now: float) -> PAState:
    """A freshly created PodAutoscaler: Active=Unknown since ``now``, no SKS yet."""
    return PAState(active_transition_time=now)


@dataclass(frozen=True)
class PADecision:
    """One reconcile's outcome.

    ``want_replicas``: the replicas to write on the Deployment's scale, or ``None`` (no change).
    ``want``: the scaler's value as Knative records it (−1 = no decision, 0 may be "not applied
    yet"). ``requeue_after``: reconcile again after that many seconds (0 = right after the SKS
    update), ``None`` = only on the next decider change.
    """

    want_replicas: int | None
    want: int
    state: PAState
    conditions: tuple[Condition, ...]
    requeue_after: float | None
    activators: int
    sks_mode: str


def apply_bounds(lo: int, hi: int, x: int) -> int:
    """Clamp ``x`` into ``[lo, hi]``; ``hi = 0`` means unlimited [KN-KPA ``applyBounds``]."""
    if x < lo:
        return lo
    if hi != 0 and x > hi:
        return hi
    return x


def scale_bounds(settings: KPASettings, *, reachable: bool) -> tuple[int, int]:
    """``(min, max)``: min-scale is ignored (0) while the revision is unreachable (§2.6)."""
    return (settings.min_scale if reachable else 0), settings.max_scale


def number_of_activators(settings: KPASettings, ready_pods: int) -> int:
    """Activators in the path: ``max(2, ceil((ready·total + max(TBC, 0)) / capacity))`` (§2.6)."""
    tbc = settings.target_burst_capacity
    if tbc == 0:
        return MIN_ACTIVATORS
    capacity = ready_pods * settings.total + max(tbc, 0.0)
    return int(max(MIN_ACTIVATORS, math.ceil(capacity / settings.activator_capacity)))


def sks_mode(want: int, ebc: int, *, inactive: bool) -> str:
    """Proxy when at zero, when burst capacity is short, or with no decision while inactive (§2.6)."""
    if want == 0 or ebc < 0 or (want == -1 and inactive):
        return "Proxy"
    return "Serve"


def handle_scale_to_zero(settings: KPASettings, state: PAState, desired: int, *,
                         now: float) -> tuple[int, bool, float | None]:
    """The scale-to-zero state machine (§2.7): returns ``(want, apply, requeue_after)``.

    - desired ≠ 0 → apply it; scale to zero disabled → hold 1;
    - Activating: give up (0) after more than 630 s, else no decision (−1), re-check later;
    - Active: once Active for ≥ the stable window return 0 *unapplied* (marks the PA Inactive),
      else keep 1 and re-check after the rest of the window;
    - Inactive: with the activator in path, scale to 0 when inactive ≥ ``max(grace, retention)``,
      or when Proxy ≥ grace and inactive ≥ retention; otherwise re-check after the shortfall.
    """
    if desired != 0:
        return desired, True, None
    if not settings.enable_scale_to_zero:
        return 1, True, None
    if state.activating:
        waited = now - state.active_transition_time
        if waited > ACTIVATION_TIMEOUT:
            return desired, True, None
        remaining = ACTIVATION_TIMEOUT - waited
        # The timeout test is strict: at exactly 630 s look again a moment later.
        return -1, False, remaining if remaining > 0 else PROBE_RETRY
    if state.active:
        sw, af = settings.stable_window, state.active_for(now)
        if af >= sw:
            return desired, False, 0.0
        return 1, True, sw - af
    # Inactive: the activator must be in the path first (probe skipped when TBC = -1).
    probed = settings.target_burst_capacity == -1 or state.sks_mode == "Proxy"
    if not probed:
        return desired, False, PROBE_RETRY
    grace = settings.scale_to_zero_grace_period
    retention = settings.scale_to_zero_pod_retention_period
    inactive_for = state.inactive_for(now)
    if inactive_for >= max(grace, retention):
        return desired, True, None
    to = grace - state.proxy_for(now)
    if to <= 0:
        if inactive_for >= retention:
            return desired, True, None
        to = retention - inactive_for
    return desired, False, to


def _set_active(state: PAState, status: str, reason: str, now: float) -> PAState:
    if (state.active_status, state.active_reason) == (status, reason):
        return state
    return replace(state, active_status=status, active_reason=reason, active_transition_time=now)


def reconcile_pa(settings: KPASettings, state: PAState, *, desired: int, ebc: int,
                 ready_pods: int, spec_replicas: int, reachable: bool = True,
                 now: float) -> PADecision:
    """One KPA reconcile (§2.6–2.7) [KN-KPA ``ReconcileKind``, ``scaler.scale``].

    ``desired``/``ebc``: the decider's last valid output (−1 and the initial EBC before the first
    valid tick). Order as upstream: bounds (initial scale as a floor until initialized), the
    scale-to-zero machine (using the SKS state of the previous reconcile), the scale write, the SKS
    mode and activator count, then the Active condition from ``want`` and the ready count.
    """
    requeue: float | None = None
    write: int | None = None
    if desired < 0 and not state.activating:
        want = desired   # metrics are not being collected yet
    else:
        lo, hi = scale_bounds(settings, reachable=reachable)
        if settings.initial_scale > 1 and not state.scale_target_initialized and reachable:
            lo = max(lo, settings.initial_scale)
        want, apply, requeue = handle_scale_to_zero(
            settings, state, apply_bounds(lo, hi, desired), now=now)
        if apply and want != spec_replicas:
            write = want

    mode = sks_mode(want, ebc, inactive=state.inactive)
    new = state
    if mode != state.sks_mode:
        new = replace(new, sks_mode=mode, proxy_since=now if mode == "Proxy" else None)
    activators = number_of_activators(settings, ready_pods)

    # The Active condition [KN-KPA computeActiveCondition].
    min_bound, _ = scale_bounds(settings, reachable=reachable)
    min_ready = (max(min_bound, settings.initial_scale) if not new.scale_target_initialized
                 else max(min_bound, 1))
    if ready_pods >= min_ready:
        new = replace(new, scale_target_initialized=True)
    if want == 0 or min_ready == 0:
        timed_out = new.activating and min_ready > 0
        new = _set_active(new, "False", "TimedOut" if timed_out else "NoTraffic", now)
    elif ready_pods < min_ready:
        if want > 0 or not new.inactive:
            new = _set_active(new, "Unknown", "Queued", now)
        else:
            new = _set_active(new, "False", "NoTraffic", now)
    elif want > 0 or not new.inactive:
        new = _set_active(new, "True", "", now)

    conditions = (
        Condition("Active", new.active_status, new.active_reason,
                  _MESSAGES.get((new.active_status, new.active_reason), ""),
                  new.active_transition_time),
        Condition("ScaleTargetInitialized", "True" if new.scale_target_initialized else "Unknown"),
    )
    return PADecision(want_replicas=write, want=want, state=new, conditions=conditions,
                      requeue_after=requeue, activators=activators, sks_mode=mode)
