"""Replica calculation (spec/autoscalers.md §1.4–§1.7): one row per worked example or edge case.

Unless a row says otherwise: every pod requests 200m CPU, started long ago (outside the CPU
initialization period), is Running and Ready; ``now`` is 0; samples are 15 s windows ending
at -1 s.
"""

from __future__ import annotations

import pytest

from labkit.autoscalers.hpa import (
    INT32_MAX, INT64_MAX, Container, MetricError, MetricSpec, MetricTarget, PodInfo, PodMetric,
    PodSample, Tolerances, calc_average_value_replicas, calc_plain_metric_replicas,
    calc_replicas, calc_resource_utilization_replicas, calc_value_replicas, external_sum,
    group_pods, pod_requests, ready_pod_count, resource_samples)

LONG_AGO = -1000.0


def pod(name, *, phase="Running", ready=True, start=LONG_AGO, rt=None, deleting=False,
        cpu=200, containers=None, pod_requests=None):
    if containers is None:
        containers = (Container("app", {"cpu": cpu, "memory": 256_000} if cpu is not None
                                else {"memory": 256_000}),)
    return PodInfo(name, phase=phase, deleting=deleting, start_time=start, ready=ready,
                   ready_transition_time=start + 5 if rt is None and start is not None else rt,
                   containers=containers, pod_requests_milli=pod_requests)


def pods(n, **kw):
    return [pod(f"p{i}", **kw) for i in range(n)]


def samples(values, *, timestamp=-1.0, window=15.0):
    """{"p0": 180, ...} -> PodSample per pod."""
    return {p: PodSample(p, v, timestamp, window) for p, v in values.items()}


def per_pod(*values):
    return samples({f"p{i}": v for i, v in enumerate(values)})


# ----------------------------------------------------------------------------- Utilization
UTILIZATION_CASES = [
    # id, pods, samples, current, target, tolerances, expected replicas, expected U
    pytest.param(pods(3), per_pod(180, 180, 180), 3, 50, Tolerances(), 6, 90,
                 id="E1-three-pods-at-90pct"),
    pytest.param(pods(3), per_pod(155, 160, 170), 3, 70, Tolerances(), 4, 80,
                 id="E2-integer-truncation-80.83-to-80"),
    pytest.param(pods(4), per_pod(20, 20, 20), 4, 50, Tolerances(), 3, 10,
                 id="E3-missing-pod-on-scale-down-assumed-at-request"),
    pytest.param(pods(3) + [pod("p3", phase="Pending", start=None, ready=None),
                            pod("p4", start=-10.0, ready=False)],
                 per_pod(180, 180, 180), 5, 50, Tolerances(), 5, 90,
                 id="E4-pending-and-sampleless-pod-count-zero-on-scale-up"),
    pytest.param(pods(3) + [pod("p3", phase="Pending", start=None, ready=None),
                            pod("p4", start=-10.0, ready=False)],
                 per_pod(180, 180, 180, 0, 150), 5, 50, Tolerances(), 5, 90,
                 id="E4-notready-pod-with-sample-is-unready"),
    pytest.param(pods(10), per_pod(*[108] * 10), 10, 50, Tolerances(), 10, 54,
                 id="tolerance-example-1.08-default-no-change"),
    pytest.param(pods(10), per_pod(*[108] * 10), 10, 50, Tolerances(up=0.05), 11, 54,
                 id="tolerance-example-1.08-with-scaleUp-tolerance-0.05"),
    pytest.param(pods(10), per_pod(*[110] * 10), 10, 50, Tolerances(), 10, 55,
                 id="boundary-r-1.1-inclusive"),
    pytest.param(pods(10), per_pod(*[112] * 10), 10, 50, Tolerances(), 12, 56,
                 id="just-above-1.1-scales"),
    pytest.param(pods(10), per_pod(*[90] * 10), 10, 50, Tolerances(), 10, 45,
                 id="boundary-r-0.9-inclusive"),
    pytest.param(pods(10), per_pod(*[88] * 10), 10, 50, Tolerances(), 9, 44,
                 id="just-below-0.9-scales-down"),
    pytest.param(pods(10), per_pod(*[88] * 10), 10, 50, Tolerances(down=0.2), 10, 44,
                 id="scaleDown-tolerance-0.2-holds"),
    pytest.param(pods(3), per_pod(123, 123, 123), 3, 55, Tolerances(), 4, 61,
                 id="truncation-61.5-to-61-then-ceil-3.33"),
    pytest.param(pods(4), per_pod(200, 200), 4, 50, Tolerances(), 4, 100,
                 id="missing-on-scale-up-assumed-zero-lands-in-tolerance"),
    pytest.param(pods(4), per_pod(200, 200, 200), 4, 50, Tolerances(), 6, 100,
                 id="missing-on-scale-up-counts-in-n2"),
    pytest.param(pods(4), per_pod(100, 100, 100), 4, 50, Tolerances(), 4, 50,
                 id="r-exactly-1-with-missing-pod-no-placeholder"),
    pytest.param(pods(4), per_pod(60, 60, 60), 4, 150, Tolerances(), 2, 30,
                 id="missing-on-scale-down-target-above-100pct-uses-target"),
    pytest.param(pods(4), per_pod(80), 4, 50, Tolerances(), 4, 40,
                 id="direction-flip-after-placeholders-keeps-current"),
    pytest.param(pods(2), {**per_pod(0), **samples({"gone-1": 0, "gone-2": 0, "gone-3": 0})},
                 2, 100, Tolerances(), 2, 0,
                 id="extraneous-samples-inflate-n2-guard-keeps-current"),
    pytest.param(pods(2), {**per_pod(180, 180), **samples({"gone": 10_000})}, 2, 50,
                 Tolerances(), 4, 90, id="extraneous-sample-skipped-by-utilization"),
    pytest.param(pods(3) + [pod("dead", phase="Failed"), pod("done", phase="Succeeded"),
                            pod("bye", deleting=True)],
                 {**per_pod(180, 180, 180), **samples({"dead": 0, "done": 0, "bye": 0})},
                 6, 50, Tolerances(), 6, 90,
                 id="failed-succeeded-deleting-pods-ignored"),
]


