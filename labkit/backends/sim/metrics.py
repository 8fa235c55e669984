"""metrics-server and the metrics APIs the HPA reads, as the twin serves them.

metrics-server (spec §1.14) scrapes every pod every ``metric_resolution_s`` (15 s, as the kind
add-on is configured): CPU is the CPU the pod used between the last two scrapes divided by the
time between them (``window``), stamped with the last scrape time; a container younger than one
resolution but at least 10 s old uses its start time (0 CPU) as the earlier point. Memory is
the working set at the last scrape. So the CPU the HPA sees is an average over the previous
~15 s, already up to ~15 s old when it reads it.

Cost grows with what changes, not with pods: a pod that was Ready, past its start-up and
sampled at the previous scrape used exactly the same CPU over the window as every other such
pod (:meth:`~.pods.Pod.cpu_between` sums phase by phase), so a scrape computes that value once
for all these *steady* pods and one value per other pod. Per-pod ``PodMetrics`` are built only
when a reader asks for them (:meth:`MetricsServer.pod_metrics`); the HPA loop reads the compact
form (:meth:`MetricsServer.summary`).

External metrics (KEDA's metrics adapter) are functions registered by name; series a learner
sets (:mod:`.series`) answer External, Pods and Object metrics as a metrics adapter would.

Simplifies: one scrape for all pods at the same instant; the kubelet's own 10 s cAdvisor
housekeeping is folded into the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ...autoscalers.hpa import MetricError, PodMetric, PodSample
from .clock import SCRAPE, Clock
from .consumer import ResourceConsumer
from .crosscheck import CrossCheckError, crosscheck
from .pods import MIB, Pod, Workload
from .series import MetricSeries, milli

MIN_CONTAINER_AGE = 10.0


@dataclass
class _WorkloadScrape:
    """metrics-server's state for one workload's pods, kept up to date by the pod watch."""

    steady: dict[Pod, None]          # sampled with the shared steady value at the last scrape
    young: dict[Pod, None]           # every other pod that is not terminating
    sampled: dict[Pod, None]         # young pods sampled at the last scrape
    # young pod -> (cpu, memory, window, every container's usage when consumers add to it)
    samples: dict[Pod, tuple[int, int, float, dict | None]]
    left: list[Pod]                  # steady pods deleted since the last scrape
    time: float | None = None        # the last scrape
    prev: float | None = None        # the one before
    served: float = 0.0              # the workload's served_cpu then
    steady_cpu: int = 0
    steady_memory: int = 0
    steady_window: float = 0.0


@dataclass(frozen=True)
class ScrapeSummary:
    """What the last scrape holds for one workload, in the compact form the HPA loop reads:
    ``steady`` pods (Running, Ready and not terminating, sampled at the previous scrape too)
    all have ``cpu``/``memory`` over ``window``; every other pod is in ``young`` with its
    ``(cpu, memory, window)`` sample, or None when it has none."""

    timestamp: float
    prev: float          # the scrape before (the steady pods' window starts there)
    steady: int
    cpu: int
    memory: int
    window: float
    young: tuple[tuple[Pod, tuple[int, int, float, dict | None] | None], ...]


class MetricsServer:
    """Scrapes the pods of the given workloads and serves ``metrics.k8s.io`` PodMetrics."""

    def __init__(self, clock: Clock, workloads: Callable[[], Sequence[Workload]],
                 resolution: float = 15.0):
        self.clock, self.workloads, self.resolution = clock, workloads, resolution
        self._state: dict[Workload, _WorkloadScrape] = {}
        self.down = False   # a learner "uninstalls" metrics-server (troubleshooting lab)
        #: Fixed consumption on top of the requests' cost (:mod:`.consumer`), if any.
        self.consumers: list[ResourceConsumer] = []
        self._extra: dict[str, dict[str, float]] = {}          # pod -> container -> mcore-s
        self.check = crosscheck()
        self.handle = clock.every(resolution, self.scrape, SCRAPE)

    # -- the pod watch ----------------------------------------------------------------
    def _watch(self, w: Workload) -> _WorkloadScrape:
        st = _WorkloadScrape({}, {p: None for p in w.pods if not p.deleting}, {}, {}, [])
        self._state[w] = st

        def on_pod(event: str, pod: Pod) -> None:
            if event == "ADDED":
                st.young[pod] = None
            elif pod in st.steady:
                del st.steady[pod]
                st.left.append(pod)
            else:
                st.young.pop(pod, None)
        w.watchers.append(on_pod)
        return st

    # -- scraping ---------------------------------------------------------------------
    def scrape(self) -> None:
        now = self.clock.now
        current = list(self.workloads())
        extra: dict[str, dict[str, float]] = {}
        for w in [w for w in self._state if w not in current]:
            del self._state[w]
        for w in current:
            st = self._state.get(w) or self._watch(w)
            if self.down:
                st.young.update(st.steady)
                st.steady, st.sampled, st.samples, st.left = {}, {}, {}, []
                st.time = None
            else:
                self._scrape(w, st, now, extra)
        if not self.down:
            self._extra = extra

    def _scrape(self, w: Workload, st: _WorkloadScrape, now: float,
                extra: dict[str, dict[str, float]]) -> None:
        t0, s0, s1 = st.time, st.served, w.served_cpu
        consumed = bool(self.consumers)
        if consumed and st.steady:   # consumers load each pod on its own: no shared value
            st.sampled.update(st.steady)
            st.young.update(st.steady)
            st.steady = {}
        steady, sampled, resolution = st.steady, st.sampled, self.resolution
        new_sampled: dict[Pod, None] = {}
        samples: dict[Pod, tuple[int, int, float, dict | None]] = {}
        promoted = []
        for pod in st.young:
            start = pod.start_time
            if start is None:
                continue
            new_sampled[pod] = None
            if pod in sampled:
                if (not consumed and pod.ready
                        and pod.ready_transition_time <= t0          # type: ignore[operator]
                        and pod.app_ready_at <= t0):                 # type: ignore[operator]
                    promoted.append(pod)   # from now on it uses what every steady pod uses
                    continue
                cpu = pod.cpu_between(t0, s0, now, s1)                # type: ignore[arg-type]
                prev = t0
            elif MIN_CONTAINER_AGE <= now - start < resolution:
                cpu, prev = pod.cpu_between(start, None, now, s1), start
            else:
                continue
            window = now - prev                                       # type: ignore[operator]
            if window <= 0:
                continue
            usage = None
            if consumed:
                usage = {w.template.main.name: {"cpu": int(cpu / window),
                                                "memory": int(pod.memory())}}
                self._consumed(pod, usage, prev, window, extra)          # type: ignore[arg-type]
            samples[pod] = (int(cpu / window), int(pod.memory()), window, usage)
        for pod in promoted:
            del st.young[pod]
            del new_sampled[pod]
            steady[pod] = None
        if steady:
            window = now - t0                                         # type: ignore[operator]
            pod = next(iter(steady))   # any one: they all used the same
            st.steady_cpu = int(pod.cpu_between(t0, s0, now, s1) / window)
            st.steady_memory, st.steady_window = int(pod.memory()), window
            if self.check:
                for p in steady:
                    own = (int(p.cpu_between(t0, s0, now, s1) / window), int(p.memory()))
                    if own != (st.steady_cpu, st.steady_memory):
                        raise CrossCheckError(f"steady pod {p.name} at t={now}: {own}, the "
                                              f"shared value {st.steady_cpu, st.steady_memory}")
        st.sampled, st.samples, st.left = new_sampled, samples, []
        st.prev, st.time, st.served = t0, now, s1

    # -- reading --------------------------------------------------------------------
    def summary(self, w: Workload) -> ScrapeSummary | None:
        """The last scrape of ``w`` in compact form (None before the first scrape, and while
        consumers run: their load is per pod and per container)."""
        st = self._state.get(w)
        if st is None or st.time is None or self.consumers:
            return None
        return ScrapeSummary(st.time, math.nan if st.prev is None else st.prev, len(st.steady),
                             st.steady_cpu, st.steady_memory, st.steady_window,
                             tuple((p, st.samples.get(p)) for p in st.young))

    def pod_metrics(self) -> dict[str, PodMetric]:
        """``kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods``: one PodMetrics per pod
        sampled at the last scrape, in pod order."""
        out: dict[str, PodMetric] = {}
        for w, st in self._state.items():
            if st.time is None:
                continue
            name = w.template.main.name
            steady = {**st.steady, **dict.fromkeys(st.left)}
            for pod in w.pods:   # gone pods are no longer listed
                usage = None
                if pod in steady:
                    cpu, memory, window = st.steady_cpu, st.steady_memory, st.steady_window
                elif pod in st.samples:
                    cpu, memory, window, usage = st.samples[pod]
                else:
                    continue
                out[pod.name] = PodMetric(pod.name, st.time, window, usage or {
                    name: {"cpu": cpu, "memory": memory}})
        return out

    def _consumed(self, pod: Pod, usage: dict, since: float, window: float,
                  extra: dict[str, dict[str, float]]) -> None:
        """Add the consumers' CPU (a rate over the window) and memory, per container."""
        before = self._extra.get(pod.name, {}) if since > (pod.start_time or 0) else {}
        cum: dict[str, float] = {}
        memory: dict[str, float] = {}
        for c in self.consumers:
            if c.workload is not pod.workload:
                continue
            for k, v in c.cpu_cumulative(pod.name).items():
                cum[k] = cum.get(k, 0.0) + v
            for k, v in c.memory_mib(pod.name).items():
                memory[k] = memory.get(k, 0.0) + v
        extra[pod.name] = cum
        for container in pod.workload.template.containers[1:]:   # every container is listed
            usage.setdefault(container.name, {"cpu": 0, "memory": 0})
        for k, v in cum.items():
            usage[k]["cpu"] += int((v - before.get(k, 0.0)) / window)
        for k, v in memory.items():
            usage[k]["memory"] += int(v * MIB)


