# %% [markdown]
# # 04 · KEDA: event-driven scaling, to zero and back
#
# KEDA scales a workload on *events*: messages in a queue, rows in a table, requests waiting
# at a gateway. It splits the job in two: KEDA itself turns the workload on and off (0 ↔ 1),
# and an ordinary HPA that KEDA creates does the rest (1 ↔ N).

# %% [markdown]
# ## Overview
#
# 1. Read a ScaledObject and the gateway that feeds its trigger.
# 2. Tell *activation* (wake from zero) from *target* (how many pods).
# 3. Watch the cooldown bring the app back to zero.
# 4. See who does what: KEDA for 0 ↔ 1, its HPA for 1 ↔ N, and why that HPA shows min 1.
# 5. Exercise: a cooldown that fits the lab.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · HPA v1](01-hpa-v1.ipynb) | Necessary | KEDA's HPA is the same controller |
# | [03 · Knative](03-knative-kserve.ipynb) | Helpful | the cold start, again |
#
# **Time to learn:** 35 minutes.

# %%
import math

from labkit import checks, exercises, kubectl_hpa, lab, live
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.backends.sim import SimBackend
from labkit.load import Step

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 300     # seconds: a burst, then quiet until KEDA scales to zero
seed = 0

# %% [markdown]
# ## The ScaledObject and its gateway
#
# An HTTP app at zero has no pod to count its own requests, and no pod to receive the request
# that should wake it. The course puts a small **gateway** in front (the part KEDA's HTTP
# add-on calls the interceptor): it always runs, holds requests while the app has no ready
# pod, and reports how many are in flight. The ScaledObject's `metrics-api` trigger reads
# that number.

# %%
print(exercises.manifest_of("keda", "ScaledObject"))

# %% [markdown]
# ## Activation vs target
#
# Two thresholds, two jobs:
#
# - **activation** (`activationTargetValue`, 0 here): the trigger is *active* when the value
#   is above it. KEDA checks every `pollingInterval` (5 s here; 30 s by default) and moves
#   0 → 1 when active, 1 → 0 after `cooldownPeriod` seconds with no active poll.
# - **target** (`targetValue`, 5 here): the HPA's target. KEDA exposes the value as an
#   External metric of type AverageValue, and the HPA asks for `ceil(value / target)` pods:
#   23 requests in flight → `ceil(23 / 5) = 5` pods.
#
# If the activation threshold is above the target, activation wins: a value of 4 with
# activation 10 stays at zero even though the HPA alone would want one pod.

# %%
in_flight, target = 23, 5
math.ceil(in_flight / target)

# %% [markdown]
# ## A burst through the gateway
#
# A hundred users for 100 s, then silence. One pod serves about 20 requests per second and
# these users send about 33: the requests in flight pile up, and the HPA adds pods.

# %%
burst = Step(steps=((0, 0), (20, 100), (120, 0)), duration=duration)
burst_end = 120
tl = lab.run("keda", burst, duration, backend=backend, speed=speed, seed=seed)
live.show(tl)

# %%
print("\n".join(kubectl_equivalents("keda")))

# %% [markdown]
# ## Who did what
#
# KEDA writes events when it activates and deactivates the target; the HPA it created
# (`keda-hpa-app-fastapi`) writes the usual `SuccessfulRescale` events for everything in
# between.

# %%
who = tl.events[tl.events.reason.isin(["KEDAScaleTargetActivated", "KEDAScaleTargetDeactivated",
                                       "SuccessfulRescale"])]
for e in who.itertuples():
    print(f"t={e.time:4.0f} s  {e.object.split('/')[-1]:<21} {e.reason}: {e.message}")

# %% [markdown]
# Some of the HPA's scale-*ups* say `reason: All metrics below target`. That is not a bug of
# the twin: upstream writes the reason from the metric's *raw* proposal compared with the
# current count, before the stabilization window and the rate limit (notebook 01). KEDA's
# HPA has no `behavior`, so it uses the legacy rule: the window keeps the highest proposal of
# the last five minutes, and the `max(2 × current, 4)` limit lets the count climb towards it
# in steps. When the pods started during the cold start come up, the in-flight count per pod
# drops below the target, so the raw proposal is below the current count (hence the
# reason), while the remembered peak still pulls the count up.