@pytest.mark.parametrize("pod_list, sample_map, current, target, tol, replicas, utilization",
                         UTILIZATION_CASES)
def test_resource_utilization(pod_list, sample_map, current, target, tol, replicas,
                              utilization):
    calc = calc_resource_utilization_replicas(
        sample_map, pod_list, current_replicas=current, target_utilization=target,
        resource="cpu", now=0.0, tolerances=tol)
    assert (calc.replicas, calc.utilization) == (replicas, utilization)


def test_status_reports_first_pass_values_not_the_recomputed_ones():
    # E3: the recount uses a 200m placeholder, the status still shows 10 % and 20m
    calc = calc_resource_utilization_replicas(per_pod(20, 20, 20), pods(4), current_replicas=4,
                                              target_utilization=50, resource="cpu", now=0.0)
    assert (calc.replicas, calc.utilization, calc.raw_value_milli) == (3, 10, 20)


def test_raw_average_is_truncated_over_matched_samples():
    calc = calc_resource_utilization_replicas(per_pod(155, 160, 170), pods(3),
                                              current_replicas=3, target_utilization=70,
                                              resource="cpu", now=0.0)
    assert calc.raw_value_milli == 161      # 485 // 3


# ----------------------------------------------------------------------------- grouping
GROUP_CASES = [
    # id, pod, sample timestamp (None: no sample), resource, expected group
    pytest.param(pod("a", phase="Pending", start=None, ready=None), -1.0, "cpu", "unready",
                 id="pending-is-unready"),
    pytest.param(pod("a", phase="Pending", start=None, ready=None), -1.0, "memory", "unready",
                 id="pending-is-unready-for-memory-too"),
    pytest.param(pod("a"), None, "cpu", "missing", id="no-sample-is-missing"),
    pytest.param(pod("a", ready=False, start=-10.0), None, "cpu", "missing",
                 id="notready-without-sample-is-missing"),
    pytest.param(pod("a", phase="Failed"), -1.0, "cpu", "ignored", id="failed-ignored"),
    pytest.param(pod("a", phase="Succeeded"), -1.0, "cpu", "ignored", id="succeeded-ignored"),
    pytest.param(pod("a", deleting=True), -1.0, "cpu", "ignored", id="deleting-ignored"),
    pytest.param(pod("a", ready=None), -1.0, "cpu", "unready",
                 id="cpu-no-ready-condition-unready"),
    pytest.param(pod("a", ready=None), -1.0, "memory", "counted",
                 id="memory-no-ready-condition-counted"),
    pytest.param(pod("a", start=None, ready=True, rt=-50.0), -1.0, "cpu", "unready",
                 id="cpu-no-start-time-unready"),
    # within the 300 s CPU initialization period (started 100 s ago, Ready at -20)
    pytest.param(pod("a", start=-100.0, rt=-20.0), -10.0, "cpu", "unready",
                 id="init-sample-window-overlaps-readiness-unready"),
    pytest.param(pod("a", start=-100.0, rt=-20.0), -5.0, "cpu", "counted",
                 id="init-sample-at-ready-plus-window-counted"),
    pytest.param(pod("a", start=-100.0, rt=-20.0, ready=False), 0.0, "cpu", "unready",
                 id="init-notready-unready"),
    pytest.param(pod("a", start=-100.0, rt=-20.0), -10.0, "memory", "counted",
                 id="init-rule-only-for-cpu"),
    # after the initialization period
    pytest.param(pod("a", start=-1000.0, rt=-500.0, ready=False), -1.0, "cpu", "counted",
                 id="turned-notready-after-readiness-delay-counted"),
    pytest.param(pod("a", start=-1000.0, rt=-990.0, ready=False), -1.0, "cpu", "unready",
                 id="never-became-ready-unready"),
    pytest.param(pod("a", start=-1000.0, rt=-970.0, ready=False), -1.0, "cpu", "counted",
                 id="transition-exactly-at-readiness-delay-counted"),
]


