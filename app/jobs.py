"""The job queue in Redis: what the enqueue endpoint, the result endpoint and the worker share.

Delivery guarantee: **at least once, with one result per job**.

- ``POST /jobs`` stores the job (a hash) and pushes its id on the list ``QUEUE`` in one
  atomic script, or refuses with "queue full" without storing anything.
- A worker moves an id from ``QUEUE`` to its own processing list ``QUEUE:processing:WORKER``
  in one atomic ``BLMOVE``: at every instant a job id is in exactly one list, so no job is
  lost between "taken" and "done".
- A worker renews a lease (``QUEUE:worker:WORKER``, a key with a TTL of ``lease_s``) while it
  lives. Any worker that finds a processing list whose lease expired moves its ids back to
  the queue (``reap``): a job whose worker was killed mid-job runs again.
- Finishing is one atomic script: write the result only if the job has none yet, then drop
  the id from the processing list. So a job redelivered after a kill may be *computed*
  twice, but its result is written once, and ``QUEUE:stats`` counts each job once.
- A job delivered ``max_attempts`` times is marked failed instead of run again.

What it does not promise: if Redis itself loses data (no persistence, or a crash inside the
``appendfsync`` window) the jobs it lost are gone; run Redis with ``appendonly yes`` (the
tests use ``appendfsync always``). A worker whose lease lapses while it still works (Redis
unreachable for longer than ``lease_s``) may see its job run a second time elsewhere; the
result is still written once.

Keys, for ``QUEUE`` = ``settings.queue_name``:

=============================  ======  ==============================================
``QUEUE``                      list    ids waiting (LPUSH in, taken from the right: FIFO);
                                       its length is what KEDA's redis trigger reads
``QUEUE:job:ID``               hash    status, body, attempts, times, result or error
``QUEUE:processing:WORKER``    list    ids one worker has taken and not finished
``QUEUE:worker:WORKER``        string  the worker's lease (expires after ``lease_s``)
``QUEUE:workers``              set     workers that may own a processing list
``QUEUE:stats``                hash    done, failed, redelivered counters
=============================  ======  ==============================================
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

#: What a job id looks like (uuid4 hex); anything else is answered 404 without a lookup.
JOB_ID = re.compile(r"^[0-9a-f]{32}$")

#: Errors that mean "Redis is not reachable right now" (restarting, loading its data file).
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)

# KEYS: queue, job hash. ARGV: max queue length, job id, body, enqueued_at.
_ENQUEUE = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'status', 'queued', 'body', ARGV[3], 'enqueued_at', ARGV[4],
           'attempts', 0)
redis.call('LPUSH', KEYS[1], ARGV[2])
return 1
"""

# KEYS: job hash, processing list, stats. ARGV: id, status, field, value, finished_at, ttl.
# The result is written only by the first finisher; the id leaves the processing list always.
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
local first = 0
if status and status ~= 'done' and status ~= 'failed' then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], ARGV[3], ARGV[4], 'finished_at', ARGV[5])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  first = 1
end
redis.call('LREM', KEYS[2], 0, ARGV[1])
return first
"""

# KEYS: queue, workers set, stats. ARGV: key prefix, this worker's name.
# Every processing list whose lease expired goes back to the queue's taking end.
_REAP = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if w ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. ':worker:' .. w) == 0 then
    local plist = ARGV[1] .. ':processing:' .. w
    while redis.call('LMOVE', plist, KEYS[1], 'LEFT', 'RIGHT') do moved = moved + 1 end
    redis.call('SREM', KEYS[2], w)
  end
end
if moved > 0 then redis.call('HINCRBY', KEYS[3], 'redelivered', moved) end
return moved
"""


class QueueFull(Exception):
    """The queue holds ``max_queue`` jobs already."""


@dataclass(frozen=True)
class QueueStats:
    """What an observer (the kind backend, a test) reads: KEDA's number and its context."""

    length: int               # waiting ids: what KEDA's redis trigger reads (LLEN)
    processing: int           # taken by a worker, not finished
    oldest_age_s: float       # age of the oldest waiting job (0 when none waits)
    done: int
    failed: int
    redelivered: int


