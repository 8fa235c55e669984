# %% [markdown]
# # 01 · HPA v1: scaling on CPU
#
# The HorizontalPodAutoscaler is built into Kubernetes. Version 1 of its API does one thing:
# it keeps the average CPU utilization of your pods near a target by changing the number of
# replicas. Simple, and full of details worth knowing.

# %% [markdown]
# ## Overview
#
# 1. Understand why the HPA needs CPU *requests* and what "utilization" means.
# 2. Create an HPA two ways: `kubectl autoscale` and YAML.
# 3. Fire a load spike and watch replicas follow the metric.
# 4. Reproduce the HPA's decision from the numbers it observed.
# 5. Exercise: respect a pod quota without losing the spike.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [00 · Setup](00-setup.ipynb) | Necessary | backends, Timelines |
# | CPU requests and limits | Helpful | explained below |
#
# **Time to learn:** 30 minutes.

# %%
import math

import yaml

from labkit import checks, exercises, kubectl_hpa, lab, live, whatif
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.backends.sim import SimBackend
from labkit.load import Spike
from labkit.manifests import load_variant

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 600     # seconds: the spike, then five minutes of scale-down stabilization
seed = 0

# %% [markdown]
# ## Requests, limits, and what the HPA measures
#
# A container's **request** is what the scheduler reserves for it; its **limit** is the most it
# may use. The HPA does not look at limits at all. It computes
#
# $$\text{utilization} = \frac{\text{CPU used by the pods}}{\text{CPU requested by the pods}} \times 100\,\%$$
#
# With a request of 200m (a fifth of a core), a pod burning 100m is at 50 %. No request means
# no denominator: `kubectl get hpa` then shows `<unknown>` and nothing ever scales
# (notebook 06 breaks it on purpose).

# %%
v = load_variant("hpa-v1")
v.get("Deployment").doc["spec"]["template"]["spec"]["containers"][0]["resources"]

# %% [markdown]
# ## Two ways to create the HPA
#
# The quick way, in a terminal, with the kubectl the kit pins (1.36):
#
# ```bash
# kubectl --context kind-labkit autoscale deployment app-fastapi --cpu=50% --min=1 --max=10
# ```
#
# Older tutorials (and the seed chapter) write `--cpu-percent=50`. kubectl 1.36 still
# accepts it but prints `Flag --cpu-percent has been deprecated, Use --cpu with percentage
# or resource quantity format (e.g., '70%' for utilization or '500m' for milliCPU).` And
# it no longer makes a v1 object: "The command will attempt to use the autoscaling/v2 API
# first", falling back to autoscaling/v1 only if the API server refuses (kubernetes/kubectl
# `pkg/cmd/autoscale/autoscale.go` at v0.36.3, the staging copy of kubectl 1.36). What it
# creates is this v2 object:

# %%
AUTOSCALED = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: app-fastapi}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""

# %% [markdown]
# The declarative way is a manifest you keep in git. The course writes it as autoscaling/v1
# because v1 has exactly the three numbers of this lesson; the API server stores v1 and v2
# as one object (`targetCPUUtilizationPercentage: 50` *is* a cpu Utilization 50 metric), so
# both behave the same. We check that claim on the twin below.

# %%
print(exercises.manifest_of("hpa-v1", "HorizontalPodAutoscaler"))

# %% [markdown]
# Three numbers matter: `minReplicas`, `maxReplicas` and `targetCPUUtilizationPercentage`.
# The labkit equivalent of `kubectl apply -k manifests/hpa-v1` and the commands to watch it:

# %%
print("\n".join(kubectl_equivalents("hpa-v1")))

# %% [markdown]
# ## Fire a spike
#
# Two users browse quietly; at t = 30 s, 60 users arrive and stay for 150 s, then leave.
# In JupyterLab you can do this from the panel (press **Start** and watch); headless, the
# panel cell is skipped and the next cell runs the same thing as a plain function.

# %%
if live.widget_frontend():
    live.panel(backend, variant="hpa-v1", profile="spike", users=60, duration=duration,
               shape={"base_users": 2, "start": 30, "length": 150})   # the spike above

# %%
spike = Spike(base_users=2, peak_users=60, start=30, length=150, duration=duration)
spike_end = spike.start + spike.length
tl = lab.run("hpa-v1", spike, duration, backend=backend, speed=speed, seed=seed)
live.show(tl)

# %% [markdown]
# The same spike on the twin with the v2 object `kubectl autoscale` would have created
# instead of our v1 manifest: the replica counts match second for second.

# %%
as_v2 = whatif.run(load_variant("hpa-v1", overrides=[yaml.safe_load(AUTOSCALED)]), spike,
                   duration, seed=seed)
same_object = whatif.run(load_variant("hpa-v1"), spike, duration, seed=seed)
v1_is_v2 = as_v2.samples.spec_replicas.equals(same_object.samples.spec_replicas)
claims = [checks.Check("the v1 manifest and kubectl autoscale's v2 object scale the same",
                       v1_is_v2, f"identical spec replicas: {v1_is_v2}")]
