"""Asynchronous inference in the twin: producers, the Redis list of waiting jobs, the workers.

What the real variants run (app/jobs.py, app/worker.py, manifests/queue*), as a fluid model
advanced once per simulated second:

- producers (``mode="async"`` load profiles) post ``POST /jobs`` to the enqueue API; it
  answers 202 at once, so arrivals follow the profile's rate, ``users / mean_wait`` per
  second, whatever the workers do (an open loop). No ready API pod, no Redis in the variant
  (asynchronous mode off: 503) or a full list (429 past ``APP_MAX_QUEUE``) make the post fail;
- the list holds the waiting jobs in arrival order as cohorts (enqueue time, count); its
  length is what KEDA's redis trigger reads (``LLEN``; a list name nobody pushes to reads 0,
  as a missing key does), and the oldest cohort gives the age of the oldest waiting job;
- every worker pod (a Deployment running ``python -m app.worker``, or a KEDA ScaledJob's Job
  pod) takes jobs once its container has started and the model is loaded
  (``startup_seconds``), one at a time, each costing the model's CPU per sentence plus
  ``APP_CPU_WORK_MS`` at the pod's CPU limit (at most one core: the worker is one thread),
  plus ``base_latency_ms`` of Redis round trips; no HTTP/JSON framework cost
  (``cpu_ms_per_request``), as the worker reads a Redis hash. So one worker completes
  ``1 / s_job`` jobs a second: 43 jobs/s for 50-sentence jobs at one core with the calibrated
  parameters, against 44.6 jobs/s and 21.3 ms CPU per job measured for one real worker with
  a real Redis on 127.0.0.1 (benchmarks/bench_worker.py). Jobs leave the list oldest first; a terminating worker takes nothing new.
- a job's latency is the time from ``POST /jobs`` to its result (what a client polling
  ``GET /jobs/{id}`` waits): its wait in the list plus its service time.

Jobs are whole: producers' fractional rates and workers' fractional speeds carry over to the
next second, so the list length is the integer ``LLEN`` would return.

Simplifies: arrivals are deterministic (no Poisson noise, so a burst of N jobs is exactly N
jobs), a job taken in the same second it arrived waits no time in the list; worker kills, leases and
redelivery (app/jobs.py) are not modelled: every job is done once; the enqueue API's own
CPU is not charged.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from ...load import LoadProfile, spawned_users
from .params import TwinParams
from .pods import ContainerSpec, Pod, Workload
from .traffic import _weighted_percentiles

if TYPE_CHECKING:
    from ...manifests import Variant

WORKER_MODULE = "app.worker"
_QUANTILES = (0.5, 0.95, 0.99)
#: app/settings.py defaults, used when a manifest does not set the variable.
DEFAULT_QUEUE = "inference-jobs"
DEFAULT_MAX_QUEUE = 10_000


def is_worker(container: ContainerSpec) -> bool:
    """A container that runs ``python -m app.worker`` (Deployment worker or Job)."""
    return WORKER_MODULE in container.command


def queue_settings(variant: "Variant") -> tuple[str, int] | None:
    """(list name, APP_MAX_QUEUE) of the enqueue API, or None when no container has
    ``APP_REDIS_URL`` (the asynchronous mode is off: ``POST /jobs`` answers 503)."""
    for obj in variant.of_kind("Deployment"):
        for c in ((obj.doc.get("spec") or {}).get("template") or {}).get("spec", {}).get(
                "containers") or []:
            env = {e.get("name"): str(e.get("value", "")) for e in c.get("env") or []}
            if env.get("APP_REDIS_URL") and WORKER_MODULE not in " ".join(c.get("command") or []):
                return (env.get("APP_QUEUE") or DEFAULT_QUEUE,
                        int(env.get("APP_MAX_QUEUE") or DEFAULT_MAX_QUEUE))
    return None


def job_seconds(params: TwinParams, container: ContainerSpec, cpu_limit_milli: float,
                mean_texts: float) -> tuple[float, float]:
    """(seconds one job takes a worker, CPU seconds at one core it burns) for ``container``."""
    cpu_ms = (params.cpu_ms_per_text * mean_texts
              + float(container.env.get("APP_CPU_WORK_MS", 20) or 0))
    cores = min(cpu_limit_milli, 1000.0) / 1000
    return cpu_ms / 1000 / cores + params.base_latency_ms / 1000, cpu_ms / 1000


class RedisList:
    """The list of waiting job ids, kept as FIFO cohorts ``[enqueued_at, count]``."""

    def __init__(self, name: str, max_len: int = DEFAULT_MAX_QUEUE):
        self.name, self.max_len = name, max_len
        self.cohorts: deque[list[float]] = deque()
        self.length = 0.0

    def push(self, now: float, count: float) -> float:
        """Enqueue up to ``count`` jobs (the rest is refused: queue full); how many went in."""
        room = max(0.0, self.max_len - self.length)
        taken = min(count, room)
        if taken > 0:
            self.cohorts.append([now, taken])
            self.length += taken
        return taken

    def pop(self, count: float) -> list[tuple[float, float]]:
        """Take up to ``count`` of the oldest jobs: ``[(enqueued_at, count), ...]``."""
        out = []
        while count > 1e-9 and self.cohorts:
            head = self.cohorts[0]
            n = min(head[1], count)
            out.append((head[0], n))
            head[1] -= n
            count -= n
            self.length -= n
            if head[1] <= 1e-9:
                self.cohorts.popleft()
        if not self.cohorts:
            self.length = 0.0
        return out

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest waiting job has waited (0 when none waits)."""
        return now - self.cohorts[0][0] if self.cohorts else 0.0


