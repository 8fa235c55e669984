"""A variant's config-autoscaler is merged into Knative's own ConfigMap, and taken out again."""

from __future__ import annotations

import pytest

from labkit.backends.kind import deploy as d
from labkit.backends.kind.backend import KindBackend
from labkit.errors import BackendError
from labkit.manifests import load_variant

CONFIG = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "config-autoscaler", "namespace": "knative-serving"},
          "data": {"enable-scale-to-zero": "false", "stable-window": "30s"}}
SHIPPED = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "config-autoscaler", "namespace": "knative-serving",
                        "labels": {"app.kubernetes.io/name": "knative-serving"}},
           "data": {"_example": "# the documentation of every key"}}


def _variant():
    return load_variant("knative").replace(CONFIG, append=True)


def test_deploy_merges_the_keys_and_removal_takes_them_out(api):
    api.put(SHIPPED, "knative-serving")    # Knative's install made it; it is not labkit's
    d.apply_variant(api, _variant(), owner="alice")
    sent = api.objects[("ConfigMap", "knative-serving", "config-autoscaler")]
    assert sent["data"] == CONFIG["data"]                       # only the variant's keys
    assert d.OWNER_LABEL not in (sent["metadata"].get("labels") or {})   # merged, not owned
    d.remove_variant(api, _variant(), owner="alice")
    assert api.objects[("ConfigMap", "knative-serving", "config-autoscaler")]["data"] == {}
    assert "ConfigMap/config-autoscaler" not in api.deleted     # Knative's object stays


def test_a_shared_cluster_refuses_cluster_wide_configuration(api):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice",
                    context="workshop")
    with pytest.raises(BackendError, match="cluster-wide"):
        b.apply(CONFIG)
    with pytest.raises(BackendError, match="cluster-wide"):
        d.apply_variant(api, _variant(), owner="alice", shared=True)
    assert api.applied == []                                    # refused before any change


def test_apply_on_labkits_own_cluster_says_serverside_applied(api):
    b = KindBackend(api=api, auto_up=False, show_kubectl=False, owner="alice")
    assert b.apply(CONFIG) == ["configmap/config-autoscaler serverside-applied"]


def _with_cluster(flags: dict[str, str] | None):
    from labkit.manifests import ManifestObject
    cluster = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": "labkit",
               "nodes": [{"role": "control-plane"}]}
    if flags:
        cluster["kubeadmConfigPatches"] = [
            "kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n"
            + "".join(f"    {k}: \"{v}\"\n" for k, v in flags.items())]
    v = load_variant("hpa-v1")
    return v.replace(ManifestObject(v.path, 99, cluster), append=True)


def test_a_kind_cluster_config_in_a_variant_is_never_sent_to_the_api(api):
    """It says how the cluster was made (the twin reads its HPA flags); on kind it must agree
    with manifests/kind/cluster.yaml, which labkit up used."""
    api.ready_on_apply = True
    assert "Cluster/labkit" not in d.apply_variant(api, _with_cluster(None), owner="alice")
    assert not any(a.startswith("Cluster/") for a in api.applied)
    d.wait_ready(api, _with_cluster(None))
    with pytest.raises(BackendError, match="labkit down && labkit up"):
        d.apply_variant(api, _with_cluster({"horizontal-pod-autoscaler-sync-period": "5s"}),
                        owner="alice")
