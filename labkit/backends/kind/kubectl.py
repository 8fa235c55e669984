"""The kubectl commands a learner would type for what labkit does with a variant.

``kubectl_equivalents("hpa-v1")`` lists them in the order of a lab: apply, watch, inspect,
load, remove. Notebooks print them beside each labkit call (the course teaches kubectl too).
Every kubectl line names its ``--context`` and namespace, so a command copied from a
notebook never lands on another cluster (an instructor's shared one) by accident.
"""

from __future__ import annotations

from . import versions as v
from .deploy import OWNER_LABEL

#: Knative routes ``{{.Name}}.{{.Namespace}}.{{.Domain}}`` (knative/serving knative-v1.23.0
#: vendor/knative.dev/networking/config/config-network.yaml, domain-template). KServe in
#: Knative mode without an Istio VirtualService routes only its predictor's Knative Service,
#: ``<isvc>-predictor`` (kserve/kserve v0.20.0 pkg/controller/v1beta1/inferenceservice/
#: reconcilers/ingress/ingress_reconciler.go getHostBasedServiceUrl: with
#: disableIstioVirtualHost the URL is the predictor's).
_KNATIVE_SERVICE = {"knative": "app-knative", "kserve": "custom-model-predictor"}
KNATIVE_DOMAIN = "example.com"   # what `labkit up` writes into config-domain


def host(variant: str, namespace: str = "default") -> str | None:
    """The Host header Kourier routes for a Knative or KServe variant (None for the others)."""
    svc = _KNATIVE_SERVICE.get(variant)
    return f"{svc}.{namespace}.{KNATIVE_DOMAIN}" if svc else None


def load_url(variant: str, namespace: str = "default") -> tuple[str, dict[str, str]]:
    """Where load goes for a variant through kind's 127.0.0.1 port mappings, and the headers.

    NodePorts spread connections over every ready pod; Kourier routes by Host header.
    """
    if variant == "keda":
        return f"http://127.0.0.1:{v.GATEWAY_NODE_PORT}", {}
    h = host(variant, namespace)
    if h:
        return f"http://127.0.0.1:{v.KOURIER_NODE_PORT}", {"Host": h}
    return f"http://127.0.0.1:{v.APP_NODE_PORT}", {}


#: What to watch after applying each variant ({k} is kubectl with context and namespace).
_QUEUE_BASE = "deployment/app-fastapi deployment/app-redis"   # manifests/queue-base
_WATCH: dict[str, tuple[str, ...]] = {
    "hpa-v1": ("{k} rollout status deployment/app-fastapi", "{k} get hpa -w",
               "{k} describe hpa app-fastapi", "{k} top pods"),
    "keda": ("{k} get scaledobject app-fastapi -w", "{k} get hpa keda-hpa-app-fastapi -w",
             "{k} describe scaledobject app-fastapi", "{k} get deployment app-fastapi -w"),
    "knative": ("{k} wait --for=condition=Ready ksvc/app-knative", "{k} get ksvc app-knative",
                "{k} get podautoscalers.autoscaling.internal.knative.dev -w",
                "{k} get revisions -l serving.knative.dev/service=app-knative"),
    "kserve": ("{k} wait --for=condition=Ready inferenceservice/custom-model",
               "{k} get inferenceservice custom-model",
               "{k} get podautoscalers.autoscaling.internal.knative.dev -w"),
    "queue": (f"{{k}} wait --for=condition=Available {_QUEUE_BASE}",
              "{k} get scaledobject app-worker -w", "{k} get hpa keda-hpa-app-worker -w",
              "{k} exec deploy/app-redis -- redis-cli LLEN inference-jobs",
              "{k} get deployment app-worker -w"),
    "queue-jobs": (f"{{k}} wait --for=condition=Available {_QUEUE_BASE}",
                   "{k} get scaledjob app-batch",
                   "{k} exec deploy/app-redis -- redis-cli LLEN inference-jobs",
                   "{k} get jobs -l scaledjob.keda.sh/name=app-batch -w"),
}
_WATCH["hpa-v2"] = _WATCH["hpa-v1"]


def kubectl_equivalents(variant: str, *, context: str = v.CONTEXT, namespace: str = "default",
                        owner: str = "<you>") -> list[str]:
    """What to type in a terminal for ``deploy(variant)``, watching it, and ``reset()``."""
    d = f"manifests/{variant}"
    k = f"kubectl --context {context} -n {namespace}"
    apply = f"{k} apply --server-side -k {d}"
    label = f"{k} label -k {d} {OWNER_LABEL}={owner} --overwrite"
    url, headers = load_url(variant, namespace)
    hdr = "".join(f" -H 'Host: {h}'" for h in headers.values())
    common_tail = [f"{k} get pods -l {OWNER_LABEL}={owner} -w",
                   f"{k} get events --sort-by=.lastTimestamp -w"]
    body = [apply, label] + [line.format(k=k) for line in _WATCH.get(variant, ())]
    probe = f"curl -s{hdr} {url}/healthz" if variant != "kserve" else \
        f"curl -s{hdr} {url}/v1/models/custom-model"
    kinds = {"keda": "scaledobjects,hpa,deployments,services", "knative": "ksvc",
             "kserve": "inferenceservices",
             "queue": "scaledobjects,hpa,deployments,services",
             "queue-jobs": "scaledjobs,jobs,deployments,services"}.get(variant,
                                                                    "hpa,deployments,services")
    remove = f"{k} delete {kinds} -l {OWNER_LABEL}={owner} --wait"
    return body + common_tail + [probe, remove]


def print_kubectl(variant: str, **kw: str) -> None:
    """Print :func:`kubectl_equivalents` as a short block."""
    print(f"# the same steps with kubectl ({variant}):")
    for line in kubectl_equivalents(variant, **kw):
        print(f"$ {line}")
