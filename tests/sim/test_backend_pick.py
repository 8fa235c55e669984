"""``pick("auto")`` says which backend it chose, in one line, and falls back to the twin."""

from __future__ import annotations

import pytest

from labkit import doctor
from labkit.backends import base
from labkit.backends.sim import SimBackend
from labkit.errors import BackendError, LabkitError


def test_auto_uses_the_twin_when_no_labkit_cluster_runs(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "labkit_cluster_running",
                        lambda: (False, "no kind cluster named labkit is running"))
    b = base.pick("auto")
    assert isinstance(b, SimBackend)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "twin" in out[0] and "no kind cluster named labkit" in out[0]
    assert "labkit up --profile all" in out[0]   # and how to get the real one


def test_unknown_backend_names_the_choices():
    with pytest.raises(LabkitError, match="choose auto"):
        base.pick("minikube", quiet=True)


def test_running_before_deploying_says_what_to_do():
    with pytest.raises(BackendError, match="deploy"):
        SimBackend().run(10)


def test_the_twin_implements_the_backend_protocol():
    assert isinstance(SimBackend(), base.Backend)


@pytest.mark.parametrize("variant,ready", [("hpa-v1", 1), ("knative", 1), ("keda", 0)])
def test_deploy_waits_for_the_rollout_like_kubectl_rollout_status(variant, ready):
    b = SimBackend()
    b.deploy(variant)
    tl = b.run(1)
    first = tl.samples.iloc[0]
    assert first.time == 0 and first.ready_replicas == ready == first.spec_replicas
    assert tl.meta["rollout_seconds"] > 0
    # The rollout is kept, before t = 0: its rows in tl.rollout, its events with negative times.
    assert len(tl.rollout) and (tl.rollout.time < 0).all()
    assert tl.rollout.time.min() >= -tl.meta["rollout_seconds"]
    assert (tl.samples.time >= 0).all()


def test_the_rollout_keeps_keda_creation_events_and_its_first_scale_to_zero():
    """kedacore/keda v2.20.2 ``tests/internals/events/events_test.go`` (``testNormalEvent``):
    a new ScaledObject records ``KEDAScalersStarted`` ("Started scalers watch", and "Scaler
    <type> is built" per trigger) and ``ScaledObjectReady`` ("ScaledObject is ready for
    scaling"); with minReplicaCount 0 and no traffic its first poll scales the target to 0."""
    b = SimBackend()
    b.deploy("keda")
    tl = b.run(1)
    ev = tl.events[tl.events.object == "ScaledObject/app-fastapi"]
    early = ev[ev.time < 0]
    assert list(zip(early.reason, early.message))[:4] == [
        ("KEDAScalersStarted", "Started scalers watch"),
        ("ScaledObjectReady", "ScaledObject is ready for scaling"),
        ("KEDAScalersStarted", "Scaler metrics-api is built"),
        ("KEDAScaleTargetDeactivated", "Deactivated apps/v1.Deployment default/app-fastapi "
                                       "from 1 to 0")]
    assert tl.rollout.spec_replicas.iloc[0] == 1 and tl.samples.spec_replicas.iloc[0] == 0
