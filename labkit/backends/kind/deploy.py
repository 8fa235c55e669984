"""Apply a variant with server-side apply, wait until it is ready, and remove it cleanly.

Talks to the cluster through :class:`ClusterApi` (get/list/apply/delete of plain dicts), so
the rules here run against a fake in tests; :class:`KubeApi` is the real one, built on the
Kubernetes Python client's dynamic client (server-side apply = PATCH with
``application/apply-patch+yaml``, field manager ``labkit``), imported lazily.

Shared clusters: ``context=`` may point at a cluster others use. Every object labkit creates
carries the owner label :data:`OWNER_LABEL` (:func:`default_owner`, or ``owner=``); deploy
refuses to overwrite an object it does not own, and removal deletes only objects with its own
owner label in its own namespace, so another learner's objects survive.

Terminal equivalent: ``kubectl apply --server-side --field-manager=labkit -k manifests/<variant>``,
then ``kubectl wait``, and ``kubectl delete -l labkit.dev/owner=<you> ... --wait``.
"""

from __future__ import annotations

import copy
import dataclasses
import getpass
import os
import re
import socket
import time as _time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from ...errors import BackendError
from ...manifests import Variant
from . import observe
from .cluster_config import (apply_cluster_config, check_kind_cluster, is_cluster_config,
                             is_kind_cluster, restore_cluster_config)

FIELD_MANAGER = "labkit"
PART_OF = "app.kubernetes.io/part-of=labkit"
#: The label every object labkit creates carries: whose it is (a learner on a shared cluster).
OWNER_LABEL = "labkit.dev/owner"
MANAGED_BY = ("app.kubernetes.io/managed-by", "labkit")
#: Words in an API error that mean "a webhook is not serving yet" (the API server's message
#: for failurePolicy: Fail webhooks: 'failed calling webhook "...": ... connection refused' /
#: 'no endpoints available for service'); worth retrying for a bounded time.
WEBHOOK_NOT_READY = ("failed calling webhook", "no endpoints available", "connection refused")


def default_owner() -> str:
    """The owner label value: ``$LABKIT_OWNER``, else ``<user>-<host>``, as a valid label value."""
    raw = os.environ.get("LABKIT_OWNER") or f"{getpass.getuser()}-{socket.gethostname()}"
    return owner_value(raw)


