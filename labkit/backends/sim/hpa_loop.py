"""The HPA controller loop of the twin: every sync period, one pure ``reconcile``.

The loop only gathers inputs (the target's scale, its pods, the metrics APIs), calls
:func:`labkit.autoscalers.hpa_controller.reconcile`, writes the scale and records status and
events; every decision is made by the pure functions in ``labkit/autoscalers/``.

Simplifies: the next sync starts exactly one period after the previous one (upstream: one
period after the previous one *finished*, a few milliseconds later); a new HPA is synced at
once (current code; ≤1.36 waited one period).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from ...autoscalers.hpa_types import MetricSpec, PodInfo
from ...autoscalers.hpa_controller import ControllerConfig, ReconcileResult, reconcile
from ...autoscalers.hpa_spec import HPASpec
from ...errors import ManifestError
from ...timeline import TimelineRecorder
from .clock import CONTROLLER, Clock
from .hpa_cohorts import CohortCalc, pod_info
from .metrics import MetricsAPI
from .pods import Workload

if TYPE_CHECKING:
    from .world import World


class _PodInfos(Sequence[PodInfo]):
    """The target's pods as the HPA lists them, built only if a calculation reads them."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self._list: list[PodInfo] | None = None

    def _infos(self) -> list[PodInfo]:
        if self._list is None:
            self._list = [pod_info(p) for p in self.workload.live_pods]
        return self._list

    def __len__(self) -> int:
        return len(self._infos())

    def __getitem__(self, i):  # type: ignore[override]
        return self._infos()[i]

    def __iter__(self) -> Iterator[PodInfo]:
        return iter(self._infos())


class HPALoop:
    """Runs one HorizontalPodAutoscaler against one workload."""

    def __init__(self, clock: Clock, spec: HPASpec, target: Workload, metrics: MetricsAPI,
                 recorder: TimelineRecorder, config: ControllerConfig | None = None,
                 *, start: float | None = None):
        self.clock, self.spec, self.target = clock, spec, target
        self.metrics, self.recorder = metrics, recorder
        self.config = config or ControllerConfig()
        self.state = None
        self.last: ReconcileResult | None = None
        self._reading: tuple | None = None   # (last, spec, metric_reading())
        self.calc = CohortCalc(target, metrics.server, metrics.server.workloads,
                               lambda: _PodInfos(self.target))
        self.handle = clock.every(self.config.sync_period, self.sync, CONTROLLER, first=start)

    @property
    def object_ref(self) -> str:
        return f"HorizontalPodAutoscaler/{self.spec.name}"

    @property
    def min_replicas(self) -> int:
        return self.spec.min_replicas

    @property
    def max_replicas(self) -> int:
        return self.spec.max_replicas

    @property
    def selector(self) -> Mapping[str, str]:
        return self.target.template.labels

    def sync(self) -> None:
        now = self.clock.now
        self.calc.target = self.target   # (an applied HPA may point elsewhere)
        result = reconcile(self.spec, spec_replicas=self.target.spec_replicas,
                           status_replicas=self.target.status_replicas,
                           pods=_PodInfos(self.target), selector=self.selector,
                           metrics=self.metrics, state=self.state, now=now, config=self.config,
                           conditions=self.last.conditions if self.last else (),
                           calc=self.calc)
        self.state, self.last = result.state, result
        for ev in result.events:
            self.recorder.add_event(now, self.object_ref, ev.reason, ev.message, ev.type)
        if result.rescale:
            self.target.scale(result.desired_replicas)

    def stop(self) -> None:
        self.handle.cancel()

    def describe(self) -> str:
        """Status and conditions, laid out like ``kubectl describe hpa``."""
        lines = [f"Name:             {self.spec.name}",
                 f"Reference:        {self.spec.scale_target_ref.kind}/"
                 f"{self.spec.scale_target_ref.name}",
                 f"Min replicas:     {self.spec.min_replicas}",
                 f"Max replicas:     {self.spec.max_replicas}"]
        if self.last is None:
            return "\n".join(lines + ["(not synced yet)"])
        for st in self.last.current_metrics:
            name, value, target = metric_reading(st.metric, st)
            shown = "<unknown>" if value != value else f"{value:g}"
            lines.append(f"Metric:           {name}: {shown} / {target:g}")
        lines.append(f"Replicas:         {self.last.current_replicas} current / "
                     f"{self.last.desired_replicas} desired")
        lines.append("Conditions:")
        for c in self.last.conditions:
            lines.append(f"  {c.type:<15} {c.status:<6} {c.reason:<28} {c.message}")
        return "\n".join(lines)

    def condition(self, type_: str):
        """The current condition of that type (None before the first sync)."""
        if self.last is None:
            return None
        return next((c for c in self.last.conditions if c.type == type_), None)

    # -- what the Timeline shows -------------------------------------------------------
    @property
    def desired_replicas(self) -> int:
        return self.last.desired_replicas if self.last else self.target.spec_replicas

    def metric_reading(self) -> tuple[str, float, float]:
        """(name, current value, target) of the first metric, in the units kubectl shows."""
        cached = self._reading   # read every second; it changes only with a sync or an edit
        if cached is not None and cached[0] is self.last and cached[1] is self.spec:
            return cached[2]
        reading = self._metric_reading()
        self._reading = (self.last, self.spec, reading)
        return reading

    def _metric_reading(self) -> tuple[str, float, float]:
        metric = self.spec.metrics[0] if self.spec.metrics else None
        if metric is None:
            return ("", float("nan"), float("nan"))
        current = None
        if self.last is not None:
            for st in self.last.current_metrics:
                if st.metric == metric:
                    current = st
                    break
        return metric_reading(metric, current)


def metric_reading(metric: MetricSpec, status) -> tuple[str, float, float]:
    """Name, value and target of one metric as ``kubectl get hpa`` shows them."""
    t = metric.target
    nan = float("nan")
    if t.type == "Utilization":
        value = status.current_utilization if status and status.current_utilization is not None \
            else nan
        return (f"{metric.name} utilization (%)", float(value), float(t.average_utilization or 0))
    milli = t.average_value_milli if t.type == "AverageValue" else t.value_milli
    value = status.current_value_milli / 1000 if status and \
        status.current_value_milli is not None else nan
    label = metric.name if t.type == "Value" else f"{metric.name} (per pod)"
    return (label, float(value), (milli or 0) / 1000)


def attach_hpa(world: "World", spec: HPASpec, *, where: str = "", start: float | None = None,
               register: bool = True) -> HPALoop:
    """Run an HPA against its Deployment in ``world`` (listed as an autoscaler if ``register``;
    KEDA and Knative keep the one they make to themselves)."""
    ref = spec.scale_target_ref
    target = world.workloads.get(ref.name)
    if target is None or ref.kind != "Deployment":
        raise ManifestError(f"scaleTargetRef {ref.kind}/{ref.name} is not a Deployment in this "
                            "variant; point it at the app's Deployment", obj=where,
                            field="spec.scaleTargetRef")
    loop = HPALoop(world.clock, spec, target, world.metrics, world.recorder, world.hpa_config,
                   start=start)
    if register:
        world.autoscalers.append(loop)
    return loop
