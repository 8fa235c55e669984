"""The HPA's Resource replica calculation over cohorts of pods it cannot tell apart.

:func:`resource_replicas` gives exactly what :func:`labkit.autoscalers.hpa.
calc_resource_utilization_replicas` (Utilization targets) and :func:`~labkit.autoscalers.hpa.
calc_plain_metric_replicas` (AverageValue targets) give for the same pods, when the pods come
as cohorts: ``count`` pods with one state, one sample and one request each. Every pod is put
in its group by the same :func:`~labkit.autoscalers.hpa.pod_group`, and every sum, count and
truncation of the per-pod functions is taken over the cohorts with their counts, so the integer
arithmetic is the same (spec/autoscalers.md §1.5) [K-RC].

Why: a simulated cluster with 170 pods mostly holds pods that have all been Ready and serving
for a while and have the same sample; one cohort stands for all of them, so the calculation
costs what changed, not the number of pods. ``tests/autoscalers/test_hpa_cohorts.py`` checks
the equality against the per-pod functions on random cohorts; the twin can check it on every
sync (``LABKIT_TWIN_CROSSCHECK=1``, on in the test suite).

Raises the per-pod functions' :class:`MetricError` (reason "") in the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .hpa import _ceil_int, _slow_path, pod_group
from .hpa_types import MetricError, PodInfo, PodSample, ReplicaCalculation, Tolerances

__all__ = ["PodCohort", "resource_replicas"]


@dataclass(frozen=True)
class PodCohort:
    """``count`` pods in the state of ``pod`` (its name stands for them all), each with the
    sample ``sample`` (None: no metrics) and the request ``request_milli`` of the resource."""

    pod: PodInfo
    sample: PodSample | None
    request_milli: int
    count: int = 1


def resource_replicas(cohorts: Sequence[PodCohort], *, current_replicas: int, resource: str,
                      target_utilization: int | None = None, target_milli: int | None = None,
                      now: float, tolerances: Tolerances = Tolerances(),
                      cpu_initialization_period: float = 300.0,
                      initial_readiness_delay: float = 30.0,
                      timestamp: float | None = None) -> ReplicaCalculation:
    """One Resource metric's proposal from cohorts: a Utilization target (``target_utilization``
    percent) or an AverageValue target (``target_milli``). ``groups`` is left None (the counts
    are in the cohorts; the per-pod functions list names)."""
    if not any(c.count for c in cohorts):
        raise MetricError("", "no pods returned by selector while calculating replica count")
    counted: list[PodCohort] = []
    unready: list[PodCohort] = []
    missing: list[PodCohort] = []
    for c in cohorts:
        if not c.count:
            continue
        group = pod_group(c.pod, c.sample, resource, now,
                          cpu_initialization_period=cpu_initialization_period,
                          initial_readiness_delay=initial_readiness_delay)
        if group == "counted":
            counted.append(c)
        elif group == "unready":
            unready.append(c)
        elif group == "missing":
            missing.append(c)
    if not counted:
        raise MetricError("", "did not receive metrics for targeted pods (pods might be unready)")
    # (value, request, count) entries, standing for the per-pod ``values`` dict
    entries = [(c.sample.value_milli, c.request_milli, c.count)   # type: ignore[union-attr]
               for c in counted]
    ready_count = sum(c.count for c in counted)
    utilization_target = target_utilization is not None

    def ratio_of(items: list[tuple[int, int, int]]) -> tuple[float, int | None, int]:
        total = sum(v * n for v, _, n in items)
        n_pods = sum(n for _, _, n in items)
        if utilization_target:
            requests_total = sum(r * n for _, r, n in items)
            if requests_total == 0:
                raise MetricError("", "no metrics returned matched known pods")
            utilization = (total * 100) // requests_total
            return utilization / target_utilization, utilization, total // n_pods  # type: ignore
        average = total // n_pods
        return average / target_milli, None, average                           # type: ignore

    ratio, utilization, raw = ratio_of(entries)

    def result(replicas: int) -> ReplicaCalculation:
        return ReplicaCalculation(replicas, utilization, raw, timestamp)

    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if tolerances.is_within(ratio):
            return result(current_replicas)
        return result(_ceil_int(ratio * ready_count))

    if missing:
        if ratio < 1.0:
            # on a scale-down, missing pods use 100 % of their request (or the target if
            # higher); for AverageValue, exactly the target
            for c in missing:
                value = c.request_milli * max(100, target_utilization) // 100 \
                    if utilization_target else target_milli
                entries.append((value, c.request_milli, c.count))   # type: ignore[arg-type]
        elif ratio > 1.0:
            entries += [(0, c.request_milli, c.count) for c in missing]
    if scale_up_with_unready:
        entries += [(0, c.request_milli, c.count) for c in unready]
    new_ratio = ratio_of(entries)[0]
    n_values = sum(n for _, _, n in entries)
    return result(_slow_path(ratio, new_ratio, n_values, current_replicas, tolerances))
