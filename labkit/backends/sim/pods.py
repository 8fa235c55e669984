"""Nodes, pods and the Deployment controller of the twin.

A pod goes through the steps the real ones take on kind, each a scheduled event:

- Pending until the scheduler finds a node whose allocatable CPU and memory cover the pod's
  requests (it stays Pending, unscheduled, while none does — as on a full kind node);
- image pull on the first pod of a node, container start (phase Running, ``start_time``);
- the app's start-up (imports, model load, ``APP_STARTUP_DELAY_S``), burning CPU;
- kubelet readiness probes from the Deployment's ``readinessProbe`` (initialDelaySeconds,
  periodSeconds, successThreshold): Ready at the first probe that finds the app ready.

Scale-down deletes pods in the ReplicaSet controller's order (unscheduled, then Pending, then
not Ready, then the most recently Ready, then the newest). A deleted pod leaves the Service's
endpoints at once and is gone ``termination_seconds`` later.

A pod deleted by hand (``kubectl delete pod``, :meth:`Workload.delete_pod`) leaves the
endpoints the same way, and the ReplicaSet controller, which counts only pods without a deletion
timestamp, creates a replacement at once; it goes through every step above (kubernetes/kubernetes
v1.36.4 ``pkg/controller/replicaset/replica_set.go``: ``syncReplicaSet`` drops inactive pods with
``controller.FilterActivePods``, then ``manageReplicas`` creates ``spec.replicas`` minus the
active pods; ``staging/src/k8s.io/endpointslice/utils.go`` ``podToEndpoint``: a pod with a
deletion timestamp is published ``ready: false``).

Simplifies: no preemption, no affinity or spreading (first node that fits), no probe failures
after Ready, no container restarts, no rolling updates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ...autoscalers.quantity import parse_quantity_milli
from ...errors import ManifestError
from .clock import POD, PROBE, Clock
from .params import TwinParams

MIB = 1024 * 1024 * 1000  # milli-units of one MiB


@dataclass
class Node:
    name: str
    cpu_milli: int
    memory_milli: int
    used_cpu_milli: int = 0
    used_memory_milli: int = 0
    has_image: bool = False

    def fits(self, cpu: int, memory: int) -> bool:
        return (self.used_cpu_milli + cpu <= self.cpu_milli
                and self.used_memory_milli + memory <= self.memory_milli)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    requests_milli: Mapping[str, int]
    limits_milli: Mapping[str, int]
    env: Mapping[str, str]
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    initial_delay_seconds: float = 0
    period_seconds: float = 10
    success_threshold: int = 1


@dataclass(frozen=True)
class PodTemplate:
    """What the twin needs from ``spec.template`` of a Deployment (or Knative revision)."""

    labels: Mapping[str, str]
    containers: tuple[ContainerSpec, ...]
    readiness_probe: Probe | None

    @property
    def main(self) -> ContainerSpec:
        return self.containers[0]

    def request(self, resource: str) -> int:
        return sum(c.requests_milli.get(resource, 0) for c in self.containers)

    def limit(self, resource: str) -> int | None:
        vals = [c.limits_milli.get(resource) for c in self.containers]
        return None if any(v is None for v in vals) else sum(vals)  # type: ignore[arg-type]

    @property
    def startup_delay_s(self) -> float:
        return float(self.main.env.get("APP_STARTUP_DELAY_S", 0) or 0)

    @property
    def cpu_work_ms(self) -> float:
        return float(self.main.env.get("APP_CPU_WORK_MS", 0) or 0)


def pod_template_from_manifest(spec: Mapping, *, where: str = "") -> PodTemplate:
    """Read labels, containers (requests, limits, env) and the readiness probe of a pod spec.

    ``spec`` is a ``spec.template`` mapping (``metadata`` + ``spec``).
    """
    meta = spec.get("metadata") or {}
    pod = spec.get("spec") or {}
    containers = []
    for c in pod.get("containers") or []:
        res = c.get("resources") or {}
        try:
            req = {k: parse_quantity_milli(v) for k, v in (res.get("requests") or {}).items()}
            lim = {k: parse_quantity_milli(v) for k, v in (res.get("limits") or {}).items()}
        except (ValueError, TypeError) as e:
            raise ManifestError(f"container {c.get('name')}: bad resource quantity ({e}); use "
                                "e.g. cpu: 200m, memory: 256Mi", obj=where,
                                field="resources") from e
        # Kubernetes defaults a missing request to the limit.
        for k, v in lim.items():
            req.setdefault(k, v)
        env = {e["name"]: str(e.get("value", "")) for e in c.get("env") or [] if "name" in e}
        containers.append(ContainerSpec(c.get("name", "app"), req, lim, env,
                                        tuple(c.get("command") or ())))
    if not containers:
        raise ManifestError("the pod template has no containers", obj=where,
                            field="spec.template.spec.containers")
    rp = (pod.get("containers") or [{}])[0].get("readinessProbe")
    probe = None
    if rp is not None:
        probe = Probe(float(rp.get("initialDelaySeconds", 0)), float(rp.get("periodSeconds", 10)),
                      int(rp.get("successThreshold", 1)))
    return PodTemplate(dict(meta.get("labels") or {}), tuple(containers), probe)


@dataclass(eq=False)
class Pod:
    """One simulated pod; times are simulated seconds (None = not yet). Pods compare (and hash)
    by identity, as objects with a uid do."""

    name: str
    workload: "Workload"
    created: float
    node: Node | None = None
    phase: str = "Pending"
    start_time: float | None = None
    app_ready_at: float | None = None
    ready: bool = False
    ready_transition_time: float | None = None
    deleting: bool = False
    gone: bool = False
    successes: int = 0
    # CPU bookkeeping (millicore-seconds), see Workload.served_cpu.
    serve_start: float | None = None
    serve_end: float | None = None

    @property
    def serving(self) -> bool:
        """In the Service's endpoints: Ready and not terminating."""
        return self.ready and not self.deleting

    def cpu_between(self, t0: float, s0: float | None, t1: float, s1: float) -> float:
        """Millicore-seconds the pod used from ``t0`` to ``t1`` (its container started by
        ``t0``): start-up CPU until the app is ready, then idle CPU, plus its share of the
        requests it served. ``s0`` and ``s1`` are the workload's ``served_cpu`` at ``t0`` and
        ``t1``; ``s0`` is None when ``t0`` is the container's start.

        Summed phase by phase over the window, so every pod that was Ready and idle-or-serving
        for the whole window gets the very same number (metrics-server can compute it once).
        """
        w = self.workload
        total = 0.0
        ready_at = self.app_ready_at
        begin = t0 if t0 > self.start_time else self.start_time   # type: ignore[operator]
        end = t1 if ready_at is None or ready_at > t1 else ready_at
        if end > begin:
            total += min(w.params.startup_cpu_milli, w.cpu_limit_milli) * (end - begin)
        if ready_at is not None and t1 > ready_at:
            total += w.params.idle_cpu_milli * (t1 - (t0 if t0 > ready_at else ready_at))
        if self.serve_start is not None:
            ready_before = s0 is not None and self.ready_transition_time <= t0  # type: ignore
            first = s0 if ready_before else self.serve_start
            last = s1 if self.serve_end is None else self.serve_end
            total += last - first   # type: ignore[operator]
        return total

    def memory(self) -> float:
        """Working set (milli-bytes)."""
        w = self.workload
        mib = w.params.memory_mib_idle
        if self.serving:
            mib += w.params.memory_mib_per_inflight * w.inflight_per_pod
        return mib * MIB


