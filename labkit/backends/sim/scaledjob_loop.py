"""KEDA ScaledJob in the twin: the operator's poll creating Jobs, and the Jobs' pods.

- Every ``pollingInterval`` the operator reads each trigger (redis: ``LLEN`` of the list in
  the twin's Redis, see :mod:`.jobqueue`) and calls the pure rules of
  :func:`labkit.autoscalers.keda_scaledjob.decide` with the Jobs it owns: how many to create
  (scaling strategy, pending-Job accounting, max replica count) and which finished Jobs fall
  out of the history limits.
- Each Job (``parallelism: 1``) is one pod that goes through the twin's scheduler and kubelet
  like any pod, then pulls jobs from the list as a worker does. Its command line is read as
  ``python -m app.worker`` reads it (app/worker.py): ``--batch N`` exits after N jobs,
  ``--idle-exit S`` after S seconds with the list empty (5 s by default with ``--batch``,
  never without). The pod then Succeeds and the Job is Complete.

Simplifies: pods never fail, so ``backoffLimit`` and ``activeDeadlineSeconds`` never act; the
first poll comes one millisecond after the ScaledJob is created; a Job's pod is named after
the Job.
"""

from __future__ import annotations

import random
import shlex
from typing import TYPE_CHECKING, Mapping

from ...autoscalers.keda_scaledjob import (JobView, ScaledJobDecision, decide,
                                           scaled_job_from_manifest)
from ...errors import ManifestError
from .clock import CONTROLLER, TRAFFIC
from .jobqueue import Taker, is_worker, job_seconds
from .pods import Pod, PodTemplate, pod_template_from_manifest

if TYPE_CHECKING:
    from .world import World

SUPPORTED = ("redis",)
#: The alphabet of generated name suffixes (k8s.io/apimachinery pkg/util/rand: no vowels).
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def worker_exit_rules(command: tuple[str, ...]) -> tuple[int, float | None]:
    """(``--batch`` jobs, 0 = no limit; ``--idle-exit`` seconds or None) as app/worker.py
    parses them: the idle exit defaults to 5 s with a batch and to never without one."""
    args = list(command)
    batch, idle = 0, None
    for i, a in enumerate(args):
        key, _, inline = a.partition("=")
        if key in ("--batch", "--idle-exit"):
            value = inline or (args[i + 1] if i + 1 < len(args) else "")
            try:
                if key == "--batch":
                    batch = int(value)
                else:
                    idle = float(value)
            except ValueError:
                raise ManifestError(f"worker command {shlex.join(args)!r}: {key} takes a "
                                    f"number, not {value!r}") from None
    if batch < 0 or (idle is not None and idle < 0):
        raise ManifestError(f"worker command {shlex.join(args)!r}: --batch and --idle-exit "
                            "take a number >= 0")
    return batch, (idle if idle is not None else (5.0 if batch else None))


class SimJob:
    """One Job KEDA created: its pod, and the owner the pod's lifecycle calls back."""

    def __init__(self, loop: "ScaledJobLoop", name: str, now: float):
        self.loop, self.name, self.created = loop, name, now
        self.generation = loop.generation   # the annotation scaledjob.keda.sh/generation
        self.template: PodTemplate = loop.template
        self.batch, self.idle_exit = loop.batch, loop.idle_exit
        self.params, self.clock, self.cluster = loop.params, loop.world.clock, loop.world.cluster
        self.cpu_limit_milli = loop.cpu_limit_milli
        self.served_cpu = 0.0
        self.inflight_per_pod = 0.0
        self.finished: str | None = None
        self.completion_time: float | None = None
        self.pod = Pod(f"{name}-{loop.suffix()}", self, now)  # type: ignore[arg-type]
        self.taker: Taker | None = None
        self.clock.after(self.params.schedule_seconds, lambda: self.cluster.schedule(self.pod))

    # called by the twin's scheduler (pods.Cluster) once the container runs
    def _container_started(self, pod: Pod) -> None:
        if pod.deleting:
            return
        pod.phase = "Running"
        pod.start_time = self.clock.now
        pod.app_ready_at = self.clock.now + self.params.startup_seconds
        pod.ready = True   # no readiness probe: Ready when the container runs
        pod.ready_transition_time = self.clock.now
        # the kubelet's event (kubernetes/kubernetes pkg/kubelet/kuberuntime/
        # kuberuntime_container.go startContainer: Normal, Started, "Started container <name>")
        self.loop.world.recorder.add_event(self.clock.now, f"Pod/{pod.name}", "Started",
                                           f"Started container {self.template.main.name}")

    def view(self) -> JobView:
        """What KEDA reads of the Job and its pod, ``pendingPodConditions`` included: bound to
        a node -> PodScheduled; container running (no probes here) -> Initialized,
        ContainersReady and Ready as well."""
        pod = self.pod
        conds: set[str] = set()
        if pod.node is not None:
            conds.add("PodScheduled")
        if pod.phase == "Running":
            conds |= {"Initialized", "ContainersReady", "Ready"}
        return JobView(self.name, self.finished, self.completion_time, (pod.phase,),
                       (frozenset(conds),))

    def complete(self, now: float) -> None:
        """The worker exited 0: the pod Succeeded, the Job is Complete, the node freed."""
        pod = self.pod
        pod.phase, pod.ready, pod.deleting = "Succeeded", False, True
        pod.gone = True
        self.cluster.release(pod)
        self.finished, self.completion_time = "Complete", now
        # the Job controller's event (kubernetes/kubernetes pkg/controller/job/
        # job_controller.go: Normal, Completed, "Job completed")
        self.loop.world.recorder.add_event(now, f"Job/{self.name}", "Completed",
                                           "Job completed")

    def remove(self) -> None:
        """Deleted (history limit): a Job still running has its pod terminated."""
        if not self.pod.gone:
            self.pod.deleting = self.pod.gone = True
            self.cluster.release(self.pod)


