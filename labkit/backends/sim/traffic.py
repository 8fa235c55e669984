"""Users, the Service and the pods' queues: a time-stepped fluid model of locust load.

Every simulated second:

- users move towards the profile's count at the spawn rate (locust's rule);
- each user thinks ``between(wait_min, wait_max)`` seconds and then waits for one response (a
  closed loop). With ``n`` serving pods, each a processor-sharing server of capacity ``mu``
  requests/s (the CPU limit, at most one core for the single-threaded app, divided by the CPU a
  request costs), throughput ``X`` and response time ``R`` solve ``X = N / (Z + R)`` with
  ``R = b + s / (1 - u)``, ``u = X / (n mu)`` (the interactive response-time law with an
  M/G/1-PS queue per pod; ``s = 1/mu``, ``b`` the non-CPU latency, ``Z`` the mean think time);
- the completions that second are Poisson around ``X`` (seeded), which is the noise learners
  see in the CPU metric; per-pod CPU is their share of ``X x CPU per request``;
- latency percentiles: ``b + s_q + (R - b - s) x Exp quantile`` (service time from the number
  of sentences, uniform between ``texts_min`` and ``texts_max``, plus an exponential queueing
  delay), mixed with the exact waits of requests released from a buffer.

With no serving pod, requests either fail at once (a plain Service: connection refused) or wait
in a buffer (Knative's activator, the KEDA gateway) until a pod is ready or the buffer's timeout
passes (then they fail). Buffered requests are tracked as cohorts (arrival time, count), so the
cold-start penalty in the percentiles is exact. A buffer that does not accept requests yet
(:meth:`Buffer.accepting`: the KEDA gateway's own pod still starting, a Knative route not yet
programmed while the first revision rolls out) makes every request fail at once, whatever
the pods behind it do: that only happens when load runs during a rollout.

Simplifies: the Service balances evenly over serving pods (kube-proxy picks at random; the
average is what a 1 s sample shows); no network latency; a pod's queue has no limit (so
overload shows up as latency, then as client timeouts) except a Knative revision's with a
``containerConcurrency``, whose queue-proxy refuses what its breaker cannot hold
(:func:`pod_slots`).
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Callable, NamedTuple

from ...load import LoadProfile, spawned_users
from .params import TwinParams
from .pods import Workload

_QUANTILES = (0.5, 0.95, 0.99)
_EXP_QUANTILES = tuple((q, -math.log(1 - q)) for q in _QUANTILES)
_MIX_POINTS = 20
#: Quantiles (with their exponential factors) that stand for the steady-state distribution.
_MIX_QUANTILES = tuple((q, -math.log(1 - q))
                       for q in ((i + 0.5) / _MIX_POINTS for i in range(_MIX_POINTS)))  # points that represent the steady-state latency distribution in a mixture


class TickStats(NamedTuple):
    """What one second of traffic produced."""

    users: int
    rps: float
    latency_p50: float
    latency_p95: float
    latency_p99: float
    errors: int
    concurrency: float   #: requests in flight at the pods (Little's law)
    buffered: float      #: requests waiting in the buffer (activator / gateway)


class Buffer:
    """Holds requests while the workload has no serving pod (activator, KEDA gateway).

    ``holder`` names it in events ("the activator"), ``obj`` is the object they are about.
    ``accepting`` says whether requests reach it at all (None: always; see :meth:`accepting`).
    """

    def __init__(self, timeout: float, holder: str = "the buffer", obj: str = "",
                 accepting: Callable[[], bool] | None = None):
        self.timeout, self.holder, self.obj = timeout, holder, obj
        self.cohorts: deque[list[float]] = deque()   # [arrival time, count]
        self._accepting = accepting

    def accepting(self) -> bool:
        """Whether requests reach the buffer. Not while what serves it is itself rolling out
        (the caller says what that is); then the client's connection fails at once."""
        return self._accepting is None or self._accepting()

    @property
    def size(self) -> float:
        return sum(c[1] for c in self.cohorts)


