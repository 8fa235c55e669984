# %% [markdown]
# # 07 · Asynchronous inference: a queue, workers, and KEDA on the backlog
#
# So far every request held a connection open until the model answered. Many inference
# jobs need no such thing: a batch of reviews to score, a document to summarise. Put a
# **queue** between the client and the model, and the client gets a job id at once while
# **workers** take jobs from the queue at their own pace. KEDA can then scale the workers on
# the one number that matters, the **backlog**, and to zero when the queue is empty.

# %% [markdown]
# ## Overview
#
# 1. The same burst, synchronous and asynchronous: latency, throughput, pod-seconds.
# 2. Scale on the backlog: KEDA's `redis` trigger reads the list length.
# 3. To zero and back: activation and cooldown, with the queue length and the age of the
#    oldest job on the Timeline.
# 4. ScaledObject (long-running workers) vs ScaledJob (one Job per batch).
# 5. Exercise: drain a burst of 3000 jobs in time and within a pod budget.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [04 · KEDA](04-keda.ipynb) | Necessary | activation, target, cooldown, KEDA's HPA |
# | [05 · Compare](05-compare.ipynb) | Helpful | the scorecard |
#
# **Time to learn:** 40 minutes.

# %%
import math

import plotly.graph_objects as go

from labkit import checks, exercises, lab, live
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.load import Burst
from labkit.scorecard import compare

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 300     # seconds: a 20 s burst, then quiet until KEDA scales to zero
seed = 0

# %% [markdown]
# ## The asynchronous app
#
# The same model and image, in two roles (`app/README.md`):
#
# - the **enqueue API**: `POST /jobs` stores the job in Redis, pushes its id on the list
#   `inference-jobs` and answers `202 Accepted` with the id at once; `GET /jobs/{id}` returns
#   the result when it is there;
# - the **workers**: `python -m app.worker` moves an id from the list to its own processing
#   list (one atomic `BLMOVE`), runs the model and writes the result once. A worker killed
#   mid-job has its job put back when its lease lapses: *at least once* delivery, with one
#   result per job.
#
# The `queue` variant scales the workers with a KEDA ScaledObject on the list's length:

# %%
print(exercises.manifest_of("queue", "ScaledObject"))

# %% [markdown]
# ## The same burst, synchronous and asynchronous
#
# 1200 requests in 20 seconds (60 a second from t = 10 s). Synchronously, through the `keda`
# variant of notebook 04, each of the 60 users waits for an answer before sending again, so
# the load falls as latency rises. Asynchronously, through `queue`, each user posts a job,
# gets its id in milliseconds and posts the next one a second later: all 1200 are accepted,
# and the question becomes how fast the workers drain them.

# %%
burst = Burst(jobs=1200, start=10, length=20, duration=duration)
burst_end = burst.start + burst.length
sync = lab.run("keda", burst.with_(mode="sync"), duration, backend=backend, speed=speed,
               seed=seed)
tl = lab.run("queue", burst, duration, backend=backend, speed=speed, seed=seed)
live.show(tl)

# %%
table = compare({"keda (sync)": sync, "queue (async)": tl})
table["worst_p95_ms"] = [sync.samples.latency_p95.max(), tl.samples.latency_p95.max()]
table[["requests", "worst_p95_ms", "errors", "pod_seconds", "cold_starts"]]

# %% [markdown]
# Read the `requests` column (throughput): the synchronous users got a fraction of their
# 1200 answers during the burst, because each one waited for its answer (the first ones
# through a cold start at the gateway, hence the worst p95). The queue accepted every job
# and finished them all, for fewer pod-seconds. Its latency is the time from `POST /jobs`
# to the result: seconds too, but no client holds a connection open meanwhile, and the
# backlog, not the clients, absorbs the burst. For a queue, watch the backlog and the age
# of its oldest job rather than a millisecond SLO. (On a kind cluster locust times the `POST /jobs` round trip instead, and
# the wait for a result shows as `oldest_job_age`.)

# %%
drain = checks.drain_time(tl, after=burst.start)
print(f"the queue was empty again at t = {drain:.0f} s: {drain - burst.start:.0f} s after "
      f"the first job, {drain - burst_end:.0f} s after the last")

