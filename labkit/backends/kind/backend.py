"""KindBackend: the Backend protocol on a real cluster (kind by default, or any context).

- ``deploy(variant)`` makes sure the cluster has the variant's add-ons (``labkit up --profile``,
  fast when they are there), removes the previous variant, server-side applies the new one
  and waits until it is ready;
- ``load(profile)`` sets the locust profile; ``run(duration)`` drives locust through kind's
  127.0.0.1 port mapping (:func:`.kubectl.load_url`) in a background thread while polling the
  API about once a second into the Timeline (:mod:`.observe`);
- the queue variants: the list length and the oldest job's age come from the enqueue API's
  ``GET /queue`` (Redis ``LLEN``) through the API server's pod proxy; a ScaledJob's Jobs and
  their pods are what scales. With an asynchronous load ``rps`` counts finished jobs (the
  ``done`` counter), while the latency columns stay locust's: the ``POST /jobs`` round trip
  (the wait for a result is ``oldest_job_age``);
- ``reset()`` removes the variant and clears the Timeline; ``close()`` stops locust.

- ``apply(manifest)`` / ``delete(kind, name)``: ``kubectl apply --server-side`` / ``kubectl
  delete`` at the current time (while load runs), restricted to objects this learner owns.

Runs in real time only (``speed`` is ignored). No cluster is ever created here: ``deploy``
installs a missing add-on into the existing ``kind-labkit`` cluster, and says to run
``labkit up`` when there is none. With ``context=`` pointing at another cluster (a workshop's
shared one) nothing is installed: the add-ons must already be there, and every object carries
the owner label (:data:`.deploy.OWNER_LABEL`) so learners never touch each other's objects.
"""

from __future__ import annotations

import inspect
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...errors import BackendError
from ...load import LoadProfile
from ...manifests import Variant, load_variant
from ...timeline import Timeline, TimelineRecorder
from ..objects import documents, kind_for_delete, resource_name
from . import deploy as d
from .cluster_config import apply_cluster_config, is_cluster_config
from . import observe
from . import live
from . import versions as v
from .kubectl import kubectl_equivalents, load_url

#: The Knative autoscaler's pods and metrics port: knative/serving knative-v1.23.0
#: config/core/deployments/autoscaler.yaml (label app: autoscaler, containerPort 9090
#: "metrics"); the Prometheus server's default port 9090 and path /metrics are in
#: vendor/knative.dev/pkg/observability/metrics/prometheus/server.go.
AUTOSCALER_NAMESPACE, AUTOSCALER_SELECTOR, AUTOSCALER_METRICS_PORT = (
    "knative-serving", "app=autoscaler", 9090)

def close_all_backends() -> None:
    """Stop what every live KindBackend started (``labkit down`` calls this)."""
    live.close_all()


def oldest_ready_pod(pods: list[dict]) -> dict | None:
    """The Ready, not terminating pod created first (None when there is none)."""
    ready = [p for p in pods if observe.pod_is_ready(p)]
    return min(ready, key=lambda p: (p["metadata"].get("creationTimestamp") or "",
                                     p["metadata"]["name"])) if ready else None


