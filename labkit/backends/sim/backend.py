"""The ``sim`` backend: the embedded twin behind the same interface as the kind backend."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, Callable

from ...autoscalers.controller_flags import controller_config
from ...autoscalers.hpa_controller import ControllerConfig
from ...errors import BackendError
from ...load import LoadProfile
from ...manifests import Variant, load_variant
from ...timeline import Timeline, TimelineRecorder
from ..objects import documents
from .apply import ObjectStore
from .consumer import ResourceConsumer
from .params import TwinParams, load_params
from .series import MetricSeries, SeriesLike
from .world import World


class SimBackend:
    """Runs variants on the twin: deterministic for a given ``seed``.

    ``params`` overrides the calibrated parameters (a :class:`TwinParams` or a dict of fields),
    ``nodes`` is the number of kind nodes, ``sample_interval`` the seconds between Timeline rows,
    ``hpa_config`` the kube-controller-manager HPA flags (:class:`ControllerConfig`).
    """

    name = "sim"

    def __init__(self, *, seed: int = 0, params: TwinParams | dict[str, Any] | None = None,
                 nodes: int = 1, sample_interval: float = 1.0,
                 hpa_config: ControllerConfig | None = None):
        if isinstance(params, dict):
            params = load_params(**params)
        self.params = params or load_params()
        self.seed, self.nodes, self.sample_interval = seed, nodes, sample_interval
        self._hpa_config = hpa_config   # given flags win over the cluster config's
        self.hpa_config = hpa_config or ControllerConfig(
            sync_period=self.params.hpa_sync_period_s)
        self.world: World | None = None
        self.variant: Variant | None = None
        self.profile: LoadProfile | None = None
        self.recorder = TimelineRecorder({"backend": self.name})
        self.objects: ObjectStore | None = None
        #: Metric series set with set_metric (kept across deploys, like a cluster's adapter).
        self.series = MetricSeries(origin=lambda: self.recorder.origin)
        self._running = threading.Lock()            # held by run() while the clock advances
        self._pending: queue.Queue = queue.Queue()  # edits from other threads during a run
        self._wake = threading.Event()              # set with each edit put in _pending

    def deploy(self, variant: str | Variant, *, under_load: bool = False) -> Variant:
        """Build a fresh twin cluster with the variant applied (`kubectl apply -k ...`) and
        wait for its pods to be Ready (`kubectl rollout status`); time 0 is after that.

        ``under_load=True``: the profile set with :meth:`load` is already running when the
        objects are applied (its time 0 is the apply), so requests arrive while the pods
        start: a plain Service with no ready pod refuses them, the Knative activator or the
        KEDA gateway holds them. The rollout's rows (``Timeline.rollout``) show it, and
        ``meta["load_start"]`` is where the profile started on the Timeline (``-
        rollout_seconds``). By default the profile starts at t = 0, after the rollout.
        """
        if under_load and self.profile is None:
            raise BackendError("deploy(..., under_load=True) needs the load first: call "
                               "load(profile) before deploy()")
        v = variant if isinstance(variant, Variant) else load_variant(variant)
        self.recorder = TimelineRecorder({"backend": self.name, "variant": v.name,
                                          "seed": self.seed})
        if self._hpa_config is None:   # the HPA flags the kind cluster is made with
            self.hpa_config = controller_config(
                _kind_cluster(v), ControllerConfig(sync_period=self.params.hpa_sync_period_s))
        self.world = World(v, self.params, seed=self.seed, nodes=self.nodes,
                           sample_interval=self.sample_interval, recorder=self.recorder,
                           hpa_config=self.hpa_config)
        self.variant = v
        self.objects = ObjectStore(self.world, [o.doc for o in v.objects])
        self.world.metrics.series = self.series
        if self.profile is not None:   # set with load() before this deploy
            self.recorder.meta["profile"] = self.profile.describe()
        if under_load:   # locust already running when `kubectl apply` creates the objects
            self.world.start_load(self.profile)
        # Like the kind backend, deploying waits for the rollout; the Timeline starts after it.
        rollout = self.world.settle()
        self.recorder.meta["rollout_seconds"] = rollout
        self.recorder.meta.update(_bounds(self.world))
        if under_load:
            self.recorder.meta["load_start"] = -rollout
        elif self.profile is not None:
            self.world.start_load(self.profile)
        return v

    def load(self, profile: LoadProfile | None) -> None:
        """Start ``profile`` now (its time 0 is the current simulated time). Set before
        :meth:`deploy`, it starts when the rollout is done (t = 0), or with
        ``deploy(..., under_load=True)`` when the objects are applied."""
        self.profile = profile
        self.recorder.meta["profile"] = profile.describe() if profile else None
        if self.world is not None:
            self.world.start_load(profile)

    def run(self, duration: float, *, speed: float | None = None,
            stop: threading.Event | None = None) -> Timeline:
        if self.world is None:
            raise BackendError("nothing is deployed on the twin; call deploy('hpa-v1') (or "
                               "another variant) first")
        if duration < 0:
            raise BackendError(f"duration must be >= 0 s, got {duration}")
        end = self.world.clock.now + duration
        with self._running:
            # An apply() from another thread (a notebook cell while the live panel runs)
            # interrupts the clock at the next whole simulated second; it is made there.
            while True:
                self._do_pending()
                now = self.world.clock.now
                if now >= end or (stop is not None and stop.is_set()):
                    break
                self.world.run_until(end, speed=speed, stop=stop, interrupt=self._wake)
            self._do_pending()
        return self.timeline()

    # -- kubectl apply / delete ---------------------------------------------------------
    def apply(self, manifest: str | Path | dict | list[dict]) -> list[str]:
        """``kubectl apply``: objects created or changed now, at the current simulated time.

        Returns kubectl's lines (``horizontalpodautoscaler.autoscaling/app-fastapi
        configured``). What each controller does with the change is in :mod:`.apply`.
        """
        docs = documents(manifest)
        return self._now(lambda: [self.objects.apply(d) for d in docs])

    def delete(self, kind: str, name: str) -> list[str]:
        """``kubectl delete KIND NAME`` now (e.g. ``delete("scaledobject", "app-fastapi")``)."""
        return self._now(lambda: [self.objects.delete(kind, name)])

    def _now(self, change: Callable[[], list[str]]) -> list[str]:
        """Run ``change`` on the simulation: here, or between two seconds of a running run()."""
        if self.world is None or self.objects is None:
            raise BackendError("nothing is deployed on the twin; deploy a variant before "
                               "applying or deleting objects")
        return self._now_or_idle(change)

    def _now_or_idle(self, change: Callable[[], Any]) -> Any:
        if self._running.acquire(blocking=False):
            try:
                return change()
            finally:
                self._running.release()
        done: queue.Queue = queue.Queue(maxsize=1)
        self._pending.put((change, done))
        self._wake.set()
        while True:   # the running run() picks it up; if that run just ended, do it here
            try:
                ok, value = done.get(timeout=0.05)
                break
            except queue.Empty:
                if self._running.acquire(blocking=False):
                    try:
                        self._do_pending()
                    finally:
                        self._running.release()
        if not ok:
            raise value
        return value

    def _do_pending(self) -> None:
        self._wake.clear()
        while True:
            try:
                change, done = self._pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((True, change()))
            except Exception as e:   # handed back to the thread that called apply()
                done.put((False, e))

    @property
    def now(self) -> float:
        """Seconds on the Timeline's clock (0 = the end of the rollout)."""
        return self.world.clock.now - self.recorder.origin if self.world else 0.0

    def timeline(self) -> Timeline:
        return self.recorder.snapshot()

    def set_metric(self, name: str, series: SeriesLike | None, *,
                   source: str = "External") -> None:
        """Serve a metric the way an adapter would (twin only; see :mod:`.series`).

        ``series``: a number, a function of Timeline time, or ``[(t, value), ...]`` steps;
        None removes it. ``source``: ``External`` (also what a KEDA ``prometheus`` trigger
        whose ``query`` is ``name`` reads), ``Pods`` (each running pod reports the value) or
        ``Object``. On a cluster the same numbers come from Prometheus and an adapter.
        """
        self._now_or_idle(lambda: self.series.set(name, series, source))

    def consume(self, *, cpu_millicores: float | None = None, memory_mib: float | None = None,
                container: str | None = None, deployment: str | None = None) -> None:
        """Burn a fixed total of CPU and memory over the Ready pods, as Kubernetes' e2e
        ResourceConsumer does (twin only; see :mod:`.consumer`).

        ``cpu_millicores`` / ``memory_mib``: the totals from now on (0 stops; None leaves one
        as it is), split evenly over the Ready pods of ``deployment`` (default: the one the
        load goes to), in ``container`` (default: the first; a sidecar can be the busy one).
        """
        if self.world is None:
            raise BackendError("deploy a variant before consuming resources")
        w = self.world.workloads.get(deployment) if deployment else self.world.entry
        if w is None:
            raise BackendError(f"no Deployment {deployment!r} in this variant; it has "
                               f"{', '.join(self.world.workloads)}")

        def change() -> None:
            server = self.world.metrics_server
            consumer = next((c for c in server.consumers if c.workload is w), None)
            if consumer is None:
                consumer = ResourceConsumer(self.world.clock, w)
                server.consumers.append(consumer)
            consumer.set(cpu_millicores=cpu_millicores, memory_mib=memory_mib,
                         container=container)
        self._now_or_idle(change)

    #: Faults a lab can inject: what breaks, in the words of the troubleshooting notebook.
    FAULTS = {"metrics-server": "metrics-server stops serving pod metrics (uninstalled/crashing)",
              "keda-trigger": "the KEDA trigger's metric source fails (every read errors)",
              "pod-failure": "one Ready pod of the workload is deleted (kubectl delete pod); "
                             "its ReplicaSet creates a replacement"}
    #: Faults that happen once and cannot be cleared (the replacement pod is the repair).
    ONE_SHOT = frozenset({"pod-failure"})

    def inject_fault(self, fault: str, active: bool = True) -> str | None:
        """Break (or with ``active=False`` repair) one part of the twin; see :attr:`FAULTS`.

        ``"pod-failure"`` deletes the oldest Ready pod of the workload the load goes to, now,
        as ``kubectl delete pod`` would, and returns its name (see :meth:`.pods.Workload.
        delete_pod`): it leaves the Service's endpoints at once and its replacement loads the
        model and passes its readiness probe before it serves.
        """
        if fault not in self.FAULTS:
            raise BackendError(f"unknown fault {fault!r}; choose one of {', '.join(self.FAULTS)}")
        if self.world is None:
            raise BackendError("deploy a variant before injecting a fault")
        if fault in self.ONE_SHOT:
            if not active:
                raise BackendError(f"{fault!r} happens once and cannot be cleared: the "
                                   "ReplicaSet's replacement pod is the repair")
            return self._now_or_idle(self._delete_a_ready_pod)
        if fault == "metrics-server":
            self.world.metrics_server.down = active
        (self.world.faults.add if active else self.world.faults.discard)(fault)
        self.recorder.add_event(self.world.clock.now, "labkit/fault",
                                "FaultInjected" if active else "FaultCleared",
                                self.FAULTS[fault], "Warning" if active else "Normal")
        return None

    def _delete_a_ready_pod(self) -> str:
        w = self.world.entry if self.world else None
        ready = [p for p in (w.pods if w else []) if p.serving]
        if w is None or not ready:
            raise BackendError("no Ready pod to delete: the workload has no pod in the "
                               "Service's endpoints right now")
        pod = min(ready, key=lambda p: p.created)
        w.delete_pod(pod)
        self.recorder.add_event(self.world.clock.now, f"Pod/{pod.name}", "FaultInjected",
                                f"pod {pod.name} deleted (kubectl delete pod {pod.name}); "
                                f"Deployment/{w.name} keeps spec.replicas {w.spec_replicas}, "
                                "so its ReplicaSet creates a replacement", "Warning")
        return pod.name

    def describe(self) -> str:
        """The autoscalers' status, as ``kubectl describe hpa`` (and friends) would show it."""
        if self.world is None:
            return "nothing deployed"
        return "\n\n".join(a.describe() for a in self.world.autoscalers)

    def reset(self) -> None:
        self.world, self.variant, self.objects = None, None, None
        self.recorder = TimelineRecorder({"backend": self.name})

    def close(self) -> None:
        self.reset()


def _kind_cluster(variant: Variant) -> dict | None:
    """The kind Cluster config a variant carries, else ``manifests/kind/cluster.yaml``."""
    own = next((o.doc for o in variant.objects if o.kind == "Cluster"
                and o.api_version.startswith("kind.x-k8s.io/")), None)
    if own is not None:
        return own
    from ...manifests import manifests_dir
    from ...yaml_reader import load_all, read_text
    path = manifests_dir() / "kind" / "cluster.yaml"
    if not path.exists():
        return None
    docs = load_all(read_text(path), path)
    return docs[0] if docs and isinstance(docs[0], dict) else None


def _bounds(world: World) -> dict[str, Any]:
    """min/max replicas and the metric of the first autoscaler, for plots and checks."""
    if not world.autoscalers:
        return {}
    a = world.autoscalers[0]
    return {k: v for k, v in (("min_replicas", getattr(a, "min_replicas", None)),
                              ("max_replicas", getattr(a, "max_replicas", None)),
                              ("autoscaler", getattr(a, "object_ref", None))) if v is not None}