# %% [markdown]
# ## Scale on the backlog
#
# KEDA's redis scaler (kedacore/keda v2.20.2, `pkg/scalers/redis_scaler.go`) reports the
# list's length (`LLEN`; 0 when the list does not exist) as an External metric named
# `s0-redis-inference-jobs`, with an **AverageValue** target of `listLength` jobs per
# worker. Its HPA asks for `ceil(LLEN / listLength)` workers; the trigger is *active* while
# `LLEN > activationListLength`. (During a burst the HPA's scale-up limit from notebook 01,
# `max(2 × current, 4)`, caps each step: from 1 worker the first step goes to 4 at most.)

# %%
waiting, list_length = 574, 100
math.ceil(waiting / list_length)

# %% [markdown]
# The two columns the asynchronous variants add to the Timeline are the list length
# (`queue_length`) and the age of the oldest waiting job (`oldest_job_age`): the first says
# how much work waits, the second how long a client has been waiting for its answer.

# %%
tl.samples[["time", "users", "rps", "queue_length", "oldest_job_age", "spec_replicas",
            "ready_replicas"]].iloc[8:40:3]

# %%
s = tl.samples[tl.samples.time <= 60]
fig = go.Figure([go.Scatter(x=s.time, y=s.queue_length, name="jobs waiting (LLEN)"),
                 go.Scatter(x=s.time, y=s.oldest_job_age, name="oldest job age (s)",
                            yaxis="y2"),
                 go.Scatter(x=s.time, y=s.ready_replicas, name="workers", yaxis="y2",
                            line={"shape": "hv"})])
fig.update_layout(height=320, xaxis_title="seconds", yaxis_title="jobs waiting",
                  yaxis2={"overlaying": "y", "side": "right", "title": "s / workers"})
live.static.display_figure(fig)

# %% [markdown]
# ## To zero and back
#
# Waking and sleeping is KEDA's own job, as in notebook 04: the first poll that sees a job
# (every `pollingInterval`, 5 s here) sets the workers to 1, and `cooldownPeriod` (60 s)
# after the last poll that saw one, it sets them back to 0. In between, its HPA sizes the
# pool.

# %%
tl.events[tl.events.reason.isin(["KEDAScaleTargetActivated", "KEDAScaleTargetDeactivated",
                                 "SuccessfulRescale", "ColdStart"])][
    ["time", "object", "reason", "message"]]

# %% [markdown]
# On a cluster you would watch the same with kubectl, and read the list length from Redis:

# %%
print("\n".join(kubectl_equivalents("queue")))

# %% [markdown]
# ## ScaledObject vs ScaledJob
#
# A ScaledObject scales a Deployment of long-running workers. A **ScaledJob** starts
# Kubernetes Jobs instead: each poll, KEDA wants `ceil(LLEN / listLength)` Jobs (at most
# `maxReplicaCount`) and its **scaling strategy** says how many to create given the Jobs
# already there (`default` subtracts the running ones, `accurate` only those still pending).
# Each Job here takes up to 50 jobs (`--batch 50`) and exits, or exits after 5 s with the
# list empty. No cooldown, no pool kept warm, and every batch pays a pod start.

# %%
print(exercises.manifest_of("queue-jobs", "ScaledJob"))

# %%
jobs = lab.run("queue-jobs", burst, duration, backend=backend, speed=speed, seed=seed)
created = jobs.events_with("KEDAJobsCreated")
compare({"queue (ScaledObject)": tl, "queue-jobs (ScaledJob)": jobs})[
    ["requests", "pod_seconds", "peak_replicas", "cold_starts", "time_back_to_min"]]

# %%
created[["time", "message"]]

# %% [markdown]
# Which to pick? Workers behind a ScaledObject suit a steady stream of short jobs: one pod
# start, then a warm pool. Jobs suit long or bursty batches with idle time between them:
# each Job ends by itself, and a job's failure stays in its own Job's history
# (`successfulJobsHistoryLimit`, `failedJobsHistoryLimit`).
#
# KEDA documentation: [Scaling Deployments](https://keda.sh/docs/2.20/concepts/scaling-deployments/),
# [Scaling Jobs](https://keda.sh/docs/2.20/concepts/scaling-jobs/),
# [ScaledJob specification](https://keda.sh/docs/2.20/reference/scaledjob-spec/),
# [Redis Lists scaler](https://keda.sh/docs/2.20/scalers/redis-lists/).

