"""A fixed-consumption workload, as Kubernetes' own HPA end-to-end tests drive their pods.

kubernetes/kubernetes ``test/e2e/framework/autoscaling/autoscaling_utils.go``
(``ResourceConsumer``): ``ConsumeCPU(millicores)`` and ``ConsumeMem(megabytes)`` set a *total*
that the consumer's controller spreads over the pods behind its Service, so each ready pod
burns ``total / ready pods``; with a sidecar (``SidecarStatusType`` Enable, ``SidecarWorkloadType``
Busy or Idle) the sidecar can be the busy container instead. The HPA then converges on
``ceil(total / (target x request))`` pods whatever the traffic, which is what
``test/e2e/autoscaling/horizontal_pod_autoscaling.go`` asserts (``scaleUp``: 250m on 500m
requests at 20 % -> 3 pods, then 700m -> 5).

In the twin a :class:`ResourceConsumer` adds, every second, each Ready pod's share to the named
container (default: the first), capped at that container's CPU limit; metrics-server
(:mod:`.metrics`) reports it on top of what requests cost. It is seen by the metrics only:
it does not slow the pod's requests (the e2e consumer's pods serve no traffic either).
"""

from __future__ import annotations

import math
from collections import defaultdict

from ...errors import BackendError
from .clock import TRAFFIC, Clock
from .pods import Workload


class ResourceConsumer:
    """Total CPU (millicores) and memory (MiB) per container, spread over a workload's Ready pods."""

    def __init__(self, clock: Clock, workload: Workload):
        self.clock, self.workload = clock, workload
        self.cpu_total: dict[str, float] = {}        # container -> millicores in total
        self.memory_total: dict[str, float] = {}     # container -> MiB in total
        self._cpu: dict[str, dict[str, float]] = defaultdict(dict)     # pod -> c -> mcore-s
        self._memory: dict[str, dict[str, float]] = defaultdict(dict)  # pod -> c -> MiB
        self._last = clock.now
        self.handle = clock.every(1.0, self.tick, TRAFFIC, first=math.floor(clock.now) + 1.0)

    def set(self, *, cpu_millicores: float | None = None, memory_mib: float | None = None,
            container: str | None = None) -> None:
        """``ConsumeCPU`` / ``ConsumeMem``: the totals from now on (None leaves one as it is)."""
        names = [c.name for c in self.workload.template.containers]
        name = container or names[0]
        if name not in names:
            raise BackendError(f"Deployment/{self.workload.name} has no container {name!r}; "
                               f"it has {', '.join(names)}")
        self.tick()   # what was consumed until now, at the old rate
        if cpu_millicores is not None:
            self.cpu_total[name] = max(0.0, float(cpu_millicores))
        if memory_mib is not None:
            self.memory_total[name] = max(0.0, float(memory_mib))

    def tick(self) -> None:
        now = self.clock.now
        dt, self._last = now - self._last, now
        ready = [p for p in self.workload.pods if p.serving]
        serving = {p.name for p in ready}
        for pod in list(self._memory):
            if pod not in serving:      # a pod out of the endpoints gets no more requests
                self._memory.pop(pod)
        if not ready:
            return
        limits = {c.name: c.limits_milli.get("cpu") for c in self.workload.template.containers}
        for name, total in self.cpu_total.items():
            share = total / len(ready)
            if limits.get(name):
                share = min(share, float(limits[name]))
            for p in ready:
                cum = self._cpu[p.name]
                cum[name] = cum.get(name, 0.0) + share * dt
        for name, total in self.memory_total.items():
            for p in ready:
                self._memory[p.name][name] = total / len(ready)

    def cpu_cumulative(self, pod: str) -> dict[str, float]:
        """Millicore-seconds this consumer burnt in each container of ``pod`` so far."""
        return self._cpu.get(pod, {})

    def memory_mib(self, pod: str) -> dict[str, float]:
        """MiB this consumer holds in each container of ``pod`` now."""
        return self._memory.get(pod, {})