v1_is_v2

# %% [markdown]
# ## Watch replicas against the target
#
# In the figure, the CPU utilization jumps above the 50 % target when the users arrive; the
# HPA answers at its next sync (every 15 s) and the new pods need a few seconds to become
# Ready. When the users leave, nothing happens for five minutes: the HPA only scales *down*
# to the highest recommendation it made in the last 300 s (the downscale stabilization
# window). In a terminal, `kubectl get hpa -w` shows the same story, one line per change,
# and `kubectl describe hpa app-fastapi` lists the events. Here they are in full:

# %%
for e in tl.events_with("SuccessfulRescale").itertuples():
    print(f"t={e.time:4.0f} s  {e.message}")
down = tl.events_with("SuccessfulRescale")
first_down = float(down[down.message.str.startswith("New size: 1;")].time.min())
claims.append(checks.Check("nothing happens for five minutes after the users leave",
                           285 <= first_down - spike_end <= 360,
                           f"first scale-down {first_down - spike_end:.0f} s after"))

# %% [markdown]
# Read the `reason` with care: it is **not** the reason for the new size. The controller
# writes it from the *raw* proposal of the metrics compared with the current count, before
# the stabilization window and the rate limit change that proposal (`rescaleReason` is set
# just before `normalizeDesiredReplicas` in kubernetes/kubernetes
# `pkg/controller/podautoscaler/horizontal.go`). So the second event above says
# `reason: ` with nothing after it: at that sync the metric proposed exactly the current
# count, yet the HPA still grew, because the window remembered a higher proposal from the
# sync before. On a later scale-*up* you can even meet `reason: All metrics below target`
# (notebook 04 shows one).
# %% [markdown]
# ## Reproduce the decision
#
# The HPA's rule is short:
#
# $$\text{desired} = \left\lceil \text{current} \times \frac{\text{metric}}{\text{target}} \right\rceil$$
#
# with two guards: if `metric/target` is within **0.1** of 1 nothing changes (the tolerance),
# and a v1 HPA may not more than double at once: at most `max(2 × current, 4)` pods, and
# never more than `maxReplicas`. Let us check the first scale-out with the numbers the HPA saw.
#
# Two refinements matter for ML services, whose pods load a model for seconds or minutes.
# Pods that are not Ready yet, or whose CPU sample was taken before they became Ready during
# their first five minutes (`--horizontal-pod-autoscaler-cpu-initialization-period`), are
# set aside; when the HPA wants to scale up, it counts them at 0 % CPU, so a slow start does
# not trigger a second, needless scale-up (kubernetes/kubernetes
# `pkg/controller/podautoscaler/replica_calculator.go`). And since Kubernetes 1.35 the
# tolerance can be set per HPA and per direction (`behavior.scaleUp.tolerance`, the
# `HPAConfigurableTolerance` feature gate, beta and on by default); the 0.1 is the
# controller's default.

# %%
first = tl.events_with("SuccessfulRescale").iloc[0]
seen = tl.samples[tl.samples.time >= first.time].iloc[0]    # status written by that sync
current = int(tl.samples[tl.samples.time < first.time].spec_replicas.iloc[-1])
seen.metric_value, seen.metric_target, current

# %%
raw = math.ceil(current * seen.metric_value / seen.metric_target)
limited = min(raw, max(2 * current, 4), int(tl.meta.get("max_replicas", 10)))
second = tl.events_with("SuccessfulRescale").iloc[1]
print(f"ceil({current} x {seen.metric_value:.0f} / {seen.metric_target:.0f}) = {raw}; "
      f"after the limits: {limited}; the HPA wrote: {first.message}")
print(f"next sync: {second.message!r}: the window kept the raw {raw}")
on_twin = tl.meta.get("backend") == "sim"    # a cluster's syncs may fall differently
claims += [checks.Check("first scale-out: the raw proposal cut to max(2 x current, 4)",
                        f"New size: {limited};" in first.message and raw > limited,
                        f"raw {raw}, limited {limited}"),
           checks.Check("the next rescale: an empty reason, the window's earlier proposal",
                        not on_twin or second.message == f"New size: {raw}; reason: ",
                        repr(second.message))]

# %% [markdown]
# ## One decision, step by step, as kubectl shows it
#
# The twin keeps the controller's last reconcile, so we can stop a twin run one second
# after that first scale-out and print what a cluster would show at that moment:
# `kubectl get hpa`, `kubectl describe hpa app-fastapi` (status conditions included), and
# the decision traced from the metric to the replicas written. On a real cluster run the
# two kubectl commands at the same moment of the spike.

# %%
twin = SimBackend(seed=seed)
twin.deploy("hpa-v1")
twin.load(spike)
twin.run(float(first.time) + 1)
view = kubectl_hpa.twin_hpa_view(twin)
print("$ kubectl get hpa\n" + kubectl_hpa.get_hpa([view]))

# %%
print("$ kubectl describe hpa app-fastapi\n" + kubectl_hpa.describe_hpa(view))

