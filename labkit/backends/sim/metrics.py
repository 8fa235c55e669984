"""metrics-server and the metrics APIs the HPA reads, as the twin serves them.

metrics-server (spec §1.14) scrapes every pod every ``metric_resolution_s`` (15 s, as the kind
add-on is configured): CPU is the difference of the cumulative CPU between the last two scrapes
divided by the time between them (``window``), stamped with the last scrape time; a container
younger than one resolution but at least 10 s old uses its start time (0 CPU) as the earlier
point. Memory is the working set at the last scrape. So the CPU the HPA sees is an average over
the previous ~15 s, already up to ~15 s old when it reads it.

External metrics (KEDA's metrics adapter) are functions registered by name; series a learner
sets (:mod:`.series`) answer External, Pods and Object metrics as a metrics adapter would.

Simplifies: one scrape for all pods at the same instant; the kubelet's own 10 s cAdvisor
housekeeping is folded into the resolution.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ...autoscalers.hpa import MetricError, PodMetric, PodSample
from .clock import SCRAPE, Clock
from .consumer import ResourceConsumer
from .pods import MIB, Pod, Workload
from .series import MetricSeries, milli

MIN_CONTAINER_AGE = 10.0


class MetricsServer:
    """Scrapes the pods of the given workloads and serves ``metrics.k8s.io`` PodMetrics."""

    def __init__(self, clock: Clock, workloads: Callable[[], Sequence[Workload]],
                 resolution: float = 15.0):
        self.clock, self.workloads, self.resolution = clock, workloads, resolution
        self._points: dict[str, tuple[float, float]] = {}     # pod -> (time, cumulative CPU)
        self.pod_metrics: dict[str, PodMetric] = {}
        self.down = False   # a learner "uninstalls" metrics-server (troubleshooting lab)
        #: Fixed consumption on top of the requests' cost (:mod:`.consumer`), if any.
        self.consumers: list[ResourceConsumer] = []
        self._extra: dict[str, dict[str, float]] = {}          # pod -> container -> mcore-s
        self.handle = clock.every(resolution, self.scrape, SCRAPE)

    def scrape(self) -> None:
        now = self.clock.now
        if self.down:
            self._points, self.pod_metrics = {}, {}
            return
        points: dict[str, tuple[float, float]] = {}
        metrics: dict[str, PodMetric] = {}
        extra: dict[str, dict[str, float]] = {}
        previous, resolution = self._points, self.resolution
        for w in self.workloads():
            name = w.template.main.name
            # Working sets: every serving pod holds the same share of the requests in flight.
            mem_idle = mem_serving = None
            for pod in w.pods:
                if pod.start_time is None or pod.deleting:
                    continue
                cum = pod.cpu_cumulative(now)
                points[pod.name] = (now, cum)
                prev = previous.get(pod.name)
                if prev is None:
                    if MIN_CONTAINER_AGE <= now - pod.start_time < resolution:
                        prev = (pod.start_time, 0.0)
                    else:
                        continue
                window = now - prev[0]
                if window <= 0:
                    continue
                if pod.serving:
                    if mem_serving is None:
                        mem_serving = int(pod.memory())
                    memory = mem_serving
                else:
                    if mem_idle is None:
                        mem_idle = int(pod.memory())
                    memory = mem_idle
                usage = {name: {"cpu": int((cum - prev[1]) / window), "memory": memory}}
                if self.consumers:
                    self._consumed(pod, usage, prev[0], window, extra)
                metrics[pod.name] = PodMetric(pod.name, now, window, usage)
        self._points, self.pod_metrics = points, metrics
        self._extra = extra

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
        return [m for n, m in self.server.pod_metrics.items() if n in names]

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
