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
  exists, as LLEN of a missing key), ``cpu``/``memory`` become Resource metrics of the HPA.

Simplifies: the adapter serves live values (``useCachedMetrics`` is not modelled); the
operator's first poll comes one millisecond after the ScaledObject is created.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Mapping

from ...autoscalers.hpa_types import MetricError
from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from ...autoscalers.keda import (ScaledObjectSpec, generated_hpa_manifest, hpa_metric_value,
                                 new_keda_state, poll, scaled_object_from_manifest)
from ...autoscalers.keda_triggers import Trigger, metrics_api_value, trigger_result
from ...errors import ManifestError
from .clock import CONTROLLER

if TYPE_CHECKING:
    from .world import World

#: 2026-01-05 09:00 UTC, a Monday morning: simulated time 0 for cron triggers.
DEFAULT_EPOCH = 1767603600.0
SUPPORTED = ("metrics-api", "cron", "redis", "cpu", "memory")


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
    """One ScaledObject: the operator's poll loop plus the HPA it owns."""

    def __init__(self, world: "World", doc: Mapping, *, where: str = "", epoch: float = DEFAULT_EPOCH):
        self.world, self.where, self.epoch = world, where, epoch
        self.so: ScaledObjectSpec = scaled_object_from_manifest(doc, path=where)
        for t in self.so.triggers:
            if t.type not in SUPPORTED:
                raise ManifestError(f"trigger {t.index} has type {t.type!r}; the twin simulates "
                                    f"{', '.join(SUPPORTED)} triggers", obj=where,
                                    field=f"spec.triggers[{t.index}].type")
        ref = self.so.scale_target_ref
        self.target = world.workloads.get(ref.name)
        if self.target is None:
            raise ManifestError(f"scaleTargetRef {ref.kind}/{ref.name} is not a Deployment in "
                                "this variant", obj=where, field="spec.scaleTargetRef")
        clock = world.clock
        self.state = new_keda_state(clock.now)
        self.last = None
        self.gateway = GatewayStats(world)
        clock.every(1.0, self.gateway.record, CONTROLLER, first=1.0)
        # The generated HPA: same loop as any HPA, reading External metrics through us.
        from .autoscaling import attach_hpa
        hpa_doc = generated_hpa_manifest(self.so)
        for t in self.so.triggers:
            if not t.is_resource:
                world.metrics.external[t.metric_name] = lambda t=t: self._adapter_read(t)
        self.hpa = attach_hpa(world, hpa_spec_from_manifest(hpa_doc), where=where,
                              register=False)
        self.handle = clock.every(float(self.so.polling_interval), self.poll, CONTROLLER,
                                  first=clock.now + 0.001)

    @property
    def object_ref(self) -> str:
        return f"ScaledObject/{self.so.name}"

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
        if self.target.spec_replicas == 0:
            return 0
        return self.hpa.desired_replicas

    def metric_reading(self) -> tuple[str, float, float]:
        trig = next((t for t in self.so.triggers if not t.is_resource), None)
        if trig is None:
            return self.hpa.metric_reading()
        if trig.type == "metrics-api":
            value = metrics_api_value(self.gateway.body(), trig.metadata["valueLocation"])
        elif trig.type == "redis":
            value = float(self.world.queue_length(trig.metadata.get("listName", "")))
        else:
            value = float("nan")
        per_pod = trig.metric_type == "AverageValue"
        n = max(self.target.spec_replicas, 1)
        what = f"{trig.metadata['listName']} list length" if trig.type == "redis" else \
            trig.metadata.get("valueLocation", trig.metric_name)
        label = what + (" (per pod)" if per_pod else "")
        return (label, value / n if per_pod else value, trig.target)

    def describe(self) -> str:
        lines = [f"Name:             {self.so.name} (ScaledObject)",
                 f"Min/max:          {self.so.min_replica_count}/{self.so.max_replica_count} "
                 f"(its HPA {self.so.hpa_name}: min {self.hpa.spec.min_replicas})",
                 f"Polling/cooldown: {self.so.polling_interval} s / {self.so.cooldown_period} s"]
        if self.last is not None:
            lines.append("Conditions:")
            for c in self.last.conditions:
                lines.append(f"  {c.type:<15} {c.status:<8} {c.reason}")
        return "\n".join(lines) + "\n\n" + self.hpa.describe()

    def condition(self, type_: str):
        return None if self.last is None else next(
            (c for c in self.last.conditions if c.type == type_), None)
