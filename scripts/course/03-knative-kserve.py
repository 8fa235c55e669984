# %% [markdown]
# # 03 · Knative and KServe: requests in flight, panic mode, scale to zero
#
# CPU is an indirect signal: by the time a pod's CPU is high, requests are already waiting.
# Knative's autoscaler (the KPA) counts the requests in flight instead, reacts within
# seconds, and can remove the last pod when nobody is calling. KServe, the model-serving
# layer, uses the same machinery for InferenceServices.

# %% [markdown]
# ## Overview
#
# 1. Understand concurrency targets and the 70 % utilization factor.
# 2. Watch panic mode react to a burst.
# 3. Scale to zero, and measure what the next request pays (the cold start).
# 4. See why a KServe InferenceService needs `minReplicas: 0` to get there.
# 5. Exercise: make the InferenceService scale to zero.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · HPA v1](01-hpa-v1.ipynb) | Necessary | compare with CPU scaling |
# | Little's law (in flight = rate × latency) | Helpful | explained below |
#
# **Time to learn:** 40 minutes.

# %%
import math

from labkit import checks, exercises, lab, live, whatif
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.load import Step
from labkit.manifests import load_variant
from labkit.scorecard import scorecard

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 360     # seconds: a burst, silence until zero, then one lonely user
seed = 0

# %% [markdown]
# ## Concurrency targets and the 70 % factor
#
# The KPA wants each pod to hold about `target` requests at once. It does not aim at the
# target itself but at **target × 70 %** (`target-utilization-percentage`), leaving headroom
# for bursts. The course's Knative Service sets `target: "10"`, so the KPA aims at 7
# requests per pod; `containerConcurrency: 20` is a hard cap enforced by the queue-proxy
# sidecar in each pod.

# %%
ksvc = load_variant("knative").get("Service", "app-knative").doc
ksvc["spec"]["template"]["metadata"]["annotations"]

# %% [markdown]
# The decision is `ceil(in flight / (target × 0.7))`. Every 2 seconds, with 30 requests in
# flight across the service:

# %%
in_flight, target, utilization = 30, 10, 0.70
math.ceil(in_flight / (target * utilization))

# %% [markdown]
# By Little's law, in flight = requests per second × seconds per request: 60 rps at 120 ms
# is about 7 requests in flight.
#
# ## The target must match what one pod can serve
#
# Our app is CPU-bound: about 25 ms of CPU per request under a 500m limit, so one pod
# serves about **20 requests per second**, and at 20 rps × 50 ms it holds only about
# **one** request at a time. At 7 in flight per pod, six requests are *waiting*. The KPA
# happily holds that: 60 users (about 20 rps) stay on one pod with a p95 around a second.
# A what-if on the twin: the same steady load with several values of the `target`
# annotation.

# %%
TARGET = 'spec.template.metadata.annotations["autoscaling.knative.dev/target"]'
steady = Step(steps=((0, 5), (30, 60)), duration=300, spawn_rate=5)
targets = whatif.sweep("knative", "Service", TARGET, ["1", "2", "10"], steady, 300, seed=seed)
targets[["pod_seconds", "seconds_over_slo", "p95_ms", "peak_replicas"]]

# %% [markdown]
# With `target: "10"` the service is cheap and slow; with `"2"` it pays for a second pod
# and answers in about 200 ms. Measure what one pod serves (notebook 00's load test), then
# set the target near `in flight at the SLO / 0.7`. The course keeps `"10"` so that you
# can see the next effect: a burst that overwhelms one pod.
#
# ## Panic mode
#
# The KPA averages in-flight requests over a 60 s **stable window**, and also over a 6 s
# **panic window** (10 % of it). When the panic window asks for at least twice the pods
# that are ready (`panic-threshold-percentage: 200`), the KPA panics: it follows the short
# window, and it never scales down while panicking. Panic ends 60 s after the last moment
# the threshold was crossed.

# %%
burst = Step(steps=((0, 0), (20, 100), (120, 0), (300, 1)), duration=duration,
             spawn_rate=100)   # 100 users at once (~33 rps): more than one pod serves
tl = lab.run("knative", burst, duration, backend=backend, speed=speed, seed=seed)
live.show(tl)

# %% [markdown]
# On a cluster, `kubectl apply -k manifests/knative` and watch the pod autoscaler:

# %%
print("\n".join(kubectl_equivalents("knative")))

# %%
panic = tl.samples[tl.samples.panic_mode]
(panic.time.min(), panic.time.max()) if len(panic) else "no panic"

# %%
tl.events_with("ScalingReplicaSet")[["time", "message"]].head(4)

# %% [markdown]
# The one pod's queue explodes within a second, the panic window sees it, and the KPA jumps
# to several pods in a few seconds (it may at most multiply the pods by
# `max-scale-up-rate`, 1000, per decision). The new pods need a few seconds to start, so
# the p95 of the first seconds is bad anyway: panic shortens the pain, it cannot remove it.

# %% [markdown]
# ## Scale to zero and the cold start
#
# When the stable window has seen no request for 60 s, the KPA wants 0 pods. The course
# also sets `scale-down-delay: 30s` (a decision to go down must hold for 30 s) and
# `scale-to-zero-pod-retention-period: 30s`, and the activator must be in the request path
# first (the grace period). Expect zero about two minutes after the last request. Then the
# Deployment costs nothing.
#
# The next request pays. It lands on the **activator**, which holds it, pokes the
# autoscaler, and forwards it once a new pod is Ready: scheduling, container start, model
# load and the readiness probe, all on the user's clock. Our lone user arrives at t = 300 s.

