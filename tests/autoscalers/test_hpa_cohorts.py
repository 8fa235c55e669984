"""The cohort form of the Resource calculation equals the per-pod functions (hpa_cohorts).

Random cohorts (seeded) of every pod state the grouping distinguishes, near the CPU
initialization and readiness boundaries, with and without samples, are expanded into one
PodInfo and one sample per pod and given to ``calc_resource_utilization_replicas`` /
``calc_plain_metric_replicas``; the cohort function must return the same proposal,
utilization, raw value and timestamp, or raise the same error.
"""

from __future__ import annotations

import random

from labkit.autoscalers.hpa import (Container, MetricError, PodInfo, PodSample, Tolerances,
                                    calc_plain_metric_replicas,
                                    calc_resource_utilization_replicas)
from labkit.autoscalers.hpa_cohorts import PodCohort, resource_replicas

NOW = 1000.0


def _random_state(rng: random.Random) -> dict:
    phase = rng.choice(["Running"] * 6 + ["Pending", "Succeeded", "Failed"])
    start = None if phase == "Pending" and rng.random() < 0.7 else \
        NOW - rng.choice([5, 20, 100, 299, 300, 301, 400, 2000])
    ready = rng.choice([True, True, True, False, None]) if start is not None else None
    rt = None if start is None or rng.random() < 0.2 else \
        start + rng.choice([0, 3, 10, 29, 30, 31, 60])
    return dict(phase=phase, deleting=rng.random() < 0.1, start_time=start, ready=ready,
                ready_transition_time=rt)


def _random_cohorts(rng: random.Random, request: int) -> list[tuple[dict, PodSample | None,
                                                                       int]]:
    out = []
    for i in range(rng.randint(0, 6)):
        state = _random_state(rng)
        sample = None
        if rng.random() < 0.8:
            window = rng.choice([15.0, 10.0, 5.0])
            stamp = NOW - rng.choice([0.0, 1.0, 14.0])
            sample = PodSample(f"c{i}", rng.choice([0, 1, 50, 140, 150, 200, 400, 1000]),
                               stamp, window)
        out.append((state, sample, rng.choice([0, 1, 1, 2, 7, 40])))
    return out


def _expand(cohorts, request):
    pods, samples = [], {}
    for i, (state, sample, count) in enumerate(cohorts):
        for k in range(count):
            name = f"c{i}-{k}"
            pods.append(PodInfo(name, containers=(Container("app", {"cpu": request,
                                                                      "memory": request}),),
                                **state))
            if sample is not None:
                samples[name] = PodSample(name, sample.value_milli, sample.timestamp,
                                          sample.window)
    return pods, samples


def _outcome(fn):
    try:
        r = fn()
        return ("ok", r.replicas, r.utilization, r.raw_value_milli, r.timestamp)
    except MetricError as e:
        return ("error", e.reason, e.message)


def test_cohorts_give_what_the_per_pod_functions_give():
    for seed in range(600):
        _check(seed)


def _check(seed: int) -> None:
    rng = random.Random(seed)
    request = rng.choice([200, 500, 0])
    cohorts = _random_cohorts(rng, request)
    pods, samples = _expand(cohorts, request)
    resource = rng.choice(["cpu", "memory"])
    current = rng.randint(1, 60)
    tol = Tolerances(down=rng.choice([0.1, 0.0]), up=rng.choice([0.1, 0.3]))
    utilization = rng.random() < 0.6
    target = rng.choice([50, 70, 100, 150]) if utilization else rng.choice([100, 150, 300])
    kw = dict(current_replicas=current, now=NOW, tolerances=tol, timestamp=NOW - 1.0,
              cpu_initialization_period=300.0, initial_readiness_delay=30.0)
    if utilization:
        want = _outcome(lambda: calc_resource_utilization_replicas(
            samples, pods, target_utilization=target, resource=resource, **kw))
    else:
        want = _outcome(lambda: calc_plain_metric_replicas(
            samples, pods, target_milli=target, resource=resource, **kw))
    views = [PodCohort(PodInfo(f"c{i}", containers=(), **state),
                       None if sample is None else PodSample(f"c{i}", sample.value_milli,
                                                             sample.timestamp, sample.window),
                       request, count)
             for i, (state, sample, count) in enumerate(cohorts)]
    got = _outcome(lambda: resource_replicas(
        views, resource=resource, target_utilization=target if utilization else None,
        target_milli=None if utilization else target, **kw))
    assert got == want, (seed, cohorts, resource, current, target)


def test_a_cohort_of_forty_counts_as_forty_pods():
    ready = PodInfo("steady", phase="Running", start_time=0.0, ready=True,
                    ready_transition_time=5.0)
    young = PodInfo("new", phase="Pending")
    calc = resource_replicas([PodCohort(ready, PodSample("steady", 280, NOW, 15.0), 200, 40),
                              PodCohort(young, None, 200, 4)],
                             current_replicas=44, resource="cpu", target_utilization=70,
                             now=NOW)
    # 40 pods at 140 % of their request: ratio 2.0 with 4 unready pods counted as 0 on the
    # way up: 40 x 280 / (44 x 200) = 127 % -> ceil(1.818 x 44) = 80
    assert (calc.utilization, calc.raw_value_milli, calc.replicas) == (140, 280, 80)