@pytest.mark.parametrize("the_pod, ts, resource, group", GROUP_CASES)
def test_group_pods(the_pod, ts, resource, group):
    sample_map = {} if ts is None else {"a": PodSample("a", 100, ts, 15.0)}
    groups = group_pods([the_pod], sample_map, resource, 0.0)
    found = [g for g in ("counted", "unready", "missing", "ignored") if getattr(groups, g)]
    assert found == [group]


def test_unready_cpu_pods_within_initialization_do_not_dilute_a_scale_up():
    # 2 pods at 90 %, 2 new pods Ready 20 s ago whose samples started before they were Ready
    new = [pod(f"n{i}", start=-60.0, rt=-20.0) for i in range(2)]
    smp = {**per_pod(180, 180), **samples({"n0": 20, "n1": 20}, timestamp=-10.0)}
    calc = calc_resource_utilization_replicas(smp, pods(2) + new, current_replicas=4,
                                              target_utilization=50, resource="cpu", now=0.0)
    # r = 1.8 over the 2 counted pods; unready pods count 0: U2 = 360/800 = 45 % -> flip, keep 4
    assert (calc.utilization, calc.replicas) == (90, 4)
    assert calc.groups.unready == ("n0", "n1")


# ----------------------------------------------------------------------------- requests
REQUEST_CASES = [
    pytest.param([pod("a", containers=(Container("app", {"cpu": 200}),
                                       Container("proxy", {"cpu": 50})))],
                 None, {"a": 250}, id="containers-summed"),
    pytest.param([pod("a", containers=(Container("app", {"cpu": 200}),
                                       Container("setup", {"cpu": 1000}, init=True),
                                       Container("log", {"cpu": 30}, restartable_init=True)))],
                 None, {"a": 230}, id="sidecar-counts-init-does-not"),
    pytest.param([pod("a", containers=(Container("app", {"cpu": 200}),
                                       Container("proxy", {"cpu": 50})))],
                 "proxy", {"a": 50}, id="named-container-only"),
    pytest.param([pod("a", pod_requests={"cpu": 500})], None, {"a": 500},
                 id="pod-level-requests-win"),
    pytest.param([pod("a", pod_requests={"cpu": 500})], "app", {"a": 200},
                 id="named-container-beats-pod-level"),
]