class Cluster:
    """Nodes plus the scheduler; pods that fit nowhere wait in ``unschedulable``."""

    def __init__(self, clock: Clock, params: TwinParams, nodes: int = 1):
        self.clock, self.params = clock, params
        self.nodes = [Node(f"labkit-{'control-plane' if i == 0 else f'worker{i}'}",
                           params.node_cpu_milli, params.node_memory_mib * MIB)
                      for i in range(nodes)]
        self.nodes[0].used_cpu_milli = params.system_cpu_request_milli
        self.nodes[0].used_memory_milli = params.system_memory_request_mib * MIB
        self.unschedulable: list[Pod] = []
        self._names = itertools.count(1)

    def schedule(self, pod: Pod) -> None:
        """Bind ``pod`` to the first node that fits, or park it as unschedulable."""
        if pod.deleting:
            return
        cpu, mem = pod.workload.template.request("cpu"), pod.workload.template.request("memory")
        for node in self.nodes:
            if node.fits(cpu, mem):
                node.used_cpu_milli += cpu
                node.used_memory_milli += mem
                pod.node = node
                pull = 0.0 if node.has_image else self.params.image_pull_seconds
                node.has_image = True
                self.clock.after(pull + self.params.container_start_seconds,
                                 lambda: pod.workload._container_started(pod))
                return
        if pod not in self.unschedulable:
            self.unschedulable.append(pod)

    def release(self, pod: Pod) -> None:
        """Free a gone pod's resources and retry the unschedulable pods."""
        if pod.node is not None:
            pod.node.used_cpu_milli -= pod.workload.template.request("cpu")
            pod.node.used_memory_milli -= pod.workload.template.request("memory")
        if pod in self.unschedulable:
            self.unschedulable.remove(pod)
        waiting, self.unschedulable = self.unschedulable, []
        for p in waiting:
            self.schedule(p)

    def pod_name(self, prefix: str) -> str:
        return f"{prefix}-{next(self._names):05x}"


