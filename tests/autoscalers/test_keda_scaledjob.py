"""KEDA ScaledJob rules, tables taken from KEDA's own tests at v2.20.2.

Rows cite their source:
- [SJT] kedacore/keda v2.20.2 ``pkg/scaling/executor/scale_jobs_test.go``
- [SHT] kedacore/keda v2.20.2 ``pkg/scaling/scale_handler_test.go`` (TestGetScaledJobState...)
- [MT]  kedacore/keda v2.20.2 ``pkg/scaling/scaledjob/metrics_test.go``
"""

from __future__ import annotations

import pytest

from labkit.autoscalers.keda_scaledjob import (
    JobView, ScalerMetrics, ScalingStrategy, decide, effective_max_scale, is_scaled_job_active,
    job_is_pending, jobs_to_create, jobs_to_delete, pending_job_count, queue_length_and_max_value,
    scaled_job_from_manifest, scaling_decision, target_average_value,
)
from labkit.errors import ManifestError

REDIS = {"type": "redis", "metadata": {"address": "redis:6379", "listName": "jobs",
                                       "listLength": "5", "activationListLength": "0"}}
TEMPLATE = {"template": {"spec": {"containers": [{"name": "w", "image": "x"}],
                                  "restartPolicy": "Never"}}}


def sj_doc(spec=None, triggers=(REDIS,)):
    s = {"jobTargetRef": TEMPLATE, "triggers": list(triggers)}
    s.update(spec or {})
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
            "metadata": {"name": "worker-jobs"}, "spec": s}


def strategy(name, deduction=None, percentage=""):
    return ScalingStrategy(strategy=name, custom_scaling_queue_length_deduction=deduction,
                           custom_scaling_running_job_percentage=percentage)


# (maxScale, running, pending, maxReplicaCount, scaleTo) -> effective max scale [SJT]
@pytest.mark.parametrize("strat, args, expected", [
    pytest.param(strategy("default"), (3, 2, 0, 5, 1), 1, id="default-3-2"),
    pytest.param(strategy("default"), (2, 0, 0, 5, 1), 2, id="default-2-0"),
    pytest.param(strategy("custom", 1, "0.5"), (3, 2, 0, 5, 1), 1, id="custom-1-0.5-a"),
    pytest.param(strategy("custom", 1, "0.5"), (10, 0, 0, 10, 1), 9, id="custom-1-0.5-b"),
    pytest.param(strategy("custom"), (3, 2, 0, 5, 1), 1, id="custom-nil-params-is-default-a"),
    pytest.param(strategy("custom"), (2, 0, 0, 5, 1), 2, id="custom-nil-params-is-default-b"),
    pytest.param(strategy("custom", 2, "0"), (3, 2, 0, 5, 1), 1, id="custom-2-0"),
    pytest.param(strategy("custom", -2, "0"), (3, 2, 0, 4, 1), 4, id="custom-capped-at-max"),
    pytest.param(strategy("custom", None, "0.5"), (10, 2, 0, 100, 1), 9, id="custom-nil-deduction"),
    pytest.param(strategy("custom", None, "0.5"), (10, 0, 0, 100, 1), 10,
                 id="custom-nil-deduction-no-running"),
    pytest.param(strategy("accurate"), (3, 2, 0, 5, 1), 3, id="accurate-3-2-0-5"),
    pytest.param(strategy("accurate"), (5, 2, 0, 5, 1), 3, id="accurate-over-max"),
    pytest.param(strategy("accurate"), (3, 4, 2, 10, 1), 1, id="accurate-2-pending"),
    pytest.param(strategy("accurate"), (5, 4, 2, 5, 1), 1, id="accurate-2-pending-over-max"),
    pytest.param(strategy("accurate"), (3, 3, 3, 5, 1), 0, id="accurate-all-running-pending"),
    pytest.param(strategy("accurate"), (15, 15, 15, 20, 1), 0, id="accurate-15-pending"),
    pytest.param(strategy("accurate"), (10, 10, 10, 15, 1), 0, id="accurate-10-pending"),
    pytest.param(strategy("accurate"), (20, 15, 10, 20, 1), 5, id="accurate-partial-pending"),
])
def test_effective_max_scale_matches_kedas_strategy_tables(strat, args, expected):
    assert effective_max_scale(strat, *args)[0] == expected


