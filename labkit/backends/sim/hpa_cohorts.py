"""The HPA loop's replica calculation on the twin: Resource metrics read in cohorts.

:class:`CohortCalc` has the arguments and results of
:func:`labkit.autoscalers.hpa.calc_replicas` (so ``reconcile`` takes it as ``calc``). For a
Resource metric (cpu or memory, Utilization or AverageValue) of a workload whose selector
matches only its own pods, it reads metrics-server's compact scrape (:meth:`.metrics.
MetricsServer.summary`): the steady pods as one cohort, every other pod as its own, and calls
the pure :func:`labkit.autoscalers.hpa_cohorts.resource_replicas`. Everything else (other metric
types, failing metrics, selectors that match other pods too) goes to ``calc_replicas`` with the
per-pod PodMetrics, as before.

Why the steady cohort is exact: a steady pod was Ready and not terminating at the previous
scrape ``t0`` (ready transition ``rt <= t0``) and has the steady sample over
``window = t1 - t0``; so ``rt + window <= t1`` (checked: ``t0 + window == t1`` exactly in
floating point), and :func:`~labkit.autoscalers.hpa.pod_group` counts it whether or not it is
still in its CPU initialization period. The cohort's representative is a long-running Ready
pod, which the grouping counts too.

With ``LABKIT_TWIN_CROSSCHECK=1`` (set for the test suite) every cohort result is compared with
``calc_replicas`` on the per-pod PodInfo list and PodMetrics, and every steady pod's CPU with
the shared value; a difference raises :class:`CrossCheckError`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

from ...autoscalers.hpa import calc_replicas
from ...autoscalers.hpa_cohorts import PodCohort, resource_replicas
from ...autoscalers.hpa_types import (Container, MetricError, MetricSpec, PodInfo, PodSample,
                                      Tolerances)
from .crosscheck import CrossCheckError, crosscheck
from .metrics import MetricsServer
from .pods import Pod, Workload

#: The steady cohort's representative: Running and Ready since long before any sample.
_STEADY = PodInfo("(steady pods)", phase="Running", deleting=False, start_time=-math.inf,
                  ready=True, ready_transition_time=-math.inf)


class CohortCalc:
    """``calc_replicas`` for one HPA's target on the twin (see the module docstring)."""

    def __init__(self, target: Workload, server: MetricsServer,
                 workloads: Callable[[], Iterable[Workload]],
                 pod_infos: Callable[[], Sequence[PodInfo]]):
        self.target, self.server, self.workloads = target, server, workloads
        self.pod_infos = pod_infos   # the per-pod list, for the cross-check
        self.fast_calls = 0          # how often the cohort path answered (tests read it)
        self.check = crosscheck()

    def __call__(self, metric: MetricSpec, *, pods: Sequence[PodInfo], **kw):
        fast = self._cohorts(metric, kw)
        if fast is None:
            return calc_replicas(metric, pods=pods, **kw)
        self.fast_calls += 1
        if self.check:
            ref = calc_replicas(metric, pods=list(self.pod_infos()), **kw)
            if ref != fast:
                raise CrossCheckError(f"HPA {metric.name} at t={kw['now']}: cohorts gave {fast}, "
                                      f"the per-pod calculation {ref}")
        return fast

    def _cohorts(self, metric: MetricSpec, kw: Mapping):
        t, resource = metric.target, metric.name
        if metric.type != "Resource" or resource not in ("cpu", "memory"):
            return None
        if t.average_value_milli is None and t.average_utilization is None:
            return None
        target = self.target
        selector = kw["selector"]
        matching = [w for w in self.workloads()
                    if all(w.template.labels.get(k) == v for k, v in selector.items())]
        containers = target.template.containers
        if matching != [target] or not all(resource in c.requests_milli for c in containers):
            return None
        summary = self.server.summary(target)
        if summary is None or summary.prev + summary.window != summary.timestamp:
            return None
        request = target.template.request(resource)
        stamp = summary.timestamp
        index = 0 if resource == "cpu" else 1
        steady_value = summary.cpu if index == 0 else summary.memory
        cohorts = [PodCohort(_STEADY, PodSample(_STEADY.name, steady_value, stamp,
                                                summary.window), request, summary.steady)]
        for pod, sample in summary.young:
            cohorts.append(PodCohort(
                pod_info(pod), None if sample is None else
                PodSample(pod.name, sample[index], stamp, sample[2]), request))
        try:
            return resource_replicas(
                cohorts, current_replicas=kw["current_replicas"], resource=resource,
                target_utilization=None if t.average_value_milli is not None
                else t.average_utilization,
                target_milli=t.average_value_milli, now=kw["now"],
                tolerances=Tolerances(down=kw["tolerance_down"], up=kw["tolerance_up"]),
                cpu_initialization_period=kw["cpu_initialization_period"],
                initial_readiness_delay=kw["initial_readiness_delay"], timestamp=stamp)
        except MetricError:
            return None   # the per-pod path reports the failure with upstream's wording


def pod_info(pod: Pod) -> PodInfo:
    """The HPA's view of a pod (what the API server would return), cached per pod state."""
    key = (pod.phase, pod.deleting, pod.ready, pod.start_time, pod.ready_transition_time)
    cached = pod.__dict__.get("_info")
    if cached is not None and cached[0] == key:
        return cached[1]
    info = _pod_info(pod)
    pod.__dict__["_info"] = (key, info)
    return info


def _pod_info(pod: Pod) -> PodInfo:
    t = pod.workload.template
    containers = tuple(Container(name=c.name, requests_milli=dict(c.requests_milli))
                       for c in t.containers)
    return PodInfo(name=pod.name, phase=pod.phase, deleting=pod.deleting,
                   start_time=pod.start_time, ready=pod.ready if pod.start_time else None,
                   ready_transition_time=pod.ready_transition_time or pod.start_time,
                   containers=containers)
