"""Real-cluster tests: run in the kind workflow after `labkit up --profile all`.

Each variant end to end: deploy, load, observe a scale-out, and for Knative, KServe and KEDA
the return to zero once the load stops. Timelines are written to ``$LABKIT_E2E_OUT`` (the
workflow uploads them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.backends.kind import cluster, versions as v
from labkit.backends.kind.runner import SubprocessRunner
from labkit.load import profile

pytestmark = pytest.mark.e2e

#: Upper bound for the return to zero after the load ends: Knative's stable window (60 s) +
#: scale-down-delay 30 s + scale-to-zero-pod-retention-period 30 s (manifests/knative);
#: KEDA's cooldownPeriod 60 s + pollingInterval 5 s (manifests/keda); plus termination.
TO_ZERO_WITHIN_S = 420


def test_every_addon_is_recorded_at_its_pinned_version():
    assert cluster.installed_addons(SubprocessRunner()) == v.addon_versions()


def test_up_again_is_a_no_op_plan():
    plan = cluster.up("all", progress=False, dry_run=True)
    assert plan.actions() == ["kind-load"]


def _save(tl, name: str) -> None:
    out = os.environ.get("LABKIT_E2E_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        tl.to_csv(str(Path(out) / name))


def _run_until(b, done, within_s: float = TO_ZERO_WITHIN_S, step_s: float = 15):
    """Run in steps of ``step_s`` until ``done(last sample)`` or ``within_s`` has passed;
    returns (Timeline, last sample)."""
    waited = 0
    while True:
        tl = b.run(step_s)
        waited += step_s
        last = tl.samples.iloc[-1]
        if done(last) or waited >= within_s:
            return tl, last


@pytest.mark.parametrize("variant", ["hpa-v1", "hpa-v2", "keda", "knative", "kserve"])
def test_variant_scales_out_under_load_and_scale_to_zero_variants_return_to_zero(variant):
    from labkit.backends.kind.backend import KindBackend
    b = KindBackend()
    try:
        b.deploy(variant)
        b.load(profile("constant", users=30, duration=150, wait_min=0.1, wait_max=0.5))
        tl = b.run(170)
        _save(tl, f"{variant}-load")
        assert tl.samples.desired_replicas.max() > 1, variant
        assert tl.samples.ready_replicas.max() > 1, variant
        if variant in ("knative", "kserve"):
            # read through config-observability metrics-protocol: prometheus (labkit up)
            assert tl.samples.metric_name.iloc[-1] != "", "KPA metrics were not readable"
            assert "KPAMetricsUnavailable" not in set(tl.events.reason)
        else:
            assert tl.samples.metric_name.iloc[-1] != ""
        if variant in ("knative", "kserve", "keda"):
            b.load(None)
            tl, last = _run_until(b, lambda r: r.spec_replicas == 0 and r.ready_replicas == 0)
            _save(tl, f"{variant}-to-zero")
            assert last.spec_replicas == 0 and last.ready_replicas == 0, \
                f"{variant} did not return to zero within {TO_ZERO_WITHIN_S} s"
    finally:
        b.reset()
        b.close()


@pytest.mark.parametrize("variant", ["queue", "queue-jobs"])
def test_queue_variants_drain_a_burst_of_jobs_and_return_to_zero(variant):
    """Locust users as producers (POST /jobs) for 30 s; KEDA's redis trigger wakes workers
    (queue) or starts Jobs (queue-jobs) on the list length, which GET /queue reads from Redis;
    the list drains, and the workers go back to zero."""
    from labkit.backends.kind.backend import KindBackend
    from labkit.checks import drain_time
    b = KindBackend()
    try:
        b.deploy(variant)
        assert b.spec.queue_api == "app-fastapi"
        b.load(profile("burst", jobs=900, start=5, length=30, duration=60))
        tl = b.run(90)
        _save(tl, f"{variant}-burst")
        s = tl.samples
        assert s.queue_length.max() > 0, "the list length was never read"
        assert "QueueStatsUnavailable" not in set(tl.events.reason)
        assert s.spec_replicas.max() >= 1 and s.ready_replicas.max() >= 1
        assert s.rps.sum() > 0                       # finished jobs (GET /queue done)
        tl, last = _run_until(b, lambda r: r.queue_length == 0 and r.spec_replicas == 0)
        _save(tl, f"{variant}-to-zero")
        assert drain_time(tl, after=5) is not None, "the burst was never drained"
        assert last.spec_replicas == 0, f"{variant} did not return to zero"
        if variant == "queue-jobs":
            assert "KEDAJobsCreated" in set(tl.events.reason)
        else:
            assert "KEDAScaleTargetActivated" in set(tl.events.reason)
    finally:
        b.reset()
        b.close()
