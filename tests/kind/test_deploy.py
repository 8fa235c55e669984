"""Server-side apply, readiness and clean removal against an in-memory API; KindBackend polls."""

from __future__ import annotations

import pytest

from labkit.backends.kind import deploy as d
from labkit.backends.kind.backend import KindBackend
from labkit.backends.kind.kubectl import kubectl_equivalents, load_url
from labkit.errors import BackendError
from labkit.manifests import load_variant


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def _ready(api, name="app-fastapi", replicas=1):
    doc = api.objects[("Deployment", "default", name)]
    doc["status"] = {"readyReplicas": replicas}


@pytest.mark.parametrize("variant, refs", [
    pytest.param("hpa-v1", ["Deployment/app-fastapi", "Service/app-fastapi",
                            "HorizontalPodAutoscaler/app-fastapi"], id="hpa-v1"),
    pytest.param("keda", ["Deployment/app-fastapi", "Service/app-fastapi",
                          "Deployment/app-gateway", "Service/app-gateway",
                          "ScaledObject/app-fastapi"], id="keda"),
])
def test_apply_variant_applies_every_object_in_order(api, variant, refs):
    assert d.apply_variant(api, load_variant(variant)) == refs
    assert api.applied == refs


def test_wait_ready_times_out_naming_what_is_not_ready(api):
    v = load_variant("hpa-v1")
    d.apply_variant(api, v)
    clock = Clock()
    with pytest.raises(BackendError, match=r"Deployment/app-fastapi: 0/1 replicas ready"):
        d.wait_ready(api, v, timeout=10, clock=clock, sleep=clock.sleep)
    _ready(api)
    d.wait_ready(api, v, timeout=10, clock=clock, sleep=clock.sleep)


def test_wait_ready_waits_for_knative_ready_condition(api, fixture):
    v = load_variant("knative")
    d.apply_variant(api, v)
    clock = Clock()
    with pytest.raises(BackendError, match="Service/app-knative: no status yet"):
        d.wait_ready(api, v, timeout=4, clock=clock, sleep=clock.sleep)
    api.put(fixture("knative-service.json"))
    d.wait_ready(api, v, timeout=4, clock=clock, sleep=clock.sleep)


