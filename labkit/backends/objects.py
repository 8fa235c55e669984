"""What ``kubectl apply`` and ``kubectl delete`` take and print, shared by both backends.

- :func:`documents`: YAML text, a file or kustomization path, one object or a list of objects
  -> the object dicts, each with apiVersion, kind and metadata.name;
- :func:`resource_name`: ``deployment.apps``, ``horizontalpodautoscaler.autoscaling``: how
  kubectl names a kind in its output lines;
- :data:`KINDS`: the names ``kubectl delete KIND NAME`` accepts for the kinds labkit manages.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendError, ManifestError
from ..yaml_reader import load_all

#: ``kubectl delete KIND``: the names kubectl accepts -> (apiVersion, Kind, resource.group).
KINDS: dict[str, tuple[str, str, str]] = {}
for _names, _gvk in (
        (("hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"),
         ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler.autoscaling")),
        (("deployment", "deployments", "deploy"), ("apps/v1", "Deployment",
                                                   "deployment.apps")),
        (("service", "services", "svc"), ("v1", "Service", "service")),
        (("configmap", "configmaps", "cm"), ("v1", "ConfigMap", "configmap")),
        (("scaledobject", "scaledobjects", "so"),
         ("keda.sh/v1alpha1", "ScaledObject", "scaledobject.keda.sh")),
        # names: kedacore/keda v2.20.2 config/crd/bases/keda.sh_scaledjobs.yaml
        (("scaledjob", "scaledjobs", "sj"),
         ("keda.sh/v1alpha1", "ScaledJob", "scaledjob.keda.sh")),
        (("ksvc", "kservice", "kservices"),
         ("serving.knative.dev/v1", "Service", "service.serving.knative.dev")),
        (("inferenceservice", "inferenceservices", "isvc"),
         ("serving.kserve.io/v1beta1", "InferenceService",
          "inferenceservice.serving.kserve.io"))):
    for _n in _names:
        KINDS[_n] = _gvk
    KINDS[_gvk[2]] = _gvk          # the full resource.group name works too


def kind_for_delete(kind: str) -> tuple[str, str, str]:
    """(apiVersion, Kind, resource.group) for a name ``kubectl delete`` accepts, or a clear error."""
    try:
        return KINDS[kind.lower()]
    except KeyError:
        raise BackendError(f"cannot delete kind {kind!r}; labkit deletes "
                           f"{', '.join(sorted({k[1] for k in KINDS.values()}))}") from None


def documents(manifest: str | Path | dict | list[dict]) -> list[dict]:
    """YAML text, a file or kustomization path, a variant's name (``"hpa-v2"``: its
    kustomization in manifests/, as ``kubectl apply -k manifests/hpa-v2``), one object or a
    list of objects -> dicts."""
    from ..manifests import VARIANTS, load_objects, load_variant
    if isinstance(manifest, str) and manifest in VARIANTS:
        docs = [o.doc for o in load_variant(manifest).objects]
    elif isinstance(manifest, dict):
        docs = [manifest]
    elif isinstance(manifest, list):
        docs = list(manifest)
    elif isinstance(manifest, Path) or (isinstance(manifest, str) and "\n" not in manifest
                                        and Path(manifest).exists()):
        docs = [o.doc for o in load_objects(manifest)]
    else:
        try:  # the same bounded reader as manifest files (no alias bombs, no deep nesting)
            docs = [x for x in load_all(str(manifest), "<apply>") if x]
        except ManifestError as e:
            raise BackendError(f"apply: the manifest is not YAML ({e})") from None
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion") \
                or not (doc.get("metadata") or {}).get("name"):
            raise BackendError("apply: every object needs apiVersion, kind and metadata.name "
                               f"(got {str(doc)[:80]})")
    return docs


def resource_name(doc: dict) -> str:
    """``deployment.apps``, ``horizontalpodautoscaler.autoscaling``: how kubectl names a kind."""
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    return doc["kind"].lower() + (f".{group}" if group else "")