# (maxScale, running, pending, maxReplicaCount, scaleTo) -> (maxScale, scaleTo) [SJT eager]
@pytest.mark.parametrize("args, expected", [
    ((4, 3, 0, 10, 1), (4, 10)), ((4, 0, 3, 10, 1), (4, 10)), ((4, 7, 0, 10, 1), (3, 10)),
    ((4, 1, 6, 10, 1), (3, 10)), ((15, 0, 0, 10, 1), (10, 10)),
])
def test_eager_fills_up_to_max_replicas(args, expected):
    assert effective_max_scale(strategy("eager"), *args) == expected


def test_custom_with_an_unparsable_percentage_is_the_default_strategy():
    # [SJT] TestCustomScalingStrategy: "Empty String will be DefaultStrategy"
    assert strategy("custom", 1, "").resolved() == "default"
    assert strategy("custom", 10, "0").resolved() == "custom"   # [SJT] TestNewNewScalingStrategy
    assert strategy("accurate").resolved() == "accurate"
    assert strategy("").resolved() == "default"


# minReplicaCount, running, scaleTo, maxScale -> (effective max, scaleTo) [SJT getScalingDecision]
@pytest.mark.parametrize("min_rc, running, scale_to, max_scale, expected", [
    pytest.param(2, 0, 0, 0, (2, 2), id="running-below-min"),
    pytest.param(2, 1, 0, 0, (1, 1), id="running-deducted-from-min"),
    pytest.param(1, 1, 2, 2, (2, 2), id="at-min-runs-the-strategy"),
])
def test_scaling_decision_tops_up_to_min_first(min_rc, running, scale_to, max_scale, expected):
    spec = scaled_job_from_manifest(sj_doc({"minReplicaCount": min_rc, "maxReplicaCount": 100}))
    assert scaling_decision(spec, running, scale_to, max_scale, 0) == expected


def metrics(rows, max_rc):
    out = []
    for length, target, active in rows:
        ql, mv, _ = queue_length_and_max_value([length], [target], max_rc)
        out.append(ScalerMetrics(ql, mv, active))
    return out


FOUR = [(20, 1, True), (10, 2, True), (5, 3, True), (7, 4, False)]


# four scalers (queueLength, averageValue, active) -> (active, queueLength, maxValue) [SHT]
@pytest.mark.parametrize("max_rc, calc, expected", [
    pytest.param(100, "max", (True, 20, 20), id="max"),
    pytest.param(100, "min", (True, 5, 2), id="min"),
    pytest.param(100, "avg", (True, 12, 9), id="avg"),
    pytest.param(100, "sum", (True, 35, 27), id="sum"),
    pytest.param(25, "sum", (True, 35, 25), id="sum-capped-at-max"),
])
def test_multiple_scalers_calculation_matches_kedas_table(max_rc, calc, expected):
    active, ql, mv, _ = is_scaled_job_active(metrics(FOUR, max_rc), calc, 0, max_rc)
    assert (active, ql, mv) == expected


def test_single_scaler_and_min_replicas_force_activity():
    # [SHT] TestGetScaledJobState: one scaler, length 20, average value 2, min 1, max 100
    spec = scaled_job_from_manifest(sj_doc({"minReplicaCount": 1, "maxReplicaCount": 100}))
    assert spec.max_replicas() == 99
    assert is_scaled_job_active(metrics([(20, 2, True)], 99), "max", 1, 99)[:3] == (True, 20, 10)
    # [SHT] ...IfQueueEmptyButMinReplicaCountGreaterZero: empty queue, still active
    assert is_scaled_job_active(metrics([(0, 1, True)], 99), "max", 1, 99)[:3] == (True, 0, 0)


