"""Parsing real API objects (Kubernetes 1.36 shapes) into Timeline rows and events."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from labkit.backends.kind import observe
from labkit.timeline import EVENT_COLUMNS, SAMPLE_COLUMNS, Timeline

START = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, value", [
    pytest.param("4600m", 4.6, id="milli"), pytest.param("121634816", 121634816.0, id="bytes"),
    pytest.param("128Mi", 128 * 2 ** 20, id="mebi"), pytest.param(5, 5.0, id="int"),
    pytest.param("1.5k", 1500.0, id="kilo"), pytest.param("lots", math.nan, id="unreadable"),
])
def test_quantity(text, value):
    got = observe.quantity(text)
    assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value)


def test_hpa_v2_reading_pairs_current_metrics_by_name_not_position(fixture):
    r = observe.hpa_reading(fixture("hpa-v2-scaling.json"))
    assert r.desired_replicas == 4
    # spec lists cpu first; status lists memory first: the cpu value must still be 143
    assert (r.metric_name, r.metric_value, r.metric_target) == ("cpu utilization (%)", 143.0, 70.0)
    assert r.conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    assert r.conditions["ScalingLimited"]["status"] == "False"


def test_hpa_without_metrics_server_reads_unknown_and_says_why(fixture):
    r = observe.hpa_reading(fixture("hpa-v2-no-metrics.json"))
    assert math.isnan(r.metric_value) and r.metric_target == 50.0
    rows = observe.condition_events({}, r.conditions, "HorizontalPodAutoscaler/app-fastapi", 15.0)
    failed = [e for e in rows if e["reason"] == "FailedGetResourceMetric"]
    assert failed and failed[0]["type"] == "Warning"
    assert "metrics.k8s.io" in failed[0]["message"]


def test_hpa_read_as_v1():
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "app-fastapi"},
           "spec": {"targetCPUUtilizationPercentage": 50, "maxReplicas": 10},
           "status": {"currentReplicas": 1, "desiredReplicas": 2,
                      "currentCPUUtilizationPercentage": 88}}
    r = observe.hpa_reading(hpa)
    assert (r.desired_replicas, r.metric_name, r.metric_value, r.metric_target) == \
        (2, "cpu utilization (%)", 88.0, 50.0)


def test_keda_hpa_external_metric_in_per_pod_units(fixture):
    r = observe.scaled_object_reading(fixture("scaledobject-active.json"),
                                      fixture("hpa-keda.json"), 3)
    assert r.desired_replicas == 5
    assert r.metric_name == "s0-metric-api-in_flight (per pod)"
    assert r.metric_value == pytest.approx(7.667) and r.metric_target == 5.0
    assert r.conditions["ScaledObject/app-fastapi#Active"]["reason"] == "ScalerActive"


def test_keda_scaled_to_zero_recommends_zero(fixture):
    r = observe.scaled_object_reading(fixture("scaledobject-idle.json"), fixture("hpa-keda.json"),
                                      0)
    assert r.desired_replicas == 0
    rows = observe.condition_events({}, r.conditions, "HorizontalPodAutoscaler/keda-hpa", 30.0)
    inactive = next(e for e in rows if e["reason"] == "ScalerNotActive")
    assert inactive["object"] == "ScaledObject/app-fastapi" and inactive["type"] == "Warning"


def test_podautoscaler_desired_scale_and_kpa_metrics(fixture):
    metrics = observe.kpa_metrics(fixture("autoscaler-metrics.txt"), "app-knative-00001",
                                  "default")
    assert metrics["panic_mode"] == 1.0 and metrics["target_per_pod"] == 7.0
    assert metrics["stable_per_pod"] == pytest.approx(18.5 / 2)
    assert (metrics["desired_pods"], metrics["ready_pods"]) == (3.0, 2.0)
    r = observe.pa_reading(fixture("podautoscaler.json"), metrics)
    assert r.desired_replicas == 3 and r.panic_mode is True
    assert r.metric_name == "concurrency (per pod)" and r.metric_target == 7.0


def test_podautoscaler_without_metrics_and_before_a_decision(fixture):
    pa = fixture("podautoscaler.json")
    assert observe.pa_reading(pa).panic_mode is False
    pa["status"]["desiredScale"] = -1
    assert observe.pa_reading(pa).desired_replicas is None


def test_pods_ready_and_pending(fixture):
    pods = fixture("pods.json")["items"]
    assert observe.ready_pods(pods) == 2
    assert observe.pending_pods(pods) == 1


def test_events_become_rows_relative_to_the_start_once_each(fixture):
    seen: set = set()
    items = fixture("events.json")["items"]
    rows = observe.event_rows(items, START, seen)
    assert [(r["time"], r["object"], r["reason"]) for r in rows] == [
        (45.0, "HorizontalPodAutoscaler/app-fastapi", "SuccessfulRescale"),
        (75.0, "HorizontalPodAutoscaler/app-fastapi", "SuccessfulRescale"),
        (pytest.approx(76.412839), "Pod/app-fastapi-6d9c7b8f5c-zz8kd", "FailedScheduling"),
    ]  # the ScalingReplicaSet event happened before the start
    assert rows[0]["message"].startswith("New size: 2; reason: cpu resource utilization")
    assert rows[2]["type"] == "Warning"
    assert observe.event_rows(items, START, seen) == []
    items[1]["count"] = 2
    items[1]["lastTimestamp"] = "2026-11-28T10:02:00Z"
    assert [r["time"] for r in observe.event_rows(items, START, seen)] == [120.0]


def test_the_rollouts_events_are_kept_with_negative_times(fixture):
    """Events since the deploy began (10 s before the run's start) keep their place, before 0."""
    rows = observe.event_rows(fixture("events.json")["items"], START, set(),
                              since=START - timedelta(seconds=30))
    assert [(r["time"], r["reason"]) for r in rows][:2] == [
        (-10.0, "ScalingReplicaSet"), (45.0, "SuccessfulRescale")]


def test_events_can_be_limited_to_the_labs_objects(fixture):
    rows = observe.event_rows(fixture("events.json")["items"], START, set(),
                              objects=["HorizontalPodAutoscaler/app-fastapi"])
    assert {r["object"] for r in rows} == {"HorizontalPodAutoscaler/app-fastapi"}


def test_unchanged_conditions_make_no_event(fixture):
    c = observe.hpa_reading(fixture("hpa-v2-scaling.json")).conditions
    assert observe.condition_events(c, c, "HorizontalPodAutoscaler/app-fastapi", 1.0) == []


def test_a_sample_row_has_every_timeline_column(fixture):
    load = {"users": 40, "rps": 21.5, "latency_p50": 35.0, "latency_p95": 120.0,
            "latency_p99": None, "errors": 1}
    row = observe.sample_row(12.0, deployment=fixture("deployment.json"),
                             pods=fixture("pods.json")["items"],
                             reading=observe.hpa_reading(fixture("hpa-v2-scaling.json")),
                             load=load)
    assert list(row) == list(SAMPLE_COLUMNS)
    assert (row["spec_replicas"], row["ready_replicas"], row["pending_pods"],
            row["desired_replicas"]) == (4, 2, 1, 4)
    assert row["users"] == 40 and math.isnan(row["latency_p99"])
    tl = Timeline.from_records([row], [{"time": 1.0, "object": "x", "type": "Normal",
                                        "reason": "r", "message": "m"}])
    assert tl.samples.loc[0, "metric_value"] == 143.0
    assert list(tl.events.columns) == list(EVENT_COLUMNS)


def test_no_autoscaler_yet_falls_back_to_spec_replicas(fixture):
    row = observe.sample_row(0.0, deployment=fixture("deployment.json"), pods=[],
                             reading=observe.Reading(None))
    assert row["desired_replicas"] == 4 and row["metric_name"] == ""


def test_kpa_metrics_are_the_knative_1_23_opentelemetry_names(fixture):
    """Pre-1.19 OpenCensus names (autoscaler_*) no longer count; another namespace's revision
    of the same name does not leak in."""
    text = fixture("autoscaler-metrics.txt")
    assert "autoscaler_" not in text.replace("knative.dev/serving/pkg/autoscaler", "")
    old = 'autoscaler_panic_mode{namespace_name="default",revision_name="app-knative-00001"} 1\n'
    assert observe.kpa_metrics(old, "app-knative-00001", "default") == {}
    team_b = observe.kpa_metrics(text, "app-knative-00001", "team-b")
    assert team_b["stable_concurrency"] == 99.0 and team_b["panic_mode"] == 0.0
    assert observe.kpa_metrics(text, "other-00003", "default")["target_per_pod"] == 70.0
