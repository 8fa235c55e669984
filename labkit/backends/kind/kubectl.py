"""The kubectl commands a learner would type for what labkit does with a variant.

``kubectl_equivalents("hpa-v1")`` lists them in the order of a lab: apply, watch, inspect,
load, remove. Notebooks print them beside each labkit call (the course teaches kubectl too).
"""

from __future__ import annotations

from . import versions as v

_HOST = {"knative": "app-knative.default.example.com",
         "kserve": "custom-model.default.example.com"}


def load_url(variant: str) -> tuple[str, dict[str, str]]:
    """Where load goes for a variant through kind's 127.0.0.1 port mappings, and the headers.

    NodePorts spread connections over every ready pod; Kourier routes by Host header.
    """
    if variant == "keda":
        return f"http://127.0.0.1:{v.GATEWAY_NODE_PORT}", {}
    if variant in _HOST:
        return f"http://127.0.0.1:{v.KOURIER_NODE_PORT}", {"Host": _HOST[variant]}
    return f"http://127.0.0.1:{v.APP_NODE_PORT}", {}


def kubectl_equivalents(variant: str) -> list[str]:
    """What to type in a terminal for ``deploy(variant)``, watching it, and ``reset()``."""
    d = f"manifests/{variant}"
    apply = f"kubectl apply --server-side -k {d}"
    url, headers = load_url(variant)
    host = "".join(f" -H 'Host: {h}'" for h in headers.values())
    common_tail = [f"kubectl get pods -l app.kubernetes.io/part-of=labkit -w",
                   "kubectl get events --sort-by=.lastTimestamp -w"]
    if variant in ("hpa-v1", "hpa-v2"):
        body = [apply, "kubectl rollout status deployment/app-fastapi",
                "kubectl get hpa -w", "kubectl describe hpa app-fastapi",
                "kubectl top pods"]
    elif variant == "keda":
        body = [apply, "kubectl get scaledobject app-fastapi -w",
                "kubectl get hpa keda-hpa-app-fastapi -w",
                "kubectl describe scaledobject app-fastapi",
                "kubectl get deployment app-fastapi -w"]
    elif variant == "knative":
        body = [apply, "kubectl wait --for=condition=Ready ksvc/app-knative",
                "kubectl get ksvc app-knative",
                "kubectl get podautoscalers.autoscaling.internal.knative.dev -w",
                "kubectl get revisions -l serving.knative.dev/service=app-knative"]
    elif variant == "kserve":
        body = [apply, "kubectl wait --for=condition=Ready inferenceservice/custom-model",
                "kubectl get inferenceservice custom-model",
                "kubectl get podautoscalers.autoscaling.internal.knative.dev -w"]
    else:
        body = [apply]
    probe = f"curl -s{host} {url}/healthz" if variant != "kserve" else \
        f"curl -s{host} {url}/v1/models/custom-model"
    return body + common_tail + [probe, f"kubectl delete -k {d} --wait"]


def print_kubectl(variant: str) -> None:
    """Print :func:`kubectl_equivalents` as a short block."""
    print(f"# the same steps with kubectl ({variant}):")
    for line in kubectl_equivalents(variant):
        print(f"$ {line}")
