"""Knative Serving in the twin: a revision's Deployment, the activator, and the KPA.

One :class:`KnativeLoop` per Knative Service (or KServe InferenceService in Knative mode, first
mapped to a Knative Service by :func:`labkit.autoscalers.kserve.inference_service_resources`):

- the revision ``<service>-00001`` runs as a Deployment with the Service's pod template,
  starting at the initial scale;
- the activator buffers requests while the revision has no ready pod (cold start), up to the
  revision's ``timeoutSeconds`` (default 300 s), then releases them;
- every second the collector records the revision's concurrency (requests at the pods plus
  those held in the activator) or its RPS into the stable and panic windows;
- every 2 s the decider (:func:`labkit.autoscalers.kpa.decide`) and the KPA reconciler
  (:func:`labkit.autoscalers.kpa_reconciler.reconcile_pa`) run and the scale is written; when
  the last decision was 0 and a request arrives, the decider ticks at once (the activator's poke).

Events: ``ScalingReplicaSet``, as the Deployment controller records every scale (the World adds
``ColdStart``, labkit's own marker, whenever requests wait in a buffer at zero ready pods).

``containerConcurrency`` is the queue-proxy's hard limit: with the activator in the path (SKS
Proxy) the activator holds what the pods cannot take; in Serve mode a pod's queue-proxy refuses
what exceeds 11 x containerConcurrency with 503 (:func:`.traffic.pod_slots`).

Simplifies: the collector reads every pod (no sampling, §2.4's sample size); one activator; the
queue-proxy sidecar's CPU is not modelled.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Mapping

from ...autoscalers.knative_hpa import knative_hpa_manifest
from ...autoscalers.knative_settings import HPA_CLASS, KPA_CLASS
from ...autoscalers.kpa import (KPASettings, WindowAverager, decide, kpa_settings,
                                new_decider_state, panic_window_seconds)
from ...autoscalers.kpa_reconciler import new_pa_state, reconcile_pa
from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from ...errors import ManifestError
from .clock import CONTROLLER
from .hpa_loop import attach_hpa
from .traffic import Buffer

if TYPE_CHECKING:
    from .world import World

KNATIVE_API = "serving.knative.dev/"


def knative_autoscaler(world: "World", doc: Mapping, *, where: str = "",
                       config: Mapping[str, str] | None = None, generation: int = 1):
    """The loop for a Knative Service's revision: the KPA, or an HPA for the HPA class.

    ``generation`` numbers the revision (``<service>-00001``, ``-00002`` after an edit of
    ``spec.template``); only the first takes the traffic at once (see :mod:`.revisions`).
    """
    template = (doc.get("spec") or {}).get("template") or {}
    annotations = {str(k): str(v) for k, v in
                   ((template.get("metadata") or {}).get("annotations") or {}).items()}
    cc = int((template.get("spec") or {}).get("containerConcurrency") or 0)
    settings = kpa_settings(annotations, container_concurrency=cc, config=config)
    if settings.pod_autoscaler_class == HPA_CLASS:
        return KnativeHPALoop(world, doc, where=where, config=config, settings=settings,
                              generation=generation)
    return KnativeLoop(world, doc, where=where, config=config, settings=settings,
                       generation=generation)


def revision_inputs(doc: Mapping) -> tuple[dict[str, str], int]:
    """A Knative Service's revision template annotations and containerConcurrency."""
    template = (doc.get("spec") or {}).get("template") or {}
    annotations = {str(k): str(v) for k, v in
                   ((template.get("metadata") or {}).get("annotations") or {}).items()}
    return annotations, int((template.get("spec") or {}).get("containerConcurrency") or 0)


def _revision(world: "World", doc: Mapping, settings: KPASettings, where: str,
              generation: int = 1):
    """Revision ``<service>-0000N`` as a Deployment at the initial scale; the first one is
    where the load goes."""
    name = doc["metadata"]["name"]
    template = (doc.get("spec") or {}).get("template") or {}
    meta = template.get("metadata") or {}
    rev_spec = template.get("spec") or {}
    revision = f"{name}-{generation:05d}"
    labels = {**(meta.get("labels") or {}), "serving.knative.dev/service": name,
              "serving.knative.dev/revision": revision}
    deployment = {"metadata": {"name": f"{revision}-deployment"},
                  "spec": {"template": {"metadata": {"labels": labels},
                                        "spec": copy.deepcopy(rev_spec)}}}
    target = world.add_deployment(deployment, where=where, replicas=settings.initial_target)
    # The queue-proxy's hard limit (traffic.pod_slots reads it; 0 = unlimited).
    target.container_concurrency = settings.container_concurrency
    target.activator_in_path = settings.pod_autoscaler_class != HPA_CLASS
    if generation == 1:
        world.entry = target
    return revision, target, rev_spec