@dataclass
class Taker:
    """One worker pod as the queue sees it: when it can start, its speed, what it may take.

    ``batch_left`` is None for a Deployment worker (no limit) or the jobs a ScaledJob's Job
    still takes before it exits; ``idle_since`` is when it last found the list empty.
    """

    pod: Pod
    job_s: float
    cpu_s: float
    batch_left: float | None = None
    idle_since: float | None = None
    done: float = 0.0
    last: float = 0.0     #: jobs finished in the last second
    credit: float = 0.0   #: the fraction of a job this worker's speed carries over

    def working(self, now: float) -> bool:
        p = self.pod
        return (not p.deleting and not p.gone and p.app_ready_at is not None
                and now >= p.app_ready_at and (self.batch_left is None or self.batch_left > 1e-9))


@dataclass(frozen=True)
class QueueTickStats:
    """What one second of the asynchronous path produced."""

    users: int
    done: float          #: jobs finished this second
    latency_p50: float   #: ms from POST /jobs to the result, over the jobs finished
    latency_p95: float
    latency_p99: float
    errors: int          #: POST /jobs refused (no API pod, async off, queue full)
    length: float        #: jobs waiting in the list (LLEN) after this second
    oldest_age: float    #: seconds the oldest waiting job has waited
    workers: int = 0     #: worker pods able to take jobs this second