# %%
lonely = tl.between(300, duration).samples
lonely[["time", "users", "ready_replicas", "latency_p95"]].dropna().head(8)

# %%
zero = tl.samples[(tl.samples.time > 120) & (tl.samples.ready_replicas == 0)]
cold = scorecard(tl)
(zero.time.min() if len(zero) else None), cold["cold_starts"], lonely.latency_p95.max()

# %% [markdown]
# The first response after zero took seconds instead of about 50 ms (the `ColdStart` event
# marks it): scheduling, the 5 s model load and the readiness probe. That is the
# cold-start penalty. Scale to zero trades it for paying nothing while idle. For an
# interactive model API, a `min-scale: "1"` floor is often the better deal; for a nightly
# batch endpoint, zero wins.

# %% [markdown]
# ## KServe: the same autoscaler, one more default
#
# An InferenceService in Knative mode becomes a Knative Service: `scaleMetric` and
# `scaleTarget` become the `metric` and `target` annotations, `maxReplicas` becomes
# `max-scale`, and `minReplicas` becomes `min-scale`. The trap: KServe **defaults
# `minReplicas` to 1**, so an InferenceService never reaches zero unless you write
# `minReplicas: 0`, whatever Knative annotations you add. It also sets no
# `scale-down-delay`: when panic ends, the KPA may drop from 6 pods to 1 at once, and with
# our too-high target that one pod is overloaded again (run it with `lab.run("kserve", ...)`
# and watch it bounce).

# %%
print(exercises.manifest_of("kserve", "InferenceService"))

# %%
print("\n".join(kubectl_equivalents("kserve")))

# %% [markdown]
# ## Check your understanding
#
# 1. `containerConcurrency: 10`, no target annotation: what does the KPA aim at per pod?
# 2. Two pods are ready and the panic window sees enough traffic for 5. Panic or not?
# 3. Which two settings make the last pod linger after the traffic stops?
#
# <details><summary>Answers</summary>
#
# 1. 7: the target defaults to `containerConcurrency` (10), times 70 %.
# 2. Panic: 5 / 2 = 2.5 ≥ 2 (the 200 % threshold).
# 3. The 60 s stable window (it must see no traffic at all) and
#    `scale-to-zero-pod-retention-period` (plus the grace period while the activator gets
#    into the path).
# </details>

# %% [markdown]
# ## Exercise: an InferenceService that scales to zero
#
# This InferenceService serves a burst well but never releases its last pod. Fix it so the
# predictor serves the burst with more than one pod and is back at **zero pods within
# 150 s** of the last request.

# %% tags=["exercise"]
my_isvc = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: custom-model
  annotations:
    serving.kserve.io/deploymentMode: Knative
spec:
  predictor:
    maxReplicas: 10
    scaleMetric: concurrency
    scaleTarget: 10
    containers:
      - name: kserve-container
        image: labkit/app:0.1.0
        env:
          - {name: APP_CPU_WORK_MS, value: "20"}     # ~25 ms of CPU per request
          - {name: APP_STARTUP_DELAY_S, value: "5"}  # model load
        resources: {requests: {cpu: 200m, memory: 512Mi}, limits: {cpu: 500m, memory: 768Mi}}
"""

# %% tags=["solution"]
my_isvc = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: custom-model
  annotations:
    serving.kserve.io/deploymentMode: Knative
spec:
  predictor:
    minReplicas: 0      # KServe's default is 1, which pins one pod forever
    maxReplicas: 10
    scaleMetric: concurrency
    scaleTarget: 10
    containers:
      - name: kserve-container
        image: labkit/app:0.1.0
        env:
          - {name: APP_CPU_WORK_MS, value: "20"}     # ~25 ms of CPU per request
          - {name: APP_STARTUP_DELAY_S, value: "5"}  # model load
        resources: {requests: {cpu: 200m, memory: 512Mi}, limits: {cpu: 500m, memory: 768Mi}}
"""

# %%
result = exercises.check("kserve-to-zero", my_isvc)
result

# %% [markdown]
# ## Summary
#
# - The KPA scales on requests in flight per pod, aiming at target × 70 %; the target must
#   match what one pod serves, or requests wait in the pods while the KPA sees no reason
#   to scale.
# - A 6 s panic window catches bursts; panic holds the pod count for 60 s after the burst.
# - Scale to zero needs a full quiet stable window plus retention and grace; the next
#   request pays a cold start through the activator.
# - KServe's `minReplicas` defaults to 1: write `minReplicas: 0` to reach zero.
#
# ## What's next
#
# [04 · KEDA](04-keda.ipynb): scaling on events, with zero handled by KEDA and the rest by
# an HPA.

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    checks.Check("a lower target serves 60 users faster, with more pods",
                 targets.p95_ms["2"] < targets.p95_ms["10"] / 2
                 and targets.peak_replicas["2"] > targets.peak_replicas["10"],
                 f"p95 {targets.p95_ms['2']:.0f} vs {targets.p95_ms['10']:.0f} ms"),
    checks.panicked(tl, within=15, after=20),
    checks.reached(tl, 5, within=15, after=20, column="spec_replicas"),
    checks.stays_at_least(tl, 1, after=120, until=180),      # the 60 s stable window
    checks.back_to(tl, 0, within=150, after=120),
    checks.event_seen(tl, "ColdStart", after=300),
    checks.p95_above(tl, 3000, after=300),                   # the cold start, measured
    checks.reached(tl, 1, within=30, after=300),
    result,
)
