"""Every version, URL and digest the real cluster uses: bump them here and nowhere else.

Researched as current in late 2026 (release notes and project trackers):

- kind v0.33.0 ships prebuilt node images and asks for them *by digest*; we use its
  Kubernetes 1.36 image (1.37.0 is kind's default, but the add-ons below are tested on 1.36).
- metrics-server v0.9.0's upstream manifest already sets ``--metric-resolution=15s``; kind
  needs ``--kubelet-insecure-tls`` on top (kubelet serving certs on kind have no IP SANs).
- Knative Serving and net-kourier 1.23.0; KServe v0.20.0 (Knative mode) with cert-manager
  v1.21.1; KEDA 2.20.2.
- KEDA stays at 2.20.2: a v2.21.x tag is in neither kedacore/keda nor kedacore/charts as read
  for this pin (both end at v2.20.2), so its release manifest and CRDs could not be read.
  KEDA's own compatibility table lists 2.20 for Kubernetes 1.33-1.35; what labkit uses of it
  (ScaledObject keda.sh/v1alpha1, the metrics-api scaler, an autoscaling/v2 HPA) is stable,
  and the kind e2e workflow runs the keda variant on 1.36 every week. Bump ``KEDA_VERSION``
  to 2.21.x once its tag can be read (one line; the URL follows).

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
KEDA_VERSION = "2.20.2"              # see the module docstring for why not 2.21.x

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
APP_NODE_PORT = 30080        # Service app-fastapi (hpa-v1, hpa-v2; the enqueue API of queue*)
APP_CONTAINER_PORT = 8080    # the app's containerPort "http" (manifests/base, queue-base)
GATEWAY_NODE_PORT = 30081    # Service app-gateway (keda)
KOURIER_NODE_PORT = 31080    # Kourier's HTTP listener (knative, kserve)
LAB_PORT = 8888              # JupyterLab (labkit lab)


@dataclass(frozen=True)
class Requirement:
    """What an add-on profile needs from Docker (CPUs and memory it may use)."""

    cpus: int
    memory_gib: float
    note: str


#: Add-on profiles: which add-ons ``labkit up --profile P`` installs.
PROFILES: dict[str, tuple[str, ...]] = {
    "hpa": ("metrics-server",),
    "knative": ("metrics-server", "knative"),
    "keda": ("metrics-server", "keda"),
    "kserve": ("metrics-server", "knative", "cert-manager", "kserve"),
    "all": ("metrics-server", "knative", "cert-manager", "kserve", "keda"),
}

#: Requests (CPU millicores, memory MiB) each part keeps on the node once ``labkit up`` has
#: trimmed it; the scheduler places pods by requests, so these decide when a pod stays Pending.
#: - control plane: the kind node's kube-system pods (kube-apiserver 250m, controller-manager
#:   200m, scheduler 100m, etcd 100m, 2 CoreDNS 100m, kindnet 100m), memory as used, not asked;
#: - metrics-server: kubernetes-sigs/metrics-server v0.9.0 manifests/base/deployment.yaml;
#: - knative: the trimmed requests in cluster.KNATIVE_SMALL_REQUESTS (upstream asks 300m for
#:   the activator alone: knative/serving knative-v1.23.0 config/core/deployments/*.yaml);
#: - cert-manager: no requests (cert-manager/cert-manager v1.21.1
#:   deploy/charts/cert-manager/values.yaml ``resources: {}``), about 150 MiB used;
#: - kserve: three controllers trimmed to 25m / 200Mi (kserve/kserve v0.20.0
#:   config/{manager,llmisvc,localmodels}/manager.yaml ask 100m each);
#: - keda: three deployments at 100m / 100Mi (kedacore/keda v2.20.2
#:   config/manager/manager.yaml, config/metrics-server/deployment.yaml,
#:   config/webhooks/webhooks.yaml).
ADDON_REQUESTS: dict[str, tuple[int, int]] = {
    "control-plane": (950, 1536),
    "metrics-server": (100, 200),
    "knative": (200, 280),
    "cert-manager": (0, 150),
    "kserve": (75, 600),
    "keda": (300, 300),
}
#: The app pod (manifests/base/deployment.yaml, manifests/knative/service.yaml,
#: manifests/kserve/inferenceservice.yaml: 200m / 512Mi) and the most a variant runs
#: (maxReplicas / max-scale 10 in every variant).
APP_POD_REQUESTS = (200, 512)
MAX_APP_PODS = 10
#: Knative adds a queue-proxy container to each pod: ``queue-sidecar-cpu-request: "25m"``
#: (knative/serving knative-v1.23.0 config/core/configmaps/deployment.yaml).
QUEUE_PROXY_CPU_M = 25
#: The KEDA variant's gateway (manifests/keda/gateway.yaml: 100m / 128Mi).
KEDA_GATEWAY_REQUESTS = (100, 128)
#: The queue variants' Redis (manifests/queue-base/redis.yaml: 50m / 64Mi); beside it the
#: enqueue API (an app pod) and up to 10 workers or Jobs (app pods too).
REDIS_REQUESTS = (50, 64)


def _variant_peak(profile: str) -> tuple[int, int]:
    """CPU (m) and memory (Mi) of the heaviest variant the profile can run, at 10 pods."""
    cpu, mem = APP_POD_REQUESTS
    peaks = [(MAX_APP_PODS * cpu, MAX_APP_PODS * mem)]                    # hpa-v1, hpa-v2
    if "knative" in PROFILES[profile]:                                      # knative, kserve
        peaks.append((MAX_APP_PODS * (cpu + QUEUE_PROXY_CPU_M), MAX_APP_PODS * mem))
    if "keda" in PROFILES[profile]:
        peaks.append((MAX_APP_PODS * cpu + KEDA_GATEWAY_REQUESTS[0],
                      MAX_APP_PODS * mem + KEDA_GATEWAY_REQUESTS[1]))
        peaks.append(((MAX_APP_PODS + 1) * cpu + REDIS_REQUESTS[0],      # queue, queue-jobs
                      (MAX_APP_PODS + 1) * mem + REDIS_REQUESTS[1]))
    return max(p[0] for p in peaks), max(p[1] for p in peaks)


def requirement(profile: str) -> Requirement:
    """CPUs and memory a profile needs so that every variant can reach 10 ready pods.

    Pure arithmetic over :data:`ADDON_REQUESTS` and the app pod's requests, rounded up to
    whole CPUs and to half GiB plus 0.5 GiB for the node's own processes.
    """
    parts = ("control-plane",) + PROFILES[profile]
    cpu = sum(ADDON_REQUESTS[p][0] for p in parts)
    mem = sum(ADDON_REQUESTS[p][1] for p in parts)
    peak_cpu, peak_mem = _variant_peak(profile)
    cpus = -(-(cpu + peak_cpu) // 1000)
    gib = -(-(mem + peak_mem) // 512) / 2 + 0.5
    return Requirement(int(cpus), gib, f"{(cpu + peak_cpu) / 1000:.2f} CPU and "
                       f"{(mem + peak_mem) / 1024:.1f} GiB requested at 10 app pods")


REQUIREMENTS: dict[str, Requirement] = {p: requirement(p) for p in PROFILES}

#: Which add-on profile each variant needs.
VARIANT_PROFILE: dict[str, str] = {
    "hpa-v1": "hpa", "hpa-v2": "hpa", "knative": "knative", "kserve": "kserve", "keda": "keda",
    "queue": "keda", "queue-jobs": "keda",
}


def addon_versions() -> dict[str, str]:
    """Add-on name -> pinned version (what ``labkit up`` records in the cluster)."""
    return {"metrics-server": METRICS_SERVER_VERSION, "knative": KNATIVE_VERSION,
            "cert-manager": CERT_MANAGER_VERSION, "kserve": KSERVE_VERSION,
            "keda": KEDA_VERSION}
