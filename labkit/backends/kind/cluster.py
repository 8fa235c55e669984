"""Create and delete the kind cluster and install the pinned add-ons (``labkit up`` / ``down``).

``up`` builds an :class:`InstallPlan` (a list of :class:`Step`, each one exact command) from
what the cluster already has, then runs it with a progress bar:

1. build the app image (skipped when it exists) and create the cluster ``labkit`` from
   ``manifests/kind/cluster.yaml`` with the node image pinned in :mod:`.versions`
   (skipped when the cluster exists), then ``kind load docker-image``;
2. for each add-on of the profile not yet recorded at its pinned version: apply the upstream
   release manifest (server-side), patch it for a laptop, wait until it is ready, and record
   it in the ConfigMap ``kube-system/labkit-addons``.

So ``up`` twice is safe and fast: the second run finds the cluster and the records and only
re-loads the image. If a step fails after this run created the cluster, the cluster is deleted
again (nothing half-installed is left behind) and the error says which step failed and why.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from ...errors import BackendError, LabkitError
from . import versions as v
from .runner import CommandError, Completed, Runner, SubprocessRunner

REPO = Path(__file__).resolve().parents[3]
ADDONS_CONFIGMAP = "labkit-addons"

#: Kinds of action a step performs (what the progress bar and the tests see).
ACTIONS = ("build", "kind-create", "kind-load", "apply", "patch", "merge-json-config", "wait",
           "record")

#: Knative's deployments and the small requests that let it fit on a laptop.
#: (namespace, deployment, container) -> requests; upstream asks for up to 300m each.
KNATIVE_SMALL_REQUESTS: dict[tuple[str, str, str], dict[str, str]] = {
    ("knative-serving", "activator", "activator"): {"cpu": "50m", "memory": "60Mi"},
    ("knative-serving", "autoscaler", "autoscaler"): {"cpu": "30m", "memory": "40Mi"},
    ("knative-serving", "controller", "controller"): {"cpu": "30m", "memory": "40Mi"},
    ("knative-serving", "webhook", "webhook"): {"cpu": "20m", "memory": "40Mi"},
    ("knative-serving", "net-kourier-controller", "controller"): {"cpu": "20m", "memory": "40Mi"},
    ("kourier-system", "3scale-kourier-gateway", "kourier-gateway"): {"cpu": "50m",
                                                                      "memory": "60Mi"},
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
        lines += [f"  {i:2d}. [{s.action}] {s.name}\n      $ {s.command()}"
                  for i, s in enumerate(self.steps, 1)]
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
    try:
        cfg = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise LabkitError(f"{p}: cannot read the kind config ({e})") from e
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


def _apply_url(context: str, addon: str, name: str, url: str, version: str) -> Step:
    # Server-side apply: idempotent, and the only way for CRDs too big for the
    # last-applied annotation (KEDA's); --force-conflicts takes back fields a patch changed.
    return Step(name, "apply", addon, _kubectl(context, "apply", "--server-side",
                                               "--force-conflicts", "-f", url),
                url=url, version=version)


def _wait(context: str, addon: str, name: str, condition: str, target: Sequence[str],
          namespace: str | None = None, timeout: int = 300) -> Step:
    ns = ("-n", namespace) if namespace else ()
    return Step(name, "wait", addon, _kubectl(context, *ns, "wait", f"--for={condition}",
                                              f"--timeout={timeout}s", *target),
                wait=f"{condition} {' '.join(target)}" + (f" -n {namespace}" if namespace else ""),
                timeout=timeout + 30)


def _patch(context: str, addon: str, name: str, namespace: str, target: str, kind: str,
           body: Any) -> Step:
    return Step(name, "patch", addon, _kubectl(context, "-n", namespace, "patch", target,
                                               f"--type={kind}", "-p", json.dumps(body)),
                patch={"type": kind, "body": body})


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
        # verification; 15 s resolution is what the twin assumes (and upstream's default).
        _patch(context, a, "metrics-server: --kubelet-insecure-tls --metric-resolution=15s",
               "kube-system", "deployment/metrics-server", "json",
               [{"op": "add", "path": args_path, "value": "--kubelet-insecure-tls"},
                {"op": "add", "path": args_path, "value": "--metric-resolution=15s"}]),
        # rollout status, not wait: it waits for the *patched* pods, not the old ReplicaSet.
        Step("metrics-server: wait for the patched rollout", "wait", a,
             _kubectl(context, "-n", "kube-system", "rollout", "status",
                      "deployment/metrics-server", "--timeout=240s"),
             wait="rollout of deployment/metrics-server complete -n kube-system", timeout=270),
        _wait(context, a, "metrics-server: wait for the metrics API", "condition=Available",
              ["apiservice/v1beta1.metrics.k8s.io"], None, 240),
        _record(context, a, ver),
    ]


def knative_steps(context: str) -> list[Step]:
    a, ver = "knative", v.KNATIVE_VERSION
    steps = [
        _apply_url(context, a, f"Knative Serving {ver}: apply CRDs", v.KNATIVE_CRDS_URL, ver),
        _wait(context, a, "Knative: wait for the CRDs", "condition=Established",
              ["crd/services.serving.knative.dev", "crd/revisions.serving.knative.dev",
               "crd/podautoscalers.autoscaling.internal.knative.dev"], None, 120),
        _apply_url(context, a, f"Knative Serving {ver}: apply core", v.KNATIVE_CORE_URL, ver),
        _apply_url(context, a, f"net-kourier {ver}: apply", v.KOURIER_URL, ver),
        _patch(context, a, "Knative: use Kourier for ingress", "knative-serving",
               "configmap/config-network", "merge",
               {"data": {"ingress-class": "kourier.ingress.networking.knative.dev"}}),
        _patch(context, a, f"Knative: route *.{KNATIVE_DOMAIN} (send Host headers)",
               "knative-serving", "configmap/config-domain", "merge",
               {"data": {KNATIVE_DOMAIN: ""}}),
        _patch(context, a, "Knative: do not resolve tags of kind-loaded images",
               "knative-serving", "configmap/config-deployment", "merge",
               {"data": {"registries-skipping-tag-resolving": SKIP_TAG_RESOLVING}}),
        _patch(context, a, f"Kourier: NodePort {v.KOURIER_NODE_PORT} (127.0.0.1 via kind)",
               "kourier-system", "service/kourier", "strategic",
               {"spec": {"type": "NodePort",
                         "ports": [{"port": 80, "nodePort": v.KOURIER_NODE_PORT}]}}),
    ]
    for (ns, deploy, container), requests in KNATIVE_SMALL_REQUESTS.items():
        steps.append(_patch(context, a, f"Knative: laptop-sized requests for {deploy}", ns,
                            f"deployment/{deploy}", "strategic",
                            {"spec": {"template": {"spec": {"containers": [
                                {"name": container, "resources": {"requests": requests}}]}}}}))
    steps += [
        _wait(context, a, "Knative: wait for knative-serving", "condition=Available",
              ["deployment", "--all"], "knative-serving", 300),
        _wait(context, a, "Kourier: wait for the gateway", "condition=Available",
              ["deployment", "--all"], "kourier-system", 300),
        _record(context, a, ver),
    ]
    return steps


def cert_manager_steps(context: str) -> list[Step]:
    a, ver = "cert-manager", v.CERT_MANAGER_VERSION
    return [
        _apply_url(context, a, f"cert-manager {ver}: apply", v.CERT_MANAGER_URL, ver),
        _wait(context, a, "cert-manager: wait for its webhook", "condition=Available",
              ["deployment", "--all"], "cert-manager", 300),
        _record(context, a, ver),
    ]


def kserve_steps(context: str) -> list[Step]:
    a, ver = "kserve", v.KSERVE_VERSION
    return [
        _apply_url(context, a, f"KServe {ver}: apply", v.KSERVE_URL, ver),
        _wait(context, a, "KServe: wait for the controller", "condition=Available",
              ["deployment/kserve-controller-manager"], "kserve", 300),
        _apply_url(context, a, f"KServe {ver}: apply cluster resources",
                   v.KSERVE_CLUSTER_RESOURCES_URL, ver),
        # Knative mode by default, and no Istio VirtualService (Kourier routes instead).
        Step("KServe: Knative mode, Kourier ingress", "merge-json-config", a,
             _kubectl(context, "-n", "kserve", "get", "configmap/inferenceservice-config",
                      "-o", "json"),
             patch={"deploy": {"defaultDeploymentMode": "Knative"},
                    "ingress": {"disableIstioVirtualHost": True}}),
        _record(context, a, ver),
    ]


def keda_steps(context: str) -> list[Step]:
    a, ver = "keda", v.KEDA_VERSION
    return [
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


def run_plan(plan: InstallPlan, runner: Runner, *, progress: bool = True,
             context: str = v.CONTEXT, stream=None) -> None:
    """Run every step in order; the first failure raises (see :func:`up` for cleanup)."""
    bar = Progress(len(plan.steps), enabled=progress, stream=stream)
    for step in plan.steps:
        bar.start(step.name)
        try:
            if step.action == "merge-json-config":
                _merge_json_config(runner, step, context)
            else:
                runner.run(step.argv, timeout=step.timeout, input=step.input,
                           stream=progress and step.action in ("build", "kind-create"))
        except CommandError as e:
            raise BackendError(f"labkit up: step {bar.done + 1}/{len(plan.steps)} "
                               f"\"{step.name}\" failed. {e}") from e
        bar.advance()
    bar.finish(f"labkit up --profile {plan.profile}: done ({len(plan.steps)} steps, "
               f"{len(plan.skipped)} already in place)")


def up(profile: str = "hpa", *, progress: bool = True, runner: Runner | None = None,
       dry_run: bool = False, keep_on_failure: bool = False) -> InstallPlan:
    """Create the cluster (if needed) and install the add-ons of ``profile``; return the plan.

    Terminal equivalent: ``kind create cluster --config manifests/kind/cluster.yaml`` followed
    by the ``kubectl apply --server-side -f <release URL>`` lines of ``labkit up --dry-run``.
    If a step fails and this call created the cluster, the cluster is deleted again (unless
    ``keep_on_failure``), so a retry starts clean.
    """
    runner = runner or SubprocessRunner()
    for tool in ("docker", "kind", "kubectl"):
        if runner.which(tool) is None:
            from ...errors import ToolMissingError
            from .runner import INSTALL_HINTS
            raise ToolMissingError(f"labkit up needs `{tool}`: {INSTALL_HINTS[tool]} "
                                   "(`labkit doctor` checks everything at once)")
    exists = cluster_exists(runner)
    with tempfile.TemporaryDirectory(prefix="labkit-") as tmp:
        config = write_kind_config(tmp)
        plan = install_plan(profile, cluster_exists=exists,
                            installed=installed_addons(runner) if exists else {},
                            image_exists=image_exists(runner), config_path=config)
        if dry_run:
            print(plan.describe())
            return plan
        try:
            run_plan(plan, runner, progress=progress)
        except BaseException as e:
            if plan.creates_cluster and not keep_on_failure:
                print(f"labkit up: cleaning up: deleting the half-made cluster "
                      f"{v.CLUSTER_NAME} ({type(e).__name__})", file=sys.stderr)
                runner.run(["kind", "delete", "cluster", "--name", v.CLUSTER_NAME],
                           check=False, timeout=300)
            raise
    return plan


def down(*, runner: Runner | None = None, progress: bool = True) -> bool:
    """Delete the cluster and stop what labkit started; return whether a cluster was deleted.

    Terminal equivalent: ``kind delete cluster --name labkit``.
    """
    from .backend import close_all_backends
    close_all_backends()
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
           "Completed"]