# %% [markdown]
# **What the twin simplifies here.** One worker's speed comes from measuring the real
# worker against a real Redis (44.6 jobs a second at one core, 22 at the manifests' 500m
# limit). Jobs arrive exactly at the producers' rate (no randomness), a worker killed
# mid-job is not simulated (the real app puts its job back after the lease; every job is
# done once here), and a Job's pod never fails, so `backoffLimit` never acts.

# %% [markdown]
# ## Check your understanding
#
# 1. 450 jobs wait, `listLength: "100"`, `maxReplicaCount: 4`. How many workers?
# 2. A client posts a job and gets 202 at once. Is the job done? Where does the client
#    look for its answer?
# 3. The ScaledJob has 3 Jobs running (none pending) and `LLEN` 300 with `listLength: "50"`.
#    How many Jobs does the `default` strategy create? And `accurate`?
#
# <details><summary>Answers</summary>
#
# 1. `ceil(450 / 100) = 5`, capped at 4.
# 2. No: it is queued. `GET /jobs/{id}` answers `queued`, `running`, then `done` with the
#    result.
# 3. KEDA wants `ceil(300 / 50) = 6`; `default` creates `6 - 3 = 3`; `accurate` creates
#    `6 - 0 pending = 6` (running Jobs have taken their jobs off the list already).
# </details>

# %% [markdown]
# ## Exercise: drain the burst, within budget
#
# 3000 jobs arrive at 100 a second for 30 s. Edit the ScaledObject so that the queue is
# **empty within 30 s of the last job**, the workers cost **at most 900 pod-seconds**, and
# they are **back at zero within 120 s**. The starting point uses KEDA's default polling
# and cooldown and a large `listLength`.

# %% tags=["exercise"]
my_scaledobject = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: app-worker
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-worker}
  minReplicaCount: 0
  maxReplicaCount: 10
  pollingInterval: 30
  cooldownPeriod: 300
  triggers:
    - type: redis
      metadata:
        address: app-redis.default.svc:6379
        listName: inference-jobs
        listLength: "1000"
        activationListLength: "0"
"""

# %% tags=["solution"]
my_scaledobject = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: app-worker
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-worker}
  minReplicaCount: 0
  maxReplicaCount: 10
  pollingInterval: 5     # wake within 5 s of the first job
  cooldownPeriod: 60     # idle workers go one minute after the last job
  triggers:
    - type: redis
      metadata:
        address: app-redis.default.svc:6379
        listName: inference-jobs
        listLength: "100"          # ~5 s of work per worker
        activationListLength: "0"
"""

# %%
result = exercises.check("queue-drain", my_scaledobject)
result

# %% [markdown]
# ## Summary
#
# - A queue decouples clients from the model: every job is accepted at once, and latency
#   becomes the wait in the queue.
# - KEDA's redis trigger scales workers on the backlog, `ceil(LLEN / listLength)`, wakes
#   them at the first poll that sees a job and scales them to zero after the cooldown.
# - A ScaledJob runs one Job per batch instead of a pool: no cooldown, a pod start per
#   batch, and a strategy for counting the Jobs already there.
#
# ## What's next
#
# [05 · Compare](05-compare.ipynb) now has the asynchronous rows beside the synchronous
# variants; try the queue variants in the control panel (`live.panel()`).

# %% [markdown]
# ## Learn more (official documentation)
#
# - [KEDA: scaling jobs (ScaledJob)](https://keda.sh/docs/2.20/concepts/scaling-jobs/)
# - [KEDA: the Redis Lists scaler](https://keda.sh/docs/2.20/scalers/redis-lists/)
# - [Redis: lists (LPUSH, BLMOVE, LLEN)](https://redis.io/docs/latest/develop/data-types/lists/)

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    checks.reached(tl, 1, within=20, after=burst.start, column="spec_replicas"),
    checks.drained(tl, within=60, after=burst_end),
    checks.no_errors(tl),
    checks.Check("the queue finished (about) every job, the synchronous users got fewer",
                 tl.samples.rps.sum() >= 0.9 * burst.jobs > sync.samples.rps.sum(),
                 f"{tl.samples.rps.sum():.0f} jobs vs {sync.samples.rps.sum():.0f} requests"),
    checks.event_seen(tl, "KEDAScaleTargetDeactivated", after=drain + 60),
    checks.back_to(tl, 0, within=120, after=drain, column="spec_replicas"),
    checks.event_seen(jobs, "KEDAJobsCreated"),
    checks.never_exceeds(jobs, 10),
    checks.drained(jobs, within=60, after=burst_end),
    result,
)
