"""The HPA controller's flags come from the kind cluster config, on the twin as on kind."""

from __future__ import annotations

import pytest

from labkit.autoscalers.controller_flags import controller_config
from labkit.backends.sim import SimBackend
from labkit.errors import ManifestError
from labkit.manifests import ManifestObject, load_variant

PATCH_V1BETA3 = """kind: ClusterConfiguration
controllerManager:
  extraArgs:
    horizontal-pod-autoscaler-sync-period: "5s"
    horizontal-pod-autoscaler-downscale-stabilization: "1m"
"""
PATCH_V1BETA4 = """kind: ClusterConfiguration
controllerManager:
  extraArgs:
  - name: horizontal-pod-autoscaler-tolerance
    value: "0.05"
  - name: horizontal-pod-autoscaler-sync-period
    value: "5s"
"""


def _cluster(*patches: str) -> dict:
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": "labkit",
            "nodes": [{"role": "control-plane"}], "kubeadmConfigPatches": list(patches)}


def test_both_kubeadm_forms_of_extra_args_are_read():
    c = controller_config(_cluster(PATCH_V1BETA3))
    assert (c.sync_period, c.downscale_stabilization, c.tolerance) == (5.0, 60.0, 0.1)
    c = controller_config(_cluster(PATCH_V1BETA4))
    assert (c.sync_period, c.tolerance) == (5.0, 0.05)
    assert controller_config(None).sync_period == 15.0     # upstream's default
    with pytest.raises(ManifestError, match="sync-period"):
        controller_config(_cluster(PATCH_V1BETA3.replace('"5s"', '"soon"')))


def test_the_twin_syncs_the_hpa_at_the_clusters_sync_period():
    """``--horizontal-pod-autoscaler-sync-period`` (spec §1.2, default 15 s): with 5 s in the
    cluster config, a Pods metric that doubles the wanted pods at each sync moves 2 -> 4 -> 8
    five seconds apart."""
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "app-fastapi"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "app-fastapi"},
                    "minReplicas": 1, "maxReplicas": 10,
                    "metrics": [{"type": "Pods", "pods": {
                        "metric": {"name": "packets-per-second"},
                        "target": {"type": "AverageValue", "averageValue": "1k"}}}]}}
    v = load_variant("hpa-v1").replace(hpa)
    v = v.replace(ManifestObject(v.path, 99, _cluster(PATCH_V1BETA3)), append=True)
    b = SimBackend()
    b.set_metric("packets-per-second", 2000, source="Pods")
    b.deploy(v)
    times = list(b.run(60).events_with("SuccessfulRescale").time[:3])
    assert times[1] - times[0] == 5 and times[2] - times[1] == 5
