"""KEDA in the twin: the operator's poll loop, the metrics adapter, and the HPA it generates.

- The operator polls every ``pollingInterval`` and owns 0 <-> 1 (activation and cooldown) with
  :func:`labkit.autoscalers.keda.poll`; it writes the target's scale only when that says so.
- The HPA KEDA generates (``keda-hpa-<name>``, External metrics) runs through the same HPA loop
  as any other HPA and owns 1 <-> N; every HPA read of an External metric goes through the
  metrics adapter, which applies fallback with the same failure counters as the poll.
- Trigger sources in the twin: ``metrics-api`` reads the KEDA gateway's ``/stats`` JSON
  (``in_flight``: requests held + at the pods; ``pending``: held; ``rps_1m``; ``requests_total``),
  ``cron`` uses the simulated wall clock (``epoch`` + simulated seconds), ``redis`` reads the
  length of the list ``listName`` in the twin's Redis (:mod:`.jobqueue`; 0 when no such list
  exists, as LLEN of a missing key), ``prometheus`` reads the series its ``query`` names (set
  with ``SimBackend.set_metric``, :mod:`.series`), ``kubernetes-workload`` counts the twin's
  pods matching its ``podSelector``, ``cpu``/``memory`` become Resource metrics of the HPA.

Simplifies: the adapter serves live values (``useCachedMetrics`` is not modelled); the
operator's first poll comes one millisecond after the ScaledObject is created.
"""

from __future__ import annotations

import copy
import json
import math
from collections import deque
from typing import TYPE_CHECKING, Mapping

from ...autoscalers.hpa_types import MetricError
from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from ...autoscalers.keda import (ScaledObjectSpec, generated_hpa_manifest, hpa_metric_value,
                                 new_keda_state, poll, scaled_object_from_manifest)
from ...autoscalers.keda_reconciler import (finalize_scaled_object, reconcile_missing_target,
                                            reconcile_scaled_object)
from ...autoscalers.keda_triggers import (Trigger, metrics_api_value, parse_label_selector,
                                          prometheus_value, selector_matches, trigger_result)
from ...errors import ManifestError
from .clock import CONTROLLER
from .hpa_loop import attach_hpa

if TYPE_CHECKING:
    from .world import World

#: 2026-01-05 09:00 UTC, a Monday morning: simulated time 0 for cron triggers.
DEFAULT_EPOCH = 1767603600.0
SUPPORTED = ("metrics-api", "cron", "redis", "prometheus", "kubernetes-workload", "cpu", "memory")


class GatewayStats:
    """The KEDA gateway's ``/stats`` as the twin computes them each second."""

    def __init__(self, world: "World"):
        self.world = world
        self.completed: deque[float] = deque(maxlen=60)
        self.total = 0.0

    def record(self) -> None:
        stats = self.world.service.last if self.world.service else None
        done = stats.rps if stats else 0.0
        self.completed.append(done)
        self.total += done

    def body(self) -> str:
        s = self.world.service.last if self.world.service else None
        held = s.buffered if s else 0.0
        return json.dumps({"in_flight": round((s.concurrency if s else 0.0) + held, 3),
                           "pending": round(held, 3),
                           "requests_total": int(self.total),
                           "rps_1m": round(sum(self.completed) / 60, 3)})