@pytest.mark.parametrize("pod_list, container, expected", REQUEST_CASES)
def test_pod_requests(pod_list, container, expected):
    assert pod_requests(pod_list, "cpu", container) == expected


REQUEST_ERRORS = [
    pytest.param([pod("app-0", cpu=None)], None,
                 "missing request for cpu in container app of Pod app-0",
                 id="missing-request"),
    pytest.param([pod("app-0"), pod("app-1", phase="Failed",
                                    containers=(Container("other", {"cpu": 1}),))],
                 "app", "container app not found in Pod app-1",
                 id="container-resource-container-absent-even-in-failed-pod"),
    pytest.param([pod("app-0", pod_requests={"memory": 1000})], None,
                 "missing pod-level request for cpu in Pod app-0", id="pod-level-lacks-cpu"),
]


@pytest.mark.parametrize("pod_list, container, message", REQUEST_ERRORS)
def test_pod_request_errors(pod_list, container, message):
    with pytest.raises(MetricError) as e:
        pod_requests(pod_list, "cpu", container)
    assert e.value.message == message


def test_missing_request_fails_only_after_the_no_metrics_check():
    # no usable sample: the "did not receive metrics" error wins over the missing request
    with pytest.raises(MetricError, match="did not receive metrics for targeted pods"):
        calc_resource_utilization_replicas({}, [pod("a", cpu=None)], current_replicas=1,
                                           target_utilization=50, resource="cpu", now=0.0)


CALC_ERRORS = [
    pytest.param([], per_pod(100), "no pods returned by selector while calculating replica "
                                   "count", id="no-pods"),
    pytest.param([pod("p0", phase="Pending", start=None, ready=None)], per_pod(100),
                 "did not receive metrics for targeted pods (pods might be unready)",
                 id="only-unready-samples"),
    pytest.param(pods(1), samples({"gone": 100}), "no metrics returned matched known pods",
                 id="only-extraneous-samples"),
]


@pytest.mark.parametrize("pod_list, sample_map, message", CALC_ERRORS)
def test_utilization_errors(pod_list, sample_map, message):
    with pytest.raises(MetricError) as e:
        calc_resource_utilization_replicas(sample_map, pod_list, current_replicas=1,
                                           target_utilization=50, resource="cpu", now=0.0)
    assert e.value.message == message


# ----------------------------------------------------------------------------- plain metrics
PLAIN_CASES = [
    # id, pods, samples, current, target milli, expected replicas, reported average
    pytest.param(pods(3), per_pod(300, 300, 300), 3, 100, 9, 300, id="pods-metric-3x"),
    pytest.param(pods(4), per_pod(20, 20, 20), 4, 100, 2, 20,
                 id="missing-on-scale-down-assumed-at-target"),
    pytest.param(pods(4), per_pod(100, 100, 100), 4, 100, 4, 100,
                 id="r-exactly-1-missing-no-placeholder"),
    pytest.param(pods(2), {**per_pod(300, 300), **samples({"gone": 600})}, 2, 100, 8, 400,
                 id="extraneous-sample-averaged-fast-path-uses-ready-count"),
    pytest.param(pods(3), {**per_pod(300, 300), **samples({"gone": 300})}, 3, 100, 9, 300,
                 id="extraneous-sample-counted-in-n2-on-slow-path"),
    pytest.param(pods(3), per_pod(105, 105, 105), 3, 100, 3, 105, id="within-tolerance"),
    pytest.param(pods(3), per_pod(100, 100, 102), 3, 25, 12, 100,
                 id="average-truncated-before-ratio"),
]


