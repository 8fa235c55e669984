"""Create and delete the kind cluster and install the pinned add-ons (``labkit up`` / ``down``).

``up`` builds an :class:`InstallPlan` (a list of :class:`Step`, each one exact command) from
what the cluster already has, then runs it with a progress bar:

1. build the app image (skipped when it exists) and create the cluster ``labkit`` from
   ``manifests/kind/cluster.yaml`` with the node image pinned in :mod:`.versions`
   (skipped when the cluster exists), then ``kind load docker-image``;
2. for each add-on of the profile not yet recorded at its pinned version: create the
   namespaces its release manifest expects but does not ship, apply the manifest
   (server-side), wait for its webhooks, patch it for a laptop, wait until it is ready, and
   record it in the ConfigMap ``kube-system/labkit-addons``.

Real installs race: a webhook with ``failurePolicy: Fail`` refuses requests until its pod
serves (and for a while after its Deployment reports Available), CRDs applied in the same
file as their objects are not established yet. Steps that meet such a race carry a retry
budget (``Step.retry_for``): the command is run again every few seconds until it succeeds or
the budget is spent, with one progress line per attempt. Every wait has a timeout, so ``up``
never hangs. A step that really fails raises :class:`UpStepFailed` naming the component, the
command and its last error.

So ``up`` twice is safe and fast: the second run finds the cluster and the records and only
re-loads the image. If a step fails after this run created the cluster, the cluster is deleted
again, unless ``keep_on_failure`` (``labkit up --keep-on-failure``) keeps it for diagnosis.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from ...errors import BackendError, LabkitError, ManifestError
from . import versions as v
from .live import close_all
from .runner import CommandError, Completed, Runner, SubprocessRunner

REPO = Path(__file__).resolve().parents[3]
ADDONS_CONFIGMAP = "labkit-addons"

#: Kinds of action a step performs (what the progress bar and the tests see).
ACTIONS = ("build", "kind-create", "kind-load", "namespace", "apply", "patch",
           "merge-json-config", "wait", "restart", "record")

#: Knative's deployments and the small requests that let it fit on a laptop.
#: (namespace, deployment, container) -> requests; upstream asks for up to 300m each.
#: Deployment and container names: knative/serving knative-v1.23.0
#: config/core/deployments/{activator,autoscaler,controller,webhook}.yaml; net-kourier
#: knative-v1.23.0 config/300-controller.yaml and config/300-gateway.yaml.
KNATIVE_SMALL_REQUESTS: dict[tuple[str, str, str], dict[str, str]] = {
    ("knative-serving", "activator", "activator"): {"cpu": "50m", "memory": "60Mi"},
    ("knative-serving", "autoscaler", "autoscaler"): {"cpu": "30m", "memory": "40Mi"},
    ("knative-serving", "controller", "controller"): {"cpu": "30m", "memory": "40Mi"},
    ("knative-serving", "webhook", "webhook"): {"cpu": "20m", "memory": "40Mi"},
    ("knative-serving", "net-kourier-controller", "controller"): {"cpu": "20m", "memory": "40Mi"},
    ("kourier-system", "3scale-kourier-gateway", "kourier-gateway"): {"cpu": "50m",
                                                                      "memory": "60Mi"},
}
#: HPAs that scale Knative's own data plane on CPU *utilization of the request*
#: (``averageUtilization: 100``): with trimmed requests they would scale out under the
#: lab's load and take the node's CPU from the app. Capped at one replica.
#: knative/serving knative-v1.23.0 config/core/deployments/activator-hpa.yaml (max 20) and
#: webhook-hpa.yaml (max 5); net-kourier knative-v1.23.0 config/300-gateway.yaml (max 10).
KNATIVE_CAPPED_HPAS: tuple[tuple[str, str], ...] = (
    ("knative-serving", "activator"),
    ("knative-serving", "webhook"),
    ("kourier-system", "3scale-kourier-gateway"),
)
#: KServe's three controllers (container ``manager``) ask 100m each; 25m leaves room for the
#: tenth app pod on a 4-CPU node. kserve/kserve v0.20.0 config/manager/manager.yaml,
#: config/llmisvc/manager.yaml, config/localmodels/manager.yaml.
KSERVE_SMALL_REQUESTS: dict[str, dict[str, str]] = {
    "kserve-controller-manager": {"cpu": "25m", "memory": "200Mi"},
    "llmisvc-controller-manager": {"cpu": "25m", "memory": "200Mi"},
    "kserve-localmodel-controller-manager": {"cpu": "25m", "memory": "200Mi"},
}
#: Registries whose image tags Knative must not resolve to digests: the app image is only
#: loaded into the node (``kind load``), so asking Docker Hub for ``labkit/app`` would fail.
SKIP_TAG_RESOLVING = "kind.local,ko.local,dev.local,index.docker.io,docker.io"
KNATIVE_DOMAIN = "example.com"


@dataclass(frozen=True)
class Step:
    """One thing ``up`` does: an exact command, plus what it installs and what it waits for."""

    name: str
    action: str
    addon: str
    argv: tuple[str, ...]
    url: str | None = None
    version: str | None = None
    wait: str | None = None           #: the ready condition, for wait steps
    patch: dict[str, Any] | None = None  #: the patch body, for patch steps
    input: str | None = None          #: stdin (record steps apply a small YAML document)
    timeout: float = 600.0
    retry_for: float = 0.0            #: keep retrying a failing command this many seconds
    retry_every: float = 5.0
    why: str = ""                     #: the upstream fact that makes the step necessary

    def command(self) -> str:
        """The step as one shell line (what ``labkit up --dry-run`` prints)."""
        return " ".join(_quote(a) for a in self.argv)


@dataclass(frozen=True)
class InstallPlan:
    """The steps of one ``up``, in order, and what was skipped because it was already there."""

    profile: str
    steps: tuple[Step, ...]
    skipped: tuple[str, ...] = ()
    creates_cluster: bool = False

    def of(self, addon: str) -> list[Step]:
        return [s for s in self.steps if s.addon == addon]

    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    def urls(self) -> list[str]:
        return [s.url for s in self.steps if s.url]

    def describe(self) -> str:
        lines = [f"labkit up --profile {self.profile}: {len(self.steps)} steps"]
        lines += [f"  skip {s}" for s in self.skipped]
        for i, s in enumerate(self.steps, 1):
            lines.append(f"  {i:2d}. [{s.action}] {s.name}")
            lines.append(f"      $ {s.command()}")
            if s.retry_for:
                lines.append(f"      retries every {s.retry_every:g} s for up to "
                             f"{s.retry_for:g} s" + (f": {s.why}" if s.why else ""))
            elif s.why:
                lines.append(f"      why: {s.why}")
        return "\n".join(lines)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./:=@,%+" for c in arg) else \
        "'" + arg.replace("'", "'\\''") + "'"


# -- the kind config -----------------------------------------------------------------------------
def kind_config(path: str | Path | None = None) -> dict[str, Any]:
    """The kind cluster config: ``manifests/kind/cluster.yaml`` with the pinned node image.

    Checks what the lab relies on: the name ``labkit`` and the three NodePorts mapped to the
    same host ports on 127.0.0.1 only (nothing outside the laptop can reach the app).
    """
    from ...manifests import manifests_dir
    p = Path(path) if path else manifests_dir() / "kind" / "cluster.yaml"
    from ...yaml_reader import load_all, read_text
    try:
        docs = load_all(read_text(p), p)
    except ManifestError as e:
        raise LabkitError(f"cannot read the kind config ({e})") from None
    cfg = docs[0] if len(docs) == 1 else None
    if not isinstance(cfg, dict) or cfg.get("kind") != "Cluster" or not cfg.get("nodes"):
        raise LabkitError(f"{p}: not a kind Cluster config with nodes")
    cfg["name"] = v.CLUSTER_NAME
    for node in cfg["nodes"]:
        node["image"] = v.KIND_NODE_IMAGE
    mapped = {m.get("containerPort"): m for n in cfg["nodes"] for m in n.get("extraPortMappings", [])}
    for port in (v.APP_NODE_PORT, v.GATEWAY_NODE_PORT, v.KOURIER_NODE_PORT):
        m = mapped.get(port)
        if m is None or m.get("hostPort") != port:
            raise LabkitError(f"{p}: containerPort {port} must be mapped to hostPort {port}; "
                              "the lab sends load there")
        if m.get("listenAddress") != "127.0.0.1":
            raise LabkitError(f"{p}: port {port} must listen on 127.0.0.1 only (it has "
                              f"{m.get('listenAddress', '0.0.0.0 (the default)')}); "
                              "set listenAddress: \"127.0.0.1\"")
    return cfg


def write_kind_config(directory: str | Path) -> Path:
    """Write :func:`kind_config` to ``directory/kind-cluster.yaml`` and return the path."""
    out = Path(directory) / "kind-cluster.yaml"
    out.write_text(yaml.safe_dump(kind_config(), sort_keys=False))
    return out


# -- the plan ------------------------------------------------------------------------------------
def _kubectl(context: str, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--context", context, *args)


#: How long steps that meet an install race keep retrying (seconds), and why they must.
WEBHOOK_RETRY_S = 240.0


def _apply_url(context: str, addon: str, name: str, url: str, version: str, *,
               retry_for: float = 0.0, why: str = "") -> Step:
    # Server-side apply: idempotent, and the only way for CRDs too big for the
    # last-applied annotation (KEDA's); --force-conflicts takes back fields a patch changed.
    return Step(name, "apply", addon, _kubectl(context, "apply", "--server-side",
                                               "--force-conflicts", "-f", url),
                url=url, version=version, retry_for=retry_for, why=why)


def _namespace(context: str, addon: str, namespace: str, why: str) -> Step:
    """Create a namespace if missing (server-side apply of a Namespace: idempotent)."""
    doc = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "labkit"}}}
    return Step(f"{addon}: create namespace {namespace}", "namespace", addon,
                _kubectl(context, "apply", "--server-side", f"--field-manager=labkit-{addon}",
                         "-f", "-"), input=yaml.safe_dump(doc), why=why, timeout=60)


def _wait(context: str, addon: str, name: str, condition: str, target: Sequence[str],
          namespace: str | None = None, timeout: int = 300, why: str = "") -> Step:
    ns = ("-n", namespace) if namespace else ()
    return Step(name, "wait", addon, _kubectl(context, *ns, "wait", f"--for={condition}",
                                              f"--timeout={timeout}s", *target),
                wait=f"{condition} {' '.join(target)}" + (f" -n {namespace}" if namespace else ""),
                timeout=timeout + 30, why=why)


def _rollout(context: str, addon: str, namespace: str, deployment: str,
             timeout: int = 240) -> Step:
    # rollout status, not wait: it waits for the *patched* pods, not the old ReplicaSet.
    return Step(f"{addon}: wait for the rollout of {deployment}", "wait", addon,
                _kubectl(context, "-n", namespace, "rollout", "status",
                         f"deployment/{deployment}", f"--timeout={timeout}s"),
                wait=f"rollout of deployment/{deployment} complete -n {namespace}",
                timeout=timeout + 30)


def _patch(context: str, addon: str, name: str, namespace: str, target: str, kind: str,
           body: Any, *, retry_for: float = 0.0, why: str = "") -> Step:
    return Step(name, "patch", addon, _kubectl(context, "-n", namespace, "patch", target,
                                               f"--type={kind}", "-p", json.dumps(body)),
                patch={"type": kind, "body": body}, retry_for=retry_for, why=why)


def _record(context: str, addon: str, version: str) -> Step:
    doc = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": ADDONS_CONFIGMAP, "namespace": "kube-system",
                        "labels": {"app.kubernetes.io/managed-by": "labkit"}},
           "data": {addon: version}}
    # One field manager per add-on, so recording one add-on never removes another's key.
    return Step(f"{addon}: record {version}", "record", addon,
                _kubectl(context, "apply", "--server-side", f"--field-manager=labkit-{addon}",
                         "-f", "-"), version=version, input=yaml.safe_dump(doc))


def metrics_server_steps(context: str) -> list[Step]:
    a, ver = "metrics-server", v.METRICS_SERVER_VERSION
    args_path = "/spec/template/spec/containers/0/args/-"
    return [
        _apply_url(context, a, f"metrics-server {ver}: apply components.yaml",
                   v.METRICS_SERVER_URL, ver),
        # kind's kubelets serve certificates without IP SANs, so metrics-server must skip
        # verification. --metric-resolution=15s (what the twin assumes) is already in
        # kubernetes-sigs/metrics-server v0.9.0 manifests/base/deployment.yaml.
        _patch(context, a, "metrics-server: --kubelet-insecure-tls",
               "kube-system", "deployment/metrics-server", "json",
               [{"op": "add", "path": args_path, "value": "--kubelet-insecure-tls"}]),
        _rollout(context, a, "kube-system", "metrics-server"),
        _wait(context, a, "metrics-server: wait for the metrics API", "condition=Available",
              ["apiservice/v1beta1.metrics.k8s.io"], None, 240),
        _record(context, a, ver),
    ]


#: knative/serving knative-v1.23.0 config/core/webhooks/configmap-validation.yaml: the
#: ValidatingWebhookConfiguration config.webhook.serving.knative.dev (failurePolicy: Fail,
#: served by deployment/webhook) checks every ConfigMap labelled app.kubernetes.io/name=
#: knative-serving with component autoscaler, controller, networking, observability, ...
#: (config-network is "networking": vendor/knative.dev/networking/config/config-network.yaml;
#: config-domain and config-deployment are "controller": config/core/configmaps/*.yaml).
KNATIVE_WEBHOOK_WHY = ("Knative's config webhook (failurePolicy: Fail) refuses ConfigMap "
                       "changes until its pod serves, which lags deployment/webhook Available")


def knative_steps(context: str) -> list[Step]:
    a, ver = "knative", v.KNATIVE_VERSION
    ns = "knative-serving"
    steps = [
        _apply_url(context, a, f"Knative Serving {ver}: apply CRDs", v.KNATIVE_CRDS_URL, ver),
        _wait(context, a, "Knative: wait for the CRDs", "condition=Established",
              ["crd/services.serving.knative.dev", "crd/revisions.serving.knative.dev",
               "crd/podautoscalers.autoscaling.internal.knative.dev"], None, 120,
              why="CRDs are served only once Established"),
        # serving-core ships its own namespace (config/core/100-namespace.yaml) but also an
        # Image (caching.internal.knative.dev, config/core/999-cache.yaml) whose CRD is in the
        # same file (config/core/300-imagecache.yaml): the first apply may miss the kind.
        # On a re-apply its own ConfigMaps meet the config webhook (below) too.
        _apply_url(context, a, f"Knative Serving {ver}: apply core", v.KNATIVE_CORE_URL, ver,
                   retry_for=WEBHOOK_RETRY_S,
                   why="serving-core holds a CRD and an object of that CRD, and ConfigMaps its "
                       "own config webhook checks"),
        # net-kourier knative-v1.23.0 config/100-namespace.yaml creates kourier-system.
        _apply_url(context, a, f"net-kourier {ver}: apply", v.KOURIER_URL, ver,
                   retry_for=WEBHOOK_RETRY_S,
                   why="the API server may still be registering serving-core's types"),
        _wait(context, a, "Knative: wait for the webhook Deployment", "condition=Available",
              ["deployment/webhook"], ns, 300,
              why="the config webhook must serve before any knative-serving ConfigMap changes"),
    ]

    def config(name: str, label: str, data: dict[str, str]) -> Step:
        return _patch(context, a, label, ns, f"configmap/{name}", "merge", {"data": data},
                      retry_for=WEBHOOK_RETRY_S, why=KNATIVE_WEBHOOK_WHY)

    steps += [
        # vendor/knative.dev/networking/config/config-network.yaml: "ingress-class".
        config("config-network", "Knative: use Kourier for ingress",
               {"ingress-class": "kourier.ingress.networking.knative.dev"}),
        # config/core/configmaps/domain.yaml: a key is a domain, "" its (empty) selector.
        config("config-domain", f"Knative: route *.{KNATIVE_DOMAIN} (send Host headers)",
               {KNATIVE_DOMAIN: ""}),
        # config/core/configmaps/deployment.yaml: default "kind.local,ko.local,dev.local";
        # pkg/reconciler/revision/resolve.go skips by registry, index.docker.io for labkit/app.
        config("config-deployment", "Knative: do not resolve tags of kind-loaded images",
               {"registries-skipping-tag-resolving": SKIP_TAG_RESOLVING}),
        # Metrics export defaults to "none" in 1.23 (vendor/knative.dev/pkg/observability/
        # metrics/config.go DefaultConfig; config/core/configmaps/observability.yaml). With
        # "prometheus" the autoscaler serves GET /metrics on :9090
        # (vendor/knative.dev/pkg/observability/metrics/prometheus/server.go).
        config("config-observability",
               "Knative: export the autoscaler's metrics (metrics-protocol: prometheus)",
               {"metrics-protocol": "prometheus"}),
        # net-kourier knative-v1.23.0 config/300-gateway.yaml: Service kourier, port 80.
        _patch(context, a, f"Kourier: NodePort {v.KOURIER_NODE_PORT} (127.0.0.1 via kind)",
               "kourier-system", "service/kourier", "strategic",
               {"spec": {"type": "NodePort",
                         "ports": [{"port": 80, "nodePort": v.KOURIER_NODE_PORT}]}}),
    ]
    for (nsx, deploy, container), requests in KNATIVE_SMALL_REQUESTS.items():
        steps.append(_patch(context, a, f"Knative: laptop-sized requests for {deploy}", nsx,
                            f"deployment/{deploy}", "strategic",
                            {"spec": {"template": {"spec": {"containers": [
                                {"name": container, "resources": {"requests": requests}}]}}}}))
    for nsx, hpa in KNATIVE_CAPPED_HPAS:
        steps.append(_patch(context, a, f"Knative: keep {hpa} at one replica (its HPA)", nsx,
                            f"horizontalpodautoscaler/{hpa}", "merge",
                            {"spec": {"maxReplicas": 1}},
                            why="upstream HPA at 100% of the (trimmed) CPU request"))
    steps += [
        # cmd/autoscaler/main.go (knative-v1.23.0) reads config-observability once at start
        # (otel.SetupObservabilityOrDie); only profiling follows later changes.
        Step("Knative: restart the autoscaler so it reads config-observability", "restart", a,
             _kubectl(context, "-n", ns, "rollout", "restart", "deployment/autoscaler"),
             why="the autoscaler reads its metrics config only at start", timeout=60),
        _rollout(context, a, ns, "autoscaler"),
        _wait(context, a, "Knative: wait for knative-serving", "condition=Available",
              ["deployment", "--all"], ns, 300),
        _wait(context, a, "Kourier: wait for the gateway", "condition=Available",
              ["deployment", "--all"], "kourier-system", 300),
        _record(context, a, ver),
    ]
    return steps


def cert_manager_steps(context: str) -> list[Step]:
    a, ver = "cert-manager", v.CERT_MANAGER_VERSION
    return [
        # The release manifest creates the cert-manager namespace itself.
        _apply_url(context, a, f"cert-manager {ver}: apply", v.CERT_MANAGER_URL, ver),
        # Available is not "webhook ready": cert-manager's webhook (failurePolicy: Fail,
        # cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager/templates/
        # webhook-validating-webhook.yaml) serves only once its CA is injected. The KServe
        # apply that needs it retries instead (see kserve_steps).
        _wait(context, a, "cert-manager: wait for its deployments", "condition=Available",
              ["deployment", "--all"], "cert-manager", 300),
        _record(context, a, ver),
    ]


def kserve_steps(context: str) -> list[Step]:
    a, ver = "kserve", v.KSERVE_VERSION
    ns = "kserve"
    steps = [
        # kserve/kserve v0.20.0 hack/release/generate-install.sh builds kserve.yaml with
        # `yq 'select(.kind != "Namespace")'` ("Dependency install script creates a
        # namespace"), yet every namespaced object in it lives in kserve.
        _namespace(context, a, ns, "kserve.yaml does not create its own namespace"),
        # kserve.yaml (config/overlays/all) holds the CRDs and objects of them
        # (ClusterStorageContainer, config/storagecontainers) plus a cert-manager Issuer and
        # Certificate (config/certmanager), which cert-manager's webhook must accept.
        _apply_url(context, a, f"KServe {ver}: apply", v.KSERVE_URL, ver,
                   retry_for=WEBHOOK_RETRY_S,
                   why="its CRDs must be established and cert-manager's webhook serving"),
    ]
    for deploy, requests in KSERVE_SMALL_REQUESTS.items():
        steps.append(_patch(context, a, f"KServe: laptop-sized requests for {deploy}", ns,
                            f"deployment/{deploy}", "strategic",
                            {"spec": {"template": {"spec": {"containers": [
                                {"name": "manager", "resources": {"requests": requests}}]}}}}))
    steps += [
        # overlays/all starts three controllers: kserve, llmisvc and localmodel.
        _wait(context, a, "KServe: wait for its three controllers", "condition=Available",
              ["deployment", "--all"], ns, 300),
        # kserve-cluster-resources.yaml: ClusterServingRuntimes (validated by the kserve
        # webhook, config/webhook/manifests.yaml) and LLMInferenceServiceConfigs (validated by
        # llmisvc, config/webhook/llmisvc/manifests.yaml), both failurePolicy: Fail.
        _apply_url(context, a, f"KServe {ver}: apply cluster resources",
                   v.KSERVE_CLUSTER_RESOURCES_URL, ver, retry_for=WEBHOOK_RETRY_S,
                   why="the kserve and llmisvc webhooks (failurePolicy: Fail) must serve"),
        # Knative mode by default, and no Istio VirtualService (Kourier routes instead).
        Step("KServe: Knative mode, Kourier ingress", "merge-json-config", a,
             _kubectl(context, "-n", ns, "get", "configmap/inferenceservice-config",
                      "-o", "json"),
             patch={"deploy": {"defaultDeploymentMode": "Knative"},
                    "ingress": {"disableIstioVirtualHost": True}}),
        _record(context, a, ver),
    ]
    return steps


def keda_steps(context: str) -> list[Step]:
    a, ver = "keda", v.KEDA_VERSION
    return [
        # The release manifest creates the keda namespace; KEDA's admission webhooks use
        # failurePolicy: Ignore (kedacore/keda v2.20.2 config/webhooks/validation_webhooks.yaml).
        _apply_url(context, a, f"KEDA {ver}: apply", v.KEDA_URL, ver),
        _wait(context, a, "KEDA: wait for the operator and metrics API", "condition=Available",
              ["deployment", "--all"], "keda", 300),
        _record(context, a, ver),
    ]


ADDON_STEPS: dict[str, Callable[[str], list[Step]]] = {
    "metrics-server": metrics_server_steps, "knative": knative_steps,
    "cert-manager": cert_manager_steps, "kserve": kserve_steps, "keda": keda_steps,
}


def install_plan(profile: str = "hpa", *, cluster_exists: bool = False,
                 installed: Mapping[str, str] | None = None, image_exists: bool = False,
                 config_path: str | Path = "<kind-config>", context: str = v.CONTEXT,
                 app_dir: str | Path | None = None) -> InstallPlan:
    """What ``up(profile)`` will do, given what is already there (pure: no I/O)."""
    if profile not in v.PROFILES:
        raise LabkitError(f"unknown add-on profile {profile!r}; choose one of "
                          f"{', '.join(v.PROFILES)}")
    installed = dict(installed or {})
    steps: list[Step] = []
    skipped: list[str] = []
    app = str(app_dir or REPO / "app")
    if image_exists:
        skipped.append(f"image {v.APP_IMAGE} (already built; `docker rmi` it to rebuild)")
    else:
        steps.append(Step(f"build the app image {v.APP_IMAGE}", "build", "app",
                          ("docker", "build", "-t", v.APP_IMAGE, app), version=v.APP_IMAGE,
                          timeout=1200))
    if cluster_exists:
        skipped.append(f"cluster {v.CLUSTER_NAME} (exists)")
    else:
        steps.append(Step(f"create the kind cluster {v.CLUSTER_NAME} ({v.KUBERNETES_VERSION})",
                          "kind-create", "cluster",
                          ("kind", "create", "cluster", "--name", v.CLUSTER_NAME, "--config",
                           str(config_path), "--wait", "120s"),
                          version=v.KIND_NODE_IMAGE, wait="control plane Ready (120s)",
                          timeout=600))
    steps.append(Step(f"load {v.APP_IMAGE} into the node", "kind-load", "app",
                      ("kind", "load", "docker-image", v.APP_IMAGE, "--name", v.CLUSTER_NAME),
                      version=v.APP_IMAGE, timeout=600))
    pinned = v.addon_versions()
    for addon in v.PROFILES[profile]:
        if installed.get(addon) == pinned[addon]:
            skipped.append(f"{addon} {pinned[addon]} (installed)")
            continue
        steps.extend(ADDON_STEPS[addon](context))
    return InstallPlan(profile, tuple(steps), tuple(skipped), not cluster_exists)


# -- state of the machine ------------------------------------------------------------------------
def cluster_exists(runner: Runner) -> bool:
    """Whether ``kind get clusters`` lists ``labkit``."""
    out = runner.run(["kind", "get", "clusters"], timeout=30)
    return v.CLUSTER_NAME in out.stdout.split()


def installed_addons(runner: Runner, context: str = v.CONTEXT) -> dict[str, str]:
    """Add-on -> version recorded by earlier ``up`` runs (empty when none)."""
    res = runner.run(_kubectl(context, "-n", "kube-system", "get", "configmap",
                              ADDONS_CONFIGMAP, "-o", "json"), check=False, timeout=30)
    if not res.ok:
        if "NotFound" in res.stderr or "not found" in res.stderr:
            return {}
        raise CommandError(res, "cannot read which add-ons are installed")
    return dict(json.loads(res.stdout or "{}").get("data") or {})


def image_exists(runner: Runner) -> bool:
    return runner.run(["docker", "image", "inspect", v.APP_IMAGE], check=False,
                      timeout=30).ok


# -- running the plan ----------------------------------------------------------------------------
class Progress:
    """A one-line text progress bar (plain lines when the output is not a terminal)."""

    def __init__(self, total: int, *, enabled: bool = True, stream=None, width: int = 24):
        self.total, self.enabled, self.width = max(total, 1), enabled, width
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0

    def start(self, name: str) -> None:
        if not self.enabled:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {self.done + 1}/{self.total} {name}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:160])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1

    def note(self, message: str) -> None:
        """One indented line under the current step (a retry, a wait)."""
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + "      " + message + "\n")
            self.stream.flush()

    def finish(self, message: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + message + "\n")
            self.stream.flush()


def _merge_json_config(runner: Runner, step: Step, context: str) -> None:
    """Merge keys into JSON values held in a ConfigMap's data (KServe keeps its config so)."""
    res = runner.run(step.argv, timeout=60)
    cm = json.loads(res.stdout)
    data = cm.setdefault("data", {})
    for key, values in (step.patch or {}).items():
        try:
            current = json.loads(data.get(key) or "{}")
        except ValueError as e:
            raise LabkitError(f"ConfigMap {cm['metadata']['name']}: data.{key} is not JSON "
                              f"({e}); cannot merge {values}") from e
        current.update(values)
        data[key] = json.dumps(current, indent=2)
    out = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": cm["metadata"]["name"], "namespace": cm["metadata"]["namespace"]},
           "data": {k: data[k] for k in (step.patch or {})}}
    runner.run(_kubectl(context, "apply", "--server-side", "--force-conflicts",
                        "--field-manager=labkit", "-f", "-"),
               input=yaml.safe_dump(out), timeout=60)


