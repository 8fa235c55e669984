"""Knative revisions on the twin: the containerConcurrency limit and the HPA class."""

from __future__ import annotations

import copy

from labkit.autoscalers.knative_hpa import knative_hpa_manifest
from labkit.backends.sim import SimBackend
from labkit.load import Constant
from labkit.manifests import load_variant

A = "autoscaling.knative.dev/"


def _knative(cc: int | None = None, **annotations: str):
    v = load_variant("knative")
    doc = copy.deepcopy(v.get("Service").doc)
    template = doc["spec"]["template"]
    if cc is not None:
        template["spec"]["containerConcurrency"] = cc
    ann = template["metadata"]["annotations"]
    for key, value in annotations.items():
        key = A + key.rstrip("_").replace("_", "-")
        if value is None:
            ann.pop(key, None)
        else:
            ann[key] = value
    return v.replace(doc)


def _overload(variant, users: int = 100, duration: float = 120):
    b = SimBackend()
    b.deploy(variant)
    b.load(Constant(users=users, duration=duration, spawn_rate=users))
    return b, b.run(duration)


def test_activator_overload_queues_and_serves_every_request():
    """knative/serving knative-v1.23.0 ``test/e2e/activator_test.go`` (``TestActivatorOverload``):
    containerConcurrency 1, max-scale 10, target-burst-capacity -1 (the activator always in
    the path), 100 concurrent clients: every response is 200; the revision scales to max."""
    b, tl = _overload(_knative(1, max_scale="10", target_burst_capacity="-1"))
    assert tl.samples.errors.sum() == 0
    assert tl.samples.spec_replicas.max() == 10
    assert b.world.autoscalers[0].pa.sks_mode == "Proxy"


def test_without_the_activator_the_queue_proxy_refuses_what_its_breaker_cannot_hold():
    """knative/serving knative-v1.23.0 ``pkg/queue/sharedmain/main.go`` (``buildBreaker``: queue
    depth 10 x containerConcurrency) and ``pkg/queue/breaker.go`` ("pending request queue full",
    503 in ``pkg/queue/handler.go``): one pod (min = max = 1), target-burst-capacity 0 so the
    activator leaves the path, containerConcurrency 1 -> at most 11 requests at the pod, the
    other users get 503s; with containerConcurrency 0 (no limit) they wait instead."""
    pinned = {"min_scale": "1", "max_scale": "1", "target_burst_capacity": "0"}
    b, limited = _overload(_knative(1, **pinned))
    assert b.world.autoscalers[0].pa.sks_mode == "Serve"
    _, unlimited = _overload(_knative(0, **pinned))
    late = limited.samples.time > 30
    assert limited.samples[late].errors.sum() > 100
    assert unlimited.samples.errors.sum() == 0
    assert (limited.samples[late].latency_p95.median()
            < unlimited.samples[late].latency_p95.median() / 2)


def test_the_hpa_class_makes_an_hpa_like_knatives_make_hpa():
    """``pkg/reconciler/autoscaling/hpa/resources/hpa.go`` (``MakeHPA``): named after the
    revision, cpu target -> Utilization ceil(target), window -> both stabilization windows,
    max-scale 0 -> no limit, min-scale 0 -> the API default (1)."""
    hpa = knative_hpa_manifest("app-00001", "app-00001-deployment", {
        A + "class": "hpa.autoscaling.knative.dev", A + "metric": "cpu", A + "target": "74.5",
        A + "window": "20s"})
    assert hpa["metadata"]["name"] == "app-00001"
    assert hpa["spec"]["maxReplicas"] == 2**31 - 1 and "minReplicas" not in hpa["spec"]
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization", "averageUtilization": 75}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 20
    mem = knative_hpa_manifest("r", "d", {A + "metric": "memory", A + "target": "200",
                                          A + "maxScale": "4", A + "minScale": "2"})
    assert mem["spec"]["metrics"][0]["resource"]["target"]["averageValue"] == "200Mi"
    assert (mem["spec"]["minReplicas"], mem["spec"]["maxReplicas"]) == (2, 4)