@pytest.mark.parametrize("targets, expected", [
    ([], 0.0), ([1, 1], 1.0), ([5, 5, 3], 4.333333333333333), ([5, 5, 4], 4.666666666666667),
])
def test_target_average_value(targets, expected):
    assert target_average_value(targets) == expected  # [MT] TestTargetAverageValue


# pod phases / conditions -> pending? [SJT TestGetPendingJobCount]
RS = frozenset({"Ready", "PodScheduled"})
COND = ("Ready", "PodScheduled")


@pytest.mark.parametrize("job, conditions, pending", [
    (JobView("j", pod_phases=("Succeeded",)), (), 0),
    (JobView("j", pod_phases=("Running",)), (), 0),
    (JobView("j", pod_phases=("Failed",)), (), 1),
    (JobView("j", pod_phases=("Pending",)), (), 1),
    (JobView("j", pod_phases=("Unknown",)), (), 1),
    (JobView("j", pod_conditions=(frozenset(),)), COND, 1),
    (JobView("j", pod_conditions=(frozenset({"Ready"}),)), COND, 1),
    (JobView("j", pod_conditions=(frozenset({"PodScheduled"}),)), COND, 1),
    (JobView("j", pod_conditions=(RS,)), COND, 0),
    (JobView("j", pod_conditions=(RS, RS)), COND, 0),
    (JobView("j", pod_conditions=(RS, frozenset({"Ready"}))), COND, 0),
    (JobView("j", pod_conditions=(frozenset({"Ready"}), frozenset({"PodScheduled"}))), COND, 1),
    (JobView("j", pod_conditions=(frozenset(), frozenset({"Ready"}), RS)), COND, 0),
    (JobView("j", pod_conditions=(frozenset(), frozenset({"Ready"}),
                                  frozenset({"PodScheduled"}))), COND, 1),
    (JobView("j", pod_phases=("Running",), pod_conditions=(frozenset({"Ready"}),)), (), 0),
])
def test_pending_job_count_matches_kedas_table(job, conditions, pending):
    assert pending_job_count([job], conditions) == pending
    assert job_is_pending(JobView("done", finished="Complete"), conditions) is False


def test_history_limits_delete_the_oldest_finished_jobs():
    t = {"15:35": 1.0, "15:36": 2.0, "15:37": 3.0, "15:38": 4.0, "15:40": 6.0}
    # [SJT] TestCleanUpNormalCase: limits 2/2, three complete -> the oldest (name2) goes
    jobs = [JobView("name1", "Complete", t["15:37"]), JobView("name2", "Complete", t["15:36"]),
            JobView("name3", "Complete", t["15:38"])]
    assert jobs_to_delete(jobs, 2, 2) == ["name2"]
    # [SJT] TestCleanUpMixedCaseWithSortByTime: limits 1/2
    jobs = [JobView("success1", "Complete", t["15:37"]), JobView("success2", "Complete", t["15:36"]),
            JobView("success3", "Complete", t["15:35"]), JobView("fail1", "Failed", t["15:37"]),
            JobView("fail2", "Failed", t["15:36"]), JobView("fail3", "Failed", t["15:38"])]
    assert sorted(jobs_to_delete(jobs, 1, 2)) == ["fail2", "success2", "success3"]
    # [SJT] TestCleanUpDefaultValue: 101 of each, default limits 100 -> the oldest of each
    many = [JobView("success0", "Complete", t["15:35"])] + \
        [JobView(f"success{i}", "Complete", t["15:40"]) for i in range(1, 101)] + \
        [JobView("fail101", "Failed", t["15:35"])] + \
        [JobView(f"fail{i}", "Failed", t["15:40"]) for i in range(102, 202)]
    spec = scaled_job_from_manifest(sj_doc())
    assert sorted(jobs_to_delete(many, spec.successful_jobs_history_limit,
                                 spec.failed_jobs_history_limit)) == ["fail101", "success0"]
    assert jobs_to_delete([JobView("running")], 0, 0) == []