class UpStepFailed(BackendError):
    """A step of ``labkit up`` failed for good: which component, which command, what error."""

    def __init__(self, profile: str, index: int, total: int, step: Step, attempts: int,
                 elapsed: float, last_error: str):
        self.component, self.command, self.last_error = step.addon, step.command(), last_error
        self.step = step
        tried = f" after {attempts} attempts over {elapsed:.0f} s" if attempts > 1 else ""
        super().__init__(
            f"labkit up --profile {profile}: {step.addon} failed at step {index}/{total} "
            f"\"{step.name}\"{tried}.\n  command: {self.command}\n  last error: "
            + "\n    ".join(last_error.strip().splitlines()[-5:] or ["(no output)"]))


def _attempt(runner: Runner, step: Step, context: str, progress: bool) -> Completed:
    """Run a step's command once; returns what it returned (never raises CommandError)."""
    if step.action == "merge-json-config":
        try:
            _merge_json_config(runner, step, context)
        except CommandError as e:
            return e.result
        return Completed(step.argv, 0)
    return runner.run(step.argv, check=False, timeout=step.timeout, input=step.input,
                      stream=progress and step.action in ("build", "kind-create"))


def _gist(error: str) -> str:
    """The part of a kubectl error worth one progress line."""
    import re
    hook = re.search(r'failed calling webhook "([^"]+)"', error)
    if hook:
        return f"webhook {hook.group(1)} not serving yet ({error.rsplit(': ', 1)[-1][:60]})"
    return error.strip().splitlines()[-1][:140]


