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

Simplifies: the collector reads every pod (no sampling, §2.4's sample size); one activator; the
queue-proxy sidecar's CPU and the ``containerConcurrency`` hard limit on each pod are not
modelled (requests queue inside the pod instead of in the activator).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Mapping

from ...autoscalers.kpa import (KPASettings, WindowAverager, decide, kpa_settings,
                                new_decider_state, panic_window_seconds)
from ...autoscalers.kpa_reconciler import new_pa_state, reconcile_pa
from ...errors import ManifestError
from .clock import CONTROLLER
from .traffic import Buffer

if TYPE_CHECKING:
    from .world import World

KNATIVE_API = "serving.knative.dev/"


class KnativeLoop:
    """The autoscaling of one Knative revision (see the module docstring)."""

    def __init__(self, world: "World", doc: Mapping, *, where: str = "",
                 config: Mapping[str, str] | None = None):
        self.world, self.where = world, where
        name = doc["metadata"]["name"]
        template = (doc.get("spec") or {}).get("template") or {}
        meta = template.get("metadata") or {}
        rev_spec = template.get("spec") or {}
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        cc = int(rev_spec.get("containerConcurrency") or 0)
        # Annotations over the variant's config-autoscaler over Knative's defaults.
        self.settings: KPASettings = kpa_settings(annotations, container_concurrency=cc,
                                                  config=config)
        if self.settings.pod_autoscaler_class != "kpa.autoscaling.knative.dev":
            raise ManifestError("the twin simulates the KPA class only; remove the "
                                "autoscaling.knative.dev/class annotation or set it to "
                                "kpa.autoscaling.knative.dev", obj=where,
                                field="spec.template.metadata.annotations")
        self.revision = f"{name}-00001"
        labels = {**(meta.get("labels") or {}), "serving.knative.dev/service": name,
                  "serving.knative.dev/revision": self.revision}
        deployment = {"metadata": {"name": f"{self.revision}-deployment"},
                      "spec": {"template": {"metadata": {"labels": labels},
                                            "spec": copy.deepcopy(rev_spec)}}}
        self.target = world.add_deployment(deployment, where=where,
                                           replicas=self.settings.initial_target)
        world.entry = self.target
        world.buffer = Buffer(float(rev_spec.get("timeoutSeconds") or 300), "the activator",
                              f"Revision/{self.revision}")
        now = world.clock.now
        self.stable = WindowAverager(int(self.settings.stable_window))
        self.panic = WindowAverager(panic_window_seconds(self.settings))
        self.decider = new_decider_state(self.settings, 0, now)
        self.pa = new_pa_state(now)
        self.desired, self.ebc = -1, 0
        self.in_panic = False
        self._requeue = None
        world.clock.every(1.0, self.collect, CONTROLLER, first=1.0)
        world.clock.every(2.0, self.tick, CONTROLLER, first=2.0)

    @property
    def object_ref(self) -> str:
        return f"PodAutoscaler/{self.revision}"

    # -- the collector ------------------------------------------------------------------
    def collect(self) -> None:
        now = self.world.clock.now
        stats = self.world.service.last if self.world.service else None
        held = self.world.buffer.size if self.world.buffer else 0.0
        if stats is None:
            return
        if self.target.live_pods or held > 0:
            value = stats.concurrency + held if self.settings.metric == "concurrency" \
                else stats.rps + (held if self.target.n_serving == 0 else 0.0)
            self.stable.record(now, value)
            self.panic.record(now, value)
        if self.desired == 0 and held > 0:
            self.tick()   # the activator pokes the autoscaler (§2.5 step 10)

    # -- decider and KPA reconciler -------------------------------------------------------
    def tick(self) -> None:
        now = self.world.clock.now
        ready = self.target.ready_replicas
        if self.stable.has_data(now):
            result, self.decider = decide(self.settings, self.decider,
                                          stable_avg=self.stable.average(now),
                                          panic_avg=self.panic.average(now),
                                          ready_pods=ready, reachable=True, now=now)
            if result.valid:
                self.desired, self.ebc = result.desired_pod_count, result.excess_burst_capacity
                self.in_panic = result.in_panic
        self.reconcile()

    def reconcile(self) -> None:
        self._requeue = None
        now = self.world.clock.now
        d = reconcile_pa(self.settings, self.pa, desired=self.desired, ebc=self.ebc,
                         ready_pods=self.target.ready_replicas,
                         spec_replicas=self.target.spec_replicas, reachable=True, now=now)
        self.pa = d.state
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