def test_remove_deletes_autoscaler_first_and_sweeps_labelled_leftovers(api):
    d.apply_variant(api, load_variant("hpa-v2"), owner="alice")
    api.put({"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "left-over", "labels": {d.OWNER_LABEL: "alice"}}})
    api.missing_kinds = {"InferenceService", "ScaledObject"}   # add-ons not installed
    deleted = d.remove_variant(api, load_variant("hpa-v2"), owner="alice", clock=Clock(),
                               sleep=lambda s: None)
    assert deleted[0] == "HorizontalPodAutoscaler/app-fastapi"
    assert set(deleted) == {"HorizontalPodAutoscaler/app-fastapi", "Deployment/app-fastapi",
                            "Deployment/left-over", "Service/app-fastapi"}
    assert not api.objects


def test_remove_times_out_when_pods_linger(api):
    api.put({"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "p", "labels": {d.OWNER_LABEL: "alice"}}})
    clock = Clock()
    with pytest.raises(BackendError, match="1 pod"):
        d.remove_variant(api, None, owner="alice", timeout=6, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize("variant, autoscaler, deployment, hpa", [
    pytest.param("hpa-v1", "hpa", "app-fastapi", "app-fastapi", id="hpa-v1"),
    pytest.param("hpa-v2", "hpa", "app-fastapi", "app-fastapi", id="hpa-v2"),
    pytest.param("keda", "keda", "app-fastapi", "keda-hpa-app-fastapi", id="keda"),
    pytest.param("knative", "kpa", None, None, id="knative"),
    pytest.param("kserve", "kpa", None, None, id="kserve"),
])
def test_watch_spec_per_variant(variant, autoscaler, deployment, hpa):
    s = d.watch_spec(load_variant(variant))
    assert (s.autoscaler, s.deployment, s.hpa) == (autoscaler, deployment, hpa)
    if deployment:
        assert s.pod_selector == "app=app-fastapi"


def test_knative_revision_resolves_to_its_deployment(api, fixture):
    api.put(fixture("knative-service.json"))
    s = d.resolve(d.watch_spec(load_variant("knative")), api)
    assert s.deployment == "app-knative-00001-deployment"
    assert s.pod_selector == "serving.knative.dev/revision=app-knative-00001"


def test_kserve_watches_the_predictor_service():
    assert d.watch_spec(load_variant("kserve")).knative_service == "custom-model-predictor"


def test_backend_poll_turns_objects_into_samples_and_events(api, fixture):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False)
    api.ready_on_apply = True
    v = b.deploy("hpa-v2")
    assert api.applied[-1] == "HorizontalPodAutoscaler/app-fastapi" and v.name == "hpa-v2"
    api.put(fixture("deployment.json"))
    api.put(fixture("hpa-v2-scaling.json"))
    for pod in fixture("pods.json")["items"]:
        api.put(pod)
    b._t0, b._start_wall = 0.0, __import__("datetime").datetime(2026, 11, 28, 10, 0,
                                                               tzinfo=__import__("datetime").timezone.utc)
    for ev in fixture("events.json")["items"]:
        api.put(ev)
    b._on_stats(None, {"users": 10, "rps": 4.0, "latency_p50": 20.0, "latency_p95": 40.0,
                       "latency_p99": 60.0, "errors": 0})
    row = b.poll()
    assert (row["desired_replicas"], row["ready_replicas"], row["pending_pods"]) == (4, 2, 1)
    tl = b.timeline()
    assert len(tl) == 1 and tl.meta["variant"] == "hpa-v2"
    assert len(tl.events_with("SuccessfulRescale")) == 2
    assert "ValidMetricFound" in set(tl.events.reason)
    b.poll()
    assert len(b.timeline().events_with("SuccessfulRescale")) == 2   # not repeated
    b.close()


def test_run_before_deploy_says_what_to_do(api):
    with pytest.raises(BackendError, match="deploy"):
        KindBackend(api=api, auto_up=False).run(1)


def test_backend_is_registered_for_pick():
    from labkit.backends import base
    base._load_builtin()
    assert base._FACTORIES["kind"] is KindBackend


@pytest.mark.parametrize("variant, url, host", [
    pytest.param("hpa-v1", "http://127.0.0.1:30080", None, id="hpa-v1"),
    pytest.param("keda", "http://127.0.0.1:30081", None, id="keda"),
    pytest.param("knative", "http://127.0.0.1:31080", "app-knative.default.example.com",
                 id="knative"),
    # KServe v0.20.0 ingress_reconciler.go: with disableIstioVirtualHost only the predictor's
    # Knative Service is routed, so the Host is <isvc>-predictor.<ns>.<domain>
    pytest.param("kserve", "http://127.0.0.1:31080", "custom-model-predictor.default.example.com",
                 id="kserve"),
])
def test_load_goes_through_kinds_loopback_port_mappings(variant, url, host):
    got, headers = load_url(variant)
    assert got == url and headers.get("Host") == host


def test_kubectl_equivalents():
    lines = kubectl_equivalents("hpa-v1", owner="alice")
    k = "kubectl --context kind-labkit -n default"
    assert lines[0] == f"{k} apply --server-side -k manifests/hpa-v1"
    assert f"{k} get hpa -w" in lines and f"{k} describe hpa app-fastapi" in lines
    assert lines[-1] == f"{k} delete hpa,deployments,services -l labkit.dev/owner=alice --wait"
    assert any("Host: app-knative.default.example.com" in l for l in kubectl_equivalents("knative"))
    assert f"{k} describe scaledobject app-fastapi" in kubectl_equivalents("keda")


@pytest.mark.parametrize("variant", ["hpa-v1", "hpa-v2", "knative", "kserve", "keda"])
def test_every_printed_kubectl_command_names_its_context(variant):
    lines = kubectl_equivalents(variant, context="workshop", namespace="team-a")
    kubectl = [l for l in lines if l.startswith("kubectl")]
    assert kubectl and all(l.startswith("kubectl --context workshop -n team-a ") for l in kubectl)


def test_the_kserve_host_is_the_url_kserve_reports(fixture):
    """status.url of an InferenceService in Knative mode (kserve v0.20.0 shape) is the Host."""
    from urllib.parse import urlparse
    isvc = fixture("inferenceservice.json")
    assert load_url("kserve")[1]["Host"] == urlparse(isvc["status"]["url"]).hostname
    assert d.object_ready(isvc) == (True, "Ready=True")


def test_kubectl_equivalents_for_the_queue_variants_watch_the_list_and_the_keda_objects():
    k = "kubectl --context kind-labkit -n default"
    queue = kubectl_equivalents("queue")
    assert f"{k} get scaledobject app-worker -w" in queue
    assert f"{k} exec deploy/app-redis -- redis-cli LLEN inference-jobs" in queue
    jobs = kubectl_equivalents("queue-jobs")
    assert f"{k} get jobs -l scaledjob.keda.sh/name=app-batch -w" in jobs
    assert jobs[-1].startswith(f"{k} delete scaledjobs,jobs,deployments,services -l ")


def test_queue_variants_watch_their_workers_or_jobs_and_the_enqueue_api():
    q = d.watch_spec(load_variant("queue"))
    assert (q.autoscaler, q.deployment, q.scaled_object, q.queue_api) == \
        ("keda", "app-worker", "app-worker", "app-fastapi")
    assert q.pod_selector == "app=app-worker"
    j = d.watch_spec(load_variant("queue-jobs"))
    assert (j.autoscaler, j.deployment, j.scaled_job, j.queue_api) == \
        ("scaledjob", None, "app-batch", "app-fastapi")
    assert j.pod_selector == "scaledjob.keda.sh/name=app-batch"
    assert d.watch_spec(load_variant("hpa-v1")).queue_api is None


def test_a_scaledjob_carries_the_owner_label_down_to_its_jobs_pods():
    sj = load_variant("queue-jobs").get("ScaledJob").doc
    out = d.stamp(sj, "alice")
    assert out["metadata"]["labels"][d.OWNER_LABEL] == "alice"          # Jobs copy these
    assert out["spec"]["jobTargetRef"]["template"]["metadata"]["labels"][d.OWNER_LABEL] == \
        "alice"                                                          # their pods these
    assert ("keda.sh/v1alpha1", "ScaledJob") in d.SWEEP_KINDS and ("batch/v1", "Job") in \
        d.SWEEP_KINDS


def _job(name, finished=None, labels=None):
    conds = [{"type": finished, "status": "True"}] if finished else []
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default",
                         "labels": labels or {"scaledjob.keda.sh/name": "app-batch"}},
            "status": {"conditions": conds}}


def _pod(name, phase, ready):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"scaledjob.keda.sh/name": "app-batch"}},
            "spec": {"nodeName": "labkit-control-plane"} if phase != "Pending" else {},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_backend_poll_of_queue_jobs_counts_jobs_and_reads_the_list_from_get_queue(api):
    import json

    b = KindBackend(api=api, auto_up=False, show_kubectl=False)
    b.variant = load_variant("queue-jobs")
    b.spec = d.watch_spec(b.variant)
    for doc in b.variant.objects:
        api.put(doc.doc)
    api.objects[("Deployment", "default", "app-fastapi")]["status"] = {"readyReplicas": 1}
    api.put({"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "app-fastapi-1", "namespace": "default",
                          "labels": {"app": "app-fastapi"}},
             "spec": {"nodeName": "n"},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    for job in (_job("app-batch-a"), _job("app-batch-b"), _job("app-batch-c", "Complete")):
        api.put(job)
    for pod in (_pod("app-batch-a-1", "Running", True), _pod("app-batch-b-1", "Pending", False)):
        api.put(pod)
    asked = []

    def pod_proxy(namespace, pod, port, path):
        asked.append((pod, port, path))
        return json.dumps({"length": 230, "processing": 50, "oldest_age_s": 7.5, "done": 100,
                           "failed": 0, "redelivered": 0})

    api.pod_proxy = pod_proxy
    b._t0 = 0.0
    b._start_wall = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    row = b.poll()
    assert asked == [("app-fastapi-1", 8080, "queue")]
    assert (row["spec_replicas"], row["ready_replicas"], row["pending_pods"]) == (2, 1, 1)
    assert (row["queue_length"], row["oldest_job_age"]) == (230.0, 7.5)
    # KEDA's arithmetic on the same LLEN: ceil(230 / listLength 50) Jobs, at most 10
    assert (row["desired_replicas"], row["metric_value"], row["metric_target"]) == (5, 230, 50)
    assert row["metric_name"] == "inference-jobs list length"


def test_an_unreadable_queue_gives_one_warning_and_no_queue_values(api):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False)
    b.variant = load_variant("queue")
    b.spec = d.watch_spec(b.variant)
    for doc in b.variant.objects:
        api.put(doc.doc)
    b._t0 = 0.0
    b._start_wall = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    row = b.poll()
    b.poll()
    assert row["queue_length"] != row["queue_length"]   # NaN: not read
    warn = b.timeline().events_with("QueueStatsUnavailable")
    assert len(warn) == 1 and "no ready pod of Deployment/app-fastapi" in warn.message[0]
