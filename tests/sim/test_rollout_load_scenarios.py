"""Load running before and during the rollout: ``load(profile)`` then ``deploy(variant,
under_load=True)`` (issue 13, Deliver item 4).

What upstream does with requests that arrive while the variant's pods start:

- a plain Service with no ready endpoint: kube-proxy rejects the connection (kubernetes
  pkg/proxy/iptables/proxier.go syncProxyRules, the filter-table REJECT rule "<svc> has no
  endpoints"), so locust counts failures and its users try again after their wait;
- the KEDA variant's gateway is itself a Deployment behind a Service: refused until its pod is
  ready, then it holds requests while the app is at zero;
- a new Knative Service: its route programs no ingress while the Configuration has no ready
  revision (knative/serving knative-v1.23.0 pkg/reconciler/route/route.go ReconcileKind and
  route/traffic/traffic.go errUnreadyConfiguration), so the activator sees nothing until the
  first revision is Ready.

The autoscaler created while the load already flows is Kubernetes' own e2e pattern:
test/e2e/autoscaling/horizontal_pod_autoscaling.go ``HPAScaleTest.run`` starts the
ResourceConsumer (already consuming ``initCPUTotal``) and only then creates the HPA, and
expects ``firstScale`` (3 of max 5 in ``scaleUp``) replicas.
"""

from __future__ import annotations

import pytest

from labkit.backends.sim import SimBackend
from labkit.errors import BackendError
from labkit.load import Constant


def _under_load(variant: str, users: int, duration: float = 300):
    b = SimBackend()
    b.load(Constant(users=users, duration=900))
    b.deploy(variant, under_load=True)
    return b.run(duration)


def test_hpa_created_while_load_flows_scales_out_and_the_rollout_rows_show_the_refusals():
    tl = _under_load("hpa-v1", 60)
    rollout, samples = tl.rollout, tl.samples
    assert tl.meta["load_start"] == -tl.meta["rollout_seconds"] < 0
    assert rollout.time.min() == tl.meta["load_start"]
    # While no pod is ready the Service refuses every request: failures, nothing served.
    starting = rollout[rollout.ready_replicas == 0]
    assert len(starting) == len(rollout)
    assert starting.users.max() == 60 and starting.rps.max() == 0
    assert starting.errors.sum() > 0
    # The users spawned during the rollout (10/s) are all there at t = 0, and served.
    assert samples.users.iloc[0] == 60 and samples.ready_replicas.iloc[0] >= 1
    assert samples.rps.iloc[:10].mean() > 0
    # The HPA created under load scales out (the e2e test's firstScale of 3 replicas).
    rescales = tl.events_with("SuccessfulRescale")
    assert len(rescales) >= 1 and samples.spec_replicas.max() >= 3
    assert samples.errors.iloc[:5].sum() == 0


def test_default_deploy_starts_the_load_after_the_rollout():
    b = SimBackend()
    b.load(Constant(users=60, duration=900))
    b.deploy("hpa-v1")
    tl = b.run(30)
    assert "load_start" not in tl.meta and tl.meta["profile"].startswith("constant(")
    assert tl.rollout.users.max() == 0 and tl.rollout.errors.sum() == 0
    assert tl.samples.users.iloc[0] == 0 and tl.samples.users.iloc[-1] == 60


def test_under_load_needs_a_load():
    with pytest.raises(BackendError, match="load\\(profile\\) before deploy"):
        SimBackend().deploy("hpa-v1", under_load=True)


def test_keda_scaledobject_created_while_traffic_flows():
    """KEDA's executor scales a target at 0 replicas from zero once a trigger is active
    (kedacore/keda v2.20.2 pkg/scaling/executor/scale_scaledobjects.go RequestScale:
    ``isActive`` and ``currentReplicas == 0`` -> ``scaleFromZeroOrIdle``)."""
    tl = _under_load("keda", 20)
    rollout, samples = tl.rollout, tl.samples
    # The gateway's own pod is starting: its Service refuses, nothing is held yet.
    assert rollout.users.max() == 20 and rollout.errors.sum() > 0
    assert rollout.rps.max() == 0
    # KEDA's creation events are kept with negative times.
    created = tl.events[tl.events.reason == "ScaledObjectReady"]
    assert len(created) == 1 and created.time.iloc[0] < 0
    # Once the gateway is up it holds the requests (ColdStart), KEDA activates the target
    # from 0, and none of the held requests fails (the gateway holds them up to 60 s).
    cold = tl.events_with("ColdStart")
    activated = tl.events_with("KEDAScaleTargetActivated")
    assert len(cold) >= 1 and len(activated) >= 1
    assert activated.time.iloc[0] >= cold.time.iloc[0]
    assert "from 0 to 1" in activated.message.iloc[0]
    assert samples.errors.sum() == 0 and samples.ready_replicas.iloc[-1] >= 1
    assert samples.rps.iloc[-60:].mean() > 0


def test_knative_service_created_while_traffic_flows_is_not_routed_before_its_first_revision():
    tl = _under_load("knative", 20, duration=120)
    rollout = tl.rollout
    not_ready = rollout[rollout.ready_replicas == 0]
    # No route yet: every request fails at once, none reaches the activator.
    assert not_ready.users.max() == 20 and not_ready.errors.sum() > 0
    assert tl.events_with("ColdStart").empty
    # Once the first revision is Ready, the route serves and nothing fails.
    assert tl.samples.ready_replicas.iloc[0] >= 1
    assert tl.samples.errors.sum() == 0 and tl.samples.rps.mean() > 0


def test_knative_initial_scale_zero_is_routed_at_once_and_the_activator_holds_the_requests():
    """With ``initial-scale: 0`` (allowed by ``allow-zero-initial-scale``) the revision is
    Ready with no pod: the PodAutoscaler's active threshold is max(min-scale, initial-scale) =
    0 (knative/serving knative-v1.23.0 pkg/reconciler/autoscaling/kpa/kpa.go activeThreshold),
    so the route is programmed before any pod exists and the activator holds what arrives."""
    from .test_cluster_config_scenarios import _config, _knative
    b = SimBackend()
    b.load(Constant(users=10, duration=900))
    b.deploy(_knative({"autoscaling.knative.dev/initial-scale": "0"},
                      _config({"allow-zero-initial-scale": "true"})), under_load=True)
    tl = b.run(120)
    assert tl.rollout.errors.sum() == 0 and tl.samples.errors.sum() == 0
    assert len(tl.events_with("ColdStart")) >= 1
    assert tl.samples.ready_replicas.iloc[-1] >= 1 and tl.samples.rps.iloc[-30:].mean() > 0