class KnativeLoop:
    """The autoscaling of one Knative revision (see the module docstring)."""

    def __init__(self, world: "World", doc: Mapping, *, where: str = "",
                 config: Mapping[str, str] | None = None,
                 settings: KPASettings | None = None, generation: int = 1):
        self.world, self.where, self.generation = world, where, generation
        self.service_name = str(doc["metadata"]["name"])
        self.doc = doc
        self.reachable = True     # False once the route sends its traffic to a newer revision
        if settings is None:
            template = (doc.get("spec") or {}).get("template") or {}
            annotations = {str(k): str(v) for k, v in
                           ((template.get("metadata") or {}).get("annotations") or {}).items()}
            cc = int((template.get("spec") or {}).get("containerConcurrency") or 0)
            # Annotations over the variant's config-autoscaler over Knative's defaults.
            settings = kpa_settings(annotations, container_concurrency=cc, config=config)
        self.settings: KPASettings = settings
        if self.settings.pod_autoscaler_class != KPA_CLASS:
            raise ManifestError("this loop runs the KPA class; use knative_autoscaler() for "
                                f"{self.settings.pod_autoscaler_class}", obj=where,
                                field="spec.template.metadata.annotations")
        self.revision, self.target, rev_spec = _revision(world, doc, settings, where,
                                                         generation)
        self._routed = False
        self.buffer = Buffer(float(rev_spec.get("timeoutSeconds") or 300), "the activator",
                             f"Revision/{self.revision}",
                             accepting=self._route_programmed if generation == 1 else None)
        if generation == 1:
            world.buffer = self.buffer
        now = world.clock.now
        self.stable = WindowAverager(int(self.settings.stable_window))
        self.panic = WindowAverager(panic_window_seconds(self.settings))
        self.decider = new_decider_state(self.settings, 0, now)
        self.pa = new_pa_state(now)
        self.desired, self.ebc = -1, 0
        self.in_panic = False
        self._requeue = None
        start = math.floor(now)
        world.clock.every(1.0, self.collect, CONTROLLER, first=start + 1.0)
        world.clock.every(2.0, self.tick, CONTROLLER, first=start + 2.0)

    @property
    def object_ref(self) -> str:
        return f"PodAutoscaler/{self.revision}"

    def reconfigure(self, settings: KPASettings) -> None:
        """``config-autoscaler`` changed: the decider's spec is replaced, its state kept
        (knative/serving knative-v1.23.0 ``pkg/autoscaler/scaling/autoscaler.go`` ``Update``),
        and the collector's windows are resized with their data
        (``pkg/autoscaler/metrics/collector.go`` ``updateMetric``)."""
        self.settings = settings
        self.stable.window = int(settings.stable_window)
        self.panic.window = panic_window_seconds(settings)
        self.target.container_concurrency = settings.container_concurrency

    # -- the collector ------------------------------------------------------------------
    def collect(self) -> None:
        now = self.world.clock.now
        stats = self.world.service.last if self.world.service else None
        held = self.buffer.size
        if stats is None:
            return
        if self.world.entry is not self.target:   # the route sends this revision nothing
            stats, held = None, 0.0
        if self.target.live_pods or held > 0:
            if stats is None:
                value = 0.0
            else:
                value = stats.concurrency + held if self.settings.metric == "concurrency" \
                    else stats.rps + (held if self.target.n_serving == 0 else 0.0)
            self.stable.record(now, value)
            self.panic.record(now, value)
        if self.desired == 0 and held > 0:
            self.tick()   # the activator pokes the autoscaler (§2.5 step 10)

    def _route_programmed(self) -> bool:
        """Whether the Service's route reaches the activator: not before the first revision
        is Ready. Knative's route reconciler configures no ingress while the Configuration
        has no LatestReadyRevisionName (knative/serving knative-v1.23.0
        pkg/reconciler/route/traffic/traffic.go addConfigurationTarget ->
        errUnreadyConfiguration; pkg/reconciler/route/route.go ReconcileKind: "Traffic targets
        aren't ready, no need to configure child resources"), so Kourier has no route for the
        host. The revision is Ready once its PodAutoscaler's scale target is initialized:
        ready pods >= max(min-scale, initial-scale) (pkg/reconciler/autoscaling/kpa/kpa.go
        computeActiveCondition, activeThreshold). From then on the route stays."""
        if not self._routed and self.target.ready_replicas >= self.settings.initial_target:
            self._routed = True
        return self._routed

    # -- decider and KPA reconciler -------------------------------------------------------
    def tick(self) -> None:
        now = self.world.clock.now
        ready = self.target.ready_replicas
        if self.stable.has_data(now):
            result, self.decider = decide(self.settings, self.decider,
                                          stable_avg=self.stable.average(now),
                                          panic_avg=self.panic.average(now),
                                          ready_pods=ready, reachable=self.reachable,
                                          now=now)
            if result.valid:
                self.desired, self.ebc = result.desired_pod_count, result.excess_burst_capacity
                self.in_panic = result.in_panic
        self.reconcile()

    def reconcile(self) -> None:
        self._requeue = None
        now = self.world.clock.now
        d = reconcile_pa(self.settings, self.pa, desired=self.desired, ebc=self.ebc,
                         ready_pods=self.target.ready_replicas,
                         spec_replicas=self.target.spec_replicas, reachable=self.reachable,
                         now=now)
        self.pa = d.state
        self.target.activator_in_path = self.pa.sks_mode != "Serve"
        if d.want_replicas is not None and d.want_replicas != self.target.spec_replicas:
            before = self.target.spec_replicas
            self.target.scale(d.want_replicas)
            verb = "up" if d.want_replicas > before else "down"
            self.world.recorder.add_event(
                now, f"Deployment/{self.target.name}", "ScalingReplicaSet",
                f"Scaled {verb} replica set {self.target.name} from {before} to "
                f"{d.want_replicas}")
        if d.requeue_after is not None and self._requeue is None:
            self._requeue = self.world.clock.after(max(d.requeue_after, 0.001), self.reconcile,
                                                   CONTROLLER)

    # -- what the Timeline shows ----------------------------------------------------------
    @property
    def min_replicas(self) -> int:
        return self.settings.min_scale

    @property
    def max_replicas(self) -> int | None:
        return self.settings.max_scale or None

    @property
    def desired_replicas(self) -> int:
        return max(self.desired, 0) if self.desired >= 0 else self.target.spec_replicas

    def metric_reading(self) -> tuple[str, float, float]:
        now = self.world.clock.now
        avg = self.stable.average(now) if self.stable.has_data(now) else 0.0
        per_pod = avg / max(self.target.ready_replicas, 1)
        return (f"{self.settings.metric} (per pod)", per_pod, self.settings.target)

    def describe(self) -> str:
        s = self.settings
        lines = [f"Name:             {self.revision} (PodAutoscaler, class kpa)",
                 f"Metric:           {s.metric}, target {s.target:g} per pod "
                 f"({s.total:g} x {s.target_utilization:.0%})",
                 f"Scale bounds:     min {s.min_scale}, max {s.max_scale or 'unlimited'}",
                 f"Windows:          stable {s.stable_window:g} s, panic "
                 f"{panic_window_seconds(s)} s",
                 f"Desired scale:    {self.desired}   panic: {self.in_panic}",
                 f"SKS mode:         {self.pa.sks_mode}",
                 f"Active:           {self.pa.active_status} ({self.pa.active_reason})"]
        return "\n".join(lines)