class JobQueueService:
    """Producers -> enqueue API -> Redis list -> worker pods, one second at a time.

    ``api`` is the enqueue API's Deployment (None: no Deployment serves ``POST /jobs``),
    ``settings`` what :func:`queue_settings` returned (None: asynchronous mode off),
    ``takers`` returns the worker pods able to pull this second (Deployment workers and Job
    pods alike), each with its per-job cost.
    """

    def __init__(self, api: Workload | None, settings: tuple[str, int] | None,
                 params: TwinParams, takers: Callable[[float], Iterable[Taker]]):
        self.api, self.params, self.takers = api, params, takers
        name, max_len = settings or (DEFAULT_QUEUE, DEFAULT_MAX_QUEUE)
        self.enabled = settings is not None
        self.lists: dict[str, RedisList] = {name: RedisList(name, max_len)}
        self.list = self.lists[name]
        self.profile: LoadProfile | None = None
        self.profile_start = 0.0
        self.users = 0.0
        self.enqueued = 0.0
        self.finished = 0.0
        self._carry = 0.0      # the fraction of a job the producers carry over
        self.last = QueueTickStats(0, 0.0, math.nan, math.nan, math.nan, 0, 0.0, 0.0)

    def start(self, profile: LoadProfile | None, now: float) -> None:
        self.profile, self.profile_start = profile, now

    def length(self, list_name: str) -> float:
        """``LLEN list_name`` as KEDA's redis scaler reads it (0 for a list nobody uses)."""
        q = self.lists.get(list_name)
        return q.length if q is not None else 0.0

    @property
    def mean_texts(self) -> float:
        return self.profile.mean_texts if self.profile else 50.0

    # -- one second ------------------------------------------------------------------
    def tick(self, now: float, dt: float = 1.0) -> QueueTickStats:
        prof = self.profile
        if prof is None:
            self.users = 0.0
        elif now - self.profile_start > prof.duration:
            self.users = spawned_users(lambda _t: 0.0, prof.spawn_rate, 0.0, self.users, dt)
        else:
            # the producers of the second that ends now: profile time at its start
            self.users = spawned_users(prof.users_at, prof.spawn_rate,
                                       now - self.profile_start - dt, self.users, dt)
        rate = self.users / prof.mean_wait if prof is not None and self.users > 0 else 0.0
        self._carry += rate * dt
        offered = math.floor(self._carry + 1e-9)
        self._carry -= offered
        errors = 0.0
        q = self.list
        if offered > 0:
            if not self.enabled or self.api is None or self.api.n_serving == 0:
                errors += offered
            else:
                accepted = q.push(now, offered)
                self.enqueued += accepted
                errors += offered - accepted

        points: list[tuple[float, float]] = []
        total = 0.0
        working = 0
        cpu: dict[Workload, float] = {}     # millicore-seconds per worker Deployment
        for taker in self.takers(now):
            working += taker.working(now)
            got = self._serve(taker, now, dt, points)
            total += got
            w = taker.pod.workload
            if got > 0 and isinstance(w, Workload):
                cpu[w] = cpu.get(w, 0.0) + got * taker.cpu_s * 1000
        for w, milli_s in cpu.items():      # metrics-server reads it (kubectl top)
            if w.n_serving:
                w.served_cpu += milli_s / w.n_serving
        self.finished += total
        if points:
            pcts = [1000 * v for v in _weighted_percentiles(points, _QUANTILES)]
        else:
            pcts = [math.nan] * 3
        stats = QueueTickStats(round(self.users), total / dt, pcts[0], pcts[1], pcts[2],
                               round(errors), q.length, q.oldest_age(now), working)
        self.last = stats
        return stats

    def cold(self) -> bool:
        """Jobs wait and no worker can take them: the wait for a pod start (a cold start)."""
        return self.last.length > 0 and self.last.workers == 0

    def _serve(self, taker: Taker, now: float, dt: float,
               points: list[tuple[float, float]]) -> float:
        """Let one worker pull for ``dt`` seconds; return the jobs it finished."""
        taker.last = 0.0
        if not taker.working(now):
            return 0.0
        start = max(now - dt, taker.pod.app_ready_at or now - dt)
        taker.credit += (now - start) / taker.job_s
        capacity = math.floor(taker.credit + 1e-9)
        if taker.batch_left is not None:
            capacity = min(capacity, taker.batch_left)
        got = 0.0
        for t0, n in self.list.pop(capacity):
            wait = max(0.0, start - t0)
            points.append((wait + taker.job_s, n))
            got += n
        if taker.batch_left is not None:
            taker.batch_left -= got
        taker.done += got
        taker.last = got
        if got < capacity:             # the list ran dry during this second
            taker.credit = 0.0
            if taker.idle_since is None or got > 0:
                taker.idle_since = start + got * taker.job_s
        else:
            taker.credit -= got
            taker.idle_since = None
        return got


def deployment_takers(workloads: Mapping[str, Workload], params: TwinParams,
                      mean_texts: Callable[[], float]) -> Callable[[float], list[Taker]]:
    """The pods of every worker Deployment as :class:`Taker` s (state kept per pod)."""
    state: dict[str, Taker] = {}

    def takers(now: float) -> list[Taker]:
        out = []
        for w in workloads.values():
            c = w.template.main
            if not is_worker(c):
                continue
            job_s, cpu_s = job_seconds(params, c, w.cpu_limit_milli, mean_texts())
            for pod in w.live_pods:
                t = state.get(pod.name)
                if t is None:
                    t = state[pod.name] = Taker(pod, job_s, cpu_s)
                t.job_s, t.cpu_s = job_s, cpu_s
                out.append(t)
        for name in [n for n, t in state.items() if t.pod.gone]:
            del state[name]
        return out

    return takers
