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
# 4. Map a KServe InferenceService onto the same autoscaler, and find its trap.
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
from labkit.scorecard import compare, scorecard

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

# %%
lo, hi = targets.loc["2"], targets.loc["10"]      # the claims the text below makes
sweep_claim = checks.Check(
    "target 2 meets the SLO with several pods at more than twice the cost; target 10 stays "
    "on one pod with a p95 above a second",
    lo.p95_ms < 500 < 1000 < hi.p95_ms and lo.peak_replicas > 1 == hi.peak_replicas
    and lo.pod_seconds > 2 * hi.pod_seconds,
    f"p95 {lo.p95_ms:.0f} vs {hi.p95_ms:.0f} ms, peak {lo.peak_replicas} vs "
    f"{hi.peak_replicas}, {lo.pod_seconds:.0f} vs {hi.pod_seconds:.0f} pod-s")
sweep_claim

# %% [markdown]
# With `target: "10"` one pod holds everything: cheap, and the p95 climbs past a second.
# With `"2"` the KPA runs several pods (read the `peak_replicas` and `pod_seconds` columns:
# more than twice the cost) and the p95 stays under the 500 ms SLO. Measure what one pod
# serves (the capacity ramp of notebook 00), then set the target near
# `in flight at the SLO / 0.7`. The course keeps `"10"` so that you
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
for e in tl.events_with("ScalingReplicaSet").head(4).itertuples():
    print(f"t={e.time:4.0f} s  {e.message}")

# %% [markdown]
# The one pod's queue explodes within a second, the panic window sees it, and the KPA jumps
# to several pods in a few seconds (it may at most multiply the pods by
# `max-scale-up-rate`, 1000, per decision). The new pods need a few seconds to start, so
# the p95 of the first seconds is bad anyway: panic shortens the pain, it cannot remove it.

# %% [markdown]
# ## Two more knobs: the RPS metric and the stable window
#
# `autoscaling.knative.dev/metric: "rps"` makes the KPA count **requests per second** per
# pod instead of requests in flight, and `target` is then a rate (times the same 70 %). For
# a service whose capacity you measured as a rate (notebook 00: one pod serves about 14 rps
# within the SLO), that is the direct knob. `autoscaling.knative.dev/window` sets the
# **stable window** (60 s by default, 6 s to 1 h; the panic window is a percentage of it).
# Annotation keys as Knative 1.23 reads them (knative/serving `pkg/apis/autoscaling/
# register.go` at `knative-v1.23.0`). The same 60 steady users as the target sweep, with
# `metric: rps` and `target: "10"` (7 rps per pod):

# %%
ANN = 'spec.template.metadata.annotations["autoscaling.knative.dev/{}"]'
by_rps = whatif.variant_with("knative", "Service", {ANN.format("metric"): "rps",
                                                    ANN.format("target"): "10"})
knobs = {"concurrency, target 10 (course)": whatif.run(load_variant("knative"), steady, 300),
         "rps, target 10": whatif.run(by_rps, steady, 300, seed=seed)}
for w in ("20s", "6s"):
    short = whatif.variant_with("knative", "Service", {ANN.format("window"): w})
    knobs[f"window {w}, burst"] = whatif.run(short, burst, duration, seed=seed)
knobs["window 60s (course), burst"] = whatif.run(load_variant("knative"), burst, duration,
                                                 seed=seed)
compare(knobs)[["pod_seconds", "peak_replicas", "seconds_over_slo", "p95_ms"]]

# %% [markdown]
# With the RPS metric the KPA adds pods at 7 requests per second per pod and the p95 stays
# under the SLO, where the concurrency target of 10 left one pod overloaded. A shorter
# window reacts faster, also downwards: with 20 s (or 6 s) the KPA removes pods during the
# burst as soon as the short average dips, must add them back, and the users pay more
# seconds over the SLO than with the 60 s default. A long stable window is to Knative what
# the 300 s scale-down window is to the HPA.

# %%
k = compare(knobs)
knob_claims = [
    checks.Check("the rps metric scales out where the concurrency target of 10 does not",
                 k.peak_replicas["rps, target 10"] > 1 == k.peak_replicas[
                     "concurrency, target 10 (course)"] and k.p95_ms["rps, target 10"] < 500,
                 f"{k.peak_replicas.to_dict()}"),
    checks.Check("a short stable window scales down mid-burst and costs users more",
                 knobs["window 20s, burst"].between(60, 118).samples.spec_replicas.min()
                 < knobs["window 60s (course), burst"].between(60, 118).samples.spec_replicas.min()
                 and k.seconds_over_slo["window 20s, burst"]
                 > k.seconds_over_slo["window 60s (course), burst"],
                 f"{k.seconds_over_slo.to_dict()}"),
]

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
# `max-scale`, and `minReplicas` becomes `min-scale`. KServe fills in defaults of its own
# for the fields you leave out; one of them decides whether the predictor can ever reach
# zero (the exercise below finds which). It also sets no `scale-down-delay`: when panic
# ends, the KPA may drop from several pods to one at once, and with our too-high target that
# one pod is overloaded again. The same burst as above, through KServe:

