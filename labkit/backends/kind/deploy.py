"""Apply a variant with server-side apply, wait until it is ready, and remove it cleanly.

Talks to the cluster through :class:`ClusterApi` (get/list/apply/delete of plain dicts), so
the rules here run against a fake in tests; :class:`KubeApi` is the real one, built on the
Kubernetes Python client's dynamic client (server-side apply = PATCH with
``application/apply-patch+yaml``, field manager ``labkit``), imported lazily.

Terminal equivalent: ``kubectl apply --server-side --field-manager=labkit -k manifests/<variant>``,
then ``kubectl wait``, and ``kubectl delete -k manifests/<variant> --wait``.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from ...errors import BackendError
from ...manifests import Variant
from . import observe

FIELD_MANAGER = "labkit"
PART_OF = "app.kubernetes.io/part-of=labkit"

#: Which add-on profile provides each API group (for "run labkit up --profile X" hints).
GROUP_PROFILE = {"serving.knative.dev": "knative", "serving.kserve.io": "kserve",
                 "keda.sh": "keda", "autoscaling": "hpa", "apps": "hpa", "": "hpa"}

#: Kinds labkit may have created, swept (by the part-of label) before a new variant.
SWEEP_KINDS: tuple[tuple[str, str], ...] = (
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("serving.knative.dev/v1", "Service"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
)


class ClusterApi(Protocol):
    """The few verbs deploy and observe need, on plain dicts."""

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None) -> dict | None: ...

    def list(self, api_version: str, kind: str, namespace: str | None, *,
             label_selector: str | None = None) -> list[dict]: ...

    def apply(self, doc: Mapping[str, Any], namespace: str) -> dict: ...

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool: ...

    def raw(self, path: str) -> str: ...


class KubeApi:
    """:class:`ClusterApi` over the Kubernetes Python client (a kubeconfig context)."""

    def __init__(self, context: str | None = None):
        try:
            from kubernetes import config, dynamic
            from kubernetes.client import api_client
        except ImportError as e:  # pragma: no cover - kubernetes is a dependency
            raise BackendError("the kind backend needs the `kubernetes` package: "
                               "pip install kubernetes") from e
        try:
            client = config.new_client_from_config(context=context)
        except Exception as e:
            raise BackendError(f"cannot use the kubeconfig context {context!r} ({e}); run "
                               "`labkit up`, or check `kubectl config get-contexts`") from e
        self.client: Any = dynamic.DynamicClient(client)
        self.api_client: api_client.ApiClient = client

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError
        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError as e:
            group = api_version.split("/")[0] if "/" in api_version else ""
            profile = GROUP_PROFILE.get(group, "all")
            raise BackendError(f"the cluster has no {kind} ({api_version}); its add-on is not "
                               f"installed: run `labkit up --profile {profile}`") from e

    def get(self, api_version, kind, name, namespace):
        from kubernetes.dynamic.exceptions import NotFoundError
        try:
            return self._resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def list(self, api_version, kind, namespace, *, label_selector=None):
        res = self._resource(api_version, kind).get(namespace=namespace,
                                                    label_selector=label_selector)
        return list(res.to_dict().get("items") or [])

    def apply(self, doc, namespace):
        r = self._resource(doc["apiVersion"], doc["kind"])
        ns = namespace if r.namespaced else None
        return self.client.server_side_apply(r, body=dict(doc), namespace=ns,
                                             field_manager=FIELD_MANAGER,
                                             force_conflicts=True).to_dict()

    def delete(self, api_version, kind, name, namespace):
        from kubernetes.dynamic.exceptions import NotFoundError
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace,
                                                     propagation_policy="Foreground")
            return True
        except NotFoundError:
            return False

    def raw(self, path):
        resp = self.api_client.call_api(path, "GET", auth_settings=["BearerToken"],
                                        response_type="str", _preload_content=False)
        return resp[0].data.decode()


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
    if "ScaledObject" in kinds:
        so = variant.get("ScaledObject")
        target = so.doc["spec"]["scaleTargetRef"]["name"]
        return WatchSpec(variant.name, namespace, "keda", target,
                         _selector(variant, target), hpa=f"keda-hpa-{so.name}",
                         scaled_object=so.name)
    if "HorizontalPodAutoscaler" in kinds:
        hpa = variant.get("HorizontalPodAutoscaler")
        target = hpa.doc["spec"]["scaleTargetRef"]["name"]
        return WatchSpec(variant.name, namespace, "hpa", target, _selector(variant, target),
                         hpa=hpa.name)
    deploys = variant.of_kind("Deployment")
    name = deploys[0].name if deploys else None
    return WatchSpec(variant.name, namespace, "none", name,
                     _selector(variant, name) if name else "")


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
    return WatchSpec(spec.variant, spec.namespace, spec.autoscaler, f"{rev}-deployment",
                     f"serving.knative.dev/revision={rev}", None, None, spec.knative_service,
                     spec.inference_service)


# -- apply, wait, remove ---------------------------------------------------------------------------
def apply_variant(api: ClusterApi, variant: Variant, namespace: str = "default") -> list[str]:
    """Server-side apply every object of the variant, in file order; return their refs."""
    done = []
    for obj in variant.objects:
        doc = dict(obj.doc)
        api.apply(doc, obj.namespace if obj.namespace != "default" else namespace)
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
    if kind in ("Service", "InferenceService", "ScaledObject") and conds:
        c = conds.get("Ready", {})
        return c.get("status") == "True", f"Ready={c.get('status', 'Unknown')} " \
                                          f"{c.get('reason', '')} {c.get('message', '')}".strip()
    if kind in ("Service", "InferenceService", "ScaledObject"):
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
                   timeout: float = 180.0, poll: float = 2.0,
                   clock: Callable[[], float] = _time.monotonic,
                   sleep: Callable[[float], None] = _time.sleep) -> list[str]:
    """Delete the variant's objects (autoscalers first) and anything else labkit labelled,
    then wait until they and their pods are gone; return what was deleted.

    Deleting the autoscaler first stops it from scaling the target while it goes away.
    """
    targets: list[tuple[str, str, str]] = []
    if variant is not None:
        targets += [(o.api_version, o.kind, o.name) for o in reversed(variant.objects)]
    for api_version, kind in SWEEP_KINDS:
        try:
            found = api.list(api_version, kind, namespace, label_selector=PART_OF)
        except BackendError:
            continue  # the add-on is not installed, so nothing of that kind exists
        targets += [(api_version, kind, (o.get("metadata") or {}).get("name", ""))
                    for o in found]
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
        pods = api.list("v1", "Pod", namespace, label_selector=PART_OF)
        if not left and not pods:
            return deleted
        if clock() >= deadline:
            raise BackendError("could not remove the previous variant within "
                               f"{timeout:.0f} s: still there: {', '.join(left)} "
                               f"{len(pods)} pod(s). Try `kubectl delete all -l {PART_OF}`")
        sleep(poll)
