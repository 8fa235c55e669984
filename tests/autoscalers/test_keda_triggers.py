"""KEDA trigger semantics: metrics-api, prometheus, redis, cron windows and quantities (§4.6, KD1, KD4)."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from labkit.autoscalers.keda import KEDAState, poll, scaled_object_from_manifest, trigger_result
from labkit.autoscalers.keda_triggers import (
    CRON_VALUE_OUTSIDE_WINDOW, CronSchedule, cron_active, metrics_api_value, parse_quantity,
    parse_trigger, prometheus_value, quantity_string,
)
from labkit.errors import ManifestError


def unix(text, tz="Europe/Berlin"):
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


# ---------------------------------------------------------------- cron (§4.6)

DAY = ("0 9 * * *", "0 17 * * *")
NIGHT = ("0 22 * * *", "0 6 * * *")


@pytest.mark.parametrize("window, when, inside", [
    pytest.param(DAY, "2026-03-04 12:00", True, id="day-noon-inside"),
    pytest.param(DAY, "2026-03-04 08:59", False, id="day-before-start"),
    pytest.param(DAY, "2026-03-04 09:00", True, id="day-at-start-inside"),
    pytest.param(DAY, "2026-03-04 16:59:59", True, id="day-just-before-end"),
    pytest.param(DAY, "2026-03-04 17:00", False, id="day-at-end-outside"),
    pytest.param(DAY, "2026-03-04 23:30", False, id="day-late-night"),
    pytest.param(NIGHT, "2026-03-04 23:00", True, id="overnight-before-midnight"),
    pytest.param(NIGHT, "2026-03-05 03:00", True, id="overnight-after-midnight"),
    pytest.param(NIGHT, "2026-03-05 06:00", False, id="overnight-at-end"),
    pytest.param(NIGHT, "2026-03-05 12:00", False, id="overnight-midday"),
    pytest.param(("0 9 * * 1-5", "0 17 * * 1-5"), "2026-03-07 12:00", False, id="weekday-window-saturday"),
    pytest.param(("0 9 * * MON-FRI", "0 17 * * MON-FRI"), "2026-03-06 12:00", True, id="weekday-names-friday"),
    pytest.param(("*/10 * * * *", "5-55/10 * * * *"), "2026-03-04 12:03", True, id="ten-minute-steps-inside"),
    pytest.param(("*/10 * * * *", "5-55/10 * * * *"), "2026-03-04 12:07", False, id="ten-minute-steps-outside"),
])
def test_cron_window(window, when, inside):
    assert cron_active(window[0], window[1], "Europe/Berlin", unix(when)) is inside


def test_cron_uses_the_trigger_time_zone():
    # 12:00 UTC is 08:00 in New York (EDT): outside a 09:00-17:00 New York window.
    now = unix("2026-06-01 12:00", "UTC")
    assert cron_active(*DAY, "UTC", now) and not cron_active(*DAY, "America/New_York", now)


@pytest.mark.parametrize("expr, after, nxt", [
    pytest.param("0 9 * * *", "2026-03-04 09:00", "2026-03-05 09:00", id="strictly-after"),
    pytest.param("30 2 1 * *", "2026-01-31 10:00", "2026-02-01 02:30", id="month-rollover"),
    pytest.param("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00", id="leap-day"),
    pytest.param("0 12 1 * 1", "2026-03-02 13:00", "2026-03-09 12:00", id="dom-or-dow-when-both-set"),
    pytest.param("0 12 * JAN,JUL *", "2026-03-02 13:00", "2026-07-01 12:00", id="month-names"),
])
def test_cron_next(expr, after, nxt):
    got = CronSchedule.parse(expr).next_after(datetime.fromisoformat(after))
    assert got == datetime.fromisoformat(nxt)


@pytest.mark.parametrize("expr", [
    pytest.param("0 9 * *", id="four-fields"), pytest.param("60 9 * * *", id="minute-60"),
    pytest.param("0 9 * * 8", id="dow-8"), pytest.param("0 9 */0 * *", id="step-0"),
    pytest.param("0 9 * FOO *", id="bad-name"),
])
def test_cron_rejects_bad_expressions(expr):
    with pytest.raises(ValueError):
        CronSchedule.parse(expr)


def cron_trigger(start="0 9 * * *", end="0 17 * * *", tz="Europe/Berlin", desired="5"):
    return {"type": "cron", "metadata": {"timezone": tz, "start": start, "end": end,
                                         "desiredReplicas": desired}}


@pytest.mark.parametrize("doc, field", [
    pytest.param(cron_trigger(end="0 9 * * *"), "metadata.end", id="start-equals-end"),
    pytest.param(cron_trigger(tz="Mars/Olympus"), "metadata.timezone", id="unknown-tz"),
    pytest.param(cron_trigger(desired="0"), "desiredReplicas", id="desired-0"),
    pytest.param(cron_trigger(start="bad"), "metadata.start", id="bad-start"),
])
def test_cron_trigger_validation(doc, field):
    with pytest.raises(ManifestError) as e:
        parse_trigger(doc, 0)
    assert field in e.value.field


def test_kd4_cron_plus_prometheus():
    doc = {"metadata": {"name": "day"}, "spec": {
        "scaleTargetRef": {"name": "app"}, "cooldownPeriod": 300,
        "triggers": [cron_trigger(), {"type": "prometheus", "metadata": {
            "serverAddress": "http://p", "query": "q", "threshold": "10"}}]}}
    so = scaled_object_from_manifest(doc)
    cron_t, prom_t = so.triggers
    day, night = unix("2026-03-04 12:00"), unix("2026-03-04 23:00")
    # Day: HPA max(ceil(5/1), ceil(30/10)) = 5.
    rc, rp = trigger_result(cron_t, now=day), trigger_result(prom_t, value=30)
    assert rc.active and rc.value == 5
    assert max(math.ceil(rc.value / cron_t.target), math.ceil(rp.value / prom_t.target)) == 5
    # Night: cron inactive, prometheus inactive → KEDA scales to 0 after the cooldown.
    rc = trigger_result(cron_t, now=night)
    assert not rc.active and rc.value == CRON_VALUE_OUTSIDE_WINDOW
    r = poll(so, KEDAState(created_at=0, last_active_time=night - 301),
             results=[rc, trigger_result(prom_t, value=0)], current_replicas=5, now=night)
    assert r.scale_to == 0


# ---------------------------------------------------------------- values and activity

def test_kd1_redis_list_average_value():
    t = parse_trigger({"type": "redis", "metadata": {"address": "r:6379", "listName": "q"}}, 0)
    r = trigger_result(t, value=23)
    assert r.active and math.ceil(r.value / t.target) == 5


@pytest.mark.parametrize("value, activation, active", [
    pytest.param(0.5, 0, True, id="float-above-zero-activates"),
    pytest.param(0, 0, False, id="zero-inactive"),
    pytest.param(50, 50, False, id="equal-is-not-above"),
    pytest.param(50.1, 50, True, id="above"),
])
def test_activity_is_value_above_activation_threshold(value, activation, active):
    t = parse_trigger({"type": "prometheus", "metadata": {
        "serverAddress": "http://p", "query": "q", "threshold": "10",
        "activationThreshold": str(activation)}}, 0)
    assert trigger_result(t, value=value).active is active


def test_error_result_is_inactive():
    t = parse_trigger({"type": "redis", "metadata": {"address": "r:6379", "listName": "q"}}, 0)
    r = trigger_result(t, error="timeout")
    assert (r.value, r.active, r.error) == (None, False, "timeout")


@pytest.mark.parametrize("body, location, expected", [
    pytest.param('{"queue": {"depth": 12}}', "queue.depth", 12.0, id="nested-number"),
    pytest.param('{"items": [{"n": 1}, {"n": 4}]}', "items.1.n", 4.0, id="array-index"),
    pytest.param('{"items": [1, 2, 3]}', "items.#", 3.0, id="array-length"),
    pytest.param('{"inflight": "1500m"}', "inflight", 1.5, id="quantity-string"),
    pytest.param({"v": 2.5}, "v", 2.5, id="parsed-object"),
])
def test_metrics_api_value(body, location, expected):
    assert metrics_api_value(body, location) == expected


@pytest.mark.parametrize("body, location", [
    pytest.param('{"a": 1}', "b", id="missing"), pytest.param('{"a": true}', "a", id="bool"),
    pytest.param('{"a": "lots"}', "a", id="not-a-quantity"), pytest.param('{"a": {"b": 1}}', "a", id="object"),
])
def test_metrics_api_value_errors(body, location):
    with pytest.raises(ValueError, match="valueLocation must point to value"):
        metrics_api_value(body, location)


def test_metrics_api_trigger_thresholds():
    t = parse_trigger({"type": "metrics-api", "metadata": {
        "url": "http://app/stats", "valueLocation": "inflight", "targetValue": "4",
        "activationTargetValue": "2"}}, 1)
    assert (t.metric_name, t.target, t.activation_target) == ("s1-metric-api-inflight", 4.0, 2.0)
    assert not trigger_result(t, value=2).active and trigger_result(t, value=3).active


@pytest.mark.parametrize("samples, ignore, expected", [
    pytest.param([7.0], True, 7.0, id="single"), pytest.param([], True, 0.0, id="empty-ignored"),
    pytest.param([float("nan")], True, 0.0, id="nan-ignored"),
    pytest.param([float("inf")], True, 0.0, id="inf-ignored"),
])
def test_prometheus_value(samples, ignore, expected):
    assert prometheus_value(samples, ignore_null_values=ignore) == expected


@pytest.mark.parametrize("samples, ignore", [
    pytest.param([], False, id="empty-not-ignored"), pytest.param([1.0, 2.0], True, id="two-elements"),
    pytest.param([float("nan")], False, id="nan-not-ignored"),
])
def test_prometheus_value_errors(samples, ignore):
    with pytest.raises(ValueError):
        prometheus_value(samples, ignore_null_values=ignore)


@pytest.mark.parametrize("doc, field", [
    pytest.param({"type": "kafka", "metadata": {}}, "type", id="unsupported-type"),
    pytest.param({"type": "prometheus", "metadata": {"serverAddress": "x", "query": "q"}},
                 "threshold", id="prometheus-needs-threshold"),
    pytest.param({"type": "cpu", "metadata": {"value": "50"}}, "metricType", id="cpu-needs-metric-type"),
    pytest.param({"type": "redis", "metricType": "Utilization",
                  "metadata": {"address": "r", "listName": "q"}}, "metricType", id="utilization-external"),
    pytest.param({"type": "metrics-api", "metadata": {"url": "u", "valueLocation": "v"}},
                 "targetValue", id="metrics-api-needs-target"),
])
def test_trigger_validation(doc, field):
    with pytest.raises(ManifestError) as e:
        parse_trigger(doc, 0)
    assert field in e.value.field


def test_cpu_legacy_type_metadata_and_container():
    t = parse_trigger({"type": "memory", "metadata": {"type": "AverageValue", "value": "512Mi",
                                                      "containerName": "app"}}, 0)
    assert t.is_resource and t.metric_type == "AverageValue" and t.container_name == "app"
    assert t.target == 512 * 2 ** 20


@pytest.mark.parametrize("milli, text", [
    pytest.param(0, "0", id="zero"), pytest.param(5000, "5", id="five"),
    pytest.param(500, "500m", id="half"), pytest.param(1_500_000, "1500", id="1500"),
    pytest.param(2_000_000, "2k", id="2k"), pytest.param(7_000_000_000, "7M", id="7M"),
])
def test_quantity_string(milli, text):
    assert quantity_string(milli) == text
    assert parse_quantity(text) == milli / 1000


@pytest.mark.parametrize("selector,labels,match", [
    ("pod=no-matches", {"app": "x"}, False),
    ("app=x", {"app": "x", "tier": "web"}, True),
    ("app==x,tier!=db", {"app": "x", "tier": "web"}, True),
    ("env in (a, b),!canary", {"env": "b"}, True),
    ("env notin (a,b)", {"env": "a"}, False),
    ("canary", {"canary": ""}, True),
])
def test_label_selectors_as_apimachinery_parses_them(selector, labels, match):
    """kubernetes-workload's podSelector is parsed with apimachinery's ``labels.Parse``
    (kedacore/keda v2.20.2 ``pkg/scalers/kubernetes_workload_scaler.go``)."""
    from labkit.autoscalers.keda_triggers import parse_label_selector, selector_matches
    assert selector_matches(parse_label_selector(selector), labels) is match


def test_kubernetes_workload_needs_a_positive_value_and_names_its_metric_by_namespace():
    from labkit.autoscalers.keda_triggers import parse_trigger
    t = parse_trigger({"type": "kubernetes-workload",
                       "metadata": {"podSelector": "app=x", "value": "2"}}, 1, namespace="lab")
    assert (t.metric_name, t.target, t.activation_target) == ("s1-workload-lab", 2.0, 0.0)
    with pytest.raises(ManifestError, match="greater than 0"):
        parse_trigger({"type": "kubernetes-workload", "metadata": {"podSelector": "app=x"}}, 0)
