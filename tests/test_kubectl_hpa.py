"""kubectl-shaped output from the twin: Go's tabwriter, ages, quantities, and the HPA views."""

from __future__ import annotations

import pytest

from labkit import kubectl_hpa as k
from labkit.backends.sim import SimBackend
from labkit.load import Spike


@pytest.mark.parametrize("seconds, text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"),
    (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"),
    (50 * 3600, "2d2h"), (10 * 86400, "10d"),
])
def test_human_duration_is_apimachinerys(seconds, text):
    assert k.human_duration(seconds) == text


@pytest.mark.parametrize("milli, text", [
    (None, "<unknown>"), (0, "0"), (405, "405m"), (2000, "2"), (1500, "1500m"),
    (384_000_000_000, "384M"), (5000, "5"), (-250, "-250m"),
])
def test_quantity_prints_canonical_decimal_si(milli, text):
    assert k.quantity(milli) == text


def test_tabwriter_aligns_blocks_like_go():
    # a line without a tab ends a column block; the last cell of a line is not aligned
    text = "Name:\tapp\nA long key:\tx\nConditions:\n  Type\tStatus\n  AbleToScale\tTrue"
    assert k.tabwrite(text, padding=2).split("\n") == [
        "Name:        app", "A long key:  x", "Conditions:", "  Type         Status",
        "  AbleToScale  True"]
    assert k.tabwrite("A\tB\nxx\ty", padding=3, minwidth=6) == "A     B\nxx    y"


@pytest.fixture(scope="module")
def at_first_scale_out():
    b = SimBackend(seed=0)
    b.deploy("hpa-v1")
    b.load(Spike(base_users=2, peak_users=60, start=30, length=150, duration=600))
    b.run(48)
    return k.twin_hpa_view(b)


def test_get_hpa_columns_and_targets(at_first_scale_out):
    head, row = k.get_hpa([at_first_scale_out]).split("\n")
    assert head.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS",
                            "AGE"]
    assert row.split()[:7] == ["app-fastapi", "Deployment/app-fastapi", "cpu:", "202%/50%", "1",
                               "10", "1"]


def test_describe_hpa_shows_metric_conditions_and_whole_events(at_first_scale_out):
    text = k.describe_hpa(at_first_scale_out)
    assert "  resource cpu on pods  (as a percentage of request):  202% (" in text
    assert "Deployment pods:" in text and "1 current / 4 desired" in text
    assert "ScalingLimited  True    ScaleUpLimit" in text
    assert "ScaledToZero" not in text            # HPAScaleToZero is off in 1.36
    assert ("horizontal-pod-autoscaler  New size: 4; reason: cpu resource utilization "
            "(percentage of request) above target") in text


def test_decision_trace_follows_the_reconcile(at_first_scale_out):
    trace = dict(k.decision_trace(at_first_scale_out))
    assert trace["combined proposal (the largest)"] == "5"
    assert trace["after the rate limit and [minReplicas, maxReplicas]"].startswith("4 ")
    assert trace["replicas written"] == "4"


def test_unknown_metric_and_no_status():
    b = SimBackend(seed=0)
    b.deploy("hpa-v2")
    view = k.twin_hpa_view(b)
    fresh = k.HPAView(view.spec, None, 0.0)
    assert "cpu: <unknown>/70%, memory: <unknown>/80%" in k.get_hpa([fresh])
    assert k.decision_trace(fresh) == [("status", "the HPA has not synced yet")]


def test_the_hpa_keda_creates_has_kedas_labels_and_minpods_1():
    b = SimBackend(seed=0)
    b.deploy("keda")
    b.load(Spike(base_users=0, peak_users=100, start=20, length=100, duration=360))
    b.run(60)
    view = k.twin_hpa_view(b, "keda-hpa-app-fastapi")
    assert view.labels["app.kubernetes.io/managed-by"] == "keda-operator"
    assert k.get_hpa([view]).splitlines()[1].split()[-4:-2] == ["1", "10"]
    assert '"s0-metric-api-in_flight" (target average value):' in k.describe_hpa(view)