def run_plan(plan: InstallPlan, runner: Runner, *, progress: bool = True,
             context: str = v.CONTEXT, stream=None,
             sleep: Callable[[float], None] = _time.sleep,
             clock: Callable[[], float] = _time.monotonic) -> None:
    """Run every step in order, retrying steps that carry a retry budget.

    A step whose command fails is run again every ``retry_every`` seconds while its
    ``retry_for`` budget lasts (one progress line per attempt); the first step that fails
    for good raises :class:`UpStepFailed` (see :func:`up` for what happens to the cluster).
    """
    bar = Progress(len(plan.steps), enabled=progress, stream=stream)
    for i, step in enumerate(plan.steps, 1):
        bar.start(step.name)
        started, attempts = clock(), 0
        while True:
            attempts += 1
            res = _attempt(runner, step, context, progress)
            if res.ok:
                break
            last = (res.stderr or res.stdout or f"exit status {res.returncode}").strip()
            elapsed = clock() - started
            if elapsed + step.retry_every > step.retry_for:
                raise UpStepFailed(plan.profile, i, len(plan.steps), step, attempts, elapsed,
                                   last)
            bar.note(f"{step.addon}: not ready yet (attempt {attempts}, {elapsed:.0f}/"
                     f"{step.retry_for:.0f} s): {_gist(last)}; retrying in "
                     f"{step.retry_every:g} s")
            sleep(step.retry_every)
        bar.advance()
    bar.finish(f"labkit up --profile {plan.profile}: done ({len(plan.steps)} steps, "
               f"{len(plan.skipped)} already in place)")