def test_hpa_class_autoscale_up_down_up():
    """knative/serving knative-v1.23.0 ``test/e2e/autoscale_hpa_test.go``
    (``TestHPAAutoscaleUpDownUp``): class hpa, metric cpu, target 75, max-scale 10, window
    20s; CPU-heavy load scales the revision to at least 5 pods, without it back to 1 (never
    0: the HPA class does not scale to zero), then up again. The CPU comes from a fixed
    consumer (the e2e test computes primes): 1000m over 200m requests at 75 % -> 7 pods."""
    b = SimBackend()
    b.deploy(_knative(class_="hpa.autoscaling.knative.dev", metric="cpu", target="75",
                      max_scale="10", window="20s", scale_down_delay=None,
                      scale_to_zero_pod_retention_period=None))
    b.consume(cpu_millicores=1000)
    assert b.run(180).samples.spec_replicas.iloc[-1] >= 5
    b.consume(cpu_millicores=0)
    tl = b.run(240)
    quiet = tl.samples[tl.samples.time > 180]
    assert quiet.spec_replicas.iloc[-1] == 1 and quiet.spec_replicas.min() == 1
    b.consume(cpu_millicores=1000)
    assert b.run(180).samples.spec_replicas.iloc[-1] >= 5
    assert tl.events_with("SuccessfulRescale").object.iloc[0] == \
        "HorizontalPodAutoscaler/app-knative-00001"


def _template_edit(**annotations: str) -> dict:
    return copy.deepcopy(_knative(**annotations).get("Service").doc)


def test_an_annotation_edit_is_a_new_revision_and_the_route_moves_without_errors():
    """knative/serving knative-v1.23.0 ``test/conformance/api/v1/service_test.go``
    (``TestServiceCreateAndUpdate``): updating the revision template's annotations creates the
    next revision, which becomes the latest ready one, while a prober sees the route healthy
    throughout. Here the concurrency target drops from 10 to 2 under steady load: revision
    00002 starts, takes the traffic once Ready, scales for the new target; 00001, unreachable,
    goes to zero although min-scale would keep it."""
    b = SimBackend()
    b.deploy(_knative(min_scale="1"))
    b.load(Constant(users=100, duration=600, spawn_rate=100))
    first = b.world.autoscalers[0]
    before = b.run(120).samples
    lines = b.apply(_template_edit(min_scale="1", target="2"))
    assert lines == ["service.serving.knative.dev/app-knative configured"]
    tl = b.run(240)
    second = b.world.autoscalers[0]
    assert second is not first and second.revision == "app-knative-00002"
    created = tl.events_with("Created")
    assert list(created.message) == ['Created Revision "app-knative-00002"']
    assert tl.samples.errors.sum() == 0
    assert tl.samples.spec_replicas.iloc[-1] > before.spec_replicas.iloc[-1]
    assert first.target.spec_replicas == 0            # unreachable: min-scale no longer holds


def test_min_scale_alias_on_a_running_service_keeps_pods_after_the_load_stops():
    """The camelCase alias Knative 1.23 still reads (``minScale``, ``pkg/apis/autoscaling/
    register.go``) applied to a running Service: the new revision starts at 3 pods and keeps
    them with no traffic, where the first one scaled to zero. The kebab-case key wins when both
    are set (``kmap.KeyPriority``), so the shipped ``min-scale: "0"`` must go."""
    b = SimBackend()
    b.deploy(_knative())
    assert b.run(200).samples.spec_replicas.iloc[-1] == 0
    b.apply(_template_edit(min_scale="0", minScale="3"))
    b.run(100)
    assert b.world.autoscalers[0].settings.min_scale == 0          # min-scale "0" still wins
    b.apply(_template_edit(min_scale=None, minScale="3"))
    tl = b.run(300)
    assert (tl.samples[tl.samples.time > 330].spec_replicas == 3).all()
    assert b.world.autoscalers[0].settings.min_scale == 3
    assert [a.revision for a in b.world.autoscalers] == ["app-knative-00003"]


def test_an_inference_service_edit_rolls_out_a_new_predictor_revision():
    """KServe reconciles its Knative Service from the edited InferenceService (kserve/kserve
    v0.20.0 ``pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go``:
    ``minReplicas`` -> ``min-scale``), which Knative turns into the predictor's next revision:
    minReplicas 0 -> 2 keeps two pods with no traffic."""
    v = load_variant("kserve")
    b = SimBackend()
    b.deploy(v)
    assert b.run(200).samples.spec_replicas.iloc[-1] == 0
    isvc = copy.deepcopy(v.get("InferenceService").doc)
    isvc["spec"]["predictor"]["minReplicas"] = 2
    assert b.apply(isvc) == ["inferenceservice.serving.kserve.io/custom-model configured"]
    tl = b.run(200)
    assert tl.samples.spec_replicas.iloc[-1] == 2
    assert b.world.autoscalers[0].revision.endswith("-00002")