# %%
trace = kubectl_hpa.decision_trace(view)
LIMIT_ROW = "after the rate limit and [minReplicas, maxReplicas]"
print("\n".join(f"{step:<55} {what}" for step, what in trace))
claims.append(checks.Check("the trace and describe hpa show the scale-up limit at work",
                           "ScaleUpLimit" in kubectl_hpa.describe_hpa(view)
                           and "ScaleUpLimit" in dict(trace)[LIMIT_ROW], dict(trace)[LIMIT_ROW]))

# %% [markdown]
# Read the conditions as the trace: `ScalingLimited True ScaleUpLimit` is the `max(2 ×
# current, 4)` guard cutting the proposal of 5 down to 4, and `AbleToScale True
# SucceededRescale` says the write went through. When the HPA hits `maxReplicas` instead
# (the seed's "max replicas hit" case), the same condition reads `TooManyReplicas` with
# "the desired replica count is more than the maximum replica count": raise `maxReplicas`
# only if the pods at the cap are really saturated.

# %% [markdown]
# ## Check your understanding
#
# 1. Three pods each use 180m of CPU against a 200m request, target 50 %. What does the HPA
#    want?
# 2. Ten pods at 54 % with a 50 % target: does anything happen?
# 3. Why did the pods stay after the users left, and for how long?
#
# <details><summary>Answers</summary>
#
# 1. Utilization 90 %, ratio 1.8, `ceil(1.8 × 3) = ceil(5.4) = 6`.
# 2. No: 54/50 = 1.08 is within the 0.1 tolerance.
# 3. The downscale stabilization window: the HPA acts on the highest recommendation of the
#    last 5 minutes, so it scales down about 300 s after the load drops.
# </details>

# %% [markdown]
# ## Exercise: a pod quota
#
# Your team may run at most **5 pods** of this app. The checker fires a much bigger spike
# than ours (200 users) at your HPA on the twin (always the twin, so everyone gets the same
# answer) and judges what the autoscaler *did*: never more than 5 pods, all 5 in use within
# 60 s of the spike (the users need them), and back to 1 pod afterwards.
#
# **Predict first.** Run the check cell once with the HPA as it is. Before you do, write
# down: how many pods will this HPA ask for under 200 users, and which of the three checks
# will fail? Then edit the HPA and run the check again until it passes.
#
# **Then explain.** Raising the target from 50 % to 150 % also keeps the peak lower under
# *this* spike. Why is that not a quota? (Try it: the checker's hint tells you what your run
# did.)

# %% tags=["exercise"]
my_hpa = """
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
  maxReplicas: 10
  targetCPUUtilizationPercentage: 50
"""

# %% tags=["solution"]
my_hpa = """
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
  maxReplicas: 5      # the quota: the HPA never asks for more
  targetCPUUtilizationPercentage: 50
"""

# %%
result = exercises.check("hpa-quota", my_hpa)
result

# %% [markdown]
# <details><summary>Explanation (after you have tried)</summary>
#
# The target decides *when* the HPA adds pods; only `maxReplicas` decides *how many* it may
# ever ask for. A higher target merely delays the growth, and with enough users the HPA still
# goes past any number. A quota is a ceiling, so it belongs in `maxReplicas`; and it is not a
# floor, so `minReplicas` stays 1.
# </details>

# %% [markdown]
# ## Summary
#
# - The HPA scales on utilization = usage / **request**; without a request it is blind.
# - `desired = ceil(current × metric / target)`, ignored within a 0.1 tolerance, limited to
#   `max(2 × current, 4)` per step and to `[minReplicas, maxReplicas]`.
# - Scale-up is quick (one 15 s sync plus pod start-up); scale-down waits out a 5-minute
#   stabilization window.
#
# ## What's next
#
# [02 · HPA v2](02-hpa-v2.ipynb): several metrics, and a `behavior` block to control how
# fast the HPA moves in each direction.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [Kubernetes: Horizontal Pod Autoscaling (the algorithm, tolerance, windows)](https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/)
# - [Kubernetes: HorizontalPodAutoscaler walkthrough](https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale-walkthrough/)
# - [kubectl autoscale reference](https://kubernetes.io/docs/reference/kubectl/generated/kubectl_autoscale/)
# - [Kubernetes: Resource management for pods and containers (requests, limits)](https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/)
# - [metrics-server](https://github.com/kubernetes-sigs/metrics-server)

# %% [markdown]
# ## Verification
#
# The dynamics and the numbers this notebook's text states, with windows wide enough for a
# real cluster: at least 3 pods within 90 s of the spike, nothing for five minutes after it,
# back to 1 pod by the end, v1 and v2 alike, the first decision as the formula says (and, on
# the twin, the empty reason of the next one); and the exercise passes.

# %% tags=["verification"]
checks.require(
    checks.reached(tl, 3, within=90, after=spike.start),
    checks.stays_at_least(tl, 2, after=spike_end, until=spike_end + 240),
    checks.back_to(tl, 1, within=420, after=spike_end, column="spec_replicas"),
    claims,         # the numbers the text states, computed next to it above
    result,
)