class JobQueue:
    """The queue's operations over one Redis connection pool (thread-safe, as redis-py is)."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client, self.name = client, name
        self._enqueue = client.register_script(_ENQUEUE)
        self._finish = client.register_script(_FINISH)
        self._reap = client.register_script(_REAP)

    @classmethod
    def from_url(cls, url: str, name: str, *, timeout: float = 2.0) -> JobQueue:
        """Connect lazily (the first command connects) with ``timeout`` seconds per attempt."""
        client = redis.Redis.from_url(url, socket_timeout=timeout,
                                      socket_connect_timeout=timeout, decode_responses=True)
        return cls(client, name)

    # key names -------------------------------------------------------------------------
    def job_key(self, job_id: str) -> str:
        return f"{self.name}:job:{job_id}"

    def processing_key(self, worker: str) -> str:
        return f"{self.name}:processing:{worker}"

    def lease_key(self, worker: str) -> str:
        return f"{self.name}:worker:{worker}"

    @property
    def workers_key(self) -> str:
        return f"{self.name}:workers"

    @property
    def stats_key(self) -> str:
        return f"{self.name}:stats"

    # producer side ---------------------------------------------------------------------
    def enqueue(self, texts: list[str], *, max_queue: int, now: float | None = None) -> str:
        """Store a job and queue its id; return the id. Raises :class:`QueueFull`."""
        job_id = uuid.uuid4().hex
        body = json.dumps({"text": texts})
        stamp = repr(time.time() if now is None else now)
        if not self._enqueue(keys=[self.name, self.job_key(job_id)],
                             args=[max_queue, job_id, body, stamp]):
            raise QueueFull(f"queue full: {max_queue} jobs are waiting")
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as the result endpoint shows it, or None if unknown (or expired)."""
        if not JOB_ID.match(job_id):
            return None
        raw = self.client.hgetall(self.job_key(job_id))
        if not raw:
            return None
        job: dict[str, Any] = {"id": job_id, "status": raw["status"],
                               "attempts": int(raw.get("attempts", 0))}
        for stamp in ("enqueued_at", "started_at", "finished_at"):
            if stamp in raw:
                job[stamp] = float(raw[stamp])
        if "result" in raw:
            job["result"] = json.loads(raw["result"])
        if "error" in raw:
            job["error"] = raw["error"]
        return job

    def stats(self, *, now: float | None = None) -> QueueStats:
        """Queue length, jobs in progress, the oldest waiting job's age, and the counters."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(self.name).lindex(self.name, -1).smembers(self.workers_key)
        pipe.hgetall(self.stats_key)
        length, oldest, workers, counters = pipe.execute()
        age = 0.0
        if oldest:
            enqueued = self.client.hget(self.job_key(oldest), "enqueued_at")
            age = max(0.0, now - float(enqueued)) if enqueued else 0.0
        processing = sum(self.client.llen(self.processing_key(w)) for w in workers)
        return QueueStats(length=length, processing=processing, oldest_age_s=age,
                          done=int(counters.get("done", 0)), failed=int(counters.get("failed", 0)),
                          redelivered=int(counters.get("redelivered", 0)))

    # worker side -----------------------------------------------------------------------
    def register(self, worker: str, lease_s: float) -> None:
        """Announce ``worker`` and take its lease."""
        self.client.sadd(self.workers_key, worker)
        self.renew(worker, lease_s)

    def renew(self, worker: str, lease_s: float) -> None:
        self.client.set(self.lease_key(worker), "1", px=max(1, int(lease_s * 1000)))

    def unregister(self, worker: str) -> None:
        """Leave cleanly: give back anything still taken, drop the lease."""
        while self.client.lmove(self.processing_key(worker), self.name, "LEFT", "RIGHT"):
            pass
        self.client.srem(self.workers_key, worker)
        self.client.delete(self.lease_key(worker))

    def reap(self, worker: str) -> int:
        """Put the jobs of every worker whose lease expired back in the queue; how many."""
        return int(self._reap(keys=[self.name, self.workers_key, self.stats_key],
                              args=[self.name, worker]))

    def take(self, worker: str, timeout_s: float) -> str | None:
        """Move the oldest waiting id to ``worker``'s processing list (wait up to timeout)."""
        return self.client.blmove(self.name, self.processing_key(worker), timeout_s,
                                  "RIGHT", "LEFT")

    def start(self, job_id: str, worker: str, now: float | None = None) -> tuple[dict, int] | None:
        """Mark a taken job running; return (its body or None if unreadable, attempts).

        None means the job is already finished or gone: drop the id without running it.
        """
        key = self.job_key(job_id)
        raw = self.client.hmget(key, "status", "body")
        if raw[0] in (None, "done", "failed"):
            self.client.lrem(self.processing_key(worker), 0, job_id)
            return None
        attempts = int(self.client.hincrby(key, "attempts", 1))
        self.client.hset(key, mapping={"status": "running", "worker": worker,
                                       "started_at": repr(time.time() if now is None else now)})
        try:
            body = json.loads(raw[1])
        except (TypeError, ValueError):
            body = None
        return body, attempts

    def finish(self, job_id: str, worker: str, *, result: Any = None, error: str | None = None,
               ttl_s: int, now: float | None = None) -> bool:
        """Write the result (or error) if the job has none yet; True if this call wrote it."""
        status, field, value = (("failed", "error", error) if error is not None
                                else ("done", "result", json.dumps(result)))
        return bool(self._finish(
            keys=[self.job_key(job_id), self.processing_key(worker), self.stats_key],
            args=[job_id, status, field, value, repr(time.time() if now is None else now), ttl_s]))