class Service:
    """Closed-loop users sending requests to one workload's serving pods."""

    def __init__(self, workload: Workload, params: TwinParams, seed: int = 0,
                 buffer: Buffer | None = None):
        self.workload, self.params, self.buffer = workload, params, buffer
        self.rng = random.Random(seed)
        self.profile: LoadProfile | None = None
        self.profile_start = 0.0
        self.users = 0.0
        self.last = TickStats(0, 0.0, math.nan, math.nan, math.nan, 0, 0.0, 0.0)
        self._costs = self._service_times()   # per-request costs change only with the profile
        self._latency = self._latency_terms()

    def start(self, profile: LoadProfile | None, now: float) -> None:
        self.profile, self.profile_start = profile, now
        self._costs = self._service_times()
        self._latency = self._latency_terms()

    def _latency_terms(self) -> tuple[float, float, bool, tuple[float, ...], tuple[float, ...]]:
        """What every tick's latency needs and only the costs change: ``b``, the timeout's
        slack ``timeout - b - s_hi``, whether the timeout exceeds ``b + s_hi``, and the part of
        :func:`_steady_latency` before the queueing delay, ``b + s_lo + (s_hi - s_lo) q``,
        for each reported quantile (the same floating-point operations in the same order)."""
        b = self.params.base_latency_ms / 1000
        _, _, s_lo, s_hi = self._costs
        timeout = self.params.request_timeout_s
        return (b, timeout - b - s_hi, timeout > b + s_hi,
                tuple(b + s_lo + (s_hi - s_lo) * q for q, _ in _EXP_QUANTILES),
                tuple(e for _, e in _EXP_QUANTILES))

    def retarget(self, workload: Workload, buffer: Buffer | None) -> None:
        """Send the load to another workload from now on (a route moving to a new revision)."""
        self.workload, self.buffer = workload, buffer
        self._costs = self._service_times()

    # -- per-request costs ----------------------------------------------------------
    def _service_times(self) -> tuple[float, float, float, float]:
        """(mean service time s, capacity mu per pod, s for fewest texts, s for most)."""
        p, t = self.params, self.workload.template
        prof = self.profile
        cores = min(self.workload.cpu_limit_milli, 1000.0)  # millicores; one thread at most

        def s_for(texts: float) -> float:
            cpu_ms = p.cpu_ms_per_request + p.cpu_ms_per_text * texts + t.cpu_work_ms
            return cpu_ms / cores   # seconds: cpu_ms / (cores/1000) / 1000

        mean = prof.mean_texts if prof else 50.0
        lo = prof.texts_min if prof else 1
        hi = prof.texts_max if prof else 99
        s = s_for(mean)
        return s, 1.0 / s, s_for(lo), s_for(hi)

    # -- one second -----------------------------------------------------------------
    def tick(self, now: float, dt: float = 1.0) -> TickStats:
        prof = self.profile
        if prof is None:
            self.users = 0.0
        elif now - self.profile_start > prof.duration:   # the run is over: users stop
            self.users = spawned_users(lambda _t: 0.0, prof.spawn_rate, 0.0, self.users, dt)
        else:
            self.users = spawned_users(prof.users_at, prof.spawn_rate, now - self.profile_start,
                                       self.users, dt)
        n_users = self.users
        z = prof.mean_wait if prof else 1.0
        b, slack, timeout_above, lat0, exp_q = self._latency
        s, mu, s_lo, s_hi = self._costs
        w = self.workload
        n = w.n_serving
        errors = 0.0
        released: list[tuple[float, float]] = []   # (latency s, count)
        buf = self.buffer

        if buf is not None:
            errors += self._expire(buf, now)
            if not buf.accepting():   # nothing answers in front of the pods yet
                return self._refused(n_users, z, dt, errors)
        if n == 0:
            w.inflight_per_pod = 0.0
            free = n_users - (buf.size if buf else 0.0)
            attempts = free * dt / z if z > 0 else free
            attempts = min(max(attempts, 0.0), max(free, 0.0))
            if buf is not None:
                if attempts > 0:
                    buf.cohorts.append([now, attempts])
            else:
                errors += self._poisson(attempts)
            stats = TickStats(round(n_users), 0.0, math.nan, math.nan, math.nan, round(errors),
                              0.0, buf.size if buf else 0.0)
            self.last = stats
            return stats

        if buf is not None and buf.cohorts:
            for t0, count in buf.cohorts:
                released.append((now - t0 + s + b, count))
            buf.cohorts.clear()

        # Closed loop: solve Z' u^2 - (Z' + s + N a) u + N a = 0 for the utilization u.
        zp = z + b
        a = s / n
        na = n_users * a
        if n_users <= 0:
            u = 0.0
        elif zp <= 0:
            u = na / (s + na)
        else:
            k = zp + s + na
            u = (k - math.sqrt(max(k * k - 4 * zp * na, 0.0))) / (2 * zp)
        u = min(u, 0.999)
        refused = 0.0
        slots = pod_slots(w)
        if slots is not None and u * n * (b * mu + 1 / (1 - u)) > slots * n:
            # The queue-proxy's breaker is full: each pod holds ``slots`` requests, the users
            # beyond them are refused at once (503) and think again before retrying.
            u = _utilization_at(slots, b * mu)
            refused = max(0.0, (n_users - slots * n) / zp - u * n * mu) if zp > 0 else 0.0
        x = u * n * mu                       # requests/s the pods complete
        r = b + s / (1 - u)                  # mean response time
        errors += self._poisson(refused * dt)
        done = self._poisson(x * dt) / dt
        queue_wait = max(r - b - s, 0.0)
        late = math.exp(-slack / queue_wait) if queue_wait > 0 and \
            timeout_above else (1.0 if not timeout_above else 0.0)
        late = min(late, 1.0)
        errors += done * dt * late
        ok = done * (1 - late)

        # CPU and in-flight requests per serving pod.
        per_pod_cpu = min(done * s * min(w.cpu_limit_milli, 1000.0) / n, w.cpu_limit_milli)
        w.served_cpu += per_pod_cpu * dt
        concurrency = x * r
        w.inflight_per_pod = concurrency / n

        rel_count = sum(c for _, c in released) if released else 0
        if rel_count == 0 and ok <= 0:
            pcts = [math.nan] * len(_QUANTILES)
        elif rel_count == 0:   # _steady_latency for each quantile, its first part precomputed
            pcts = [lat0[0] + queue_wait * exp_q[0], lat0[1] + queue_wait * exp_q[1],
                    lat0[2] + queue_wait * exp_q[2]]
        else:
            weight = ok * dt / _MIX_POINTS
            points = [(_steady_latency(q, e, b, s_lo, s_hi, queue_wait), weight)
                      for q, e in _MIX_QUANTILES]
            points += released
            pcts = _weighted_percentiles(points, _QUANTILES)
        rps = ok + rel_count / dt
        stats = TickStats(round(n_users), rps, pcts[0] * 1000, pcts[1] * 1000, pcts[2] * 1000,
                          round(errors), concurrency, 0.0)
        self.last = stats
        return stats

    def _refused(self, n_users: float, z: float, dt: float, errors: float) -> TickStats:
        """A second in which every request fails at once (the buffer in front of the pods does
        not accept them yet); users think and try again, as with no serving pod."""
        self.workload.inflight_per_pod = 0.0
        attempts = n_users * dt / z if z > 0 else n_users
        errors += self._poisson(min(max(attempts, 0.0), max(n_users, 0.0)))
        stats = TickStats(round(n_users), 0.0, math.nan, math.nan, math.nan, round(errors),
                          0.0, 0.0)
        self.last = stats
        return stats

    def _expire(self, buf: Buffer, now: float) -> float:
        failed = 0.0
        while buf.cohorts and now - buf.cohorts[0][0] >= buf.timeout:
            failed += buf.cohorts.popleft()[1]
        return failed

    def _poisson(self, mean: float) -> float:
        """A Poisson-like count around ``mean`` (normal approximation; exact for small means)."""
        if mean <= 0:
            return 0.0
        if mean < 30:
            # Knuth's method: exact and cheap for small means.
            limit, k, prod = math.exp(-mean), 0, self.rng.random()
            while prod > limit:
                k += 1
                prod *= self.rng.random()
            return float(k)
        return max(0.0, mean + math.sqrt(mean) * self.rng.gauss(0.0, 1.0))