class Workload:
    """A Deployment (or a Knative revision's Deployment): spec.replicas and its pods."""

    def __init__(self, name: str, template: PodTemplate, cluster: Cluster, *,
                 replicas: int = 1, on_change: Callable[[], None] | None = None):
        self.name, self.template, self.cluster = name, template, cluster
        self.clock, self.params = cluster.clock, cluster.params
        self.pods: list[Pod] = []
        self.spec_replicas = 0
        self.on_change = on_change or (lambda: None)
        # Traffic bookkeeping, updated by the Service model every tick.
        self.served_cpu = 0.0        # millicore-seconds per serving pod since creation
        self.inflight_per_pod = 0.0
        self.n_serving = 0           # pods in the endpoints (cached: read every tick)
        self.n_terminating = 0       # pods deleting but not gone yet
        self._unbound: dict[Pod, None] = {}   # pods that may still be Pending (pruned lazily)
        #: Called with ("ADDED", pod) and ("DELETING", pod), as an informer's handlers are
        #: (metrics-server keeps its per-pod state with them).
        self.watchers: list[Callable[[str, Pod], None]] = []
        limit = template.limit("cpu")
        self.cpu_limit_milli = float(limit) if limit else float(cluster.params.node_cpu_milli)
        self.scale(replicas)

    # -- views -----------------------------------------------------------------------
    @property
    def live_pods(self) -> list[Pod]:
        """Pods not yet gone (terminating ones included, as the API lists them)."""
        return list(self.pods)   # a pod leaves ``pods`` when it is gone

    @property
    def status_replicas(self) -> int:
        """``status.replicas``: pods that are not terminating."""
        return len(self.pods) - self.n_terminating

    @property
    def ready_replicas(self) -> int:
        """Pods in the Service's endpoints (Ready, not terminating): the cached count."""
        return self.n_serving

    @property
    def pending_pods(self) -> int:
        """Pods not bound to a node yet (what `kubectl get pods` shows as Pending)."""
        unbound = self._unbound
        for p in [p for p in unbound if p.node is not None or p.deleting]:
            del unbound[p]
        return len(unbound)

    # -- the Deployment controller ---------------------------------------------------------
    def scale(self, replicas: int) -> None:
        """Set spec.replicas and create or delete pods to match."""
        self.spec_replicas = max(0, int(replicas))
        active = [p for p in self.pods if not p.deleting]
        for _ in range(self.spec_replicas - len(active)):
            pod = Pod(self.cluster.pod_name(self.name), self, self.clock.now)
            self.pods.append(pod)
            self._unbound[pod] = None
            for watch in self.watchers:
                watch("ADDED", pod)
            self.clock.after(self.params.schedule_seconds, lambda p=pod: self.cluster.schedule(p))
        excess = len(active) - self.spec_replicas
        if excess > 0:
            for pod in sorted(active, key=_deletion_rank)[:excess]:
                self._delete(pod)
        self.on_change()

    def delete_pod(self, pod: Pod) -> None:
        """``kubectl delete pod``: ``pod`` terminates and the ReplicaSet replaces it now (the
        Deployment's spec.replicas is unchanged; see the module docstring)."""
        if pod.deleting or pod not in self.pods:
            raise ValueError(f"pod {pod.name} is already terminating or gone")
        self._delete(pod)
        self.scale(self.spec_replicas)

    def _delete(self, pod: Pod) -> None:
        if pod.serving:
            self.n_serving -= 1
        pod.deleting = True
        self.n_terminating += 1
        if pod.serve_start is not None and pod.serve_end is None:
            pod.serve_end = self.served_cpu
        for watch in self.watchers:
            watch("DELETING", pod)
        if pod.node is None:
            self._gone(pod)
        else:
            self.clock.after(self.params.termination_seconds, lambda: self._gone(pod))

    def _gone(self, pod: Pod) -> None:
        pod.gone = True
        pod.phase = "Succeeded"
        self.n_terminating -= 1
        self.pods.remove(pod)
        self.cluster.release(pod)
        self.on_change()

    # -- kubelet ---------------------------------------------------------------------
    def _container_started(self, pod: Pod) -> None:
        if pod.deleting:
            return
        pod.phase = "Running"
        pod.start_time = self.clock.now
        pod.app_ready_at = (self.clock.now + self.params.startup_seconds
                            + self.template.startup_delay_s)
        probe = self.template.readiness_probe
        if probe is None:
            self._set_ready(pod)
            return
        first = self.clock.now + probe.initial_delay_seconds
        self.clock.at(first, lambda: self._probe(pod, probe), PROBE)

    def _probe(self, pod: Pod, probe: Probe) -> None:
        if pod.deleting or pod.ready:
            return
        if pod.app_ready_at is not None and self.clock.now >= pod.app_ready_at:
            pod.successes += 1
            if pod.successes >= probe.success_threshold:
                self._set_ready(pod)
                return
        self.clock.after(probe.period_seconds, lambda: self._probe(pod, probe))

    def _set_ready(self, pod: Pod) -> None:
        pod.ready = True
        self.n_serving += 1
        pod.ready_transition_time = self.clock.now
        pod.serve_start = self.served_cpu
        self.on_change()


def _deletion_rank(pod: Pod) -> tuple:
    """The ReplicaSet controller's order of pods to delete (first = deleted first)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod.phase, 0)
    ready_since = -(pod.ready_transition_time or 0.0) if pod.ready else 0.0
    return (pod.node is not None, phase_rank, pod.ready, ready_since, -pod.created)
