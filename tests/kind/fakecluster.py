"""An in-memory kind cluster with the faults that break real installs, on a simulated clock.

One :class:`FakeCluster` answers both doors labkit uses: the command line (``kind``,
``docker``, ``kubectl`` through :class:`tests.kind.fakerunner.FakeRunner`) for ``labkit up``, and
the :class:`~labkit.backends.kind.deploy.ClusterApi` verbs for deploy and observe. Each command
costs one simulated second; ``sleep`` advances the clock. Faults, each read from upstream:

- **Webhooks refuse until their Deployment has been Available for a while**
  (``webhook_warmup`` s after Available): Knative's config webhook guards the knative-serving
  ConfigMaps by label (knative/serving knative-v1.23.0 config/core/webhooks/
  configmap-validation.yaml, failurePolicy: Fail) and its resource webhooks guard Knative
  Services (config/core/webhooks/resource-validation.yaml); cert-manager's webhook guards
  cert-manager.io objects (cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager/
  templates/webhook-validating-webhook.yaml); KServe's guard InferenceServices and
  ClusterServingRuntimes, llmisvc's guard LLMInferenceServiceConfigs (kserve/kserve v0.20.0
  config/webhook/manifests.yaml, config/webhook/llmisvc/manifests.yaml). KEDA's use
  failurePolicy: Ignore (kedacore/keda v2.20.2 config/webhooks/validation_webhooks.yaml).
  A refusal reads like the API server's: ``failed calling webhook "...": ... connect:
  connection refused``. Conservative: a webhook guards from the moment its release is
  applied (Knative's webhook fills in its own rules when its pod starts, so the real window
  is shorter, never longer).
- **CRDs are established late** (``crd_delay`` s after apply): an object of a CRD applied
  in the same file fails with kubectl's "ensure CRDs are installed first" (serving-core's
  Image, config/core/999-cache.yaml; kserve.yaml's ClusterStorageContainer,
  config/storagecontainers).
- **Namespaces must exist before namespaced objects**: kserve.yaml ships no Namespace
  (kserve/kserve v0.20.0 hack/release/generate-install.sh: ``select(.kind != "Namespace")``);
  the others ship theirs (config/core/100-namespace.yaml, net-kourier config/100-namespace.yaml,
  cert-manager.yaml, keda-2.20.2.yaml).
- **Metrics endpoints answer only when config enables them**: the Knative autoscaler serves
  ``:9090/metrics`` only if ``config-observability`` had ``metrics-protocol: prometheus`` when
  its pod started (vendor/knative.dev/pkg/observability/metrics/config.go DefaultConfig is
  "none"; cmd/autoscaler/main.go reads it once at start).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from labkit.backends.kind import versions as v
from labkit.backends.kind.runner import Completed
from labkit.errors import BackendError

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Webhook:
    name: str
    deployment: tuple[str, str]                   #: (namespace, name) serving it
    guards: Callable[[str, str, dict], bool]      #: (kind, namespace, labels) -> checked?
    fail: bool = True                             #: failurePolicy: Fail (else Ignore)


@dataclass
class Release:
    """What one upstream release manifest holds (only what the faults need)."""

    namespaces: tuple[str, ...] = ()              #: Namespace objects in the file
    crds: dict[str, str] = field(default_factory=dict)   #: kind -> CRD name
    objects: tuple[tuple[str, str | None, str, dict], ...] = ()  #: (kind, ns, name, labels)
    deployments: tuple[tuple[str, str], ...] = ()
    webhooks: tuple[Webhook, ...] = ()


def _knative_config(kind: str, ns: str, labels: dict) -> bool:
    return (kind == "ConfigMap" and labels.get("app.kubernetes.io/name") == "knative-serving"
            and labels.get("app.kubernetes.io/component") in
            ("autoscaler", "controller", "logging", "networking", "observability", "tracing",
             "net-certmanager"))


KN = "knative-serving"
KN_LABELS = {"app.kubernetes.io/name": "knative-serving"}


def _cm(name: str, component: str) -> tuple[str, str, str, dict]:
    return ("ConfigMap", KN, name, {**KN_LABELS, "app.kubernetes.io/component": component})


RELEASES: dict[str, Release] = {
    v.METRICS_SERVER_URL: Release(deployments=(("kube-system", "metrics-server"),),
                                  objects=(("APIService", None, "v1beta1.metrics.k8s.io", {}),)),
    v.KNATIVE_CRDS_URL: Release(crds={"Service.serving.knative.dev": "services.serving.knative.dev",
                                      "Revision": "revisions.serving.knative.dev",
                                      "PodAutoscaler": "podautoscalers.autoscaling.internal."
                                                       "knative.dev"}),
    v.KNATIVE_CORE_URL: Release(
        namespaces=(KN,),
        crds={"Image": "images.caching.internal.knative.dev"},
        objects=(_cm("config-network", "networking"), _cm("config-domain", "controller"),
                 _cm("config-deployment", "controller"),
                 _cm("config-observability", "observability"),
                 ("HorizontalPodAutoscaler", KN, "activator", {}),
                 ("HorizontalPodAutoscaler", KN, "webhook", {}),
                 ("Image", KN, "queue-proxy", {})),
        deployments=((KN, "activator"), (KN, "autoscaler"), (KN, "controller"), (KN, "webhook")),
        webhooks=(Webhook("config.webhook.serving.knative.dev", (KN, "webhook"),
                          _knative_config),
                  Webhook("validation.webhook.serving.knative.dev", (KN, "webhook"),
                          lambda k, ns, l: k == "Service.serving.knative.dev"))),
    v.KOURIER_URL: Release(
        namespaces=("kourier-system",),
        objects=(("Service", "kourier-system", "kourier", {}),
                 ("HorizontalPodAutoscaler", "kourier-system", "3scale-kourier-gateway", {})),
        deployments=((KN, "net-kourier-controller"), ("kourier-system", "3scale-kourier-gateway"))),
    v.CERT_MANAGER_URL: Release(
        namespaces=("cert-manager",),
        crds={"Issuer": "issuers.cert-manager.io", "Certificate": "certificates.cert-manager.io"},
        deployments=(("cert-manager", "cert-manager"), ("cert-manager", "cert-manager-cainjector"),
                     ("cert-manager", "cert-manager-webhook")),
        webhooks=(Webhook("webhook.cert-manager.io", ("cert-manager", "cert-manager-webhook"),
                          lambda k, ns, l: k in ("Issuer", "Certificate")),)),
    v.KSERVE_URL: Release(
        crds={"InferenceService": "inferenceservices.serving.kserve.io",
              "ClusterServingRuntime": "clusterservingruntimes.serving.kserve.io",
              "ClusterStorageContainer": "clusterstoragecontainers.serving.kserve.io",
              "LLMInferenceServiceConfig": "llminferenceserviceconfigs.serving.kserve.io"},
        objects=(("ConfigMap", "kserve", "inferenceservice-config", {}),
                 ("ClusterStorageContainer", None, "default", {}),
                 ("Issuer", "kserve", "selfsigned-issuer", {}),
                 ("Certificate", "kserve", "serving-cert", {})),
        deployments=(("kserve", "kserve-controller-manager"),
                     ("kserve", "llmisvc-controller-manager"),
                     ("kserve", "kserve-localmodel-controller-manager")),
        webhooks=(Webhook("inferenceservice.serving.kserve.io",
                          ("kserve", "kserve-controller-manager"),
                          lambda k, ns, l: k in ("InferenceService", "ClusterServingRuntime")),
                  Webhook("llminferenceserviceconfig.serving.kserve.io",
                          ("kserve", "llmisvc-controller-manager"),
                          lambda k, ns, l: k == "LLMInferenceServiceConfig"))),
    v.KSERVE_CLUSTER_RESOURCES_URL: Release(
        objects=(("ClusterServingRuntime", None, "kserve-sklearnserver", {}),
                 ("LLMInferenceServiceConfig", "kserve", "kserve-config-llm-template", {}))),
    v.KEDA_URL: Release(
        namespaces=("keda",),
        crds={"ScaledObject": "scaledobjects.keda.sh"},
        deployments=(("keda", "keda-operator"), ("keda", "keda-operator-metrics-apiserver"),
                     ("keda", "keda-admission-webhooks")),
        webhooks=(Webhook("vscaledobject.kb.io", ("keda", "keda-admission-webhooks"),
                          lambda k, ns, l: k == "ScaledObject", fail=False),)),
}

#: Kinds that exist on every cluster (built in), and how API objects name CRD kinds here.
BUILTIN = {"Namespace", "ConfigMap", "Service", "Deployment", "Pod", "Event",
           "HorizontalPodAutoscaler", "APIService", "Secret"}


def _kind_key(api_version: str, kind: str) -> str:
    """Knative's Service shares its kind name with core Services: key it by group."""
    return "Service.serving.knative.dev" if kind == "Service" and \
        api_version.startswith("serving.knative.dev") else kind