class ScaledJobLoop:
    """One ScaledJob: KEDA's poll, its Jobs, and what the Timeline shows of them."""

    def __init__(self, world: "World", doc: Mapping, *, where: str = ""):
        self.world, self.where, self.params = world, where, world.params
        self.generation = 1
        self._read_spec(doc)
        self.jobs: list[SimJob] = []
        self._rng = random.Random(world.seed)
        self.last: ScaledJobDecision | None = None
        self.active = False
        clock = world.clock
        self._exit_handle = clock.every(1.0, self._exits, TRAFFIC, first=clock.now + 1.0)
        self.handle = clock.every(float(self.spec.polling_interval), self.poll, CONTROLLER,
                                  first=clock.now + 0.001)

    def _read_spec(self, doc: Mapping) -> None:
        """Parse and check the ScaledJob and the worker command its Jobs run."""
        where = self.where
        self.spec = scaled_job_from_manifest(doc)
        spec = doc.get("spec") or {}
        # spec.rollout.strategy, or the deprecated spec.rolloutStrategy (KEDA v2.20.2
        # controllers/keda/scaledjob_controller.go deletePreviousVersionScaleJobs)
        self.rollout = spec.get("rolloutStrategy") or (spec.get("rollout") or {}).get(
            "strategy") or "default"
        for t in self.spec.triggers:
            if t.type not in SUPPORTED:
                raise ManifestError(f"trigger {t.index} has type {t.type!r}; the twin runs "
                                    f"ScaledJobs on {', '.join(SUPPORTED)} triggers", obj=where,
                                    field=f"spec.triggers[{t.index}].type")
        job_spec = self.spec.job_target_ref
        self.template = pod_template_from_manifest(job_spec.get("template") or {}, where=where)
        if not is_worker(self.template.main):
            raise ManifestError("the Job's container does not run `python -m app.worker`; the "
                                "twin knows how the app's worker takes jobs, nothing else",
                                obj=where, field="spec.jobTargetRef.template.spec.containers")
        parallelism = int(job_spec.get("parallelism", 1) or 1)
        if parallelism != 1:
            raise ManifestError(f"parallelism {parallelism}: the twin runs one pod per Job "
                                "(parallelism: 1)", obj=where,
                                field="spec.jobTargetRef.parallelism")
        self.batch, self.idle_exit = worker_exit_rules(self.template.main.command)
        limit = self.template.limit("cpu")
        self.cpu_limit_milli = float(limit) if limit else float(self.params.node_cpu_milli)

    # -- kubectl apply / delete ------------------------------------------------------------
    def update(self, doc: Mapping) -> None:
        """An edited ScaledJob (a new generation), as KEDA v2.20.2's reconciler takes it
        (controllers/keda/scaledjob_controller.go): unless the rollout strategy is
        ``gradual``, every Job of an older generation is deleted (running ones too: their
        pods are terminated; a worker puts back what it has not finished), with the events
        ScaledJobRolloutCleanupStarted/Completed; the scale loop then restarts with a poll at
        once. Jobs already created keep the command and batch size they were created with."""
        now = self.world.clock.now
        self._read_spec(doc)
        self.generation += 1
        if self.rollout != "gradual":
            old = [j for j in self.jobs if j.generation != self.generation]
            if old:
                self.world.recorder.add_event(
                    now, self.object_ref, "ScaledJobRolloutCleanupStarted",
                    f"Deleting {len(old)} jobs owned by the previous version of the scaledJob")
                for j in old:
                    j.remove()
                self.jobs = [j for j in self.jobs if j.generation == self.generation]
                self.world.recorder.add_event(
                    now, self.object_ref, "ScaledJobRolloutCleanupCompleted",
                    f"Deleted {len(old)} jobs owned by the previous version of the scaledJob")
        self.handle.cancel()
        self.handle = self.world.clock.every(float(self.spec.polling_interval), self.poll,
                                             CONTROLLER, first=now + 0.001)

    def delete(self) -> None:
        """``kubectl delete scaledjob``: the loop stops and its Jobs (owned by the ScaledJob)
        are garbage-collected with their pods."""
        self.handle.cancel()
        self._exit_handle.cancel()
        for j in self.jobs:
            j.remove()
        self.jobs = []

    @property
    def object_ref(self) -> str:
        return f"ScaledJob/{self.spec.name}"

    def suffix(self) -> str:
        """Five characters as Kubernetes' generateName adds them (seeded: runs repeat)."""
        return "".join(self._rng.choice(_NAME_CHARS) for _ in range(5))

    # -- the operator's poll ---------------------------------------------------------------
    def _read(self, trigger) -> float | None:
        if "keda-trigger" in self.world.faults:
            return None
        return float(self.world.queue_length(trigger.metadata.get("listName", "")))

    def poll(self) -> None:
        now = self.world.clock.now
        values = [self._read(t) for t in self.spec.triggers]
        for t, v in zip(self.spec.triggers, values):
            if v is None:
                self.world.recorder.add_event(
                    now, self.object_ref, "KEDAScalerFailed",
                    f"error getting scaler metrics: {t.metadata.get('address', 'redis')} is down",
                    "Warning")
        d = decide(self.spec, values, [j.view() for j in self.jobs], was_active=self.active)
        self.last, self.active = d, d.is_active
        for reason, message in d.events:
            self.world.recorder.add_event(now, self.object_ref, reason, message)
        for _ in range(d.create):
            name = f"{self.spec.name}-{self.suffix()}"
            self.jobs.append(SimJob(self, name, now))
        if d.delete:
            gone = set(d.delete)
            for j in self.jobs:
                if j.name in gone:
                    j.remove()
            self.jobs = [j for j in self.jobs if j.name not in gone]

    # -- the pods as workers -------------------------------------------------------------
    def takers(self, now: float) -> list[Taker]:
        out = []
        mean_texts = self.world.jobs.mean_texts if self.world.jobs else 50.0
        job_s, cpu_s = job_seconds(self.params, self.template.main, self.cpu_limit_milli,
                                   mean_texts)
        for j in self.jobs:
            if j.finished or j.pod.gone:
                continue
            if j.taker is None:
                j.taker = Taker(j.pod, job_s, cpu_s, float(j.batch) if j.batch else None)
            out.append(j.taker)
        return out

    def _exits(self) -> None:
        """Workers that met their exit rule end, as app/worker.py's loop does."""
        now = self.world.clock.now
        for j in self.jobs:
            t = j.taker
            if j.finished or t is None:
                continue
            if t.batch_left is not None and t.batch_left <= 1e-9:
                j.complete(now)
            elif j.idle_exit is not None and t.idle_since is not None \
                    and now - t.idle_since >= j.idle_exit:
                j.complete(now)

    # -- what the Timeline shows ---------------------------------------------------------
    @property
    def spec_replicas(self) -> int:
        """Jobs not finished (what `kubectl get jobs` lists as active)."""
        return sum(1 for j in self.jobs if not j.finished)

    @property
    def n_serving(self) -> int:
        """Job pods Running."""
        return sum(1 for j in self.jobs if not j.finished and j.pod.phase == "Running")

    @property
    def pending_pods(self) -> int:
        return sum(1 for j in self.jobs if not j.finished and j.pod.node is None)

    @property
    def min_replicas(self) -> int:
        return self.spec.min_replicas()

    @property
    def max_replicas(self) -> int:
        return self.spec.max_replica_count if self.spec.max_replica_count is not None \
            else self.spec.max_replicas()

    @property
    def desired_replicas(self) -> int:
        """The Jobs the triggers ask for at the last poll (``maxScale``)."""
        return self.last.max_scale if self.last else 0

    def metric_reading(self) -> tuple[str, float, float]:
        t = self.spec.triggers[0]
        value = self.world.queue_length(t.metadata.get("listName", ""))
        return (f"{t.metadata.get('listName', t.metric_name)} list length", float(value),
                t.target)

    def describe(self) -> str:
        lines = [f"Name:             {self.spec.name} (ScaledJob)",
                 f"Min/max:          {self.spec.min_replicas()}/{self.max_replicas}",
                 f"Strategy:         {self.spec.scaling_strategy.resolved()}",
                 f"Polling:          {self.spec.polling_interval} s",
                 f"Jobs:             {self.spec_replicas} active, "
                 f"{sum(1 for j in self.jobs if j.finished)} finished kept"]
        if self.last is not None:
            d = self.last
            lines.append(f"Last poll:        active={d.is_active} queueLength={d.queue_length} "
                         f"maxScale={d.max_scale} running={d.running} pending={d.pending} "
                         f"created={d.create}")
        return "\n".join(lines)
