"""The HPA controller's kube-controller-manager flags, read from a kind cluster config.

On kind, kube-controller-manager's flags are set when the cluster is made, through a kubeadm
``ClusterConfiguration`` patch in the kind config (``kubeadmConfigPatches``), e.g.::

    kubeadmConfigPatches:
    - |
      kind: ClusterConfiguration
      controllerManager:
        extraArgs:
          horizontal-pod-autoscaler-sync-period: "5s"

``extraArgs`` is a map in kubeadm's v1beta3 API and a list of ``{name, value}`` in v1beta4; both
are read. The flags and their defaults are spec §1.2 [K-CFG]
(``pkg/controller/podautoscaler/config/v1alpha1/defaults.go``,
``cmd/kube-controller-manager/app/options/hpacontroller.go``); unknown flags are left to
kube-controller-manager. The twin and the kind cluster (``labkit up``) read the same file, so
they run the HPA with the same flags; changing them on kind needs a new cluster.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import yaml

from ..errors import ManifestError
from .hpa_controller import ControllerConfig
from .knative_settings import parse_duration

#: flag -> (ControllerConfig field, parser)
FLAGS = {
    "horizontal-pod-autoscaler-sync-period": ("sync_period", "duration"),
    "horizontal-pod-autoscaler-tolerance": ("tolerance", "float"),
    "horizontal-pod-autoscaler-downscale-stabilization": ("downscale_stabilization", "duration"),
    "horizontal-pod-autoscaler-cpu-initialization-period": ("cpu_initialization_period",
                                                            "duration"),
    "horizontal-pod-autoscaler-initial-readiness-delay": ("initial_readiness_delay", "duration"),
}


def controller_manager_args(kind_cluster: Mapping[str, Any]) -> dict[str, str]:
    """``extraArgs`` of every ClusterConfiguration patch in a kind config (later ones win)."""
    args: dict[str, str] = {}
    for patch in kind_cluster.get("kubeadmConfigPatches") or ():
        try:
            docs = list(yaml.safe_load_all(patch)) if isinstance(patch, str) else [patch]
        except yaml.YAMLError as e:
            raise ManifestError(f"a kubeadmConfigPatches entry is not YAML ({e})",
                                obj="Cluster", field="kubeadmConfigPatches") from None
        for doc in docs:
            if not isinstance(doc, Mapping) or doc.get("kind") != "ClusterConfiguration":
                continue
            extra = (doc.get("controllerManager") or {}).get("extraArgs") or {}
            if isinstance(extra, Mapping):
                args.update({str(k): str(v) for k, v in extra.items()})
            else:
                args.update({str(a.get("name")): str(a.get("value")) for a in extra
                             if isinstance(a, Mapping)})
    return args


def controller_config(kind_cluster: Mapping[str, Any] | None,
                      base: ControllerConfig | None = None) -> ControllerConfig:
    """``base`` (default: upstream's defaults) with the HPA flags the kind config sets."""
    config = base or ControllerConfig()
    if not kind_cluster:
        return config
    changes: dict[str, float] = {}
    for flag, raw in controller_manager_args(kind_cluster).items():
        if flag not in FLAGS:
            continue
        field, kind = FLAGS[flag]
        try:
            value = parse_duration(raw) if kind == "duration" else float(raw)
        except ValueError:
            raise ManifestError(f"--{flag}={raw!r} is not a {kind}", obj="Cluster",
                                field=f"kubeadmConfigPatches: controllerManager.extraArgs.{flag}"
                                ) from None
        if value < 0 or (field == "sync_period" and value <= 0):
            raise ManifestError(f"--{flag}={raw!r} must be {'> 0' if field == 'sync_period' else '>= 0'}",
                                obj="Cluster", field=f"controllerManager.extraArgs.{flag}")
        changes[field] = value
    return replace(config, **changes)
