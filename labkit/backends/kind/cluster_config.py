"""Cluster-level configuration a variant carries: Knative's ``config-autoscaler``.

The ConfigMap already exists in ``knative-serving`` (Knative's install made it, with only an
``_example`` key); a variant's copy is not a new object labkit owns but keys merged into that
one. So it is server-side applied with only ``data`` (field manager ``labkit``, which then owns
exactly the keys it set), and when the variant goes, applied again with no keys: server-side
apply removes the fields a manager stops applying when no other manager owns them, so
Knative's defaults come back. Terminal equivalent::

    kubectl apply --server-side --field-manager=labkit -f config-autoscaler.yaml

Knative's autoscaler watches the ConfigMap and uses new values without a restart (knative/serving
knative-v1.23.0: ``cmd/autoscaler/main.go`` starts an informed ConfigMap watcher that the KPA
controller's config store, ``pkg/reconciler/autoscaling/config/store.go``, registers
``config-autoscaler`` with; values are parsed by ``pkg/autoscaler/config/config.go``
``NewConfigFromMap``).

On a shared cluster (a context other than labkit's own kind cluster) this would change every
learner's Knative, so it is refused there.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...autoscalers.knative_settings import CONFIG_NAME, CONFIG_NAMESPACE, is_autoscaler_config
from ...errors import BackendError


def is_kind_cluster(doc: Mapping[str, Any]) -> bool:
    """A kind ``Cluster`` config in a variant: how the cluster is made, not an API object."""
    return doc.get("kind") == "Cluster" and str(doc.get("apiVersion", "")).startswith(
        "kind.x-k8s.io/")


def check_kind_cluster(doc: Mapping[str, Any], made_with: Mapping[str, Any]) -> None:
    """A variant's kind config can only say what the running cluster already is: its
    kube-controller-manager flags (the HPA's, :mod:`labkit.autoscalers.controller_flags`) are
    fixed when ``labkit up`` makes the cluster from ``manifests/kind/cluster.yaml``."""
    from ...autoscalers.controller_flags import controller_config
    if controller_config(doc) != controller_config(made_with):
        raise BackendError("the variant's kind Cluster config sets kube-controller-manager "
                           "flags the running cluster was not made with; put them in "
                           "manifests/kind/cluster.yaml and make the cluster again "
                           "(labkit down && labkit up)")


def is_cluster_config(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` is cluster-level configuration (merged, not owned; see the docstring)."""
    return is_autoscaler_config(doc)


def _patch(doc: Mapping[str, Any], data: Mapping[str, Any]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIG_NAME, "namespace": CONFIG_NAMESPACE},
            "data": {str(k): str(v) for k, v in data.items() if k != "_example"}}


def apply_cluster_config(api: Any, doc: Mapping[str, Any], *, shared: bool) -> dict:
    """Merge the variant's keys into the cluster's ConfigMap (refused on a shared cluster)."""
    if shared:
        raise BackendError(f"{CONFIG_NAMESPACE}/{CONFIG_NAME} is cluster-wide: changing it "
                           "would change every learner's Knative on this shared cluster. Ask "
                           "the instructor to set it, or use labkit's own kind cluster")
    return api.apply(_patch(doc, doc.get("data") or {}), CONFIG_NAMESPACE)


def restore_cluster_config(api: Any, doc: Mapping[str, Any]) -> dict:
    """Take labkit's keys back out (Knative's defaults apply again)."""
    return api.apply(_patch(doc, {}), CONFIG_NAMESPACE)
