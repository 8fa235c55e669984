"""The pod-failure fault: ``kubectl delete pod`` of one Ready pod while the load runs.

Upstream behaviour the twin follows (kubernetes/kubernetes v1.36.4): the ReplicaSet controller
counts only active pods (no deletion timestamp) and creates the missing ones
(``pkg/controller/replicaset/replica_set.go`` ``syncReplicaSet``/``manageReplicas``); the
EndpointSlice controller publishes a terminating pod ``ready: false`` at once
(``staging/src/k8s.io/endpointslice/utils.go`` ``podToEndpoint``).
"""

from __future__ import annotations

import copy

import pytest

from labkit.backends.sim import SimBackend
from labkit.errors import BackendError
from labkit.load import Constant

from .conftest import edited

KILL_AT = 60


def _run(min_replicas: int, *, users: int = 10, startup_s: str = "30"):
    def set_min(doc):
        doc["spec"]["minReplicas"] = min_replicas
    v = edited("hpa-v2", "HorizontalPodAutoscaler", set_min)
    v = v.replace(_with_startup(v, startup_s))
    b = SimBackend(seed=0)
    b.deploy(v)
    b.load(Constant(users=users, duration=200))
    b.run(KILL_AT)
    before = [p.name for p in b.world.entry.pods]
    killed = b.inject_fault("pod-failure")
    return b, before, killed, b.run(120)


def _with_startup(v, seconds: str) -> dict:
    doc = copy.deepcopy(v.get("Deployment").doc)
    env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "APP_STARTUP_DELAY_S")["value"] = seconds
    return doc


def test_one_replica_drops_requests_until_the_replacement_is_ready():
    b, before, killed, tl = _run(1)
    assert killed == before[0]
    s = tl.samples
    after = s[s.time >= KILL_AT]
    outage = after[after.ready_replicas == 0]
    # The replacement is scheduled, starts its container, loads the model (30 s) and passes
    # its readiness probe: no pod serves for that long, and every request in it fails.
    assert 30 <= len(outage) <= 45, len(outage)
    assert outage.errors.sum() > 50
    assert after[after.time > outage.time.max()].errors.sum() == 0
    assert after.spec_replicas.max() == 1            # the Deployment was never scaled
    names = [p.name for p in b.world.entry.pods]
    assert killed not in names and len(names) == 1   # a new pod, with a new name
    ev = tl.events_with("FaultInjected")
    assert list(ev.object) == [f"Pod/{killed}"] and list(ev.time) == [KILL_AT]


def test_two_replicas_keep_serving_through_the_same_failure():
    b, before, killed, tl = _run(2)
    s = tl.samples
    after = s[s.time >= KILL_AT]
    assert after.ready_replicas.min() == 1           # one pod served while the other started
    assert after.errors.sum() == 0
    assert after.ready_replicas.iloc[-1] == 2
    assert killed == before[0] and killed not in [p.name for p in b.world.entry.pods]


def test_a_terminating_pod_leaves_the_endpoints_at_once_and_the_replacement_counts_at_once():
    b = SimBackend(seed=0)
    b.deploy("hpa-v2")
    b.run(10)
    w = b.world.entry
    n = w.n_serving
    name = b.inject_fault("pod-failure")
    pod = next(p for p in w.pods if p.name == name)
    assert pod.deleting and not pod.serving and w.n_serving == n - 1
    assert w.status_replicas == w.spec_replicas      # the replacement exists already
    b.run(b.params.termination_seconds + 1)
    assert all(p.name != name for p in w.pods)       # gone after the grace period


@pytest.mark.parametrize("variant", ["knative", "keda"])
def test_a_buffer_in_front_holds_the_requests_instead_of_failing_them(variant):
    # The activator (Knative) and the KEDA gateway hold requests while no pod is Ready: users
    # wait for the replacement instead of getting errors.
    b = SimBackend(seed=0)
    b.deploy(variant)
    b.load(Constant(users=5, duration=200))
    b.run(KILL_AT)
    b.inject_fault("pod-failure")
    s = b.run(100).samples
    after = s[s.time >= KILL_AT]
    assert (after.ready_replicas == 0).sum() >= 5
    assert after.errors.sum() == 0
    assert after.latency_p95.max() > 5000     # the held requests waited for the new pod


def test_pod_failure_cannot_be_cleared_and_needs_a_ready_pod():
    b = SimBackend(seed=0)
    with pytest.raises(BackendError, match="deploy a variant"):
        b.inject_fault("pod-failure")
    b.deploy("hpa-v1")
    with pytest.raises(BackendError, match="cannot be cleared"):
        b.inject_fault("pod-failure", active=False)
    b.inject_fault("pod-failure")    # the only pod: none is Ready until the replacement is
    with pytest.raises(BackendError, match="no Ready pod"):
        b.inject_fault("pod-failure")