# %%
rescales = tl.events_with("SuccessfulRescale")
sizes = rescales.message.str.extract(r"New size: (\d+)")[0].astype(int)
ups_below = [(float(t), int(n)) for t, n, before, m in
             zip(rescales.time, sizes, [0, *sizes[:-1]], rescales.message)
             if n > before and m.endswith("All metrics below target")]
ups_below

# %% [markdown]
# `kubectl get hpa keda-hpa-app-fastapi` shows `MINPODS 1` although the ScaledObject says
# `minReplicaCount: 0`: KEDA gives its HPA your `minReplicaCount` when it is above 0, and 1
# otherwise (`GetHPAMinReplicas` in kedacore/keda `apis/keda/v1alpha1/scaledobject_types.go`
# at v2.20.2). The reason is the HPA's own rule, not the metric: an External metric like
# this one does not need pods to be measured. In Kubernetes 1.36 an HPA may only have
# `minReplicas: 0` with the `HPAScaleToZero` feature gate, which is alpha and off by default
# (kubernetes/kubernetes `pkg/features/kube_features.go`; it turns beta and on in 1.37), and
# an HPA whose target stands at 0 replicas does nothing (`ScalingActive False
# ScalingDisabled`). So KEDA takes care of 0 ↔ 1 itself and leaves 1 ↔ N to its HPA.
#
# The twin shows it as a cluster would, stopped at t = 60 s of the same burst:

# %%
twin = SimBackend(seed=seed)
twin.deploy("keda")
twin.load(burst)
twin.run(60)
keda_hpa = kubectl_hpa.twin_hpa_view(twin, "keda-hpa-app-fastapi")
print("$ kubectl get hpa\n" + kubectl_hpa.get_hpa([keda_hpa]))
print("\n$ kubectl describe hpa keda-hpa-app-fastapi\n"
      + kubectl_hpa.describe_hpa(keda_hpa).split("Events:")[0])
row = kubectl_hpa.get_hpa([keda_hpa]).splitlines()[1].split()
keda_claim = checks.Check("KEDA's HPA shows MINPODS 1 for minReplicaCount 0",
                          keda_hpa.spec.min_replicas == 1 and row[-4] == "1", " ".join(row))

# %% [markdown]
# `MINPODS 1`; the metric, averaged over the pods already running, is *below* the target
# of 5 while the HPA still asks for more pods (`ScalingLimited True ScaleUpLimit`): the
# legacy window remembers the proposal of the burst's first seconds.
#
# Notice also how long the app stayed at its peak after the burst: KEDA's HPA has no
# `behavior` unless you give it one in `advanced.horizontalPodAutoscalerConfig`, so it
# keeps the 5-minute scale-down window of notebook 01. Here the cooldown (60 s) ends first
# and KEDA takes the app straight to zero.

# %% [markdown]
# ## Check your understanding
#
# 1. The gateway reports 12 requests in flight, target 5. How many pods?
# 2. `pollingInterval: 30`, `cooldownPeriod: 300`, last request at t = 100 s. When is the
#    app at zero, at the latest?
# 3. Why does the HPA that KEDA creates show a minimum of 1?
#
# <details><summary>Answers</summary>
#
# 1. `ceil(12 / 5) = 3`.
# 2. The last *active* poll is the last one that still saw traffic, at or before t = 100 s.
#    Zero comes at the first poll more than 300 s after it: by t = 100 + 300 + 30 = 430 s at
#    the latest.
# 3. In Kubernetes 1.36 an HPA cannot have `minReplicas: 0` (the `HPAScaleToZero` gate is
#    alpha and off), and at 0 replicas it is disabled; KEDA handles 0 ↔ 1 itself and gives
#    its HPA `minReplicaCount` if above 0, else 1.
# </details>