@pytest.mark.parametrize("pod_list, sample_map, current, target, replicas, average", PLAIN_CASES)
def test_plain_metric(pod_list, sample_map, current, target, replicas, average):
    calc = calc_plain_metric_replicas(sample_map, pod_list, current_replicas=current,
                                      target_milli=target, now=0.0)
    assert (calc.replicas, calc.raw_value_milli) == (replicas, average)


def test_pods_metric_counts_running_notready_pod_with_sample():
    notready = pod("p1", ready=False, start=-10.0)
    calc = calc_plain_metric_replicas(per_pod(300, 300), [pod("p0"), notready],
                                      current_replicas=2, target_milli=100, now=0.0)
    assert (calc.replicas, calc.groups.counted) == (6, ("p0", "p1"))


# ----------------------------------------------------------------------------- object/external
VALUE_CASES = [
    # id, value, target, current, pods, tolerance, expected replicas
    pytest.param(95_000, 30_000, 3, pods(3), Tolerances(), 10, id="E6-external-value"),
    pytest.param(95_000, 30_000, 0, [], Tolerances(), 4, id="from-zero-ceil-r-no-pods-needed"),
    pytest.param(0, 30_000, 0, [], Tolerances(), 0, id="from-zero-stays-zero"),
    pytest.param(31_000, 30_000, 3, pods(3), Tolerances(), 3, id="within-tolerance"),
    pytest.param(90_000, 30_000, 3, pods(2) + [pod("x", ready=False)], Tolerances(), 6,
                 id="counts-only-running-ready-pods"),
    pytest.param(90_000, 30_000, 3, pods(2) + [pod("x", deleting=True)], Tolerances(), 9,
                 id="terminating-ready-pod-still-counts"),
    pytest.param(INT64_MAX, 1, 3, pods(3), Tolerances(), INT32_MAX, id="int32-cap"),
]


@pytest.mark.parametrize("value, target, current, pod_list, tol, replicas", VALUE_CASES)
def test_value_targets(value, target, current, pod_list, tol, replicas):
    calc = calc_value_replicas(value, target, current_replicas=current, pods=pod_list,
                               tolerances=tol)
    assert (calc.replicas, calc.raw_value_milli) == (replicas, value)


AVERAGE_VALUE_CASES = [
    # id, value, target, status, cap, expected replicas, reported per-pod value
    pytest.param(95_000, 10_000, 3, True, 10, 31_667, id="E5-external-average-value"),
    pytest.param(23_000, 5_000, 2, True, 5, 11_500, id="KD1-redis-list-23-per-5"),
    pytest.param(1_000, 5_000, 1, True, 1, 1_000, id="KD2-one-item"),
    pytest.param(31_000, 10_000, 3, True, 3, 10_334, id="within-tolerance-keeps-status"),
    pytest.param(0, 10_000, 0, True, 0, 0, id="status-zero-value-zero"),
    pytest.param(50_000, 10_000, 0, True, 5, 0, id="status-zero-reports-zero-per-pod"),
    pytest.param(INT64_MAX, 1, 2, True, INT32_MAX, INT64_MAX, id="external-int32-cap"),
    pytest.param(2**40, 1, 2, False, 2**40, 2**39, id="object-no-cap"),
]


@pytest.mark.parametrize("value, target, status, cap, replicas, per_pod_value",
                         AVERAGE_VALUE_CASES)
def test_average_value_targets(value, target, status, cap, replicas, per_pod_value):
    calc = calc_average_value_replicas(value, target, status_replicas=status, cap_int32=cap)
    assert (calc.replicas, calc.raw_value_milli) == (replicas, per_pod_value)


@pytest.mark.parametrize("values, total", [
    pytest.param([40_000, 55_000], 95_000, id="sum-of-series"),
    pytest.param([INT64_MAX - 5, 10, 3], INT64_MAX, id="saturates-at-int64-max"),
    pytest.param([], 0, id="empty"),
])
def test_external_sum(values, total):
    assert external_sum(values) == total


def test_ready_pod_count():
    assert ready_pod_count([pod("a"), pod("b", ready=False), pod("c", phase="Pending")]) == 1


