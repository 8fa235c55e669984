"""Every version, URL and digest the real cluster uses: bump them here and nowhere else.

Researched as current in late 2026 (release notes and project trackers):

- kind v0.33.0 ships prebuilt node images and asks for them *by digest*; we use its
  Kubernetes 1.36 image (1.37.0 is kind's default, but the add-ons below are tested on 1.36).
- metrics-server v0.9.0's upstream manifest already sets ``--metric-resolution=15s``; kind
  needs ``--kubelet-insecure-tls`` on top (kubelet serving certs on kind have no IP SANs).
- Knative Serving and net-kourier 1.23.0; KServe v0.20.0 (Knative mode) with cert-manager
  v1.21.1; KEDA 2.20.2 (the newest release we could confirm; 2.21.x is to be verified).

To verify before a release (cannot be checked from a machine without Docker): the node image
digest below against https://github.com/kubernetes-sigs/kind/releases/tag/v0.33.0, and that
each URL still resolves. The kind e2e workflow does both on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

KIND_VERSION = "v0.33.0"
KUBERNETES_VERSION = "v1.36.4"
#: From the kind v0.33.0 release notes ("Images pre-built for this release").
KIND_NODE_IMAGE = ("kindest/node:v1.36.4@sha256:"
                   "099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed")
#: kubectl supports one minor version of skew with the API server.
KUBECTL_VERSION = "v1.36.4"
MIN_KIND_VERSION = "0.33.0"      # the node image above is built for this kind release
MIN_KUBECTL_VERSION = "1.35.0"   # 1.36 server - 1 minor

CLUSTER_NAME = "labkit"
CONTEXT = f"kind-{CLUSTER_NAME}"
APP_IMAGE = "labkit/app:0.1.0"

METRICS_SERVER_VERSION = "v0.9.0"
KNATIVE_VERSION = "v1.23.0"          # Serving and net-kourier are released together
CERT_MANAGER_VERSION = "v1.21.1"
KSERVE_VERSION = "v0.20.0"
KEDA_VERSION = "2.20.2"              # 2.21.x once confirmed on Kubernetes 1.36

_GH = "https://github.com"
METRICS_SERVER_URL = (f"{_GH}/kubernetes-sigs/metrics-server/releases/download/"
                      f"{METRICS_SERVER_VERSION}/components.yaml")
KNATIVE_CRDS_URL = (f"{_GH}/knative/serving/releases/download/knative-{KNATIVE_VERSION}/"
                    "serving-crds.yaml")
KNATIVE_CORE_URL = (f"{_GH}/knative/serving/releases/download/knative-{KNATIVE_VERSION}/"
                    "serving-core.yaml")
KOURIER_URL = (f"{_GH}/knative-extensions/net-kourier/releases/download/"
               f"knative-{KNATIVE_VERSION}/kourier.yaml")
CERT_MANAGER_URL = (f"{_GH}/cert-manager/cert-manager/releases/download/"
                    f"{CERT_MANAGER_VERSION}/cert-manager.yaml")
KSERVE_URL = f"{_GH}/kserve/kserve/releases/download/{KSERVE_VERSION}/kserve.yaml"
KSERVE_CLUSTER_RESOURCES_URL = (f"{_GH}/kserve/kserve/releases/download/{KSERVE_VERSION}/"
                                "kserve-cluster-resources.yaml")
KEDA_URL = f"{_GH}/kedacore/keda/releases/download/v{KEDA_VERSION}/keda-{KEDA_VERSION}.yaml"

#: Binaries the kind e2e workflow downloads (linux/amd64).
KIND_BINARY_URL = f"https://kind.sigs.k8s.io/dl/{KIND_VERSION}/kind-linux-amd64"
KUBECTL_BINARY_URL = f"https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/linux/amd64/kubectl"

#: Host ports (127.0.0.1) the kind config maps into the node.
APP_NODE_PORT = 30080        # Service app-fastapi (hpa-v1, hpa-v2)
GATEWAY_NODE_PORT = 30081    # Service app-gateway (keda)
KOURIER_NODE_PORT = 31080    # Kourier's HTTP listener (knative, kserve)
LAB_PORT = 8888              # JupyterLab (labkit lab)


@dataclass(frozen=True)
class Requirement:
    """What an add-on profile needs from Docker (CPUs and memory it may use)."""

    cpus: int
    memory_gib: float
    note: str


#: Add-on profiles: which add-ons ``labkit up --profile P`` installs, and what they need.
#: Numbers: the control plane and kube-system (~1 CPU, ~1.5 GiB) + add-ons at their (trimmed)
#: requests + 10 app pods at 200m / 256Mi (the variants' maxReplicas), rounded up.
PROFILES: dict[str, tuple[str, ...]] = {
    "hpa": ("metrics-server",),
    "knative": ("metrics-server", "knative"),
    "keda": ("metrics-server", "keda"),
    "kserve": ("metrics-server", "knative", "cert-manager", "kserve"),
    "all": ("metrics-server", "knative", "cert-manager", "kserve", "keda"),
}
REQUIREMENTS: dict[str, Requirement] = {
    "hpa": Requirement(2, 4.0, "control plane + metrics-server + 10 app pods"),
    "knative": Requirement(3, 5.0, "+ Knative Serving and Kourier (trimmed requests)"),
    "keda": Requirement(3, 5.0, "+ KEDA operator, metrics API server and webhooks"),
    "kserve": Requirement(4, 7.0, "+ Knative, cert-manager and the KServe controller"),
    "all": Requirement(4, 8.0, "every add-on at once"),
}

#: Which add-on profile each variant needs.
VARIANT_PROFILE: dict[str, str] = {
    "hpa-v1": "hpa", "hpa-v2": "hpa", "knative": "knative", "kserve": "kserve", "keda": "keda",
}


def addon_versions() -> dict[str, str]:
    """Add-on name -> pinned version (what ``labkit up`` records in the cluster)."""
    return {"metrics-server": METRICS_SERVER_VERSION, "knative": KNATIVE_VERSION,
            "cert-manager": CERT_MANAGER_VERSION, "kserve": KSERVE_VERSION,
            "keda": KEDA_VERSION}
