"""Knative Pod Autoscaler: the decider (spec/autoscalers.md §2.5).

Pure rules: every function takes ``now`` (seconds, float) and explicit state, and returns new state.
Sources: [KN-AS], [KN-MS]. The revision's settings are resolved in
:mod:`labkit.autoscalers.knative_settings` and the windows in :mod:`labkit.autoscalers.kpa_window`;
both are re-exported here.

Simplifies: only the ``linear`` metric aggregation is averaged (``weighted-exponential`` is
accepted and validated but averaged linearly); durations are Go-style strings (``60s``, ``1m30s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .knative_settings import (ANNOTATION_PREFIX, CONFIG_DEFAULTS, HPA_CLASS, KPA_CLASS,
                               KPASettings, kpa_settings, parse_duration)
from .kpa_window import (WindowAverager, panic_window_seconds, round_to_digits, sample_size,
                         window_average)

__all__ = [
    "KPASettings", "kpa_settings", "parse_duration", "CONFIG_DEFAULTS", "DeciderState",
    "ScaleResult", "new_decider_state", "decide", "excess_burst_capacity",
    "initial_excess_burst_capacity", "INVALID", "TICK_INTERVAL", "ANNOTATION_PREFIX", "KPA_CLASS",
    "HPA_CLASS",
    # re-exported from kpa_window (§2.4)
    "WindowAverager", "window_average", "panic_window_seconds", "sample_size", "round_to_digits",
]

TICK_INTERVAL = 2.0          # decider period, seconds [KN-MS]
BUCKET_SIZE = 1.0            # collector bucket, seconds [KN-COL]
SCRAPE_INTERVAL = 1.0        # collector scrape period [KN-COL]
MIN_ACTIVATORS = 2           # [KN-KPA]
ACTIVATOR_QUEUE_DEPTH = 10_000   # per revision [KN-ACT]
PROGRESS_DEADLINE = 600.0    # config-deployment [KN-ACT]


# ---------------------------------------------------------------- decider (§2.5)

@dataclass(frozen=True)
class DeciderState:
    """What the decider keeps between ticks: panic start, the panic high-water mark, delay window.

    ``delay_window`` is ``None`` when the decider was created without a scale-down delay;
    otherwise a tuple of ``(bucket, value)`` pairs, buckets being ``floor(unix seconds / 2)``, and
    ``delay_buckets`` its fixed length ``ceil(delay / 2 s)``.
    """

    panic_time: float | None = None
    max_panic_pods: int = 0
    delay_window: tuple[tuple[int, int], ...] | None = None
    delay_buckets: int = 0

    @property
    def in_panic(self) -> bool:
        return self.panic_time is not None


@dataclass(frozen=True)
class ScaleResult:
    """One decider tick: desired pods, excess burst capacity, whether it is valid, panic mode.

    ``stable_pods``/``panic_pods`` are the unclamped ``ceil(S/T)``/``ceil(Pn/T)`` for timelines.
    An invalid result (``valid=False``) must not be acted on.
    """

    desired_pod_count: int
    excess_burst_capacity: int
    valid: bool
    in_panic: bool
    stable_pods: int = 0
    panic_pods: int = 0


def new_decider_state(settings: KPASettings, ready_pods_at_creation: int | None,
                      now: float) -> DeciderState:
    """Create a decider (§2.5 step 9).

    ``maxPanicPods`` = the ready count read at creation (a read error is passed as ``None`` → 0);
    above 1 ready pod the decider starts in panic with ``panicTime = now``. The scale-down-delay
    window exists only if the delay is > 0 now, and its length is fixed here.
    """
    ready = ready_pods_at_creation or 0
    buckets = math.ceil(settings.scale_down_delay / TICK_INTERVAL) if settings.scale_down_delay > 0 else 0
    return DeciderState(panic_time=now if ready > 1 else None, max_panic_pods=ready,
                        delay_window=() if buckets else None, delay_buckets=buckets)


INVALID = ScaleResult(desired_pod_count=0, excess_burst_capacity=0, valid=False, in_panic=False)


def excess_burst_capacity(settings: KPASettings, ready_pods: int, panic_avg: float) -> int:
    """EBC (§2.5 step 8): 0 if TBC = 0, −1 if TBC < 0, else ``floor(ready·total − TBC − Pn)``."""
    tbc = settings.target_burst_capacity
    if tbc == 0:
        return 0
    if tbc < 0:
        return -1
    return int(math.floor(ready_pods * settings.total - tbc - panic_avg))


def initial_excess_burst_capacity(settings: KPASettings) -> int:
    """EBC a new decider reports before its first valid tick: ``trunc(initial·total − TBC)`` [KN-MS]."""
    tbc = settings.target_burst_capacity
    if tbc in (0, -1):
        return int(tbc)
    return int(settings.initial_scale * settings.total - tbc)


def _record_delay(state: DeciderState, now: float, value: int) -> tuple[int, tuple]:
    """Record ``value`` into the 2-second max window and return (window max, new window)."""
    bucket = int(math.floor(now)) // int(TICK_INTERVAL)
    n = state.delay_buckets
    kept: dict[int, int] = {b: v for b, v in state.delay_window if bucket - b < n}
    kept[bucket] = max(kept.get(bucket, value), value)
    window = tuple(sorted(kept.items()))
    return max(v for _, v in window), window


def decide(settings: KPASettings, state: DeciderState, *, stable_avg: float | None,
           panic_avg: float | None, ready_pods: int | None, reachable: bool,
           now: float) -> tuple[ScaleResult, DeciderState]:
    """One decider tick (§2.5) [KN-AS ``Scale``].

    ``stable_avg``/``panic_avg`` are the window averages of the configured metric (``None`` = no
    data or a metric error) and ``ready_pods`` the ready endpoints (``None`` = read error; pass 0
    when the endpoints object is not found). Any ``None`` → invalid result, state unchanged.

    Rules, in order: ``R = max(1, ready)``; ``maxUp = ceil(rate·R)``, ``maxDown = floor(R/rate)``
    if reachable else 0; ``dS = ceil(S/T)``, ``dP = ceil(Pn/T)`` clamped into [maxDown, maxUp];
    activation-scale as a floor while ``dS``/``dP`` > 0; panic enter/extend when ``dP/R ≥
    threshold``, leave when not over and ``panicTime + W < now``; in panic output the high-water
    mark; the scale-down-delay window outputs its maximum on reachable ticks; then EBC.
    """
    if stable_avg is None or panic_avg is None or ready_pods is None:
        return INVALID, state
    r = max(1.0, float(ready_pods))
    t = settings.target
    max_up = math.ceil(settings.max_scale_up_rate * r)
    max_down = math.floor(r / settings.max_scale_down_rate) if reachable else 0
    d_s = math.ceil(stable_avg / t)
    d_p = math.ceil(panic_avg / t)
    stable = int(min(max(d_s, max_down), max_up))
    panic = int(min(max(d_p, max_down), max_up))
    if settings.activation_scale > 1:
        # Activation scale is a floor whenever there is any traffic (§2.10 item 2).
        if d_s > 0:
            stable = max(stable, settings.activation_scale)
        if d_p > 0:
            panic = max(panic, settings.activation_scale)

    over = d_p / r >= settings.panic_threshold
    panic_time, max_panic = state.panic_time, state.max_panic_pods
    if over:
        # Enter panic, or extend it while still over the threshold.
        panic_time = now
    elif panic_time is not None and panic_time + settings.stable_window < now:
        # The surge has made its way into the stable window: leave panic.
        panic_time, max_panic = None, 0

    desired = stable
    if panic_time is not None:
        # Provision for the larger of the two, and never go down while panicking.
        desired = max(stable, panic)
        max_panic = max(max_panic, desired)
        desired = max_panic

    window = state.delay_window
    if window is not None and reachable:
        desired, window = _record_delay(state, now, desired)

    new_state = replace(state, panic_time=panic_time, max_panic_pods=max_panic, delay_window=window)
    ebc = excess_burst_capacity(settings, ready_pods, panic_avg)
    return (ScaleResult(desired_pod_count=desired, excess_burst_capacity=ebc, valid=True,
                        in_panic=panic_time is not None, stable_pods=d_s, panic_pods=d_p),
            new_state)