# ----------------------------------------------------------------------------- samples
def test_resource_samples_sum_containers_and_mark_gaps_missing():
    raw = [PodMetric("a", 0.0, 15.0, {"app": {"cpu": 100}, "proxy": {"cpu": 20}}),
           PodMetric("b", 0.0, 15.0, {"app": {"cpu": 100}, "proxy": {"memory": 5}}),
           PodMetric("c", 0.0, 15.0, {})]
    assert {p: s.value_milli for p, s in resource_samples(raw, "cpu").items()} == {"a": 120}
    by_container = resource_samples(raw, "cpu", "proxy")
    assert {p: s.value_milli for p, s in by_container.items()} == {"a": 20}


# ----------------------------------------------------------------------------- calc_replicas
class FakeMetrics:
    """A MetricsSource from plain dicts; ``fail`` names what raises."""

    def __init__(self, *, pod_metrics=(), pods_samples=(), objects=None, external=None,
                 fail=()):
        self.pod_metrics, self.pods_samples = list(pod_metrics), list(pods_samples)
        self.objects, self.external, self.fail = objects or {}, external or {}, set(fail)

    def resource_metrics(self, resource, selector):
        if "resource" in self.fail:
            raise MetricError("", "unable to fetch metrics from resource metrics API: the "
                                  "server could not find the requested resource")
        return self.pod_metrics

    def pods_metric(self, name, selector):
        return self.pods_samples

    def object_metric(self, name, described_object, selector):
        if "object" in self.fail:
            raise MetricError("", "not found")
        return self.objects[name]

    def external_metric(self, name, selector):
        if "external" in self.fail:
            raise MetricError("", "adapter down")
        return self.external.get(name, [])


CPU50 = MetricSpec("Resource", "cpu", MetricTarget("Utilization", average_utilization=50))


def cpu_metrics(*values):
    return [PodMetric(f"p{i}", -1.0, 15.0, {"app": {"cpu": v}}) for i, v in enumerate(values)]


def run_calc(metric, source, *, current=3, status=3, pod_list=None):
    return calc_replicas(metric, current_replicas=current, status_replicas=status,
                         pods=pods(current) if pod_list is None else pod_list, metrics=source,
                         selector={"app": "x"}, now=0.0)


CALC_REPLICAS_CASES = [
    pytest.param(CPU50, FakeMetrics(pod_metrics=cpu_metrics(180, 180, 180)), 6, 90, 180,
                 id="resource-utilization-E1"),
    pytest.param(MetricSpec("Resource", "memory",
                            MetricTarget("AverageValue", average_value_milli=100_000_000)),
                 FakeMetrics(pod_metrics=[PodMetric(f"p{i}", -1.0, 15.0,
                                                    {"app": {"memory": 200_000_000}})
                                          for i in range(3)]),
                 6, None, 200_000_000, id="resource-average-value"),
    pytest.param(MetricSpec("ContainerResource", "cpu",
                            MetricTarget("Utilization", average_utilization=50),
                            container="app"),
                 FakeMetrics(pod_metrics=[PodMetric(f"p{i}", -1.0, 15.0,
                                                    {"app": {"cpu": 180}, "proxy": {"cpu": 999}})
                                          for i in range(3)]),
                 6, 90, 180, id="container-resource-ignores-other-containers"),
    pytest.param(MetricSpec("ContainerResource", "cpu",
                            MetricTarget("Utilization", average_utilization=50),
                            container="app"),
                 FakeMetrics(pod_metrics=[PodMetric("p0", -1.0, 15.0, {"app": {"cpu": 0}}),
                                          PodMetric("p1", -1.0, 15.0, {"app": {"cpu": 0}}),
                                          PodMetric("p2", -1.0, 15.0, {"proxy": {"cpu": 1}})]),
                 2, 0, 0, id="container-missing-from-metrics-is-a-missing-pod"),
    pytest.param(MetricSpec("Pods", "rps", MetricTarget("AverageValue",
                                                        average_value_milli=10_000)),
                 FakeMetrics(pods_samples=[PodSample(f"p{i}", 20_000) for i in range(3)]),
                 6, None, 20_000, id="pods-metric"),
    pytest.param(MetricSpec("Object", "requests", MetricTarget("Value", value_milli=30_000),
                            described_object={"kind": "Service", "name": "web"}),
                 FakeMetrics(objects={"requests": 95_000}), 10, None, 95_000,
                 id="object-value"),
    pytest.param(MetricSpec("Object", "requests",
                            MetricTarget("AverageValue", average_value_milli=10_000),
                            described_object={"kind": "Service", "name": "web"}),
                 FakeMetrics(objects={"requests": 95_000}), 10, None, 31_667,
                 id="object-average-value"),
    pytest.param(MetricSpec("External", "queue", MetricTarget("AverageValue",
                                                              average_value_milli=10_000)),
                 FakeMetrics(external={"queue": [40_000, 55_000]}), 10, None, 31_667,
                 id="E5-external-average-value-sums-series"),
    pytest.param(MetricSpec("External", "queue", MetricTarget("Value", value_milli=30_000)),
                 FakeMetrics(external={"queue": [95_000]}), 10, None, 95_000,
                 id="E6-external-value"),
]