# %% [markdown]
# ## Exercise: a cooldown for the lab
#
# The ScaledObject below uses KEDA's defaults: it polls every 30 s and waits 300 s before
# going back to zero. The checker sends two bursts of 100 users with a **75 s pause**
# between them, then silence. Make the app wake within 20 s of the first request, reach
# 3 pods within 90 s, keep a pod through the pause (no second cold start), and be back at
# **zero within 120 s** of the last request.
#
# **Predict first.** Will the course's own values from the ScaledObject above
# (`pollingInterval: 5`, `cooldownPeriod: 60`) pass? Which check would fail, and why? Run
# the check with them before you pick your own.

# %% tags=["exercise"]
my_scaledobject = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicaCount: 0
  maxReplicaCount: 10
  triggers:
    - type: metrics-api
      metricType: AverageValue
      metadata:
        url: http://app-gateway.default.svc:8080/stats
        format: json
        valueLocation: in_flight
        targetValue: "5"
        activationTargetValue: "0"
"""

# %% tags=["solution"]
my_scaledobject = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicaCount: 0
  maxReplicaCount: 10
  pollingInterval: 5    # look often: waking from zero waits for the next poll
  cooldownPeriod: 90    # longer than the 75 s pause, short enough for the 120 s goal
  triggers:
    - type: metrics-api
      metricType: AverageValue
      metadata:
        url: http://app-gateway.default.svc:8080/stats
        format: json
        valueLocation: in_flight
        targetValue: "5"
        activationTargetValue: "0"
"""

# %%
result = exercises.check("keda-cooldown", my_scaledobject)
result

# %% [markdown]
# **Then explain.** Which range of `cooldownPeriod` passes, and what decides each end of it?
#
# <details><summary>Explanation (after you have tried)</summary>
#
# KEDA goes to zero `cooldownPeriod` seconds after the last *active* poll. Below about the
# length of the pause, the app goes to zero between the bursts and the second burst pays a
# cold start (a second `KEDAScaleTargetActivated`); above about 105 s, zero comes later than
# 120 s after the last request. The poll adds up to `pollingInterval` at both ends, and waking
# from zero waits for the next poll: with the 30 s default the first request waits up to
# 30 s plus the pod start.
# </details>

# %% [markdown]
# ## Summary
#
# - A ScaledObject has two thresholds: activation decides 0 ↔ 1, the target sizes 1 ↔ N.
# - KEDA polls every `pollingInterval` and scales to zero `cooldownPeriod` after the last
#   active poll; its HPA (minimum 1) does the rest with the usual HPA rules.
# - HTTP apps need a gateway that holds requests while the app is at zero.
#
# ## What's next
#
# [05 · Compare](05-compare.ipynb): the same load through every variant, and a what-if
# sweep.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [KEDA: scaling deployments (ScaledObject, activation, cooldown)](https://keda.sh/docs/2.20/concepts/scaling-deployments/)
# - [KEDA: the metrics-api scaler](https://keda.sh/docs/2.20/scalers/metrics-api/)
# - [KEDA HTTP add-on](https://github.com/kedacore/http-add-on)
# - [Kubernetes: the HPAScaleToZero feature gate](https://kubernetes.io/docs/reference/command-line-tools-reference/feature-gates/)

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    keda_claim,
    checks.Check("a scale-up event that says 'All metrics below target'",
                 len(ups_below) >= 1 or tl.meta.get("backend") != "sim", f"{ups_below}"),
    checks.reached(tl, 1, within=30, after=20),
    checks.reached(tl, 3, within=90, after=20),
    checks.event_seen(tl, "KEDAScaleTargetActivated"),
    checks.stays_at_least(tl, 1, after=burst_end, until=burst_end + 60),   # the cooldown
    checks.event_seen(tl, "KEDAScaleTargetDeactivated", after=burst_end + 60),
    checks.back_to(tl, 0, within=120, after=burst_end),
    result,
)