class FakeCluster:
    """See the module docstring. ``fault=False`` turns every fault off (a patient cluster)."""

    def __init__(self, *, webhook_warmup: float = 25.0, crd_delay: float = 4.0,
                 startup: float = 20.0, fault: bool = True):
        self.now = 0.0
        self.webhook_warmup, self.crd_delay, self.startup = webhook_warmup, crd_delay, startup
        if not fault:
            self.webhook_warmup = self.crd_delay = self.startup = 0.0
        self.clusters: set[str] = set()
        self.images: set[str] = set()
        self.records: dict[str, str] = {}
        self.namespaces: set[str] = set()
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.crd_ready: dict[str, float] = {}          #: CRD kind key -> established at
        self.deploy_ready: dict[tuple[str, str], float] = {}
        self.webhooks: list[Webhook] = []
        self.autoscaler_protocol = "none"              #: what the autoscaler started with
        self.refusals: list[str] = []                  #: every webhook refusal, for tests
        self.fail_commands: list[str] = []             #: substrings of commands that fail

    # -- the clock -------------------------------------------------------------------------
    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    # -- shared rules ----------------------------------------------------------------------
    def available(self, ns: str, name: str) -> bool:
        t = self.deploy_ready.get((ns, name))
        return t is not None and self.now >= t

    def webhook_serving(self, hook: Webhook) -> bool:
        t = self.deploy_ready.get(hook.deployment)
        return t is not None and self.now >= t + self.webhook_warmup

    def admit(self, kind: str, ns: str | None, labels: dict) -> str | None:
        """None, or the API server's refusal when a Fail webhook guarding it is not serving."""
        for hook in self.webhooks:
            if hook.fail and hook.guards(kind, ns or "", labels) and not self.webhook_serving(hook):
                msg = (f'Internal error occurred: failed calling webhook "{hook.name}": failed '
                       f'to call webhook: Post "https://{hook.deployment[1]}.{hook.deployment[0]}'
                       f'.svc:443/?timeout=10s": dial tcp 10.96.0.17:443: connect: connection '
                       'refused')
                self.refusals.append(hook.name)
                return msg
        return None

    def check_object(self, kind: str, ns: str | None, name: str, labels: dict) -> str | None:
        if kind not in BUILTIN and not (kind in self.crd_ready and
                                        self.now >= self.crd_ready[kind]):
            return (f'resource mapping not found for name: "{name}" namespace: "{ns or ""}" '
                    f'from "STDIN": no matches for kind "{kind.split(".")[0]}"\n'
                    "ensure CRDs are installed first")
        if ns and ns not in self.namespaces:
            return f'Error from server (NotFound): namespaces "{ns}" not found'
        refused = self.admit(kind, ns, labels)
        return f"Error from server (InternalError): {refused}" if refused else None

    # -- the command line (labkit up) ------------------------------------------------------
    def attach(self, runner) -> "FakeCluster":
        runner.on(lambda a: True, fn=self.handle)
        return self

    def handle(self, a: tuple[str, ...], stdin: str | None) -> Completed:
        self.now += 1.0
        line = " ".join(a)
        if any(f in line for f in self.fail_commands):
            return Completed(a, 1, "", "error: the server could not find the requested resource")
        if a[:3] == ("kind", "get", "clusters"):
            return Completed(a, 0, "\n".join(sorted(self.clusters)) + "\n")
        if a[:3] == ("kind", "create", "cluster"):
            self.clusters.add(a[a.index("--name") + 1])
            self.namespaces |= {"default", "kube-system", "kube-public", "kube-node-lease"}
            return Completed(a, 0)
        if a[:3] == ("kind", "delete", "cluster"):
            self.clusters.discard(a[a.index("--name") + 1])
            self.__init__(webhook_warmup=self.webhook_warmup, crd_delay=self.crd_delay,
                          startup=self.startup)
            return Completed(a, 0)
        if a[:2] == ("docker", "build"):
            self.images.add(a[a.index("-t") + 1])
            return Completed(a, 0)
        if a[:3] == ("docker", "image", "inspect"):
            return Completed(a, 0 if a[3] in self.images else 1, "[]", "No such image")
        if a[:1] == ("kind",) or a[:1] == ("docker",):
            return Completed(a, 0)
        if a[0] != "kubectl":
            return Completed(a, 0)
        if a[1:4] == ("config", "get-contexts", "-o"):
            return Completed(a, 0, "\n".join(f"kind-{c}" for c in self.clusters) + "\n")
        if "labkit" not in self.clusters:
            return Completed(a, 1, "", "error: context \"kind-labkit\" does not exist")
        args = list(a[3:])   # drop kubectl --context kind-labkit
        ns = None
        if args[:1] == ["-n"]:
            ns, args = args[1], args[2:]
        verb = args[0]
        return getattr(self, "_k_" + verb.replace("-", "_"))(a, ns, args[1:], stdin)

    def _k_apply(self, a, ns, args, stdin) -> Completed:
        if "-f" in args and args[args.index("-f") + 1] != "-":
            return self._apply_release(a, args[args.index("-f") + 1])
        doc = yaml.safe_load(stdin or "{}")
        kind, meta = doc["kind"], doc["metadata"]
        if kind == "Namespace":
            self.namespaces.add(meta["name"])
            return Completed(a, 0, f"namespace/{meta['name']} serverside-applied")
        err = self.check_object(kind, meta.get("namespace"), meta["name"], meta.get("labels") or {})
        if err:
            return Completed(a, 1, "", err)
        key = (kind, meta["namespace"], meta["name"])
        if meta["name"] == "labkit-addons":
            self.records.update(doc["data"])
        old = self.objects.setdefault(key, {"metadata": dict(meta), "data": {}})
        old.setdefault("data", {}).update(doc.get("data") or {})
        return Completed(a, 0, f"configmap/{meta['name']} serverside-applied")

    def _apply_release(self, a, url: str) -> Completed:
        rel = RELEASES[url]
        out, errors = [], []
        self.namespaces |= set(rel.namespaces)
        for kind, crd in rel.crds.items():
            self.crd_ready.setdefault(kind, self.now + self.crd_delay)
            out.append(f"customresourcedefinition.apiextensions.k8s.io/{crd} serverside-applied")
        for kind, ns, name, labels in rel.objects:
            err = self.check_object(kind, ns, name, labels)
            if err:
                errors.append(err)
                continue
            key = (kind, ns or "", name)
            if key not in self.objects:
                self.objects[key] = {"metadata": {"name": name, "namespace": ns,
                                                  "labels": dict(labels)}, "data": {}}
                if name == "inferenceservice-config":
                    self.objects[key]["data"] = {
                        "deploy": '{"defaultDeploymentMode": "Standard"}',
                        "ingress": '{"ingressGateway": "knative-serving/knative-ingress-gateway",'
                                   ' "ingressDomain": "example.com"}'}
            out.append(f"{kind.lower()}/{name} serverside-applied")
        for dns, name in rel.deployments:
            if dns not in self.namespaces:
                errors.append(f'Error from server (NotFound): namespaces "{dns}" not found')
                continue
            if (dns, name) not in self.deploy_ready:
                self.deploy_ready[(dns, name)] = self.now + self.startup
                if name == "autoscaler":
                    self.autoscaler_protocol = self._observability()
            out.append(f"deployment.apps/{name} serverside-applied")
        for hook in rel.webhooks:
            if hook not in self.webhooks:
                self.webhooks.append(hook)
        if errors:
            return Completed(a, 1, "\n".join(out), "\n".join(errors))
        return Completed(a, 0, "\n".join(out))

    def _observability(self) -> str:
        cm = self.objects.get(("ConfigMap", KN, "config-observability")) or {}
        return (cm.get("data") or {}).get("metrics-protocol", "none")

    def _k_patch(self, a, ns, args, stdin) -> Completed:
        target = args[0]
        kind_word, name = target.split("/")
        body = json.loads(args[args.index("-p") + 1])
        if kind_word == "deployment":
            if (ns, name) not in self.deploy_ready:
                return Completed(a, 1, "", f'Error from server (NotFound): deployments.apps '
                                           f'"{name}" not found')
            return Completed(a, 0, f"deployment.apps/{name} patched")
        kind = {"configmap": "ConfigMap", "service": "Service",
                "horizontalpodautoscaler": "HorizontalPodAutoscaler"}[kind_word]
        obj = self.objects.get((kind, ns, name))
        if obj is None:
            return Completed(a, 1, "", f'Error from server (NotFound): {kind_word}s "{name}" '
                                       "not found")
        refused = self.admit(kind, ns, obj["metadata"].get("labels") or {})
        if refused:
            return Completed(a, 1, "", f"Error from server (InternalError): {refused}")
        if kind == "ConfigMap":
            obj.setdefault("data", {}).update(body.get("data") or {})
        else:
            obj.setdefault("spec", {}).update(body.get("spec") or {})
        return Completed(a, 0, f"{kind_word}/{name} patched")

    def _wait_until(self, a, ready_at: list[float | None], timeout: float, what: str) -> Completed:
        if not ready_at:
            return Completed(a, 1, "", "error: no matching resources found")
        if any(t is None for t in ready_at):
            return Completed(a, 1, "", f"Error from server (NotFound): {what} not found")
        t = max(ready_at)
        if t - self.now <= timeout:
            self.now = max(self.now, t)
            return Completed(a, 0, f"{what} condition met")
        self.now += timeout
        return Completed(a, 1, "", f"error: timed out waiting for the condition on {what}")

    def _k_wait(self, a, ns, args, stdin) -> Completed:
        cond = next(x for x in args if x.startswith("--for="))[len("--for="):]
        timeout = float(next(x for x in args if x.startswith("--timeout="))[10:-1])
        targets = [x for x in args if not x.startswith("--")]
        if targets == ["deployment"]:   # deployment --all
            times = [t for (dns, _), t in self.deploy_ready.items() if dns == ns]
            return self._wait_until(a, times, timeout, f"deployments in {ns}")
        times = []
        for t in targets:
            kind, name = t.split("/")
            if kind == "crd":
                k = next((k for r in RELEASES.values() for k, c in r.crds.items() if c == name),
                         None)
                times.append(self.crd_ready.get(k))
            elif kind == "deployment":
                times.append(self.deploy_ready.get((ns, name)))
            elif kind == "apiservice":
                times.append(self.deploy_ready.get(("kube-system", "metrics-server")))
        return self._wait_until(a, times, timeout, " ".join(targets))

    def _k_rollout(self, a, ns, args, stdin) -> Completed:
        name = args[1].split("/")[1]
        if args[0] == "restart":
            if (ns, name) not in self.deploy_ready:
                return Completed(a, 1, "", f'deployments.apps "{name}" not found')
            self.deploy_ready[(ns, name)] = max(self.deploy_ready[(ns, name)],
                                                self.now + self.startup)
            if name == "autoscaler":
                self.autoscaler_protocol = self._observability()
            return Completed(a, 0, f"deployment.apps/{name} restarted")
        timeout = float(next(x for x in args if x.startswith("--timeout="))[10:-1])
        return self._wait_until(a, [self.deploy_ready.get((ns, name))], timeout,
                                f"deployment/{name}")

    def _k_get(self, a, ns, args, stdin) -> Completed:
        name = args[1] if args[0] == "configmap" else args[0].split("/")[1]
        obj = self.objects.get(("ConfigMap", ns, name))
        if name == "labkit-addons":
            if not self.records:
                return Completed(a, 1, "", 'Error from server (NotFound): configmaps '
                                           '"labkit-addons" not found')
            return Completed(a, 0, json.dumps({"data": self.records}))
        if obj is None:
            return Completed(a, 1, "", f'Error from server (NotFound): configmaps "{name}" '
                                       "not found")
        return Completed(a, 0, json.dumps({"metadata": {"name": name, "namespace": ns},
                                           "data": obj.get("data") or {}}))

    # -- the ClusterApi (deploy and observe) -----------------------------------------------
    def api(self) -> "FakeClusterApi":
        return FakeClusterApi(self)


