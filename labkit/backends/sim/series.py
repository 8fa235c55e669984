"""Metric series as data: External and custom (Pods, Object) metrics set as functions of time.

On a cluster these come from an adapter: prometheus-adapter (or another) serves
``custom.metrics.k8s.io`` (Pods and Object metrics) and ``external.metrics.k8s.io``, KEDA's
adapter serves its triggers' values, and Prometheus answers KEDA's ``prometheus`` trigger.
In the twin a learner sets the series (a queue length, a rate from a trace, a constant), and:

- the HPA reads External metrics by name (every series of that name, summed, as upstream's
  ``external_metrics`` client returns the matching series), Pods metrics as one sample per
  running pod of the target (each pod reports the series' value, with a 60 s window, the
  custom-metrics client's default), Object metrics as the described object's value;
- a KEDA ``prometheus`` trigger whose ``query`` is a series name reads it as an instant
  query with one element; an unknown query returns an empty result, as Prometheus does
  (KEDA then reads 0, or errors when ``ignoreNullValues`` is false).

A series is a number, a function of Timeline time (seconds since the run's t = 0), a list of
``(time, value)`` steps, piecewise constant from each time on (before the first: 0), or a load
profile whose "users" are the metric's value (a spike, a ramp, a diurnal day, a trace).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

from ...errors import BackendError

SeriesLike = Union[float, int, Callable[[float], float], Sequence[Sequence[float]]]
SOURCES = ("External", "Pods", "Object")


def series_function(series: SeriesLike) -> Callable[[float], float]:
    """A number, a function of time, ``[(t0, v0), (t1, v1), ...]`` steps, or a load profile
    (its users over time: any shape of :mod:`labkit.load`) -> ``f(t)``."""
    users_at = getattr(series, "users_at", None)
    if callable(users_at):
        return users_at
    if callable(series):
        return series
    if isinstance(series, (int, float)) and not isinstance(series, bool):
        value = float(series)
        return lambda t: value
    try:
        steps = sorted((float(t), float(v)) for t, v in series)
    except (TypeError, ValueError):
        raise BackendError("a metric series is a number, a function of time or a list of "
                           f"(time, value) pairs, not {series!r}") from None
    if not steps:
        raise BackendError("a metric series needs at least one (time, value) pair")
    times = [t for t, _ in steps]

    def step(t: float) -> float:
        i = bisect.bisect_right(times, t) - 1
        return steps[i][1] if i >= 0 else 0.0
    return step


@dataclass
class MetricSeries:
    """The series set on one twin, by source (External, Pods, Object) and metric name.

    Each function takes Timeline time; ``origin`` is the clock time of the Timeline's t = 0.
    """

    origin: Callable[[], float]
    by_source: dict[str, dict[str, Callable[[float], float]]] = field(
        default_factory=lambda: {s: {} for s in SOURCES})

    def set(self, name: str, series: SeriesLike | None, source: str = "External") -> None:
        if source not in SOURCES:
            raise BackendError(f"metric source {source!r} is not one the HPA reads; use "
                               f"{', '.join(SOURCES)}")
        if series is None:
            self.by_source[source].pop(name, None)
        else:
            self.by_source[source][name] = series_function(series)

    def has(self, source: str, name: str) -> bool:
        return name in self.by_source[source]

    def value(self, source: str, name: str, clock_now: float) -> float:
        """The series' value at a clock time (NaN and infinities pass through)."""
        return float(self.by_source[source][name](clock_now - self.origin()))

    def prometheus(self, query: str, clock_now: float) -> list[float]:
        """An instant query: the one sample of the series named ``query``, or none."""
        for source in SOURCES:
            if query in self.by_source[source]:
                return [self.value(source, query, clock_now)]
        return []


def milli(value: float) -> int:
    """A metric value in milli-units, as ``Quantity.MilliValue()`` rounds (up)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"metric value {value} is not a number")
    return int(math.ceil(value * 1000 - 1e-9))