class KnativeHPALoop:
    """A revision of class ``hpa.autoscaling.knative.dev``: Knative makes an HPA for it
    (:func:`labkit.autoscalers.knative_hpa.knative_hpa_manifest`) and the HPA controller scales
    the revision's Deployment. No activator in the path once it runs and no scale to zero
    (the HPA's minimum is at least 1)."""

    def __init__(self, world: "World", doc: Mapping, *, where: str = "",
                 config: Mapping[str, str] | None = None,
                 settings: KPASettings, generation: int = 1):
        self.world, self.where, self.settings = world, where, settings
        self.generation, self.service_name = generation, str(doc["metadata"]["name"])
        self.doc, self.reachable = doc, True
        self.buffer = None        # no activator in the path: no scale to zero
        self.revision, self.target, _ = _revision(world, doc, settings, where, generation)
        template = (doc.get("spec") or {}).get("template") or {}
        annotations = {str(k): str(v) for k, v in
                       ((template.get("metadata") or {}).get("annotations") or {}).items()}
        manifest = knative_hpa_manifest(
            self.revision, self.target.name, annotations, config=config,
            namespace=str(doc["metadata"].get("namespace") or "default"))
        self.hpa = attach_hpa(world, hpa_spec_from_manifest(manifest, path=where), where=where,
                              register=False)

    @property
    def object_ref(self) -> str:
        return self.hpa.object_ref

    def reconfigure(self, settings: KPASettings, config: Mapping[str, str]) -> None:
        """``config-autoscaler`` changed: Knative updates the HPA it made (its scale bounds
        may come from the ConfigMap); the HPA keeps its history."""
        annotations, _ = revision_inputs(self.doc)
        self.settings = settings
        self.hpa.spec = hpa_spec_from_manifest(knative_hpa_manifest(
            self.revision, self.target.name, annotations, config=config,
            namespace=str(self.doc["metadata"].get("namespace") or "default")), path=self.where)

    @property
    def min_replicas(self) -> int:
        return self.hpa.min_replicas

    @property
    def max_replicas(self) -> int:
        return self.hpa.max_replicas

    @property
    def desired_replicas(self) -> int:
        return self.hpa.desired_replicas

    def metric_reading(self) -> tuple[str, float, float]:
        return self.hpa.metric_reading()

    def condition(self, type_: str):
        return self.hpa.condition(type_)

    def describe(self) -> str:
        return (f"Name:             {self.revision} (PodAutoscaler, class hpa)\n\n"
                + self.hpa.describe())