class FakeClusterApi:
    """:class:`ClusterApi` on a :class:`FakeCluster`: the same faults, as API errors."""

    def __init__(self, cluster: FakeCluster):
        self.c = cluster
        self.applied: list[str] = []
        self.metrics_text = (FIXTURES / "autoscaler-metrics.txt").read_text()

    def _key(self, api_version: str, kind: str, name: str, namespace: str | None):
        return (_kind_key(api_version, kind), namespace or "", name)

    def _known(self, api_version: str, kind: str) -> None:
        k = _kind_key(api_version, kind)
        if k not in BUILTIN and not (k in self.c.crd_ready and self.c.now >= self.c.crd_ready[k]):
            raise BackendError(f"the cluster has no {kind} ({api_version}); its add-on is not "
                               "installed")

    def get(self, api_version, kind, name, namespace):
        self._known(api_version, kind)
        return copy.deepcopy(self.c.objects.get(self._key(api_version, kind, name, namespace)))

    def list(self, api_version, kind, namespace, *, label_selector=None):
        self._known(api_version, kind)
        want = dict(s.split("=", 1) for s in label_selector.split(",")) if label_selector else {}
        out = []
        for (k, ns, _), doc in self.c.objects.items():
            if k != _kind_key(api_version, kind) or (namespace and ns != namespace):
                continue
            labels = (doc.get("metadata") or {}).get("labels") or {}
            if all(labels.get(key) == val for key, val in want.items()):
                out.append(copy.deepcopy(doc))
        return out

    def apply(self, doc, namespace):
        self.c.now += 0.2
        kind = _kind_key(doc["apiVersion"], doc["kind"])
        self._known(doc["apiVersion"], doc["kind"])
        meta = doc["metadata"]
        err = self.c.check_object(kind, namespace, meta["name"], meta.get("labels") or {})
        if err:
            raise BackendError(f"the API server answered 500 Internal Server Error: {err}")
        body = copy.deepcopy(dict(doc))
        body.setdefault("metadata", {})["namespace"] = namespace
        self.c.objects[(kind, namespace, meta["name"])] = body
        self.applied.append(f"{doc['kind']}/{meta['name']}")
        return body

    def delete(self, api_version, kind, name, namespace):
        self._known(api_version, kind)
        return self.c.objects.pop(self._key(api_version, kind, name, namespace), None) is not None

    def pod_proxy(self, namespace, pod, port, path):
        if (namespace, port, path) != ("knative-serving", 9090, "metrics"):
            raise BackendError(f"the API server answered 404 Not Found: no {path} on {pod}")
        if self.c.autoscaler_protocol != "prometheus":
            raise BackendError(
                "the API server answered 503 Service Unavailable: error trying to reach "
                f"service: dial tcp 10.244.0.12:{port}: connect: connection refused")
        return self.metrics_text

    def put(self, doc: dict, namespace: str = "default") -> None:
        """Store an object as a controller would (status included), bypassing admission."""
        kind = _kind_key(doc.get("apiVersion", "v1"), doc["kind"])
        self.c.objects[(kind, namespace, doc["metadata"]["name"])] = copy.deepcopy(doc)