class MetricsAPI:
    """The metrics APIs the HPA controller reads (implements ``hpa.MetricsSource``)."""

    def __init__(self, server: MetricsServer, pods: Callable[[Mapping[str, str]], list[Pod]]):
        self.server, self.pods = server, pods
        self.external: dict[str, Callable[[], Sequence[int]]] = {}
        #: Series a learner set (:mod:`.series`), served as a metrics adapter would.
        self.series: MetricSeries | None = None

    def _series(self, source: str, name: str) -> float | None:
        if self.series is None or not self.series.has(source, name):
            return None
        return self.series.value(source, name, self.server.clock.now)

    def resource_metrics(self, resource: str, selector: Mapping[str, str]) -> Sequence[PodMetric]:
        names = {p.name for p in self.pods(selector)}
        return [m for n, m in self.server.pod_metrics().items() if n in names]

    def pods_metric(self, name: str, selector: Mapping[str, str]) -> Sequence[PodSample]:
        value = self._series("Pods", name)
        if value is None:
            raise MetricError("FailedGetPodsMetric",
                              f"unable to get metric {name}: no custom metrics API is installed "
                              "in the twin (as on a kind cluster without prometheus-adapter); "
                              "set one with set_metric(name, series, source='Pods')")
        now = self.server.clock.now
        return [PodSample(p.name, milli(value), now, 60.0) for p in self.pods(selector)
                if p.start_time is not None and not p.deleting]

    def object_metric(self, name: str, described_object: Mapping, selector) -> int:
        value = self._series("Object", name)
        if value is None:
            raise MetricError("FailedGetObjectMetric",
                              f"unable to get metric {name}: no custom metrics API is installed "
                              "in the twin; set one with set_metric(name, series, "
                              "source='Object')")
        return milli(value)

    def external_metric(self, name: str, selector: Mapping | None) -> Sequence[int]:
        source = self.external.get(name)
        if source is not None:
            return source()
        value = self._series("External", name)
        if value is None:
            raise MetricError("FailedGetExternalMetric",
                              f"unable to get external metric {name}: no metrics returned from "
                              "external metrics API")
        return [milli(value)]