# %%
kserve = lab.run("kserve", burst, duration, backend=backend, speed=speed, seed=seed)
checks.steps(kserve).head(8)

# %%
mid_burst = {"kserve": kserve.between(90, 120).samples, "knative": tl.between(90, 120).samples}
bounce_claim = checks.Check(
    "without scale-down-delay KServe drops to one pod mid-burst, then climbs back",
    mid_burst["kserve"].spec_replicas.min() == 1 and mid_burst["kserve"].spec_replicas.max() >= 4
    and mid_burst["knative"].spec_replicas.min() >= 3,
    f"lowest in t=90..120 s: kserve {mid_burst['kserve'].spec_replicas.min()}, "
    f"knative {mid_burst['knative'].spec_replicas.min()}")
bounce_claim

# %%
print("\n".join(kubectl_equivalents("kserve")))

# %% [markdown]
# ## Check your understanding
#
# 1. `containerConcurrency: 10`, no target annotation: what does the KPA aim at per pod?
# 2. Two pods are ready and the panic window sees enough traffic for 5. Panic or not?
# 3. Which settings of the shipped Service make the last pod linger after the traffic stops,
#    and how do they add up to the time you measured?
#
# <details><summary>Answers</summary>
#
# 1. 7: the target defaults to `containerConcurrency` (10), times 70 %.
# 2. Panic: 5 / 2 = 2.5 ≥ 2 (the 200 % threshold).
# 3. Three: the 60 s stable window (it must see no traffic at all before it proposes 0),
#    `scale-down-delay: 30s` (the KPA only acts on the highest proposal of the last 30 s, and
#    that holds for the last step to zero too), and `scale-to-zero-pod-retention-period:
#    30s` (the last pod stays at least that long after the decision). 60 + 30 + 30 is about
#    the two minutes between the last request and zero.
# </details>

# %% [markdown]
# ## Exercise: an InferenceService that scales to zero
#
# This InferenceService serves a burst well but never releases its last pod. Fix it so the
# predictor serves the burst with more than one pod and is back at **zero pods within
# 150 s** of the last request.
#
# **Predict first.** The seed chapter scales a KServe predictor to zero with the Knative
# annotation `autoscaling.knative.dev/min-scale: "0"`. Add it below and run the check: does
# it reach zero? Read the hint, then fix the manifest.

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
# **Then explain.** Why does the annotation alone not work, and why would
# `serving.kserve.io/deploymentMode: RawDeployment` never reach zero whatever you set?
#
# <details><summary>Explanation (after you have tried)</summary>
#
# KServe writes the Knative revision's `min-scale` from `spec.predictor.minReplicas`, whose
# default is 1, so the annotation is overridden; `minReplicas: 0` is what KServe reads. In
# RawDeployment (Standard) mode the predictor is a Deployment with an HPA, and an HPA never
# goes below one pod.
# </details>

# %% [markdown]
# ## Summary
#
# - The KPA scales on requests in flight per pod, aiming at target × 70 %; the target must
#   match what one pod serves, or requests wait in the pods while the KPA sees no reason
#   to scale.
# - A 6 s panic window catches bursts; panic holds the pod count for 60 s after the burst.
# - Scale to zero needs a full quiet stable window plus retention and grace; the next
#   request pays a cold start through the activator.
# - KServe's `minReplicas` defaults to 1 and overrides a `min-scale` annotation: write
#   `minReplicas: 0` to reach zero.
#
# ## What's next
#
# [04 · KEDA](04-keda.ipynb): scaling on events, with zero handled by KEDA and the rest by
# an HPA.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [Knative: about autoscaling](https://knative.dev/docs/serving/autoscaling/)
# - [Knative: concurrency, targets and utilization](https://knative.dev/docs/serving/autoscaling/concurrency/)
# - [Knative: scale bounds and scale to zero](https://knative.dev/docs/serving/autoscaling/scale-to-zero/)
# - [Knative: the autoscale-go sample](https://knative.dev/docs/serving/autoscaling/autoscale-go/)
# - [KServe documentation](https://kserve.github.io/website/)

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    sweep_claim,
    bounce_claim,
    knob_claims,
    checks.panicked(tl, within=15, after=20),
    checks.reached(tl, 5, within=15, after=20, column="spec_replicas"),
    checks.stays_at_least(tl, 1, after=120, until=180),      # the 60 s stable window
    checks.back_to(tl, 0, within=150, after=120),
    checks.event_seen(tl, "ColdStart", after=300),
    checks.p95_above(tl, 3000, after=300),                   # the cold start, measured
    checks.reached(tl, 1, within=30, after=300),
    result,
)