#: The queue-proxy's breaker: ``MaxConcurrency`` = containerConcurrency, ``QueueDepth`` = 10 x
#: that (knative/serving knative-v1.23.0 ``pkg/queue/sharedmain/main.go`` ``buildBreaker``); a
#: request beyond both is answered 503 "pending request queue full" (``pkg/queue/breaker.go``).
BREAKER_QUEUE_DEPTH_FACTOR = 10


def pod_slots(workload: Workload) -> float | None:
    """Requests one pod may hold, or None when nothing limits it.

    A Knative revision with ``containerConcurrency`` > 0 (set on the workload by the Knative
    loop) holds at most ``containerConcurrency`` x (1 + 10) at its queue-proxy. With the activator
    in the path (SKS in Proxy mode) the activator sends each pod at most ``containerConcurrency``
    requests and queues the rest itself (``pkg/activator/net/throttler.go``), so nothing is
    refused: the requests wait, as they wait at the pod, and the same work is done.
    """
    cc = getattr(workload, "container_concurrency", 0)
    if not cc or getattr(workload, "activator_in_path", False):
        return None
    return float(cc * (1 + BREAKER_QUEUE_DEPTH_FACTOR))


def _utilization_at(in_flight: float, b_mu: float) -> float:
    """The utilization at which a pod holds ``in_flight`` requests: ``u (b mu + 1/(1-u))``
    (Little's law over the response time ``b + s/(1-u)``) solved by bisection."""
    lo, hi = 0.0, 0.999
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid * (b_mu + 1 / (1 - mid)) < in_flight:
            lo = mid
        else:
            hi = mid
    return lo


def _steady_latency(q: float, exp_q: float, b: float, s_lo: float, s_hi: float,
                    queue_wait: float) -> float:
    """The ``q`` quantile of a served request's latency (seconds): fixed part, service time
    uniform over the request sizes, exponential queueing delay (``exp_q = -ln(1 - q)``)."""
    return b + s_lo + (s_hi - s_lo) * q + queue_wait * exp_q


def _weighted_percentiles(points: list[tuple[float, float]], qs: tuple[float, ...]) -> list[float]:
    pts = sorted(p for p in points if p[1] > 0)
    total = sum(w for _, w in pts)
    out, acc, i = [], 0.0, 0
    for q in qs:
        goal = q * total
        while i < len(pts) - 1 and acc + pts[i][1] < goal:
            acc += pts[i][1]
            i += 1
        out.append(pts[i][0])
    return out
