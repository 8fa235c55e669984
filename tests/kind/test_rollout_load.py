"""deploy(variant, under_load=True) on kind, up to the cluster's edge: locust (a fake
``loadgen.drive``) is sending before ``kubectl apply`` creates the first object, rows are
polled while the rollout waits, and they become ``Timeline.rollout`` with negative times."""

from __future__ import annotations

import threading

import pytest

from labkit import loadgen
from labkit.backends.kind.backend import KindBackend
from labkit.errors import BackendError
from labkit.load import Constant


@pytest.fixture
def slow_rollout(api):
    """``slow_rollout(polls, load_started)``: the conftest's FakeApi (its class taken from the
    ``api`` fixture: another directory's conftest may hold the module name ``conftest``) whose
    Deployment reports its pod Ready only after ``polls`` reads of it, and which notes at
    each apply whether locust was already sending."""

    class SlowRollout(type(api)):
        def __init__(self, polls: int, load_started: threading.Event):
            super().__init__()
            self.polls, self.reads = polls, 0
            self.load_started = load_started
            self.load_running_at_apply: list[bool] = []

        def apply(self, doc, namespace):
            # Was locust already sending when this object was created? (Its thread starts
            # before apply and sets the event at once; wait a little for it to run.)
            self.load_running_at_apply.append(self.load_started.wait(timeout=2.0))
            return super().apply(doc, namespace)

        def get(self, api_version, kind, name, namespace):
            doc = super().get(api_version, kind, name, namespace)
            if kind == "Deployment" and doc is not None:
                self.reads += 1
                if self.reads >= self.polls:
                    replicas = (doc.get("spec") or {}).get("replicas", 1)
                    doc["status"] = {"replicas": replicas, "readyReplicas": replicas,
                                     "availableReplicas": replicas,
                                     "updatedReplicas": replicas}
                    self.put(doc, namespace)
            return doc

    return SlowRollout


@pytest.fixture
def fake_locust(monkeypatch):
    """A loadgen.drive that reports 5 users whose requests all fail until stopped."""
    started = threading.Event()
    calls: list[tuple] = []

    def drive(profile, url, *, on_stats=None, stop=None, **kw):
        calls.append((profile, url))
        started.set()
        on_stats(None, {"users": 5, "rps": 0.0, "errors": 3})
        stop.wait(timeout=30)

    monkeypatch.setattr(loadgen, "drive", drive)
    return started, calls


def test_locust_starts_before_kubectl_apply_and_the_rollout_rows_are_kept(fake_locust,
                                                                          slow_rollout):
    started, calls = fake_locust
    api = slow_rollout(polls=8, load_started=started)
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, poll_interval=0.01)
    try:
        b.load(Constant(users=5, duration=60))
        b.deploy("hpa-v1", under_load=True)
        assert api.load_running_at_apply and all(api.load_running_at_apply)
        assert len(calls) == 1 and calls[0][1] == "http://127.0.0.1:30080"
        tl = b.run(0.05)
    finally:
        b.close()
    assert len(calls) == 1   # run() goes on with the same locust, it does not start another
    rollout = tl.rollout
    assert len(rollout) >= 1 and (rollout.time < 0).all()
    assert (rollout.users == 5).all() and (rollout.errors == 3).all()
    assert rollout.ready_replicas.iloc[0] == 0   # (the last poll may see the pod Ready)
    assert tl.meta["load_start"] == -tl.meta["rollout_seconds"] < 0
    assert tl.meta["load_start"] <= rollout.time.min()
    assert len(tl.samples) >= 1 and tl.samples.time.min() >= 0
    assert tl.samples.ready_replicas.iloc[-1] == 1


def test_a_failed_rollout_stops_locust(fake_locust, slow_rollout, monkeypatch):
    started, _ = fake_locust
    api = slow_rollout(polls=10**9, load_started=started)
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, poll_interval=0.01)
    from labkit.backends.kind import deploy as d
    real_wait = d.wait_ready
    monkeypatch.setattr(d, "wait_ready", lambda *a, **kw: real_wait(*a, **kw, timeout=0.05))
    b.load(Constant(users=5, duration=60))
    with pytest.raises(BackendError, match="not ready"):
        b.deploy("hpa-v1", under_load=True)
    assert b._load_thread is None and b._stop.is_set()


def test_a_later_default_deploy_counts_from_zero_again(fake_locust, slow_rollout):
    started, _ = fake_locust
    slow = slow_rollout(polls=3, load_started=started)
    b = KindBackend(api=slow, auto_up=False, show_kubectl=False, poll_interval=0.01)
    try:
        b.load(Constant(users=5, duration=60))
        b.deploy("hpa-v1", under_load=True)
        assert b.recorder.origin > 0
        slow.ready_on_apply = True
        b.deploy("hpa-v1")
        assert b.recorder.origin == 0 and b.timeline().rollout.empty
        assert "load_start" not in b.timeline().meta
    finally:
        b.close()


def test_under_load_needs_a_load(api):
    with pytest.raises(BackendError, match="load\\(profile\\) before deploy"):
        KindBackend(api=api, auto_up=False, show_kubectl=False).deploy("hpa-v1",
                                                                        under_load=True)