class KindBackend:
    """The real cluster behind the Backend protocol (see the module docstring)."""

    name = "kind"

    def __init__(self, *, context: str = v.CONTEXT, namespace: str = "default",
                 auto_up: bool = True, poll_interval: float = 1.0, api: Any = None,
                 show_kubectl: bool = True, owner: str | None = None):
        self.context, self.namespace = context, namespace
        self.owner = d.owner_value(owner) if owner else d.default_owner()
        self.auto_up, self.poll_interval, self.show_kubectl = auto_up, poll_interval, show_kubectl
        self._api = api
        self.variant: Variant | None = None
        self.spec: d.WatchSpec | None = None
        self.profile: LoadProfile | None = None
        self.recorder = TimelineRecorder({"backend": "kind", "context": context})
        self._stats: Any = None
        self._stop = threading.Event()
        self._load_thread: threading.Thread | None = None
        self._t0: float | None = None
        self._start_wall: datetime | None = None
        self._deployed_wall: datetime | None = None
        self._seen_events: set = set()
        self._conditions: dict = {}
        self._metrics_problem: str | None = None
        self._queue_problem: str | None = None
        self._last_done: tuple[float, float] | None = None
        live.register(self)

    # -- the API ---------------------------------------------------------------------------------
    @property
    def api(self) -> d.ClusterApi:
        if self._api is None:
            self._api = d.KubeApi(self.context)
        return self._api

    def deploy(self, variant: str | Variant, *, under_load: bool = False) -> Variant:
        """Remove the previous variant, server-side apply this one and wait until it is ready.

        ``under_load=True`` (after :meth:`load`): locust starts before ``kubectl apply``, so
        requests meet the pods while they start, and a row is polled each ``poll_interval``
        while waiting: those rows become ``Timeline.rollout`` (negative times) and
        ``meta["load_start"]`` is when locust started. Otherwise locust starts with the first
        :meth:`run`, at t = 0.
        """
        if under_load and self.profile is None:
            raise BackendError("deploy(..., under_load=True) needs the load first: call "
                               "load(profile) before deploy()")
        var = variant if isinstance(variant, Variant) else load_variant(variant)
        if self.auto_up and self.context == v.CONTEXT:
            from .cluster import up   # adds missing add-ons; never creates the cluster
            up(v.VARIANT_PROFILE.get(var.name, "all"), progress=True, create_cluster=False)
        self._stop_load()
        d.remove_variant(self.api, self.variant, self.namespace, owner=self.owner)
        # Events from here on are the rollout's: kept in the Timeline with negative times.
        self._deployed_wall = datetime.now(timezone.utc)
        self._seen_events = set()
        if under_load:
            self._deploy_under_load(var)
        else:
            d.apply_variant(self.api, var, self.namespace, owner=self.owner,
                            shared=self.shared)
            d.wait_ready(self.api, var, self.namespace)
            self.variant, self.spec = var, d.watch_spec(var, self.namespace)
            self.recorder.clear()
            self.recorder.meta.update({"variant": var.name})
            for key in ("load_start", "rollout_seconds"):   # a previous under_load deploy's
                self.recorder.meta.pop(key, None)
            self._t0 = None
        self._metrics_problem = self._queue_problem = None
        self._last_done = None
        if self.show_kubectl and var.name in v.VARIANT_PROFILE:
            print("labkit: deployed; the kubectl equivalent: "
                  + " && ".join(self.kubectl(var.name)[:2]))
        return var

    def _deploy_under_load(self, var: Variant) -> None:
        """Start locust, then apply, polling the Timeline while the rollout goes on; t = 0 is
        when the variant is ready (the rows before it move to ``Timeline.rollout``)."""
        self.variant, self.spec = var, d.watch_spec(var, self.namespace)
        self.recorder.clear()
        self.recorder.meta.update({"variant": var.name})
        self._metrics_problem = self._queue_problem = None
        self._last_done = None
        self._t0, self._start_wall = time.monotonic(), self._deployed_wall
        self._start_load()   # locust is sending before the first object exists

        def poll_then_sleep(seconds: float) -> None:
            self.poll()
            time.sleep(seconds)

        try:
            d.apply_variant(self.api, var, self.namespace, owner=self.owner,
                            shared=self.shared)
            d.wait_ready(self.api, var, self.namespace, poll=self.poll_interval,
                         sleep=poll_then_sleep)
        except BaseException:
            self._stop_load()
            raise
        ready = time.monotonic() - self._t0
        self.recorder.restart(ready)
        self.recorder.meta.update({"rollout_seconds": ready, "load_start": -ready})

    def kubectl(self, variant: str) -> list[str]:
        """:func:`.kubectl.kubectl_equivalents` for this backend's context, namespace, owner."""
        return kubectl_equivalents(variant, context=self.context, namespace=self.namespace,
                                   owner=self.owner)

    def apply(self, manifest: str | Path | dict | list[dict]) -> list[str]:
        """``kubectl apply --server-side``, now: only new objects or objects this owner has."""
        docs = documents(manifest)
        for doc in docs:
            if is_cluster_config(doc):
                if self.shared:
                    apply_cluster_config(self.api, doc, shared=True)   # raises
            else:
                d.check_owned(self.api, doc, self.namespace, self.owner)
        lines = []
        for doc in docs:
            if is_cluster_config(doc):
                apply_cluster_config(self.api, doc, shared=self.shared)
            else:
                d.apply_owned(self.api, doc, self.namespace, self.owner)
            lines.append(f"{resource_name(doc)}/{doc['metadata']['name']} serverside-applied")
        return lines

    @property
    def shared(self) -> bool:
        """Whether this is a cluster others may use (any context but labkit's own kind one)."""
        return self.context != v.CONTEXT

    def delete(self, kind: str, name: str) -> list[str]:
        """``kubectl delete KIND NAME`` in this namespace, now: only this owner's objects."""
        api_version, kind_name, resource = kind_for_delete(kind)
        obj = self.api.get(api_version, kind_name, name, self.namespace)
        if obj is None:
            raise BackendError(f'{resource} "{name}" not found in namespace {self.namespace}')
        if d.owner_of(obj) != self.owner:
            raise BackendError(f"{kind_name}/{name} in namespace {self.namespace} is not yours "
                               f"({d.OWNER_LABEL}={d.owner_of(obj) or '(none)'}; you are "
                               f"{self.owner}); labkit deletes only its own objects")
        self.api.delete(api_version, kind_name, name, self.namespace)
        return [f'{resource} "{name}" deleted']

    #: The one fault a real cluster takes from labkit; the others break shared add-ons.
    FAULTS = {"pod-failure": "one Ready pod of the workload is deleted (kubectl delete pod); "
                             "its ReplicaSet creates a replacement"}

    def inject_fault(self, fault: str, active: bool = True) -> str | None:
        """``inject_fault("pod-failure")``: ``kubectl delete pod`` of this owner's oldest Ready
        pod of the variant, now; returns its name. The ReplicaSet creates the replacement and
        the EndpointSlice controller takes the deleted pod out of the Service (kubernetes/
        kubernetes v1.36.4 ``pkg/controller/replicaset/replica_set.go``,
        ``staging/src/k8s.io/endpointslice/utils.go``). The twin's other faults would break
        add-ons every learner shares, so here they are refused with the command to run.
        """
        if fault != "pod-failure":
            raise BackendError(
                f"the kind backend injects only 'pod-failure', not {fault!r}: that fault "
                "breaks an add-on every workload on the cluster shares; on your own kind "
                "cluster break it by hand with kubectl, as notebook 06 describes")
        if not active:
            raise BackendError("'pod-failure' happens once and cannot be cleared: the "
                               "ReplicaSet's replacement pod is the repair")
        if self.spec is None or not self.spec.pod_selector:
            raise BackendError("nothing is deployed: call deploy('hpa-v2') before deleting "
                               "one of its pods")
        selector = f"{self.spec.pod_selector},{d.OWNER_LABEL}={self.owner}"
        pod = oldest_ready_pod(self.api.list("v1", "Pod", self.namespace,
                                             label_selector=selector))
        if pod is None:
            raise BackendError(f"no Ready pod with {selector} in namespace {self.namespace} "
                               "to delete right now")
        name = pod["metadata"]["name"]
        self.api.delete("v1", "Pod", name, self.namespace)
        now = time.monotonic() - self._t0 if self._t0 is not None else 0.0
        self.recorder.add_event(now, f"Pod/{name}", "FaultInjected",
                                f"pod {name} deleted (kubectl delete pod {name} -n "
                                f"{self.namespace}); its ReplicaSet creates a replacement",
                                "Warning")
        return name

    def load(self, profile: LoadProfile | None) -> None:
        """Set the locust profile: it starts with the first :meth:`run` after a deploy, or,
        set before ``deploy(..., under_load=True)``, before the objects are applied."""
        if profile is None:   # no load from now on: stop locust, no stale rates in samples
            self._stop_load()
            self._stats = None
        self.profile = profile
        self.recorder.meta["profile"] = profile.describe() if profile else None

    def run(self, duration: float, *, speed: float | None = None,
            stop: threading.Event | None = None) -> Timeline:
        if self.variant is None or self.spec is None:
            raise BackendError("nothing is deployed: call deploy('hpa-v1') (or another "
                               "variant) before run()")
        if self._t0 is None:
            self._t0 = time.monotonic()
            self._start_wall = datetime.now(timezone.utc)
            self._start_load()
        end = time.monotonic() + duration
        while time.monotonic() < end and not (stop and stop.is_set()):
            self.poll()
            time.sleep(max(0.0, min(self.poll_interval, end - time.monotonic())))
        return self.timeline()

    def timeline(self) -> Timeline:
        return self.recorder.snapshot()

    def reset(self) -> None:
        self._stop_load()
        d.remove_variant(self.api, self.variant, self.namespace, owner=self.owner)
        self.variant = self.spec = None
        self.recorder.clear()
        self._t0 = None

    def close(self) -> None:
        self._stop_load()

    # -- one poll --------------------------------------------------------------------------------
    def poll(self) -> dict:
        """Read the objects once and append one sample (and any new events)."""
        assert self.spec is not None and self._t0 is not None and self._start_wall is not None
        api, ns = self.api, self.namespace
        self.spec = spec = d.resolve(self.spec, api)
        now = time.monotonic() - self._t0
        deploy = api.get("apps/v1", "Deployment", spec.deployment, ns) if spec.deployment \
            else None
        pods = api.list("v1", "Pod", ns, label_selector=spec.pod_selector) \
            if spec.pod_selector else []
        spec_replicas, _ = observe.deployment_replicas(deploy)
        reading, obj = observe.Reading(None), f"Deployment/{spec.deployment}"
        queue = self._queue_stats(spec.queue_api, now) if spec.queue_api else None
        replicas = None
        if spec.autoscaler == "hpa":
            reading = observe.hpa_reading(api.get("autoscaling/v2", "HorizontalPodAutoscaler",
                                                  spec.hpa, ns))
            obj = f"HorizontalPodAutoscaler/{spec.hpa}"
        elif spec.autoscaler == "keda":
            so = api.get("keda.sh/v1alpha1", "ScaledObject", spec.scaled_object, ns)
            hpa_name = ((so or {}).get("status") or {}).get("hpaName") or spec.hpa
            hpa = api.get("autoscaling/v2", "HorizontalPodAutoscaler", hpa_name, ns)
            reading = observe.scaled_object_reading(so, hpa, spec_replicas)
            obj = f"HorizontalPodAutoscaler/{hpa_name}"
        elif spec.autoscaler == "scaledjob":
            sj = api.get("keda.sh/v1alpha1", "ScaledJob", spec.scaled_job, ns)
            jobs = api.list("batch/v1", "Job", ns, label_selector=spec.pod_selector)
            replicas = observe.job_replicas(jobs, pods)
            reading = observe.scaled_job_reading(sj, queue.get("length") if queue else None)
            obj = f"ScaledJob/{spec.scaled_job}"
        elif spec.autoscaler == "kpa" and spec.deployment:
            rev = spec.deployment.removesuffix("-deployment")
            pa = api.get("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", rev, ns)
            reading = observe.pa_reading(pa, self._kpa_metrics(rev))
            obj = f"PodAutoscaler/{rev}"
        row = observe.sample_row(now, deployment=deploy, pods=pods, reading=reading,
                                 load=self._stats, queue=queue, replicas=replicas)
        if queue is not None and self.profile is not None and self.profile.mode == "async":
            row["rps"] = self._jobs_done_rate(now, queue)
        self.recorder.add_sample(row)
        for ev in observe.condition_events(self._conditions, reading.conditions, obj, now):
            self.recorder.add_event(ev["time"], ev["object"], ev["reason"], ev["message"],
                                    ev["type"])
        self._conditions = dict(reading.conditions)
        events = api.list("v1", "Event", ns)
        for ev in observe.event_rows(events, self._start_wall, self._seen_events,
                                     since=self._deployed_wall):
            self.recorder.add_event(ev["time"], ev["object"], ev["reason"], ev["message"],
                                    ev["type"])
        return row

    def _jobs_done_rate(self, now: float, queue: dict) -> float:
        """Jobs finished per second since the last poll (the ``done`` counter of GET /queue):
        for an asynchronous load, ``rps`` counts results, as on the twin, not the 202s."""
        done = float(queue.get("done") or 0) + float(queue.get("failed") or 0)
        last, self._last_done = self._last_done, (now, done)
        if last is None or now <= last[0]:
            return 0.0
        return max(0.0, done - last[1]) / (now - last[0])

    def _queue_stats(self, deployment: str, now: float) -> dict | None:
        """The enqueue API's ``GET /queue`` (app/main.py: Redis ``LLEN`` of the list, the
        oldest waiting job's age, counters), read through the API server's pod proxy.

        When it cannot be read, one Warning event says why, and the row has no queue values.
        """
        try:
            d_obj = self.api.get("apps/v1", "Deployment", deployment, self.namespace)
            labels = (((d_obj or {}).get("spec") or {}).get("selector") or {}).get(
                "matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            pods = [p for p in self.api.list("v1", "Pod", self.namespace,
                                             label_selector=selector)
                    if observe.pod_is_ready(p)] if selector else []
            if not pods:
                raise BackendError(f"no ready pod of Deployment/{deployment}")
            body = self.api.pod_proxy(self.namespace, pods[0]["metadata"]["name"],
                                      v.APP_CONTAINER_PORT, "queue")
            stats = observe.queue_stats(body)
            self._queue_problem = None
            return stats
        except BackendError as e:
            if self._queue_problem is None:
                self.recorder.add_event(
                    now, f"Deployment/{deployment}", "QueueStatsUnavailable",
                    f"the queue length cannot be read from GET /queue: {e}", "Warning")
            self._queue_problem = str(e)
            return None

    def _kpa_metrics(self, revision: str) -> dict[str, float]:
        """The Knative autoscaler's view (panic mode, concurrency) via the API server's pod
        proxy. When it cannot be read, one Warning event says why (never silently)."""
        try:
            pods = [p for p in self.api.list("v1", "Pod", AUTOSCALER_NAMESPACE,
                                             label_selector=AUTOSCALER_SELECTOR)
                    if observe.pod_is_ready(p)]
            if not pods:
                raise BackendError("no ready Knative autoscaler pod in knative-serving")
            text = self.api.pod_proxy(AUTOSCALER_NAMESPACE, pods[0]["metadata"]["name"],
                                      AUTOSCALER_METRICS_PORT, "metrics")
            got = observe.kpa_metrics(text, revision, self.namespace)
            if not got:
                raise BackendError(f"the autoscaler's /metrics has no kn_revision_* series "
                                   f"for revision {revision} yet")
            self._metrics_problem = None
            return got
        except BackendError as e:
            if self._metrics_problem is None and self._t0 is not None:
                self.recorder.add_event(
                    time.monotonic() - self._t0, f"PodAutoscaler/{revision}",
                    "KPAMetricsUnavailable",
                    f"panic mode and concurrency cannot be read: {e}. `labkit up --profile "
                    f"knative` sets config-observability metrics-protocol: prometheus", "Warning")
            self._metrics_problem = str(e)
            return {}

    # -- load ------------------------------------------------------------------------------------
    def _start_load(self) -> None:
        if self.profile is None or self.variant is None:
            return
        from ... import loadgen
        url, headers = load_url(self.variant.name if self.variant.name in v.VARIANT_PROFILE
                                else "hpa-v1", self.namespace)
        kwargs: dict[str, Any] = {"on_stats": self._on_stats, "stop": self._stop}
        if headers:
            if "headers" not in inspect.signature(loadgen.drive).parameters:
                raise BackendError("Knative and KServe are reached through Kourier with a Host "
                                   f"header ({headers['Host']}), but labkit.loadgen.drive takes "
                                   "no headers= argument yet")
            kwargs["headers"] = headers
        self._stop.clear()
        self._load_thread = threading.Thread(target=loadgen.drive, args=(self.profile, url),
                                             kwargs=kwargs, name="labkit-kind-load", daemon=True)
        self._load_thread.start()

    def _on_stats(self, stats: Any, row: dict | None = None) -> None:
        """loadgen.drive calls this about once a second with the stats and a Timeline row."""
        self._stats = row if row is not None else (stats.row(0.0, stats.num_failures)
                                                    if hasattr(stats, "row") else None)

    def _stop_load(self) -> None:
        self._stop.set()
        if self._load_thread is not None:
            self._load_thread.join(timeout=15)
            self._load_thread = None
        self._stats = None
