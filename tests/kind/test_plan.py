"""The kind config and the add-on install plan: exact versions, URLs, patches and waits."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from labkit.backends.kind import cluster, versions as v


def test_kind_config_pins_the_node_image_and_maps_ports_on_loopback():
    cfg = cluster.kind_config()
    assert cfg["name"] == "labkit"
    assert [n["image"] for n in cfg["nodes"]] == [v.KIND_NODE_IMAGE]
    ports = {m["containerPort"]: m for n in cfg["nodes"] for m in n["extraPortMappings"]}
    for port in (30080, 30081, 31080):
        assert ports[port]["hostPort"] == port
        assert ports[port]["listenAddress"] == "127.0.0.1"


def test_cluster_yaml_shows_learners_the_same_pinned_image():
    text = (cluster.REPO / "manifests" / "kind" / "cluster.yaml").read_text()
    assert f"image: {v.KIND_NODE_IMAGE}" in text


def test_node_image_is_pinned_by_digest_for_kind_v0_33():
    assert re.fullmatch(r"kindest/node:v1\.36\.\d+@sha256:[0-9a-f]{64}", v.KIND_NODE_IMAGE)
    assert v.KIND_VERSION == "v0.33.0"
    assert v.KIND_NODE_IMAGE.split("@")[0].endswith(v.KUBERNETES_VERSION)


@pytest.mark.parametrize("listen, message", [
    pytest.param("0.0.0.0", "127.0.0.1 only", id="all-interfaces"),
    pytest.param(None, "127.0.0.1 only", id="default-listen-address"),
])
def test_kind_config_refuses_ports_open_to_the_network(tmp_path, listen, message):
    cfg = yaml.safe_load((cluster.REPO / "manifests" / "kind" / "cluster.yaml").read_text())
    m = cfg["nodes"][0]["extraPortMappings"][0]
    if listen is None:
        m.pop("listenAddress")
    else:
        m["listenAddress"] = listen
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(Exception, match=message):
        cluster.kind_config(path)


def test_written_config_is_what_kind_reads(tmp_path):
    path = cluster.write_kind_config(tmp_path)
    assert yaml.safe_load(path.read_text()) == cluster.kind_config()


@pytest.mark.parametrize("profile, addons", [
    pytest.param("hpa", ["metrics-server"], id="hpa"),
    pytest.param("knative", ["metrics-server", "knative"], id="knative"),
    pytest.param("keda", ["metrics-server", "keda"], id="keda"),
    pytest.param("kserve", ["metrics-server", "knative", "cert-manager", "kserve"], id="kserve"),
    pytest.param("all", ["metrics-server", "knative", "cert-manager", "kserve", "keda"],
                 id="all"),
])
def test_profiles_install_exactly_their_addons(profile, addons):
    plan = cluster.install_plan(profile)
    seen = list(dict.fromkeys(s.addon for s in plan.steps if s.addon not in ("app", "cluster")))
    assert seen == addons
    assert plan.actions()[:3] == ["build", "kind-create", "kind-load"]
    # every add-on ends by recording its pinned version
    for addon in addons:
        assert plan.of(addon)[-1].action == "record"
        assert plan.of(addon)[-1].version == v.addon_versions()[addon]


EXPECTED_URLS = {
    "metrics-server": ["https://github.com/kubernetes-sigs/metrics-server/releases/download/"
                       "v0.9.0/components.yaml"],
    "knative": ["https://github.com/knative/serving/releases/download/knative-v1.23.0/"
                "serving-crds.yaml",
                "https://github.com/knative/serving/releases/download/knative-v1.23.0/"
                "serving-core.yaml",
                "https://github.com/knative-extensions/net-kourier/releases/download/"
                "knative-v1.23.0/kourier.yaml"],
    "cert-manager": ["https://github.com/cert-manager/cert-manager/releases/download/v1.21.1/"
                     "cert-manager.yaml"],
    "kserve": ["https://github.com/kserve/kserve/releases/download/v0.20.0/kserve.yaml",
               "https://github.com/kserve/kserve/releases/download/v0.20.0/"
               "kserve-cluster-resources.yaml"],
    "keda": ["https://github.com/kedacore/keda/releases/download/v2.20.2/keda-2.20.2.yaml"],
}


@pytest.mark.parametrize("addon", list(EXPECTED_URLS))
def test_addons_apply_the_pinned_release_manifests_server_side(addon):
    steps = cluster.install_plan("all").of(addon)
    applies = [s for s in steps if s.action == "apply"]
    assert [s.url for s in applies] == EXPECTED_URLS[addon]
    for s in applies:
        assert s.argv == ("kubectl", "--context", "kind-labkit", "apply", "--server-side",
                          "--force-conflicts", "-f", s.url)


def test_metrics_server_is_patched_for_kind_kubelets_then_waited_for():
    steps = cluster.install_plan("hpa").of("metrics-server")
    assert [s.action for s in steps] == ["apply", "patch", "wait", "wait", "record"]
    patch = steps[1]
    assert patch.argv[:7] == ("kubectl", "--context", "kind-labkit", "-n", "kube-system",
                              "patch", "deployment/metrics-server")
    values = [op["value"] for op in patch.patch["body"]]
    # --metric-resolution=15s is already in metrics-server v0.9.0's manifests/base/deployment.yaml
    assert values == ["--kubelet-insecure-tls"]
    assert json.loads(patch.argv[-1]) == patch.patch["body"]
    assert "rollout" in steps[2].argv and "apiservice/v1beta1.metrics.k8s.io" in steps[3].argv


def _patches(addon: str) -> dict[str, dict]:
    return {s.argv[6] + "@" + s.argv[4]: s.patch for s in cluster.install_plan("all").of(addon)
            if s.action == "patch"}


def test_knative_is_wired_to_kourier_on_nodeport_31080_with_example_com():
    p = _patches("knative")
    assert p["configmap/config-network@knative-serving"]["body"] == {
        "data": {"ingress-class": "kourier.ingress.networking.knative.dev"}}
    assert p["configmap/config-domain@knative-serving"]["body"] == {"data": {"example.com": ""}}
    tags = p["configmap/config-deployment@knative-serving"]["body"]["data"][
        "registries-skipping-tag-resolving"]
    assert "index.docker.io" in tags.split(",")
    svc = p["service/kourier@kourier-system"]
    assert svc["type"] == "strategic"
    assert svc["body"]["spec"] == {"type": "NodePort", "ports": [{"port": 80, "nodePort": 31080}]}


def test_knative_components_get_laptop_sized_requests():
    p = _patches("knative")
    sized = {k: v["body"]["spec"]["template"]["spec"]["containers"][0]
             for k, v in p.items() if k.startswith("deployment/")}
    assert set(sized) == {"deployment/activator@knative-serving",
                          "deployment/autoscaler@knative-serving",
                          "deployment/controller@knative-serving",
                          "deployment/webhook@knative-serving",
                          "deployment/net-kourier-controller@knative-serving",
                          "deployment/3scale-kourier-gateway@kourier-system"}
    for c in sized.values():
        cpu = c["resources"]["requests"]["cpu"]
        assert cpu.endswith("m") and int(cpu[:-1]) <= 50


def test_kserve_runs_in_knative_mode_without_istio_virtual_hosts():
    steps = cluster.install_plan("kserve").of("kserve")
    merge = next(s for s in steps if s.action == "merge-json-config")
    assert merge.patch == {"deploy": {"defaultDeploymentMode": "Knative"},
                           "ingress": {"disableIstioVirtualHost": True}}
    # KServe needs cert-manager's webhook before its own manifests
    order = [s.addon for s in cluster.install_plan("kserve").steps]
    assert order.index("cert-manager") < order.index("kserve")
    assert order.index("knative") < order.index("kserve")


@pytest.mark.parametrize("addon, namespace", [
    pytest.param("knative", "knative-serving", id="knative"),
    pytest.param("cert-manager", "cert-manager", id="cert-manager"),
    pytest.param("keda", "keda", id="keda"),
])
def test_each_addon_waits_for_its_deployments(addon, namespace):
    waits = [s for s in cluster.install_plan("all").of(addon) if s.action == "wait"]
    assert any(s.argv[4] == namespace and "--for=condition=Available" in s.argv for s in waits)
    assert all(any(a.startswith("--timeout=") for a in s.argv) for s in waits)


def test_installed_addons_and_existing_cluster_are_skipped():
    installed = v.addon_versions()
    plan = cluster.install_plan("all", cluster_exists=True, installed=installed,
                                image_exists=True)
    assert plan.actions() == ["kind-load"]
    assert not plan.creates_cluster
    assert any("knative" in s for s in plan.skipped)


def test_an_addon_at_another_version_is_reinstalled():
    installed = {**v.addon_versions(), "keda": "2.19.0"}
    plan = cluster.install_plan("all", cluster_exists=True, installed=installed,
                                image_exists=True)
    assert {s.addon for s in plan.steps} == {"app", "keda"}


def test_unknown_profile_is_refused_with_the_choices():
    with pytest.raises(Exception, match="hpa, knative, keda, kserve, all"):
        cluster.install_plan("istio")


def test_record_step_applies_one_key_with_its_own_field_manager():
    rec = cluster.install_plan("keda").of("keda")[-1]
    assert "--field-manager=labkit-keda" in rec.argv
    doc = yaml.safe_load(rec.input)
    assert doc["metadata"] == {"name": "labkit-addons", "namespace": "kube-system",
                               "labels": {"app.kubernetes.io/managed-by": "labkit"}}
    assert doc["data"] == {"keda": "2.20.2"}


def test_describe_prints_every_command():
    plan = cluster.install_plan("hpa")
    text = plan.describe()
    for s in plan.steps:
        assert s.command()[:40] in text
