"""Real-cluster tests: run in the kind workflow after `labkit up --profile all`."""

from __future__ import annotations

import pytest

from labkit.backends.kind import cluster, versions as v
from labkit.backends.kind.runner import SubprocessRunner
from labkit.load import profile

pytestmark = pytest.mark.e2e


def test_every_addon_is_recorded_at_its_pinned_version():
    assert cluster.installed_addons(SubprocessRunner()) == v.addon_versions()


def test_up_again_is_a_no_op_plan():
    plan = cluster.up("all", progress=False, dry_run=True)
    assert plan.actions() == ["kind-load"]


@pytest.mark.parametrize("variant", ["hpa-v1", "hpa-v2", "keda"])
def test_variant_scales_out_under_load(variant):
    from labkit.backends.kind.backend import KindBackend
    b = KindBackend()
    try:
        b.deploy(variant)
        b.load(profile("constant", users=30, duration=150, wait_min=0.1, wait_max=0.5))
        tl = b.run(150)
        assert tl.samples.desired_replicas.max() > 1
        assert tl.samples.ready_replicas.max() > 1
        assert tl.samples.metric_name.iloc[-1] != ""
    finally:
        b.reset()
        b.close()