def up(profile: str = "hpa", *, progress: bool = True, runner: Runner | None = None,
       dry_run: bool = False, keep_on_failure: bool = False, create_cluster: bool = True,
       sleep: Callable[[float], None] = _time.sleep,
       clock: Callable[[], float] = _time.monotonic) -> InstallPlan:
    """Create the cluster (if needed) and install the add-ons of ``profile``; return the plan.

    Terminal equivalent: ``kind create cluster --config manifests/kind/cluster.yaml`` followed
    by the ``kubectl apply --server-side -f <release URL>`` lines of ``labkit up --dry-run``.
    If a step fails and this call created the cluster, the cluster is deleted again (unless
    ``keep_on_failure``), so a retry starts clean. ``create_cluster=False`` (what a backend
    uses) refuses instead of creating a cluster: making one is always an explicit ``up``.
    """
    runner = runner or SubprocessRunner()
    for tool in ("docker", "kind", "kubectl"):
        if runner.which(tool) is None:
            from ...errors import ToolMissingError
            from .runner import INSTALL_HINTS
            raise ToolMissingError(f"labkit up needs `{tool}`: {INSTALL_HINTS[tool]} "
                                   "(`labkit doctor` checks everything at once)")
    exists = cluster_exists(runner)
    if not exists and not create_cluster and not dry_run:
        raise BackendError(f"no kind cluster named {v.CLUSTER_NAME} is running; make it "
                           f"with `labkit up --profile {profile}` (labkit never creates a "
                           "cluster on its own)")
    with tempfile.TemporaryDirectory(prefix="labkit-") as tmp:
        config = write_kind_config(tmp)
        plan = install_plan(profile, cluster_exists=exists,
                            installed=installed_addons(runner) if exists else {},
                            image_exists=image_exists(runner), config_path=config)
        if dry_run:
            print(plan.describe())
            return plan
        try:
            run_plan(plan, runner, progress=progress, sleep=sleep, clock=clock)
        except BaseException as e:
            if plan.creates_cluster and not keep_on_failure:
                print(f"labkit up: cleaning up: deleting the half-made cluster "
                      f"{v.CLUSTER_NAME} ({type(e).__name__}); `labkit up --keep-on-failure` "
                      "keeps it for diagnosis", file=sys.stderr)
                runner.run(["kind", "delete", "cluster", "--name", v.CLUSTER_NAME],
                           check=False, timeout=300)
            elif plan.creates_cluster or exists:
                print(f"labkit up: the cluster {v.CLUSTER_NAME} is kept for diagnosis: "
                      f"kubectl --context {v.CONTEXT} get events -A --sort-by=.lastTimestamp; "
                      f"`labkit down` deletes it", file=sys.stderr)
            raise
    return plan


def down(*, runner: Runner | None = None, progress: bool = True) -> bool:
    """Delete the cluster and stop what labkit started; return whether a cluster was deleted.

    Terminal equivalent: ``kind delete cluster --name labkit``.
    """
    close_all()
    runner = runner or SubprocessRunner()
    if runner.which("kind") is None or not cluster_exists(runner):
        if progress:
            print(f"labkit down: no kind cluster named {v.CLUSTER_NAME}; nothing to delete")
        return False
    runner.run(["kind", "delete", "cluster", "--name", v.CLUSTER_NAME], timeout=300)
    if progress:
        print(f"labkit down: deleted the kind cluster {v.CLUSTER_NAME} (the image "
              f"{v.APP_IMAGE} stays in Docker; `docker rmi {v.APP_IMAGE}` removes it)")
    return True


def context_exists(runner: Runner, context: str) -> bool:
    res = runner.run(["kubectl", "config", "get-contexts", "-o", "name"], check=False, timeout=30)
    return res.ok and context in res.stdout.split()


__all__ = ["Step", "InstallPlan", "install_plan", "kind_config", "up", "down", "run_plan",
           "Completed", "UpStepFailed"]
