"""``kubectl apply`` and ``kubectl delete`` on the running twin, at the current simulated time.

:class:`ObjectStore` remembers the last applied version of each object (what kubectl keeps in
``last-applied-configuration``) so an identical apply is ``unchanged``, and hands each change
to the controller that owns the object, which reacts as upstream's does:

- HorizontalPodAutoscaler: a new one is synced at once; an edited one keeps its recommendation
  and scale-event history (the controller's in-memory state is keyed by namespace/name and only
  dropped when the HPA is deleted) and sees the new spec at its next sync: an update is queued
  rate-limited, one sync period after the last one, and dropped when a sync is already queued
  (kubernetes/kubernetes v1.36 ``pkg/controller/podautoscaler/horizontal.go``: ``updateHPA``,
  ``enqueueHPA``; ``reconcileKey`` deletes the recommendations when the HPA is gone).
  Deleting it leaves the target's replicas as they are.
- ScaledObject: KEDA's reconciler and finalizer (:mod:`labkit.autoscalers.keda_reconciler`):
  pause annotations, spec edits (new generation: the scale loop restarts with a poll at
  once), delete with ``restoreToOriginalReplicaCount``.
- ScaledJob: a new generation deletes the older Jobs unless ``rollout.strategy: gradual``
  (:mod:`.scaledjob_loop`); delete removes its Jobs (they are owned by it).
- Deployment: ``spec.replicas`` is written to the scale now (an autoscaler then corrects it
  at its next decision, as on a cluster).
- Knative Service: a changed ``spec.template`` (an annotation, containerConcurrency, the
  image...) is a new revision; the route moves to it once it is ready (:mod:`.revisions`).
- InferenceService: the objects KServe made from it are reconciled the same way (its Knative
  Service, or its HPA / ScaledObject in Standard mode).
- Knative's ``config-autoscaler`` (namespace knative-serving): every revision's settings are
  resolved again, as Knative's ConfigMap watcher does (annotations still win).

Refused with a clear message (the twin cannot do it yet; the kind backend can): a changed pod
template of a Deployment (a rolling update), an InferenceService edit that changes its mode,
autoscaler class or pod template in Standard mode, Knative traffic splits, new or changed
objects of other kinds (Service, other ConfigMaps, ...), deleting anything but an autoscaler.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Iterable

from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from ...errors import BackendError
from ...autoscalers.knative_settings import is_autoscaler_config
from ..objects import kind_for_delete, resource_name
from .hpa_loop import HPALoop, attach_hpa

if TYPE_CHECKING:
    from .world import World

Key = tuple[str, str, str]    # (API group, kind, name): a Knative Service is not a Service


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _key(doc: dict) -> Key:
    return (_group(str(doc["apiVersion"])), str(doc["kind"]), str(doc["metadata"]["name"]))


class ObjectStore:
    """The objects applied to one twin cluster, and the controllers that act on changes."""

    def __init__(self, world: "World", docs: Iterable[dict]):
        self.world = world
        self.docs: dict[Key, dict] = {_key(d): copy.deepcopy(d) for d in docs
                                      if isinstance(d.get("metadata"), dict)}
        self._revisions: dict[str, object] = {}   # Knative Service -> its latest revision
        self._retired: list[object] = []          # revisions the route has left

    # -- apply ---------------------------------------------------------------------------
    def apply(self, doc: dict) -> str:
        """Create or update one object now; returns kubectl's line."""
        key = _key(doc)
        old = self.docs.get(key)
        line = f"{resource_name(doc)}/{key[2]}"
        if old is not None and _same(old, doc):
            return f"{line} unchanged"
        kind = key[1]
        if kind == "HorizontalPodAutoscaler":
            self._apply_hpa(doc, created=old is None)
        elif kind == "ScaledObject" and doc["apiVersion"].startswith("keda.sh/"):
            self._apply_scaled_object(doc, created=old is None)
        elif kind == "ScaledJob" and doc["apiVersion"].startswith("keda.sh/"):
            self._apply_scaled_job(doc)
        elif kind == "Deployment" and doc["apiVersion"].startswith("apps/"):
            self._apply_deployment(doc, old)
        elif kind == "Service" and doc["apiVersion"].startswith("serving.knative.dev/") \
                and old is not None:
            self._apply_knative_service(doc, old)
        elif kind == "InferenceService" and old is not None:
            self._apply_inference_service(doc, old)
        elif kind == "ConfigMap" and is_autoscaler_config(doc):
            self._apply_autoscaler_config(doc)
        else:
            raise BackendError(
                f"the twin cannot {'create' if old is None else 'change'} {kind}/{key[2]} "
                "on a running variant yet; put it in the variant and deploy() again, or use "
                "the kind backend")
        self.docs[key] = copy.deepcopy(doc)
        return f"{line} {'created' if old is None else 'configured'}"

    def _where(self, doc: dict) -> str:
        return f"apply: {doc['kind']}/{doc['metadata']['name']}"

    def _hpa_loop(self, name: str) -> HPALoop | None:
        return next((a for a in self.world.autoscalers
                     if isinstance(a, HPALoop) and a.spec.name == name), None)

    def _apply_hpa(self, doc: dict, *, created: bool) -> None:
        spec = hpa_spec_from_manifest(doc, path=self._where(doc))
        loop = self._hpa_loop(spec.name)
        if loop is None:
            attach_hpa(self.world, spec, where=self._where(doc))
            return
        target = self.world.workloads.get(spec.scale_target_ref.name)
        if target is None or spec.scale_target_ref.kind != "Deployment":
            raise BackendError(f"{self._where(doc)}: scaleTargetRef "
                               f"{spec.scale_target_ref.kind}/{spec.scale_target_ref.name} is "
                               "not a Deployment of this variant")
        loop.spec, loop.target = spec, target     # the state (recommendations) stays

    def _scaled_object_loop(self, name: str):
        from .keda_loop import KEDALoop
        return next((a for a in self.world.autoscalers
                     if isinstance(a, KEDALoop) and a.so.name == name), None)

    def _apply_scaled_object(self, doc: dict, *, created: bool) -> None:
        from .keda_loop import KEDALoop
        loop = self._scaled_object_loop(doc["metadata"]["name"])
        if loop is None:
            self.world.autoscalers.append(KEDALoop(self.world, doc, where=self._where(doc)))
        else:
            loop.update(doc)

    def _scaled_job_loop(self, name: str):
        from .scaledjob_loop import ScaledJobLoop
        return next((a for a in self.world.autoscalers
                     if isinstance(a, ScaledJobLoop) and a.spec.name == name), None)

    def _apply_scaled_job(self, doc: dict) -> None:
        """A new ScaledJob starts polling; an edited one is a new generation (its rollout
        strategy decides what happens to the Jobs already there, :mod:`.scaledjob_loop`)."""
        from .scaledjob_loop import ScaledJobLoop
        loop = self._scaled_job_loop(doc["metadata"]["name"])
        if loop is None:
            self.world.autoscalers.append(ScaledJobLoop(self.world, doc,
                                                        where=self._where(doc)))
            self.world._queue_parts = True    # its Jobs pull from the list from now on
        else:
            loop.update(doc)

    def _apply_deployment(self, doc: dict, old: dict | None) -> None:
        name = doc["metadata"]["name"]
        if old is None:
            raise BackendError(f"the twin cannot add Deployment/{name} to a running variant "
                               "yet; put it in the variant and deploy() again")
        new_spec = {k: v for k, v in (doc.get("spec") or {}).items() if k != "replicas"}
        old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k != "replicas"}
        if new_spec != old_spec:
            raise BackendError(f"Deployment/{name}: only spec.replicas can change on the "
                               "running twin (a new pod template is a rolling update, not "
                               "simulated); deploy() the edited variant instead")
        replicas = (doc.get("spec") or {}).get("replicas")
        if replicas is not None and replicas != (old.get("spec") or {}).get("replicas"):
            self.world.workloads[name].scale(int(replicas))

    def _apply_knative_service(self, doc: dict, old: dict) -> None:
        """A new revision when ``spec.template`` changed (:mod:`.revisions`)."""
        from ...autoscalers.knative_settings import autoscaler_config
        from .revisions import new_revision
        name = doc["metadata"]["name"]
        spec = {k: v for k, v in (doc.get("spec") or {}).items() if k != "template"}
        old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k != "template"}
        if spec != old_spec:
            raise BackendError(f"Service/{name}: only spec.template can change on the running "
                               "twin (a new revision); traffic splits are not simulated")
        if (doc.get("spec") or {}).get("template") == (old.get("spec") or {}).get("template"):
            return   # metadata only: no new revision
        latest = self._revisions.get(name) or next(
            (a for a in self.world.autoscalers if getattr(a, "service_name", None) == name),
            None)
        if latest is None:
            raise BackendError(f"Service/{name} has no revision on this twin")
        config = autoscaler_config(self.docs.values())
        self._retired.append(latest)
        self._revisions[name] = new_revision(self.world, latest, doc, where=self._where(doc),
                                             config=config)

    def _apply_autoscaler_config(self, doc: dict) -> None:
        """Knative reads ``config-autoscaler`` again: every revision's settings are resolved
        anew (annotations still win), all checked before any changes (the ConfigMap webhook
        refuses an invalid one)."""
        from ...autoscalers.knative_settings import autoscaler_config, kpa_settings
        from .knative_loop import revision_inputs
        config = autoscaler_config([doc])
        loops = [a for a in self._knative_loops()]
        settings = []
        for loop in loops:
            annotations, cc = revision_inputs(loop.doc)
            settings.append(kpa_settings(annotations, container_concurrency=cc, config=config))
        for loop, s in zip(loops, settings):
            if hasattr(loop, "hpa"):
                loop.reconfigure(s, config)
            else:
                loop.reconfigure(s)

    def _knative_loops(self) -> list:
        """Every Knative revision loop of the twin, current or not (each once)."""
        seen: dict[int, object] = {}
        for a in list(self.world.autoscalers) + list(self._revisions.values()) + \
                list(self._retired):
            if hasattr(a, "service_name"):
                seen[id(a)] = a
        return list(seen.values())

    def _apply_inference_service(self, doc: dict, old: dict) -> None:
        """KServe reconciles the objects it made from the edited InferenceService: the Knative
        Service (a new revision) in Knative mode; the HPA or ScaledObject in Standard mode."""
        from ...autoscalers.knative_settings import autoscaler_config
        from ...autoscalers.kserve import deployment_mode, inference_service_resources
        name = doc["metadata"]["name"]
        if deployment_mode(doc) != deployment_mode(old):
            raise BackendError(f"InferenceService/{name}: changing the deployment mode "
                               "replaces every object; deploy() the edited variant instead")
        config = autoscaler_config(self.docs.values())
        before = {(d["kind"], d["metadata"]["name"]): d
                  for d in inference_service_resources(old, knative_config=config)}
        after = inference_service_resources(doc, knative_config=config)
        if {(d["kind"], d["metadata"]["name"]) for d in after} != set(before):
            raise BackendError(f"InferenceService/{name}: this edit changes which objects KServe "
                               "makes (autoscaler class); deploy() the edited variant instead")
        for d in after:
            was = before[(d["kind"], d["metadata"]["name"])]
            if _same(was, d):
                continue
            if d["kind"] == "Service":
                self._apply_knative_service(d, was)
            elif d["kind"] == "HorizontalPodAutoscaler":
                self._apply_hpa(d, created=False)
            elif d["kind"] == "ScaledObject":
                self._apply_scaled_object(d, created=False)
            elif d["kind"] == "Deployment":
                self._apply_deployment(_without_replicas(d), _without_replicas(was))

    # -- delete --------------------------------------------------------------------------
    def delete(self, kind: str, name: str) -> str:
        """Delete one object now; returns kubectl's line."""
        api_version, kind_name, resource = kind_for_delete(kind)
        key = (_group(api_version), kind_name, name)
        if key not in self.docs:
            raise BackendError(f'Error from server (NotFound): {resource} "{name}" not found')
        if kind_name == "HorizontalPodAutoscaler":
            loop = self._hpa_loop(name)
            if loop is not None:
                loop.stop()
                self.world.autoscalers.remove(loop)
        elif kind_name == "ScaledObject":
            loop = self._scaled_object_loop(name)
            if loop is not None:
                loop.delete()
                self.world.autoscalers.remove(loop)
        elif kind_name == "ScaledJob":
            loop = self._scaled_job_loop(name)
            if loop is not None:
                loop.delete()
                self.world.autoscalers.remove(loop)
        else:
            raise BackendError(f"the twin deletes autoscalers only (HorizontalPodAutoscaler, "
                               f"ScaledObject, ScaledJob), not {kind_name}/{name}; deploy() "
                               "another variant instead")
        del self.docs[key]
        return f'{resource} "{name}" deleted'


def _without_replicas(doc: dict) -> dict:
    """KServe leaves a Standard-mode Deployment's replicas to its autoscaler."""
    out = copy.deepcopy(doc)
    (out.get("spec") or {}).pop("replicas", None)
    return out


def _same(a: dict, b: dict) -> bool:
    """Equal as kubectl apply compares them (the object as written, status ignored)."""
    strip = lambda d: {k: v for k, v in d.items() if k != "status"}   # noqa: E731
    return strip(a) == strip(b)