@pytest.mark.parametrize("metric, source, replicas, utilization, raw", CALC_REPLICAS_CASES)
def test_calc_replicas(metric, source, replicas, utilization, raw):
    calc = run_calc(metric, source)
    assert (calc.replicas, calc.utilization, calc.raw_value_milli) == (replicas, utilization,
                                                                       raw)


SEL = {"matchLabels": {"queue": "jobs"}}
CALC_REPLICAS_ERRORS = [
    pytest.param(CPU50, FakeMetrics(), "FailedGetResourceMetric",
                 "failed to get cpu utilization: unable to get metrics for resource cpu: no "
                 "metrics returned from resource metrics API",
                 "failed to get cpu resource metric value: failed to get cpu utilization: "
                 "unable to get metrics for resource cpu: no metrics returned from resource "
                 "metrics API", id="no-resource-metrics"),
    pytest.param(CPU50, FakeMetrics(fail={"resource"}), "FailedGetResourceMetric",
                 "failed to get cpu utilization: unable to get metrics for resource cpu: "
                 "unable to fetch metrics from resource metrics API: the server could not find "
                 "the requested resource", None, id="metrics-server-absent"),
    pytest.param(MetricSpec("Resource", "cpu", MetricTarget("AverageValue",
                                                            average_value_milli=100)),
                 FakeMetrics(), "FailedGetResourceMetric",
                 "failed to get cpu usage: unable to get metrics for resource cpu: no metrics "
                 "returned from resource metrics API", None, id="average-value-wording"),
    pytest.param(MetricSpec("ContainerResource", "cpu",
                            MetricTarget("Utilization", average_utilization=50),
                            container="sidecar"),
                 FakeMetrics(pod_metrics=cpu_metrics(100, 100, 100)),
                 "FailedGetContainerResourceMetric",
                 "failed to get cpu utilization: did not receive metrics for targeted pods "
                 "(pods might be unready)",
                 "failed to get cpu container metric value: failed to get cpu utilization: did "
                 "not receive metrics for targeted pods (pods might be unready)",
                 id="container-resource-container-in-no-pod"),
    pytest.param(MetricSpec("Pods", "rps", MetricTarget("AverageValue",
                                                        average_value_milli=10_000)),
                 FakeMetrics(), "FailedGetPodsMetric",
                 "unable to get metric rps: no metrics returned from custom metrics API",
                 "failed to get pods metric value: unable to get metric rps: no metrics "
                 "returned from custom metrics API", id="no-custom-metrics"),
    pytest.param(MetricSpec("External", "queue", MetricTarget("AverageValue",
                                                              average_value_milli=5_000),
                            selector=SEL),
                 FakeMetrics(), "FailedGetExternalMetric",
                 "unable to get external metric default/queue/&LabelSelector{MatchLabels:"
                 "map[string]string{queue: jobs,},MatchExpressions:[]LabelSelectorRequirement{}"
                 ",}: no metrics returned from external metrics API",
                 "failed to get external metric value: failed to get queue external metric: "
                 "unable to get external metric default/queue/&LabelSelector{MatchLabels:"
                 "map[string]string{queue: jobs,},MatchExpressions:[]LabelSelectorRequirement{}"
                 ",}: no metrics returned from external metrics API",
                 id="external-empty"),
    pytest.param(MetricSpec("External", "queue", MetricTarget("Value", value_milli=5_000)),
                 FakeMetrics(fail={"external"}), "FailedGetExternalMetric",
                 "unable to get external metric default/queue/nil: adapter down",
                 "failed to get external metric value: failed to get external metric queue: "
                 "unable to get external metric default/queue/nil: adapter down",
                 id="external-adapter-down"),
    pytest.param(MetricSpec("Object", "requests", MetricTarget("Value", value_milli=1),
                            described_object={"kind": "Service", "name": "web"}),
                 FakeMetrics(fail={"object"}), "FailedGetObjectMetric",
                 "unable to get metric requests: Service on default web/not found", None,
                 id="object-upstream-argument-order"),
    pytest.param(MetricSpec("Cluster", "x", MetricTarget("Value", value_milli=1)),
                 FakeMetrics(), "InvalidMetricSourceType", 'unknown metric source type "Cluster"',
                 None, id="unknown-source-type"),
]