class KEDALoop:
    """One ScaledObject: the operator's reconciler and poll loop plus the HPA it owns.

    Created, edited (:meth:`update`) and deleted (:meth:`delete`) as ``kubectl`` would, with
    the decisions of :mod:`labkit.autoscalers.keda_reconciler`.
    """

    def __init__(self, world: "World", doc: Mapping, *, where: str = "", epoch: float = DEFAULT_EPOCH):
        self.world, self.where, self.epoch = world, where, epoch
        self.doc = copy.deepcopy(dict(doc))
        self.so: ScaledObjectSpec = self._parse(doc)
        self.target = self._target(self.so, missing_ok=True)
        clock = world.clock
        self.state = new_keda_state(clock.now)
        self.last = None
        self.hpa = None           # the generated HPA's loop, while it exists
        self.handle = None        # the scale loop (poll timer), while it runs
        # status.originalReplicaCount: the target's replicas at the first reconcile.
        self.original_replicas = self.target.spec_replicas if self.target else None
        self.gateway = GatewayStats(world)
        self._gateway = clock.every(1.0, self.gateway.record, CONTROLLER,
                                    first=math.floor(clock.now) + 1.0)
        self._reconcile(spec_changed=False)

    def _parse(self, doc: Mapping) -> ScaledObjectSpec:
        so = scaled_object_from_manifest(doc, path=self.where)
        for t in so.triggers:
            if t.type not in SUPPORTED:
                raise ManifestError(f"trigger {t.index} has type {t.type!r}; the twin simulates "
                                    f"{', '.join(SUPPORTED)} triggers", obj=self.where,
                                    field=f"spec.triggers[{t.index}].type")
        return so

    def _target(self, so: ScaledObjectSpec, *, missing_ok: bool = False):
        """The target Deployment; None (KEDA reports it) when a new ScaledObject names a
        Deployment the variant lacks; other kinds are not simulated."""
        ref = so.scale_target_ref
        target = self.world.workloads.get(ref.name)
        if target is None and missing_ok and (ref.api_version, ref.kind) == ("apps/v1",
                                                                              "Deployment"):
            return None
        if target is None:
            raise ManifestError(f"scaleTargetRef {ref.kind}/{ref.name} is not a Deployment in "
                                "this variant", obj=self.where, field="spec.scaleTargetRef")
        return target

    @property
    def object_ref(self) -> str:
        return f"ScaledObject/{self.so.name}"

    # -- the reconciler: create, edit, delete ------------------------------------------------
    def _reconcile(self, *, spec_changed: bool) -> None:
        world, now = self.world, self.world.clock.now
        if self.target is None:
            out = reconcile_missing_target(self.so, self.state, now=now)
            self.state = out.state
            for ev in out.events:
                world.recorder.add_event(now, self.object_ref, ev.reason, ev.message, ev.type)
            return
        out = reconcile_scaled_object(self.so, self.state, loop_running=self.handle is not None,
                                      hpa_exists=self.hpa is not None, spec_changed=spec_changed,
                                      current_replicas=self.target.spec_replicas, now=now)
        self.state = out.state
        for ev in out.events:
            world.recorder.add_event(now, self.object_ref, ev.reason, ev.message, ev.type)
        if not out.loop:
            self._stop_loop()
        if not out.hpa:
            self._delete_hpa()
        if out.scale_to is not None:
            self.target.scale(out.scale_to)
        if out.hpa:
            self._ensure_hpa()
        if out.restart_loop:
            self._stop_loop()
            self.handle = world.clock.every(float(self.so.polling_interval), self.poll,
                                            CONTROLLER, first=now + 0.001)

    def _ensure_hpa(self) -> None:
        """Create the HPA, or update it in place (it keeps its recommendation history)."""
        for t in self.so.triggers:
            if not t.is_resource:
                self.world.metrics.external[t.metric_name] = lambda t=t: self._adapter_read(t)
        spec = hpa_spec_from_manifest(generated_hpa_manifest(self.so))
        if self.hpa is None:
            self.hpa = attach_hpa(self.world, spec, where=self.where, register=False)
        else:
            self.hpa.spec = spec
            self.hpa.target = self.target

    def _delete_hpa(self) -> None:
        if self.hpa is not None:
            self.hpa.stop()
            self.hpa = None

    def _stop_loop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def update(self, doc: Mapping) -> None:
        """``kubectl apply`` of an edited ScaledObject: reconciled now."""
        so = self._parse(doc)
        target = self._target(so)
        spec_changed = (doc.get("spec") or {}) != (self.doc.get("spec") or {})
        self.doc, self.so, self.target = copy.deepcopy(dict(doc)), so, target
        if self.original_replicas is None:     # created when its target did not exist
            self.original_replicas = target.spec_replicas
        self._reconcile(spec_changed=spec_changed)

    def delete(self) -> None:
        """``kubectl delete scaledobject``: the finalizer runs now; the HPA goes with it."""
        now = self.world.clock.now
        out = finalize_scaled_object(self.so, loop_running=self.handle is not None,
                                     original_replicas=self.original_replicas,
                                     current_replicas=self.target.spec_replicas
                                     if self.target else 0)
        self._stop_loop()
        self._delete_hpa()
        self._gateway.cancel()
        for t in self.so.triggers:
            self.world.metrics.external.pop(t.metric_name, None)
        if out.scale_to is not None and self.target is not None:
            self.target.scale(out.scale_to)
        for ev in out.events:
            self.world.recorder.add_event(now, self.object_ref, ev.reason, ev.message, ev.type)

    # -- reading the triggers ----------------------------------------------------------
    def _read(self, trigger: Trigger):
        now = self.world.clock.now
        if "keda-trigger" in self.world.faults:
            return trigger_result(trigger, error=f"error requesting metrics endpoint: "
                                  f"{trigger.metadata.get('url', 'the metric source')} is down")
        if trigger.type == "cron":
            return trigger_result(trigger, now=self.epoch + now)
        if trigger.type == "redis":
            return trigger_result(trigger, value=self.world.queue_length(
                trigger.metadata.get("listName", "")))
        if trigger.type == "kubernetes-workload":   # pods matching podSelector, not finished
            selector = parse_label_selector(trigger.metadata["podSelector"])
            count = sum(1 for w in self.world.workloads.values()
                        if selector_matches(selector, w.template.labels)
                        for p in w.pods if not p.gone)
            return trigger_result(trigger, value=float(count))
        if trigger.type == "prometheus":   # the query names a series (set_metric)
            series = self.world.metrics.series
            samples = series.prometheus(trigger.metadata["query"], now) if series else []
            ignore = str(trigger.metadata.get("ignoreNullValues", "true")).lower() != "false"
            try:
                value = prometheus_value(samples, ignore_null_values=ignore)
            except ValueError as e:
                return trigger_result(trigger, error=str(e))
            return trigger_result(trigger, value=value)
        value = metrics_api_value(self.gateway.body(), trigger.metadata["valueLocation"])
        return trigger_result(trigger, value=value)

    def _adapter_read(self, trigger: Trigger) -> list[int]:
        outcome, self.state = hpa_metric_value(
            self.so, self.state, result=self._read(trigger),
            current_replicas=self.target.spec_replicas,
            ready_pods=self.target.ready_replicas, now=self.world.clock.now)
        if outcome.value_milli is None:
            raise MetricError("FailedGetExternalMetric",
                              f"unable to get external metric {trigger.metric_name}: "
                              f"{outcome.result.error}")
        return [outcome.value_milli]

    # -- the operator's poll -------------------------------------------------------------
    def poll(self) -> None:
        now = self.world.clock.now
        results = [self._read(t) for t in self.so.triggers if not t.is_resource]
        result = poll(self.so, self.state, results=results,
                      current_replicas=self.target.spec_replicas, now=now,
                      ready_pods=self.target.ready_replicas)
        self.state, self.last = result.state, result
        for ev in result.events:
            self.world.recorder.add_event(now, self.object_ref, ev.reason, ev.message, ev.type)
        if result.scale_to is not None and result.scale_to != self.target.spec_replicas:
            self.target.scale(result.scale_to)

    # -- what the Timeline shows -----------------------------------------------------
    @property
    def min_replicas(self) -> int:
        return self.so.min_replica_count

    @property
    def max_replicas(self) -> int:
        return self.so.max_replica_count

    @property
    def desired_replicas(self) -> int:
        if self.target is None:
            return 0
        if self.target.spec_replicas == 0 or self.hpa is None:   # at zero, or paused
            return self.target.spec_replicas
        return self.hpa.desired_replicas

    def metric_reading(self) -> tuple[str, float, float]:
        trig = next((t for t in self.so.triggers if not t.is_resource), None)
        if self.target is None:
            return ("", float("nan"), float("nan"))
        if trig is None:
            return self.hpa.metric_reading() if self.hpa else ("", float("nan"), float("nan"))
        if trig.type == "metrics-api":
            value = metrics_api_value(self.gateway.body(), trig.metadata["valueLocation"])
        elif trig.type == "redis":
            value = float(self.world.queue_length(trig.metadata.get("listName", "")))
        elif trig.type == "prometheus" and self.world.metrics.series is not None:
            found = self.world.metrics.series.prometheus(trig.metadata["query"],
                                                         self.world.clock.now)
            value = found[0] if found else 0.0
        else:
            value = float("nan")
        per_pod = trig.metric_type == "AverageValue"
        n = max(self.target.spec_replicas, 1)
        what = f"{trig.metadata['listName']} list length" if trig.type == "redis" else \
            trig.metadata.get("query") if trig.type == "prometheus" else \
            trig.metadata.get("valueLocation", trig.metric_name)
        label = what + (" (per pod)" if per_pod else "")
        return (label, value / n if per_pod else value, trig.target)

    def describe(self) -> str:
        lines = [f"Name:             {self.so.name} (ScaledObject)",
                 f"Min/max:          {self.so.min_replica_count}/{self.so.max_replica_count} "
                 + (f"(its HPA {self.so.hpa_name}: min {self.hpa.spec.min_replicas})"
                    if self.hpa else "(paused: no HPA)"),
                 f"Polling/cooldown: {self.so.polling_interval} s / {self.so.cooldown_period} s"]
        lines.append("Conditions:")
        for c in self.state.conditions.values():
            lines.append(f"  {c.type:<15} {c.status:<8} {c.reason}")
        return "\n".join(lines) + ("\n\n" + self.hpa.describe() if self.hpa else "")

    def condition(self, type_: str):
        """The ScaledObject's condition of that type (as the reconciler and the polls left it)."""
        return self.state.conditions.get(type_)