def owner_value(raw: str) -> str:
    """``raw`` as a label value: [A-Za-z0-9._-], at most 63 characters, alphanumeric ends."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", raw)[:63].strip("-._")
    if not value:
        raise BackendError(f"owner {raw!r} has no letters or digits; pass owner='alice' "
                           "(or set LABKIT_OWNER)")
    return value


def owner_of(obj: Mapping[str, Any] | None) -> str | None:
    return (((obj or {}).get("metadata") or {}).get("labels") or {}).get(OWNER_LABEL)


def stamp(doc: Mapping[str, Any], owner: str) -> dict:
    """A copy of ``doc`` with the owner labels on the object and on its pod template."""
    out = copy.deepcopy(dict(doc))
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    labels[OWNER_LABEL] = owner
    labels.setdefault(*MANAGED_BY)
    template = (out.get("spec") or {}).get("template")
    # Deployment (apps/v1) and Knative Service (serving.knative.dev/v1) pod templates: their
    # labels reach the pods, so removal can wait for exactly this owner's pods.
    if isinstance(template, dict) and out.get("kind") in ("Deployment", "Service"):
        template.setdefault("metadata", {}).setdefault("labels", {})[OWNER_LABEL] = owner
    # A KEDA ScaledJob's Jobs copy its labels and their pods its jobTargetRef's template
    # (kedacore/keda v2.20.2 pkg/scaling/executor/scale_jobs.go generateJobs).
    job_template = ((out.get("spec") or {}).get("jobTargetRef") or {}).get("template")
    if isinstance(job_template, dict) and out.get("kind") == "ScaledJob":
        job_template.setdefault("metadata", {}).setdefault("labels", {})[OWNER_LABEL] = owner
    return out

#: Which add-on profile provides each API group (for "run labkit up --profile X" hints).
GROUP_PROFILE = {"serving.knative.dev": "knative", "serving.kserve.io": "kserve",
                 "keda.sh": "keda", "autoscaling": "hpa", "apps": "hpa", "": "hpa"}

#: Kinds labkit may have created, swept (by the part-of label) before a new variant.
SWEEP_KINDS: tuple[tuple[str, str], ...] = (
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("serving.knative.dev/v1", "Service"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "ScaledJob"),
    ("batch/v1", "Job"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
)


class ClusterApi(Protocol):
    """The few verbs deploy and observe need, on plain dicts."""

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None) -> dict | None: ...

    def list(self, api_version: str, kind: str, namespace: str | None, *,
             label_selector: str | None = None) -> list[dict]: ...

    def apply(self, doc: Mapping[str, Any], namespace: str) -> dict: ...

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool: ...

    def pod_proxy(self, namespace: str, pod: str, port: int, path: str) -> str:
        """GET ``/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/{path}`` as text."""
        ...


class KubeApi:
    """:class:`ClusterApi` over the Kubernetes Python client (a kubeconfig context).

    Every call goes through :meth:`_call`, which turns "cannot connect" into one
    :class:`BackendError` naming the context and the server (no urllib3 traceback) and an
    API error into one line with its status and message.
    """

    def __init__(self, context: str | None = None, *, timeout: float = 10.0):
        try:
            from kubernetes import client as k8s, config, dynamic
        except ImportError as e:  # pragma: no cover - kubernetes is a dependency
            raise BackendError("the kind backend needs the `kubernetes` package: "
                               "pip install kubernetes") from e
        cfg = k8s.Configuration()
        try:
            # $KUBECONFIG is read now, not when the kubernetes package was imported.
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None,
                                    context=context, client_configuration=cfg)
        except Exception as e:
            raise BackendError(f"cannot use the kubeconfig context {context!r} ({e}); run "
                               "`labkit up`, or check `kubectl config get-contexts`") from None
        # One attempt per call: urllib3's default retries make an absent server take long
        # and end in a MaxRetryError traceback; we say it once, plainly. (Set before the
        # ApiClient exists: its connection pool copies the setting.)
        cfg.retries = 0
        client = k8s.ApiClient(cfg)
        self.context, self.timeout = context, timeout
        self.server = client.configuration.host
        self.api_client: Any = client
        self._dynamic: Any = None
        self._dynamic_cls = dynamic.DynamicClient

    @property
    def client(self) -> Any:
        """The dynamic client (it reads the API's discovery documents on first use)."""
        if self._dynamic is None:
            self._dynamic = self._call(lambda: self._dynamic_cls(self.api_client))
        return self._dynamic

    def _call(self, fn: Callable[[], Any]) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error
        try:
            return fn()
        except (Urllib3Error, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise BackendError(
                f"cannot reach the Kubernetes API server of context {self.context!r} at "
                f"{self.server} ({str(reason).split(': ')[-1][:160]}). Is the cluster running? "
                f"`kind get clusters` lists kind clusters; `labkit up` makes labkit's; for "
                f"another cluster check `kubectl --context {self.context} cluster-info`."
            ) from None
        except ApiException as e:
            raise BackendError(f"the API server of context {self.context!r} answered "
                               f"{e.status} {e.reason}: {_api_message(e.body)}") from None

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError
        try:
            return self._call(lambda: self.client.resources.get(api_version=api_version,
                                                                kind=kind))
        except ResourceNotFoundError as e:
            group = api_version.split("/")[0] if "/" in api_version else ""
            profile = GROUP_PROFILE.get(group, "all")
            raise BackendError(f"the cluster has no {kind} ({api_version}); its add-on is not "
                               f"installed: run `labkit up --profile {profile}`") from e

    def get(self, api_version, kind, name, namespace):
        from kubernetes.dynamic.exceptions import NotFoundError
        r = self._resource(api_version, kind)

        def once() -> dict | None:
            try:
                return r.get(name=name, namespace=namespace,
                             _request_timeout=self.timeout).to_dict()
            except NotFoundError:
                return None
        return self._call(once)

    def list(self, api_version, kind, namespace, *, label_selector=None):
        r = self._resource(api_version, kind)
        res = self._call(lambda: r.get(namespace=namespace, label_selector=label_selector,
                                       _request_timeout=self.timeout))
        return list(res.to_dict().get("items") or [])

    def apply(self, doc, namespace):
        r = self._resource(doc["apiVersion"], doc["kind"])
        ns = namespace if r.namespaced else None
        return self._call(lambda: self.client.server_side_apply(
            r, body=dict(doc), namespace=ns, field_manager=FIELD_MANAGER,
            force_conflicts=True, _request_timeout=self.timeout).to_dict())

    def delete(self, api_version, kind, name, namespace):
        from kubernetes.dynamic.exceptions import NotFoundError
        r = self._resource(api_version, kind)

        def once() -> bool:
            try:
                r.delete(name=name, namespace=namespace, propagation_policy="Foreground",
                         _request_timeout=self.timeout)
                return True
            except NotFoundError:
                return False
        return self._call(once)

    def pod_proxy(self, namespace, pod, port, path):
        # kubernetes-client/python 37.x (installed 37.0.2): CoreV1Api.
        # connect_get_namespaced_pod_proxy_with_path(name, namespace, path) GETs
        # /api/v1/namespaces/{namespace}/pods/{name}/proxy/{path} and returns the body as str;
        # "name:port" selects the port (the API server's pod proxy syntax). The old
        # ApiClient.call_api(path, "GET", auth_settings=...) signature is gone in 37.x.
        from kubernetes import client
        core = client.CoreV1Api(self.api_client)
        return self._call(lambda: core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod}:{port}", namespace, path, _request_timeout=self.timeout))


def _api_message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body, else the body's first line."""
    import json
    try:
        return str(json.loads(body).get("message"))[:400]
    except (TypeError, ValueError, AttributeError):
        return str(body or "").strip().splitlines()[0][:400] if body else "(no message)"


@dataclass(frozen=True)
class WatchSpec:
    """What to watch for one variant: the scale target and its autoscaler."""

    variant: str
    namespace: str
    autoscaler: str                  #: "hpa" | "keda" | "kpa" | "none"
    deployment: str | None           #: scale target Deployment (None until a revision exists)
    pod_selector: str                #: label selector of the app's pods
    hpa: str | None = None
    scaled_object: str | None = None
    knative_service: str | None = None  #: the Knative Service whose latest revision scales
    inference_service: str | None = None
    scaled_job: str | None = None    #: a KEDA ScaledJob: its Jobs are what scales
    queue_api: str | None = None     #: the Deployment serving GET /queue (queue variants)


def watch_spec(variant: Variant, namespace: str = "default") -> WatchSpec:
    """Read from a variant's manifests what to watch (pure; Knative names resolve later)."""
    kinds = {o.kind for o in variant.objects}
    if "InferenceService" in kinds:
        isvc = variant.get("InferenceService").name
        return WatchSpec(variant.name, namespace, "kpa", None, "", knative_service=
                         f"{isvc}-predictor", inference_service=isvc)
    knative = variant.of_kind("Service", api_version="serving.knative.dev/")
    if knative:
        return WatchSpec(variant.name, namespace, "kpa", None, "",
                         knative_service=knative[0].name)
    queue_api = _queue_api(variant)
    if "ScaledJob" in kinds:
        sj = variant.get("ScaledJob")
        return WatchSpec(variant.name, namespace, "scaledjob", None,
                         f"{SCALED_JOB_LABEL}={sj.name}", scaled_job=sj.name,
                         queue_api=queue_api)
    if "ScaledObject" in kinds:
        so = variant.get("ScaledObject")
        target = so.doc["spec"]["scaleTargetRef"]["name"]
        return WatchSpec(variant.name, namespace, "keda", target,
                         _selector(variant, target), hpa=f"keda-hpa-{so.name}",
                         scaled_object=so.name, queue_api=queue_api)
    if "HorizontalPodAutoscaler" in kinds:
        hpa = variant.get("HorizontalPodAutoscaler")
        target = hpa.doc["spec"]["scaleTargetRef"]["name"]
        return WatchSpec(variant.name, namespace, "hpa", target, _selector(variant, target),
                         hpa=hpa.name)
    deploys = variant.of_kind("Deployment")
    name = deploys[0].name if deploys else None
    return WatchSpec(variant.name, namespace, "none", name,
                     _selector(variant, name) if name else "")


#: The label KEDA puts on a ScaledJob's Jobs and on their pod template (kedacore/keda v2.20.2
#: pkg/scaling/executor/scale_jobs.go generateJobs).
SCALED_JOB_LABEL = "scaledjob.keda.sh/name"


def _queue_api(variant: Variant) -> str | None:
    """The Deployment of the enqueue API (``APP_REDIS_URL`` set, not a worker), if any."""
    for d in variant.of_kind("Deployment"):
        for c in (((d.doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers") or []:
            env = {e.get("name") for e in c.get("env") or []}
            if "APP_REDIS_URL" in env and "app.worker" not in (c.get("command") or []):
                return d.name
    return None


def _selector(variant: Variant, deployment: str) -> str:
    d = next((o for o in variant.of_kind("Deployment") if o.name == deployment), None)
    labels = ((d.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {} if d else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def knative_revision(ksvc: Mapping[str, Any] | None) -> str | None:
    """The revision that serves (latest ready, else latest created) of a Knative Service."""
    st = (ksvc or {}).get("status") or {}
    return st.get("latestReadyRevisionName") or st.get("latestCreatedRevisionName")


def resolve(spec: WatchSpec, api: ClusterApi) -> WatchSpec:
    """Fill in the Knative revision's Deployment and pod selector once the revision exists."""
    if spec.knative_service is None or spec.deployment:
        return spec
    rev = knative_revision(api.get("serving.knative.dev/v1", "Service", spec.knative_service,
                                   spec.namespace))
    if not rev:
        return spec
    return dataclasses.replace(spec, deployment=f"{rev}-deployment",
                               pod_selector=f"serving.knative.dev/revision={rev}",
                               hpa=None, scaled_object=None)


# -- apply, wait, remove ---------------------------------------------------------------------------
def _namespace_of(doc: Mapping[str, Any], namespace: str) -> str:
    ns = (doc.get("metadata") or {}).get("namespace")
    return ns if ns and ns != "default" else namespace


def check_owned(api: ClusterApi, doc: Mapping[str, Any], namespace: str, owner: str) -> None:
    """Refuse to touch an existing object that carries no owner label of ``owner``."""
    meta = doc.get("metadata") or {}
    existing = api.get(doc["apiVersion"], doc["kind"], meta.get("name", ""),
                       _namespace_of(doc, namespace))
    other = owner_of(existing)
    if existing is not None and other != owner:
        raise BackendError(
            f"{doc['kind']}/{meta.get('name')} already exists in namespace "
            f"{_namespace_of(doc, namespace)} and is not yours ({OWNER_LABEL}="
            f"{other or '(none)'}; you are {owner}). labkit leaves other people's objects "
            "alone: use your own namespace (KindBackend(namespace=...)) or ask its owner")


def apply_owned(api: ClusterApi, doc: Mapping[str, Any], namespace: str, owner: str, *,
                timeout: float = 120.0, poll: float = 3.0,
                clock: Callable[[], float] = _time.monotonic,
                sleep: Callable[[float], None] = _time.sleep) -> dict:
    """Server-side apply one object with the owner labels, if it is new or ours.

    A webhook that is not serving yet (Knative's and KServe's use failurePolicy: Fail) makes
    the API server refuse; that is retried every ``poll`` s for up to ``timeout`` s.
    """
    check_owned(api, doc, namespace, owner)
    body, ns = stamp(doc, owner), _namespace_of(doc, namespace)
    deadline = clock() + timeout
    while True:
        try:
            return api.apply(body, ns)
        except BackendError as e:
            if not any(w in str(e) for w in WEBHOOK_NOT_READY) or clock() >= deadline:
                raise
        sleep(poll)


def apply_variant(api: ClusterApi, variant: Variant, namespace: str = "default", *,
                  owner: str | None = None, shared: bool = False, timeout: float = 120.0,
                  clock: Callable[[], float] = _time.monotonic,
                  sleep: Callable[[float], None] = _time.sleep) -> list[str]:
    """Server-side apply every object of the variant, in file order; return their refs.

    Cluster-level configuration (:mod:`.cluster_config`) is merged into the cluster's own
    object instead, and refused when ``shared`` (a cluster other learners use).
    """
    owner = owner or default_owner()
    for obj in variant.objects:   # refuse before changing anything
        if is_kind_cluster(obj.doc):
            from .cluster import kind_config
            check_kind_cluster(obj.doc, kind_config())
        elif is_cluster_config(obj.doc):
            if shared:
                apply_cluster_config(api, obj.doc, shared=True)   # raises: not on shared ones
        else:
            check_owned(api, obj.doc, namespace, owner)
    done = []
    for obj in variant.objects:
        if is_kind_cluster(obj.doc):     # how the cluster was made; nothing to apply
            continue
        if is_cluster_config(obj.doc):   # merged into Knative's own ConfigMap, not owned
            apply_cluster_config(api, obj.doc, shared=shared)
        else:
            apply_owned(api, obj.doc, namespace, owner, timeout=timeout, clock=clock,
                        sleep=sleep)
        done.append(obj.ref)
    return done


def object_ready(obj: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether one applied object is ready, and if not, why (for the timeout message)."""
    if obj is None:
        return False, "not created yet"
    kind = obj.get("kind")
    if kind == "Deployment":
        spec, ready = observe.deployment_replicas(obj)
        return ready >= spec, f"{ready}/{spec} replicas ready"
    conds = observe.conditions(obj)
    if kind in ("Service", "InferenceService", "ScaledObject", "ScaledJob") and conds:
        c = conds.get("Ready", {})
        return c.get("status") == "True", f"Ready={c.get('status', 'Unknown')} " \
                                          f"{c.get('reason', '')} {c.get('message', '')}".strip()
    if kind in ("Service", "InferenceService", "ScaledObject", "ScaledJob"):
        # Core Services have no conditions: ready once they exist. CRDs: wait for status.
        return obj.get("apiVersion") == "v1", "no status yet"
    return True, ""


def wait_ready(api: ClusterApi, variant: Variant, namespace: str = "default", *,
               timeout: float = 300.0, poll: float = 2.0,
               clock: Callable[[], float] = _time.monotonic,
               sleep: Callable[[float], None] = _time.sleep) -> None:
    """Wait until every object is ready (Deployments available, CRDs ``Ready=True``)."""
    deadline = clock() + timeout
    while True:
        waiting = []
        for obj in variant.objects:
            if is_kind_cluster(obj.doc):
                continue
            ok, why = object_ready(api.get(obj.api_version, obj.kind, obj.name,
                                           obj.namespace if obj.namespace != "default"
                                           else namespace))
            if not ok:
                waiting.append(f"{obj.ref}: {why}")
        if not waiting:
            return
        if clock() >= deadline:
            raise BackendError(f"variant {variant.name!r} was not ready after {timeout:.0f} s: "
                               + "; ".join(waiting) + ". Look with `kubectl get pods` and "
                               "`kubectl describe` (images loaded? `labkit up` again)")
        sleep(poll)


def remove_variant(api: ClusterApi, variant: Variant | None, namespace: str = "default", *,
                   owner: str | None = None, timeout: float = 180.0, poll: float = 2.0,
                   clock: Callable[[], float] = _time.monotonic,
                   sleep: Callable[[float], None] = _time.sleep) -> list[str]:
    """Delete this owner's objects in ``namespace`` (the variant's, autoscalers first, and any
    other kind labkit makes), then wait until they and their pods are gone.

    Only objects whose :data:`OWNER_LABEL` is ``owner`` are touched: on a shared cluster,
    another learner's objects in the same namespace survive. Deleting the autoscaler first
    stops it from scaling the target while it goes away.
    """
    owner = owner or default_owner()
    mine = f"{OWNER_LABEL}={owner}"
    targets: list[tuple[str, str, str]] = []
    for o in variant.objects if variant is not None else ():
        if is_cluster_config(o.doc):   # Knative's defaults come back
            restore_cluster_config(api, o.doc)
    if variant is not None:
        for o in reversed(variant.objects):
            try:
                existing = api.get(o.api_version, o.kind, o.name, namespace)
            except BackendError:
                continue
            if existing is not None and owner_of(existing) == owner:
                targets.append((o.api_version, o.kind, o.name))
    for api_version, kind in SWEEP_KINDS:
        try:
            found = api.list(api_version, kind, namespace, label_selector=mine)
        except BackendError as e:
            if "cannot reach" in str(e):
                raise
            continue  # the add-on is not installed, so nothing of that kind exists
        targets += [(api_version, kind, (o.get("metadata") or {}).get("name", ""))
                    for o in found if owner_of(o) == owner]
    order = {k: i for i, (_, k) in enumerate(SWEEP_KINDS)}
    seen, deleted = set(), []
    for api_version, kind, name in sorted(targets, key=lambda t: order.get(t[1], 99)):
        if (api_version, kind, name) in seen:
            continue
        seen.add((api_version, kind, name))
        try:
            if api.delete(api_version, kind, name, namespace):
                deleted.append(f"{kind}/{name}")
        except BackendError:
            continue
    deadline = clock() + timeout
    while True:
        left = [f"{k}/{n}" for a, k, n in seen if api.get(a, k, n, namespace) is not None]
        pods = api.list("v1", "Pod", namespace, label_selector=mine)
        if not left and not pods:
            return deleted
        if clock() >= deadline:
            raise BackendError("could not remove the previous variant within "
                               f"{timeout:.0f} s: still there: {', '.join(left)} "
                               f"{len(pods)} pod(s). Look with `kubectl get all -n {namespace} "
                               f"-l {mine}`")
        sleep(poll)
