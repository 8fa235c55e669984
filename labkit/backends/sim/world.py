"""One simulated cluster running one variant: clock, nodes, workloads, traffic, controllers.

``World`` reads the same objects ``kubectl apply -k manifests/<variant>`` would create and wires
the twin's parts the way the real cluster connects them:

- each Deployment becomes a :class:`~.pods.Workload` (a Knative Service or a KServe
  InferenceService becomes its revision's Deployment, see :mod:`.knative_loop`);
- load enters where a learner's locust would send it: the app's Service, or a buffer in front of
  it (the KEDA gateway, the Knative activator);
- metrics-server, then one loop per autoscaler (HPA, KEDA ScaledObject and ScaledJob, KPA);
- asynchronous load (``mode="async"`` profiles) goes to the enqueue API and the Redis list
  that worker pods drain (:mod:`.jobqueue`), when the variant has one.

Every second the traffic model advances and one Timeline row is recorded.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ...autoscalers.hpa_controller import ControllerConfig
from ...errors import ManifestError
from ...load import LoadProfile
from ...manifests import Variant
from ...timeline import TimelineRecorder
from .clock import SAMPLE, TRAFFIC, Clock
from .jobqueue import JobQueueService, deployment_takers, is_worker, queue_settings
from .metrics import MetricsAPI, MetricsServer
from .params import TwinParams
from .pods import Cluster, Pod, Workload, pod_template_from_manifest
from .traffic import Buffer, Service

GATEWAY_MODULE = "app.gateway"


class World:
    """The twin of one cluster with one variant deployed (see module docstring)."""

    def __init__(self, variant: Variant, params: TwinParams, *, seed: int = 0, nodes: int = 1,
                 sample_interval: float = 1.0, recorder: TimelineRecorder | None = None,
                 hpa_config: ControllerConfig | None = None):
        self.variant, self.params, self.seed = variant, params, seed
        self.hpa_config = hpa_config or ControllerConfig(sync_period=params.hpa_sync_period_s)
        self.clock = Clock()
        self.cluster = Cluster(self.clock, params, nodes)
        self.recorder = recorder if recorder is not None else TimelineRecorder()
        self.workloads: dict[str, Workload] = {}
        self.autoscalers: list[Any] = []      # loops with desired_replicas / metric_reading()
        self.entry: Workload | None = None    # the workload that serves the load
        self.buffer: Buffer | None = None
        self._cold = False                     # requests waiting at zero ready pods
        self._queue_cold = False               # jobs waiting with no worker running
        self.faults: set[str] = set()         # "metrics-server", "keda-trigger" (see break_)
        self._build()
        self.service = Service(self.entry, params, seed=seed, buffer=self.buffer) \
            if self.entry else None
        self.jobs = self._job_queue()
        self.clock.every(1.0, self._tick, TRAFFIC, first=1.0)
        self.clock.every(sample_interval, self._sample, SAMPLE)

    # -- wiring ------------------------------------------------------------------------
    def _build(self) -> None:
        from . import autoscaling  # the loops for HPA, KEDA and Knative

        for obj in self.variant.of_kind("Deployment"):
            self.add_deployment(obj.doc, where=f"{obj.path}: Deployment/{obj.name}")
        self.metrics_server = MetricsServer(self.clock, lambda: list(self.workloads.values()),
                                            self.params.metric_resolution_s)
        self.metrics = MetricsAPI(self.metrics_server, self.pods_matching)
        autoscaling.attach_all(self)
        if self.entry is None:
            self.entry = self._entry_workload()

    def add_deployment(self, doc: Mapping, *, where: str = "",
                       replicas: int | None = None) -> Workload:
        name = doc["metadata"]["name"]
        spec = doc.get("spec") or {}
        template = pod_template_from_manifest(spec.get("template") or {}, where=where)
        count = spec.get("replicas", 1) if replicas is None else replicas
        w = Workload(name, template, self.cluster, replicas=int(count))
        self.workloads[name] = w
        return w

    def _entry_workload(self) -> Workload | None:
        """Where load goes: behind the KEDA gateway if there is one, else the app itself."""
        for name, w in self.workloads.items():
            if GATEWAY_MODULE in " ".join(w.template.main.command):
                upstream = w.template.main.env.get("APP_UPSTREAM", "http://app-fastapi:8080")
                host = upstream.split("//")[-1].split(":")[0].split(".")[0]
                target = self._workload_behind_service(host)
                timeout = float(w.template.main.env.get("GATEWAY_HOLD_TIMEOUT_S", 60))
                # The gateway is reached through its Service: while its own pod is not ready
                # the Service has no endpoints and kube-proxy rejects the connection
                # (kubernetes pkg/proxy/iptables/proxier.go, syncProxyRules: a filter-table
                # REJECT rule commented "<service> has no endpoints").
                self.buffer = Buffer(timeout, "the KEDA gateway", f"Deployment/{target.name}",
                                     accepting=lambda gw=w: gw.n_serving > 0)
                return target
        apps = [w for w in self.workloads.values()
                if GATEWAY_MODULE not in " ".join(w.template.main.command)
                and not is_worker(w.template.main)]
        if not apps:
            raise ManifestError(f"variant {self.variant.name!r} has no Deployment, Knative "
                                "Service or InferenceService to send load to")
        return apps[0]

    def _workload_behind_service(self, name: str) -> Workload:
        svc = next((o for o in self.variant.of_kind("Service") if o.name == name), None)
        selector = ((svc.doc.get("spec") or {}).get("selector") or {}) if svc else {}
        for w in self.workloads.values():
            if selector and all(w.template.labels.get(k) == v for k, v in selector.items()):
                return w
        if name in self.workloads:
            return self.workloads[name]
        raise ManifestError(f"the gateway's upstream Service {name!r} selects no Deployment",
                            path=str(self.variant.path), field="env APP_UPSTREAM")

    def pods_matching(self, selector: Mapping[str, str]) -> list[Pod]:
        return [p for w in self.workloads.values()
                if all(w.template.labels.get(k) == v for k, v in selector.items())
                for p in w.live_pods]

    def _job_queue(self) -> JobQueueService:
        """The Redis list and its worker pods (Deployment workers and ScaledJob Jobs)."""
        settings = queue_settings(self.variant)
        deployments = deployment_takers(self.workloads, self.params,
                                        lambda: self.jobs.mean_texts)
        job_loops = [a for a in self.autoscalers if hasattr(a, "takers")]
        # Without a queue, workers or Jobs, the list stays empty unless asynchronous load runs.
        self._queue_parts = bool(settings or job_loops or any(
            is_worker(w.template.main) for w in self.workloads.values()))

        def takers(now: float) -> list:   # ScaledJobs may come and go (kubectl apply/delete)
            return deployments(now) + [t for loop in self.autoscalers
                                       if hasattr(loop, "takers") for t in loop.takers(now)]

        return JobQueueService(self.entry if settings else None, settings, self.params, takers)

    def queue_length(self, list_name: str) -> int:
        """``LLEN list_name`` in the variant's Redis (0 for a list that does not exist)."""
        return round(self.jobs.length(list_name))

    @property
    def is_async(self) -> bool:
        """The load running is asynchronous (POST /jobs) rather than closed-loop requests."""
        return self.jobs.profile is not None

    # -- running -----------------------------------------------------------------------
    def start_load(self, profile: LoadProfile | None) -> None:
        asynchronous = profile is not None and profile.mode == "async"
        if self.service is not None:
            self.service.start(None if asynchronous else profile, self.clock.now)
        self.jobs.start(profile if asynchronous else None, self.clock.now)

    def _tick(self) -> None:
        if self._queue_parts or self.jobs.profile is not None:
            self.jobs.tick(self.clock.now)
        if self.jobs.enabled:
            self._mark_queue_cold_start()
        if self.service is None:
            return
        self.service.tick(self.clock.now)
        self._mark_cold_start()

    def _mark_cold_start(self) -> None:
        """A ``ColdStart`` event (labkit's marker) when requests start waiting at zero pods."""
        buf, w = self.buffer, self.entry
        if buf is None or w is None:
            return
        waiting = buf.size > 0 and w.n_serving == 0
        if waiting and not self._cold:
            self.recorder.add_event(
                self.clock.now, buf.obj or f"Deployment/{w.name}", "ColdStart",
                f"{max(1, round(buf.size))} request(s) held by {buf.holder}: no ready pod, "
                "scaling from zero")
        self._cold = waiting

    def _mark_queue_cold_start(self) -> None:
        """A ``ColdStart`` event when jobs start waiting in the list with no worker to take
        them (the workers are at zero, or their pods are still starting)."""
        cold = self.jobs.cold()
        if cold and not self._queue_cold:
            self.recorder.add_event(
                self.clock.now, f"List/{self.jobs.list.name}", "ColdStart",
                f"{round(self.jobs.last.length)} job(s) waiting in Redis with no worker "
                "running: scaling from zero")
        self._queue_cold = cold

    def _sample(self) -> None:
        now = self.clock.now
        w = self.entry
        if self.jobs.enabled and self.autoscalers:   # the workers are what scales
            w = getattr(self.autoscalers[0], "target", self.autoscalers[0])
        stats = self.service.last if self.service else None
        asynchronous = self.is_async
        if asynchronous:
            stats = self.jobs.last
        name, value, target = ("", math.nan, math.nan)
        desired = w.spec_replicas if w else 0
        panic = False
        if self.autoscalers:
            a = self.autoscalers[0]
            desired = a.desired_replicas
            name, value, target = a.metric_reading()
            panic = bool(getattr(a, "in_panic", False))
        queued = self.jobs.last if self.jobs.enabled else None
        # one value per column, in SAMPLE_COLUMNS order (time, users, rps, latency p50/p95/p99,
        # errors, spec/ready/pending/desired replicas, metric name/value/target, panic mode,
        # queue length, oldest job age)
        self.recorder.add_values([
            now,
            stats.users if stats else 0,
            (stats.done if asynchronous else stats.rps) if stats else 0.0,
            stats.latency_p50 if stats else math.nan,
            stats.latency_p95 if stats else math.nan,
            stats.latency_p99 if stats else math.nan,
            stats.errors if stats else 0,
            w.spec_replicas if w else 0,
            w.n_serving if w else 0,
            w.pending_pods if w else 0,
            desired,
            name,
            value,
            target,
            panic,
            queued.length if queued else math.nan,
            queued.oldest_age if queued else math.nan,
        ])

    def settle(self, timeout: float = 300.0) -> float:
        """Advance until the rollout is done, as ``kubectl rollout status`` waits on kind.

        Done: every workload has as many ready pods as spec replicas and none Pending (the
        autoscalers have had their first say, e.g. KEDA scaling a min-0 target to zero).
        Returns the simulated seconds it took; the Timeline then starts at 0.
        """
        start = self.clock.now
        while self.clock.now - start < timeout:
            self.clock.run_until(self.clock.now + 1.0)
            if all(w.n_serving == w.spec_replicas == w.status_replicas and not w.pending_pods
                   for w in self.workloads.values()):
                break
        self.recorder.restart(self.clock.now)
        self._sample()   # the row at t = 0
        return self.clock.now - start

    def run_until(self, t: float, **kw: Any) -> None:
        self.clock.run_until(t, **kw)