def test_defaults_and_kedas_min_max_arithmetic():
    spec = scaled_job_from_manifest(sj_doc())
    assert (spec.min_replicas(), spec.max_replicas(), spec.polling_interval) == (0, 100, 30)
    assert spec.scaling_strategy.resolved() == "default"
    assert spec.scaling_strategy.multiple_scalers_calculation == "max"
    spec = scaled_job_from_manifest(sj_doc({"minReplicaCount": 5, "maxReplicaCount": 3}))
    assert (spec.min_replicas(), spec.max_replicas()) == (3, 3)  # min > max: both are max
    assert spec.triggers[0].target == 5.0 and spec.triggers[0].metric_name == "s0-redis-jobs"


@pytest.mark.parametrize("spec, field", [
    ({"scalingStrategy": {"strategy": "fastest"}}, "spec.scalingStrategy.strategy"),
    ({"scalingStrategy": {"multipleScalersCalculation": "median"}},
     "spec.scalingStrategy.multipleScalersCalculation"),
    ({"maxReplicaCount": 0}, "spec.maxReplicaCount"),
    ({"successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit"),
    ({"jobTargetRef": {}}, "spec.jobTargetRef"),
])
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(ManifestError) as e:
        scaled_job_from_manifest(sj_doc(spec))
    assert field in str(e.value) or getattr(e.value, "field", None) == field


def test_resource_triggers_are_refused():
    with pytest.raises(ManifestError, match="cannot drive a ScaledJob"):
        scaled_job_from_manifest(sj_doc(triggers=[{"type": "cpu", "metricType": "Utilization",
                                                   "metadata": {"value": "50"}}]))


def test_jobs_to_create_is_min_of_scale_to_and_effective_max_and_only_when_active():
    assert jobs_to_create(True, 20, 4) == 4
    assert jobs_to_create(True, 2, 4) == 2
    assert jobs_to_create(True, 20, -3) == 0
    assert jobs_to_create(False, 20, 4) == 0


def test_one_poll_end_to_end_default_and_accurate():
    # 23 messages, listLength 5 -> ceil(4.6) = 5 jobs wanted; 2 running (1 of them pending)
    jobs = [JobView("a", pod_phases=("Running",)), JobView("b", pod_phases=("Pending",)),
            JobView("old", "Complete", 1.0)]
    d = decide(scaled_job_from_manifest(sj_doc({"maxReplicaCount": 10})), [23], jobs)
    assert (d.is_active, d.queue_length, d.max_scale, d.running, d.pending) == (True, 23, 5, 2, 1)
    assert (d.effective_max_scale, d.create) == (3, 3)
    assert ("KEDAJobsCreated", "Created 3 jobs") in d.events
    assert ("ScaledJobActive", "Scaling is performed because triggers are active") in d.events
    acc = decide(scaled_job_from_manifest(sj_doc({"maxReplicaCount": 10, "scalingStrategy": {
        "strategy": "accurate"}})), [23], jobs, was_active=True)
    assert (acc.effective_max_scale, acc.create, acc.events) == (4, 4, (
        ("KEDAJobsCreated", "Created 4 jobs"),))
    idle = decide(scaled_job_from_manifest(sj_doc()), [0], [], was_active=True)
    assert (idle.is_active, idle.create) == (False, 0)
    assert idle.events == (("ScaledJobInactive",
                            "Scaling is not performed because triggers are not active"),)
    errored = decide(scaled_job_from_manifest(sj_doc()), [None], [])
    assert (errored.is_active, errored.create) == (False, 0)