@pytest.mark.parametrize("metric, source, reason, message, error", CALC_REPLICAS_ERRORS)
def test_calc_replicas_errors(metric, source, reason, message, error):
    with pytest.raises(MetricError) as e:
        run_calc(metric, source)
    assert (e.value.reason, e.value.message) == (reason, message)
    if error is not None:
        assert e.value.error == error


def test_missing_cpu_request_message_through_calc_replicas():
    source = FakeMetrics(pod_metrics=cpu_metrics(100))
    with pytest.raises(MetricError) as e:
        run_calc(CPU50, source, current=1, pod_list=[pod("p0", cpu=None)])
    assert e.value.message == ("failed to get cpu utilization: missing request for cpu in "
                               "container app of Pod p0")


def test_source_message_already_prefixed_is_not_doubled():
    class Prefixed(FakeMetrics):
        def resource_metrics(self, resource, selector):
            raise MetricError("FailedGetResourceMetric", "unable to get metrics for resource "
                              "cpu: no metrics returned from resource metrics API")
    with pytest.raises(MetricError) as e:
        run_calc(CPU50, Prefixed())
    assert e.value.message.count("unable to get metrics for resource cpu") == 1


DISPLAY_CASES = [
    pytest.param(CPU50, "cpu resource utilization (percentage of request)", id="resource-util"),
    pytest.param(MetricSpec("Resource", "memory", MetricTarget("AverageValue",
                                                               average_value_milli=1)),
                 "memory resource", id="resource-average"),
    pytest.param(MetricSpec("ContainerResource", "cpu", MetricTarget(
        "Utilization", average_utilization=50), container="app"),
                 "cpu container resource utilization (percentage of request)",
                 id="container-util"),
    pytest.param(MetricSpec("Pods", "rps", MetricTarget("AverageValue", average_value_milli=1)),
                 "pods metric rps", id="pods"),
    pytest.param(MetricSpec("Object", "hits", MetricTarget("Value", value_milli=1),
                            described_object={"kind": "Ingress", "name": "main"}),
                 "Ingress metric hits", id="object"),
    pytest.param(MetricSpec("External", "queue", MetricTarget("Value", value_milli=1)),
                 "external metric queue(nil)", id="external-no-selector"),
    pytest.param(MetricSpec("External", "q", MetricTarget("Value", value_milli=1), selector={
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}),
                 "external metric q(&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},"
                 "MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,"
                 "Operator:In,Values:[x y],},},})", id="external-selector-go-format"),
]


@pytest.mark.parametrize("metric, text", DISPLAY_CASES)
def test_display(metric, text):
    assert metric.display() == text
