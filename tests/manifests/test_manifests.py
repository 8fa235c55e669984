"""Loading manifests: variants, kustomizations, edits, and errors that name file and line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from labkit.errors import ManifestError
from labkit.manifests import (VARIANTS, ManifestObject, load_objects, load_variant, manifests_dir,
                              variant_from_yaml)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("variant, refs", [
    pytest.param("hpa-v1", ["Deployment/app-fastapi", "Service/app-fastapi",
                            "HorizontalPodAutoscaler/app-fastapi"], id="hpa-v1"),
    pytest.param("hpa-v2", ["Deployment/app-fastapi", "Service/app-fastapi",
                            "HorizontalPodAutoscaler/app-fastapi"], id="hpa-v2"),
    pytest.param("knative", ["Service/app-knative"], id="knative"),
    pytest.param("kserve", ["InferenceService/custom-model"], id="kserve"),
    pytest.param("keda", ["Deployment/app-fastapi", "Service/app-fastapi", "Deployment/app-gateway",
                          "Service/app-gateway", "ScaledObject/app-fastapi"], id="keda"),
    pytest.param("queue", ["Deployment/app-fastapi", "Service/app-fastapi", "Deployment/app-redis",
                           "Service/app-redis", "Deployment/app-worker",
                           "ScaledObject/app-worker"], id="queue"),
    pytest.param("queue-jobs", ["Deployment/app-fastapi", "Service/app-fastapi",
                                "Deployment/app-redis", "Service/app-redis",
                                "ScaledJob/app-batch"], id="queue-jobs"),
])
def test_every_variant_loads_its_objects(variant, refs):
    v = load_variant(variant)
    assert v.name == variant
    assert [o.ref for o in v.objects] == refs
    assert variant in VARIANTS


@pytest.mark.parametrize("variant, kind, name, check", [
    pytest.param("hpa-v1", "HorizontalPodAutoscaler", None,
                 lambda d: (d["apiVersion"], d["spec"]["minReplicas"], d["spec"]["maxReplicas"],
                            d["spec"]["targetCPUUtilizationPercentage"]) == ("autoscaling/v1", 1, 10, 50),
                 id="hpa-v1-course-values"),
    pytest.param("hpa-v2", "HorizontalPodAutoscaler", None,
                 lambda d: d["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Max"
                 and d["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
                 and [m["resource"]["target"]["averageUtilization"] for m in d["spec"]["metrics"]] == [70, 80],
                 id="hpa-v2-course-values"),
    pytest.param("hpa-v1", "Deployment", "app-fastapi",
                 lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]
                 == {"requests": {"cpu": "200m", "memory": "512Mi"},
                     "limits": {"cpu": "500m", "memory": "768Mi"}},
                 id="base-requests-and-limits"),
    pytest.param("hpa-v1", "Service", "app-fastapi",
                 lambda d: (d["spec"]["type"], d["spec"]["ports"][0]["nodePort"]) == ("NodePort", 30080),
                 id="base-nodeport-30080"),
    pytest.param("keda", "Service", "app-gateway",
                 lambda d: d["spec"]["ports"][0]["nodePort"] == 30081, id="gateway-nodeport-30081"),
    pytest.param("keda", "Deployment", "app-gateway",
                 lambda d: d["spec"]["template"]["spec"]["containers"][0]["command"]
                 == ["python", "-m", "app.gateway"], id="gateway-command"),
    pytest.param("keda", "ScaledObject", None,
                 lambda d: d["spec"]["minReplicaCount"] == 0
                 and d["spec"]["triggers"][0]["metadata"]["url"] == "http://app-gateway.default.svc:8080/stats",
                 id="keda-scale-to-zero-on-gateway-stats"),
    pytest.param("kserve", "InferenceService", None,
                 lambda d: d["spec"]["predictor"]["minReplicas"] == 0
                 and d["spec"]["predictor"]["containers"][0]["name"] == "kserve-container",
                 id="kserve-min-zero"),
])
def test_variant_content(variant, kind, name, check):
    assert check(load_variant(variant).get(kind, name).doc)


def test_kind_config_pins_node_image_and_binds_loopback():
    (cluster,) = load_objects(REPO / "manifests" / "kind" / "cluster.yaml")
    node = cluster.doc["nodes"][0]
    assert cluster.ref == "Cluster/labkit"
    from labkit.backends.kind.versions import KIND_NODE_IMAGE, KUBERNETES_VERSION
    from labkit.validate import KUBE_VERSION

    assert "@sha256:" in node["image"] and node["image"] == KIND_NODE_IMAGE
    # the offline schema is the cluster's minor version
    assert KUBERNETES_VERSION.lstrip("v").split(".")[:2] == KUBE_VERSION.split(".")[:2]
    assert {(m["containerPort"], m["listenAddress"]) for m in node["extraPortMappings"]} == {
        (30080, "127.0.0.1"), (30081, "127.0.0.1"), (31080, "127.0.0.1")}


def test_object_properties():
    obj = load_variant("hpa-v1").get("HorizontalPodAutoscaler")
    assert (obj.kind, obj.name, obj.api_version, obj.namespace) == (
        "HorizontalPodAutoscaler", "app-fastapi", "autoscaling/v1", "default")
    assert obj.path.name == "hpa.yaml" and obj.index == 0


def test_manifests_dir_follows_env(tmp_path, monkeypatch):
    assert manifests_dir() == REPO / "manifests"
    (tmp_path / "hpa-v1").mkdir()
    (tmp_path / "hpa-v1" / "hpa.yaml").write_text(
        (REPO / "manifests" / "hpa-v1" / "hpa.yaml").read_text())
    monkeypatch.setenv("LABKIT_MANIFESTS", str(tmp_path))
    assert manifests_dir() == tmp_path
    assert [o.ref for o in load_variant("hpa-v1").objects] == ["HorizontalPodAutoscaler/app-fastapi"]


def test_get_names_the_variant_when_missing_or_ambiguous():
    v = load_variant("keda")
    with pytest.raises(ManifestError, match="variant 'keda' has no HorizontalPodAutoscaler"):
        v.get("HorizontalPodAutoscaler")
    with pytest.raises(ManifestError, match="variant 'keda' has 2 objects matching a Deployment"):
        v.get("Deployment")
    assert v.get("Deployment", "app-gateway").name == "app-gateway"


def test_replace_returns_an_edited_copy():
    v = load_variant("hpa-v1")
    doc = copy.deepcopy(v.get("HorizontalPodAutoscaler").doc)
    doc["spec"]["maxReplicas"] = 3
    edited = v.replace(doc)
    assert edited.get("HorizontalPodAutoscaler").doc["spec"]["maxReplicas"] == 3
    assert v.get("HorizontalPodAutoscaler").doc["spec"]["maxReplicas"] == 10
    assert edited.get("HorizontalPodAutoscaler").path == v.get("HorizontalPodAutoscaler").path
    with pytest.raises(ManifestError, match="no Deployment/other to replace"):
        v.replace({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other"}})


def test_overrides_replace_same_kind_and_name_and_append_others():
    hpa = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "app-fastapi"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "app-fastapi"}, "maxReplicas": 4}}
    v = load_variant("hpa-v1", overrides=[hpa])
    assert len(v.objects) == 3
    assert v.get("HorizontalPodAutoscaler").doc["spec"]["maxReplicas"] == 4
    v2 = load_variant("knative", overrides=[hpa])
    assert [o.ref for o in v2.objects][-1] == "HorizontalPodAutoscaler/app-fastapi"


def test_variant_from_yaml_reads_pasted_text():
    text = (REPO / "manifests" / "hpa-v1" / "hpa.yaml").read_text()
    v = variant_from_yaml("my-hpa", text + "\n---\n")
    assert v.name == "my-hpa" and [o.ref for o in v.objects] == ["HorizontalPodAutoscaler/app-fastapi"]
    with pytest.raises(ManifestError, match="<my-hpa>:4: invalid YAML, line 4"):
        variant_from_yaml("my-hpa", "kind: Deployment\nmetadata:\n  name: [oops\n")


@pytest.mark.parametrize("text, needle", [
    pytest.param("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n spec: {}\n",
                 "bad.yaml:5", id="bad-indent-names-line"),
    pytest.param("apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n", "bad.yaml:4", id="tab"),
    pytest.param("apiVersion: v1\nkind: Service\nkind: Pod\nmetadata: {name: x}\n",
                 "duplicate key 'kind'", id="duplicate-key"),
    pytest.param("apiVersion: v1\nmetadata: {name: x}\n", "has no kind", id="no-kind"),
    pytest.param("apiVersion: v1\nkind: Service\nmetadata: {}\n", "has no metadata.name",
                 id="no-name"),
    pytest.param("- just\n- a list\n", "not a mapping", id="not-a-mapping"),
])
def test_malformed_yaml_names_file_and_line(tmp_path, text, needle):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ManifestError) as e:
        load_objects(tmp_path / "bad.yaml")
    assert "bad.yaml" in str(e.value) and needle in str(e.value)


def test_missing_file_and_unknown_variant(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        load_objects(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError, match="unknown variant 'hpa-v3': expected one of hpa-v1"):
        load_variant("hpa-v3")


@pytest.mark.parametrize("kustomization, needle", [
    pytest.param("resources: [hpa.yaml]\npatches:\n  - path: p.yaml\n", "also uses patches",
                 id="patches-refused"),
    pytest.param("resources: [missing.yaml]\n", "'missing.yaml' does not exist", id="missing-entry"),
    pytest.param("resources: [https://example.com/x.yaml]\n", "cannot be read offline", id="remote"),
    pytest.param("resources: [.]\n", "kustomization cycle", id="cycle"),
])
def test_kustomization_problems_name_the_field(tmp_path, kustomization, needle):
    (tmp_path / "hpa.yaml").write_text((REPO / "manifests" / "hpa-v1" / "hpa.yaml").read_text())
    (tmp_path / "kustomization.yaml").write_text(kustomization)
    with pytest.raises(ManifestError) as e:
        load_objects(tmp_path)
    assert needle in str(e.value) and "kustomization.yaml" in str(e.value)


def test_plain_directory_reads_yaml_files_in_order(tmp_path):
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: b}\n")
    (tmp_path / "a.yml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n"
                                    "apiVersion: v1\nkind: Service\nmetadata: {name: a2}\n")
    (tmp_path / "notes.txt").write_text("not yaml")
    objs = load_objects(tmp_path)
    assert [(o.name, o.index, o.line) for o in objs] == [("a", 0, 1), ("a2", 1, 5), ("b", 0, 1)]
    assert isinstance(objs[0], ManifestObject)


def _env(doc: dict) -> dict:
    spec = doc["spec"].get("jobTargetRef", doc["spec"])
    (c,) = spec["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in c.get("env", [])}


@pytest.mark.parametrize("variant, scaler", [("queue", "ScaledObject"), ("queue-jobs", "ScaledJob")])
def test_queue_variants_agree_on_redis_and_the_list_name(variant, scaler):
    """The KEDA redis trigger (metadata keys of kedacore/keda v2.20.2
    pkg/scalers/redis_scaler.go) reads the list the API fills and the workers drain."""
    v = load_variant(variant)
    trigger = v.get(scaler).doc["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert meta["address"].split(".")[0] == "app-redis" and meta["address"].endswith(":6379")
    api = _env(v.get("Deployment", "app-fastapi").doc)
    workers = v.get("Deployment", "app-worker").doc if variant == "queue" else \
        v.get("ScaledJob").doc
    for env in (api, _env(workers)):
        assert env["APP_REDIS_URL"] == "redis://app-redis:6379/0"
        assert env["APP_QUEUE"] == meta["listName"]
    image = v.get("Deployment", "app-redis").doc["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "redis:7.0.15-bookworm"  # pinned, never :latest
    if variant == "queue":
        spec = v.get("ScaledObject").doc["spec"]
        assert (spec["minReplicaCount"], spec["cooldownPeriod"], meta["activationListLength"]) == \
            (0, 60, "0")
    else:
        spec = v.get("ScaledJob").doc["spec"]
        command = spec["jobTargetRef"]["template"]["spec"]["containers"][0]["command"]
        assert command[:4] == ["python", "-m", "app.worker", "--batch"]
        assert command[4] == meta["listLength"]  # one Job per batch of listLength jobs
        assert spec["scalingStrategy"]["strategy"] == "accurate"
        assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (5, 5)
