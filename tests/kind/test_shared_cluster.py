"""Shared-cluster safety, ``auto``, and the real client call against a local stub API server.

- deploy/cleanup touch only objects with this learner's owner label, in this namespace;
- ``backend="auto"`` never runs ``kind create``;
- ``KubeApi.pod_proxy`` reads the Knative autoscaler's metrics through the real
  ``kubernetes`` 37.x client call, from a stub HTTP server on 127.0.0.1 standing in for the API
  server's pod proxy endpoint; an unreachable API server gives one clear error.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
import yaml

from labkit.backends.kind import deploy as d
from labkit.backends.kind import observe
from labkit.backends.kind.backend import KindBackend
from labkit.errors import BackendError
from labkit.manifests import load_variant

from fakecluster import FakeCluster
from fakerunner import FakeRunner

FIXTURES = Path(__file__).parent / "fixtures"


def _other_learners_objects(api):
    """Bob's objects in the same namespace: his own app, and his copy of a labkit HPA."""
    api.put({"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "bob-app", "labels": {d.OWNER_LABEL: "bob",
                                                         "app.kubernetes.io/part-of": "labkit"}}})
    api.put({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
             "metadata": {"name": "bob-hpa", "labels": {d.OWNER_LABEL: "bob"}}})
    api.put({"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "bob-app-1", "labels": {d.OWNER_LABEL: "bob"}}})


def test_cleanup_leaves_another_learners_objects_in_the_same_namespace(api):
    _other_learners_objects(api)
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    api.ready_on_apply = True
    b.deploy("hpa-v2")
    mine = [k for k, doc in api.objects.items() if d.owner_of(doc) == "alice"]
    assert len(mine) == 3   # Deployment, Service, HPA, all labelled alice
    b.reset()
    left = {(k[0], k[2]) for k in api.objects}
    assert left == {("Deployment", "bob-app"), ("HorizontalPodAutoscaler", "bob-hpa"),
                    ("Pod", "bob-app-1")}
    assert not any("bob" in x for x in api.deleted)


def test_deploy_refuses_to_take_over_an_object_it_does_not_own(api):
    api.put({"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "app-fastapi", "labels": {d.OWNER_LABEL: "bob"}}})
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    with pytest.raises(BackendError, match=r"Deployment/app-fastapi already exists .* not yours "
                                           r"\(labkit.dev/owner=bob; you are alice\)"):
        b.deploy("hpa-v1")
    assert api.applied == []   # refused before changing anything


def test_every_object_and_pod_template_carries_the_owner_label(api):
    d.apply_variant(api, load_variant("knative"), owner="alice")
    ksvc = api.objects[("Service", "default", "app-knative")]
    assert ksvc["metadata"]["labels"][d.OWNER_LABEL] == "alice"
    assert ksvc["spec"]["template"]["metadata"]["labels"][d.OWNER_LABEL] == "alice"
    assert ksvc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "labkit"


def test_owner_values_are_valid_label_values():
    assert d.owner_value("Alice Smith@laptop.local") == "Alice-Smith-laptop.local"
    assert len(d.owner_value("x" * 100)) == 63
    with pytest.raises(BackendError, match="owner='alice'"):
        d.owner_value("@@@")


# -- apply / delete at the current time -----------------------------------------------------------
def test_apply_and_delete_touch_only_this_learners_objects(api):
    _other_learners_objects(api)
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    hpa = yaml.safe_load((Path(__file__).parents[2] / "manifests/hpa-v2/hpa.yaml").read_text())
    hpa["spec"]["maxReplicas"] = 4
    assert b.apply(hpa) == ["horizontalpodautoscaler.autoscaling/app-fastapi serverside-applied"]
    stored = api.objects[("HorizontalPodAutoscaler", "default", "app-fastapi")]
    assert stored["spec"]["maxReplicas"] == 4 and d.owner_of(stored) == "alice"
    assert b.apply(yaml.safe_dump(hpa)) == [
        "horizontalpodautoscaler.autoscaling/app-fastapi serverside-applied"]
    with pytest.raises(BackendError, match="not yours"):
        b.apply({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                 "metadata": {"name": "bob-hpa"}, "spec": {}})
    with pytest.raises(BackendError, match="not yours"):
        b.delete("hpa", "bob-hpa")
    assert b.delete("hpa", "app-fastapi") == [
        'horizontalpodautoscaler.autoscaling "app-fastapi" deleted']
    assert ("HorizontalPodAutoscaler", "default", "bob-hpa") in api.objects
    with pytest.raises(BackendError, match="not found"):
        b.delete("hpa", "app-fastapi")
    with pytest.raises(BackendError, match="cannot delete kind 'node'"):
        b.delete("node", "x")
    with pytest.raises(BackendError, match="needs apiVersion, kind and metadata.name"):
        b.apply({"kind": "HorizontalPodAutoscaler"})


# -- against the fault-injecting cluster ----------------------------------------------------------
def _installed(profile: str) -> FakeCluster:
    from labkit.backends.kind import cluster
    r = FakeRunner()
    world = FakeCluster().attach(r)
    cluster.up(profile, runner=r, sleep=world.sleep, clock=world.clock, progress=False)
    return world


def test_a_namespace_must_exist_before_its_objects():
    world = _installed("hpa")
    b = KindBackend(api=world.api(), auto_up=False, show_kubectl=False, owner="alice",
                    namespace="team-a")
    with pytest.raises(BackendError, match='namespaces "team-a" not found'):
        b.deploy("hpa-v1")


def test_knative_service_waits_out_the_webhook_then_metrics_are_read():
    world = _installed("knative")
    world.deploy_ready[("knative-serving", "webhook")] = world.now   # webhook just restarted
    api = world.api()
    var = load_variant("knative")
    d.apply_variant(api, var, owner="alice", clock=world.clock, sleep=world.sleep)
    assert "validation.webhook.serving.knative.dev" in world.refusals   # it was refused first
    assert api.applied == ["Service/app-knative"]
    # the endpoint answers because `up` set metrics-protocol: prometheus and restarted
    api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "autoscaler-7c8d9-abcde", "labels": {"app": "autoscaler"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        "knative-serving")
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    b._t0 = 0.0
    got = b._kpa_metrics("app-knative-00001")
    assert got["panic_mode"] == 1.0 and got["stable_per_pod"] == pytest.approx(9.25)


def test_metrics_off_gives_one_warning_event_not_silence():
    world = _installed("knative")
    world.autoscaler_protocol = "none"   # what Knative 1.23 does without config-observability
    api = world.api()
    api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "autoscaler-1", "labels": {"app": "autoscaler"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        "knative-serving")
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    b._t0 = 0.0
    assert b._kpa_metrics("app-knative-00001") == {}
    assert b._kpa_metrics("app-knative-00001") == {}
    ev = b.recorder.snapshot().events
    assert list(ev.reason) == ["KPAMetricsUnavailable"]   # once, not every poll
    assert "connection refused" in ev.message.iloc[0]
    assert "metrics-protocol: prometheus" in ev.message.iloc[0]


# -- auto -------------------------------------------------------------------------------------------
def _docker_runner(clusters: str, contexts: str = "kind-labkit\n"):
    r = FakeRunner()
    r.on(["docker", "info"], stdout="29.1.5\n")
    r.on(["kind", "get", "clusters"], stdout=clusters)
    r.on(["kubectl", "config", "get-contexts"], stdout=contexts)
    return r


@pytest.mark.parametrize("clusters, contexts, expect", [
    pytest.param("", "", "sim", id="no-cluster"),
    pytest.param("other\n", "kind-other\n", "sim", id="someone-elses-kind-cluster"),
    pytest.param("labkit\n", "", "sim", id="no-context"),
    pytest.param("labkit\n", "kind-labkit\n", "kind", id="labkit-cluster-up"),
])
def test_auto_uses_kind_only_for_a_running_labkit_cluster_and_never_creates_one(
        monkeypatch, capsys, clusters, contexts, expect):
    from labkit import doctor
    from labkit.backends import base
    r = _docker_runner(clusters, contexts)
    monkeypatch.setattr(doctor, "SubprocessRunner", lambda: r)
    b = base.pick("auto")
    assert b.name == expect
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    if expect == "sim":
        assert "labkit up --profile all" in out[0]
    assert not any(c[:2] == ("kind", "create") for c in r.calls)
    assert all(c[:1] != ("kind",) or c[:3] == ("kind", "get", "clusters") for c in r.calls)
    b.close()


# -- the real client call against a stub API server -------------------------------------------------
class _ProxyStub(http.server.BaseHTTPRequestHandler):
    """GET /api/v1/namespaces/knative-serving/pods/<pod>:9090/proxy/metrics -> the fixture."""

    paths: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        from urllib.parse import unquote
        path = unquote(self.path.split("?")[0])
        type(self).paths.append(path)
        if path == "/api/v1/namespaces/knative-serving/pods/autoscaler-7c8d9-abcde:9090/proxy/metrics":
            body = (FIXTURES / "autoscaler-metrics.txt").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        else:
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no","code":404}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "stub",
           "clusters": [{"name": "stub", "cluster": {"server": server}}],
           "users": [{"name": "stub", "user": {"token": "t"}}],
           "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}]}
    p = tmp_path / "kubeconfig"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_pod_proxy_reads_the_1_23_metrics_through_the_real_client_call(tmp_path, monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyStub)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path,
                                                         f"http://127.0.0.1:{srv.server_port}")))
        api = d.KubeApi("stub", timeout=5)
        text = api.pod_proxy("knative-serving", "autoscaler-7c8d9-abcde", 9090, "metrics")
        got = observe.kpa_metrics(text, "app-knative-00001", "default")
        assert got["panic_mode"] == 1.0 and got["target_per_pod"] == 7.0
        assert _ProxyStub.paths[-1].endswith("/pods/autoscaler-7c8d9-abcde:9090/proxy/metrics")
        with pytest.raises(BackendError, match="answered 404"):
            api.pod_proxy("knative-serving", "gone", 9090, "metrics")
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


def test_an_unreachable_api_server_is_one_clear_error(tmp_path, monkeypatch):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there now
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path, f"http://127.0.0.1:{port}")))
    api = d.KubeApi("stub", timeout=3)
    with pytest.raises(BackendError) as e:
        api.list("v1", "Pod", "default")
    msg = str(e.value)
    assert f"cannot reach the Kubernetes API server of context 'stub' at http://127.0.0.1:{port}" \
        in msg and "Is the cluster running?" in msg
    assert "Traceback" not in msg and "MaxRetryError" not in msg and "urllib3" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_switching_variants_deletes_only_this_learners_objects(api):
    """Review D25: deploy() sweeps the previous variant; on a shared cluster it used to delete
    every `part-of=labkit` object in the namespace, another learner's included."""
    _other_learners_objects(api)
    # an object labkit did not label for anyone (made by hand, or by an older labkit)
    api.put({"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "carol-app", "labels": {"app.kubernetes.io/part-of": "labkit"}}})
    theirs = {k for k in api.objects}
    b = KindBackend(context="workshop-cluster", api=api, auto_up=False, show_kubectl=False,
                    owner="alice")
    api.ready_on_apply = True
    b.deploy("hpa-v1")
    b.deploy("hpa-v2")      # the switch sweeps hpa-v1's objects first
    b.reset()
    assert {k for k in api.objects} == theirs
    assert not any(n in x for x in api.deleted for n in ("bob", "carol"))


def _pod(name: str, owner: str, created: str, *, ready: bool = True, deleting: bool = False):
    meta = {"name": name, "creationTimestamp": created,
            "labels": {"app": "app-fastapi", d.OWNER_LABEL: owner}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:09:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_pod_failure_deletes_only_the_oldest_ready_pod_this_learner_owns(api):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    api.ready_on_apply = True
    b.deploy("hpa-v2")
    api.put(_pod("bob-oldest", "bob", "2026-01-01T00:00:00Z"))
    api.put(_pod("alice-terminating", "alice", "2026-01-01T00:00:01Z", deleting=True))
    api.put(_pod("alice-starting", "alice", "2026-01-01T00:00:02Z", ready=False))
    api.put(_pod("alice-old", "alice", "2026-01-01T00:00:03Z"))
    api.put(_pod("alice-new", "alice", "2026-01-01T00:00:04Z"))
    assert b.inject_fault("pod-failure") == "alice-old"
    assert api.deleted[-1] == "Pod/alice-old"
    assert ("Pod", "default", "bob-oldest") in api.objects
    ev = b.timeline().events_with("FaultInjected")
    assert list(ev.object) == ["Pod/alice-old"]
    assert "kubectl delete pod alice-old -n default" in ev.message.iloc[0]


def test_pod_failure_on_kind_refuses_what_it_cannot_do(api):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    with pytest.raises(BackendError, match="nothing is deployed"):
        b.inject_fault("pod-failure")
    with pytest.raises(BackendError, match="only 'pod-failure'.*kubectl"):
        b.inject_fault("metrics-server")
    api.ready_on_apply = True
    b.deploy("hpa-v2")
    api.put(_pod("bob-app-1", "bob", "2026-01-01T00:00:00Z"))
    with pytest.raises(BackendError, match="no Ready pod with .*labkit.dev/owner=alice"):
        b.inject_fault("pod-failure")
    with pytest.raises(BackendError, match="cannot be cleared"):
        b.inject_fault("pod-failure", active=False)
    assert "Pod/bob-app-1" not in api.deleted
