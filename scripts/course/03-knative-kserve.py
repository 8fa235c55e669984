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

from labkit import checks, exercises, lab, live
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.load import Spike, Step
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
# is about 7 requests in flight, one pod's worth.
#
# ## Panic mode
#
# The KPA averages in-flight requests over a 60 s **stable window**, and also over a 6 s
# **panic window** (10 % of it). When the panic window asks for at least twice the pods
# that are ready (`panic-threshold-percentage: 200`), the KPA panics: it follows the short
# window, and it never scales down while panicking. Panic ends 60 s after the last moment
# the threshold was crossed.

# %%
burst = Step(steps=((0, 0), (20, 40), (120, 0), (300, 1)), duration=duration)
tl = lab.run("knative", burst, duration, backend=backend, speed=speed, seed=seed)
live.show(tl)

# %% [markdown]
# On a cluster, `kubectl apply -k manifests/knative` and watch the pod autoscaler:

# %%
print("\n".join(kubectl_equivalents("knative")))

# %%
panic = tl.samples[tl.samples.panic_mode]
(panic.time.min(), panic.time.max()) if len(panic) else "no panic"

# %% [markdown]
# ## Scale to zero and the cold start
#
# When the stable window has seen no request for 60 s, the KPA wants 0 pods. The last pod
# still stays for `scale-to-zero-pod-retention-period` (30 s here) and the activator must be
# in the request path first (the scale-to-zero grace period, 30 s by default). Then the
# Deployment goes to 0 and costs nothing.
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
# The first response after zero took far longer than a warm one (about 50 ms): that is the
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
# `minReplicas: 0`, whatever Knative annotations you add.

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
        resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {cpu: 500m, memory: 512Mi}}
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
        resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {cpu: 500m, memory: 512Mi}}
"""

# %%
result = exercises.check("kserve-to-zero", my_isvc)
result

# %% [markdown]
# ## Summary
#
# - The KPA scales on requests in flight per pod, aiming at target × 70 %.
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
    checks.reached(tl, 2, within=60, after=20),
    checks.panicked(tl, within=30, after=20),
    checks.back_to(tl, 0, within=150, after=120),
    checks.reached(tl, 1, within=30, after=300),
    result,
)
