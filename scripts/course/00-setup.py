# %% [markdown]
# # 00 · Setup: the lab, the app and a first request
#
# Before we make anything scale, we need something to scale and somewhere to run it.
# This notebook builds both and shows you how to read what comes back.

# %% [markdown]
# ## Overview
#
# 1. See what the course builds: an inference app, a cluster (real or simulated) and five
#    autoscaling variants.
# 2. Run `labkit doctor` to learn what your machine can do.
# 3. Pick a backend: a real kind cluster, or the embedded twin.
# 4. Deploy the app and send it its first requests.
# 5. Read a Timeline, the table every plot and check in the course is made from.
# 6. Load-test one pod with a ramp: the capacity every target is derived from.
# 7. Compare vertical scaling (a bigger pod, what VPA does) with horizontal scaling.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | Python and pandas basics | Necessary | we read DataFrames |
# | What a Pod, Deployment and Service are | Helpful | one line each below |
# | Docker and kind | Helpful | only for the real-cluster path |
#
# **Time to learn:** 20 minutes.

# %% [markdown]
# ## Imports and parameters
#
# Every notebook starts with the same few imports. The cell after them holds the
# *parameters*: `labkit verify` (papermill) replaces them when it runs the course headless.
# `backend="auto"` uses a kind cluster when one can work here and the twin otherwise;
# `speed=None` runs the twin as fast as it can (`1.0` would be real time).

# %%
from labkit import checks, lab, live, whatif
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.doctor import run_doctor
from labkit.load import profile

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 120     # seconds of the first run
seed = 0           # the twin repeats itself exactly for a given seed

# %% [markdown]
# ## What you will build
#
# ```
#  locust users ──► Service ──► app pods (FastAPI + a small sentiment model)
#                                  ▲                 │ CPU, requests in flight
#                   scale          │                 ▼
#                     autoscaler (HPA / Knative KPA / KEDA) ◄── metrics
# ```
#
# The app is a FastAPI service that classifies the sentiment of short texts. Each request
# costs a little CPU, so more users mean busier pods. An *autoscaler* watches a metric and
# changes the number of pods. The course shows five ways to do that:
#
# | Variant | Autoscaler | Scales on | Notebook |
# |---|---|---|---|
# | `hpa-v1` | HorizontalPodAutoscaler, autoscaling/v1 | CPU utilization | 01 |
# | `hpa-v2` | HorizontalPodAutoscaler, autoscaling/v2 | CPU and memory, with a `behavior` block | 02 |
# | `knative` | Knative Pod Autoscaler | requests in flight per pod | 03 |
# | `kserve` | KServe InferenceService on Knative | requests in flight per pod | 03 |
# | `keda` | KEDA ScaledObject (+ the HPA it creates) | requests held by a gateway | 04 |
#
# Each variant is a directory of plain YAML under `manifests/`, the same files a real cluster
# receives with `kubectl apply -k manifests/<variant>`.

# %% [markdown]
# ## Check your machine
#
# `labkit doctor` checks two tracks. The **twin track** is all this course needs: Python, the
# lab's packages and a short run of the twin. The **real-cluster track** is optional: Docker,
# kind and kubectl, free memory and free ports. Without Docker its lines say `[opt ]`, not a
# failure, and the last lines say what you can do here. In a terminal you would type
# `labkit doctor`; here we call the same function.

# %%
status = run_doctor()   # 0: the lab runs here, on the twin; 1: the twin lacks something

# %% [markdown]
# ## Two backends, one interface
#
# | Backend | What it is | When |
# |---|---|---|
# | `kind` | a real Kubernetes cluster in Docker, with metrics-server, Knative, KServe and KEDA | your laptop with Docker; the GitHub Actions job |
# | `sim` | the *twin*: a simulation of the same control loops, reading the same YAML | anywhere; CI; quick experiments |
#
# The twin is not a cartoon. It follows the upstream algorithms (the HPA's replica formula,
# tolerance and stabilization windows; Knative's stable and panic windows; KEDA's activation
# and cooldown) and its pods are calibrated on the real app. What it leaves out (the network,
# the scheduler's finer points) it says in its docstrings. Its big advantage: ten simulated
# minutes take about a second, so you can try many settings.
#
# `open_backend` (which calls `labkit.backends.pick`) prints which backend it chose and why.

# %%
b = lab.open_backend(backend, seed=seed, quiet=False)
b

# %% [markdown]
# ## Deploy the app
#
# The `base` variant is the app alone: a Deployment with one replica and a Service, no
# autoscaler yet. On a cluster this is one command:
#
# ```bash
# kubectl --context kind-labkit apply -k manifests/base
# kubectl --context kind-labkit rollout status deployment/app-fastapi
# kubectl --context kind-labkit get pods -l app=app-fastapi
# ```

# %%
variant = b.deploy("base")
[obj.ref for obj in variant.objects]

# %% [markdown]
# A new pod is not ready at once: it is scheduled, its container starts, the model loads,
# and only then does its readiness probe pass. Requests sent before that fail, so `deploy`
# waits the way `kubectl rollout status` does, and the Timeline starts after the rollout:
# at t = 0 the pod is already Ready.

# %%
rollout = b.timeline()
print(f"the rollout took {rollout.meta.get('rollout_seconds', 0):.0f} s")
rollout.samples[["time", "spec_replicas", "ready_replicas"]].head(3)

# %% [markdown]
# ## First requests
#
# We send one user for the whole run. A user waits 1 to 5 seconds between requests, like a
# person would. On the cluster, a single request by hand looks like this (the Service is
# published on 127.0.0.1:30080 by the kind config):
#
# ```bash
# curl -s -X POST http://127.0.0.1:30080/predict -H 'Content-Type: application/json' \
#      -d '{"text": ["what a lovely film"]}'
# ```

# %%
b.load(profile("constant", users=1, duration=duration))
tl = b.run(duration, speed=speed)
tl

# %% [markdown]
# ## Reading a Timeline
#
# A Timeline has one row per second (per scrape on kind) and the same columns on both
# backends: the load (`users`, `rps`), the latency percentiles in milliseconds, the replica
# counts (`spec_replicas` is what the Deployment asks for, `ready_replicas` what serves), and
# the autoscaler's view (`desired_replicas`, `metric_value` against `metric_target`). One
# user sends a request every few seconds, so most seconds have `rps` 0 and no latency (NaN:
# nothing completed that second). The seconds with requests:

# %%
cols = ["time", "users", "rps", "latency_p50", "latency_p95", "ready_replicas"]
tl.samples[tl.samples.rps > 0][cols].tail()

# %% [markdown]
# Plots come from the same table. In JupyterLab the figure is interactive; when the
# notebook runs headless it is stored as a static figure.

# %%
live.show(tl)

# %% [markdown]
# ## The control panel
#
# In later notebooks you will start runs from a small panel: pick a variant, a load shape
# and the number of users, then press Start and watch the plot move. The panel only appears
# in a live JupyterLab session; when this notebook runs headless the cell does nothing.

# %%
if live.widget_frontend():
    live.panel(backend, variant="base", profile="constant", users=5, duration=duration)

# %% [markdown]
# ## Load testing: what does one pod serve?
#
# Every autoscaling target in this course comes from one number: how much load one pod
# serves within the SLO (p95 under 500 ms). You measure it with a **ramp**: add users
# slowly to a single pod until the latency breaks. On a cluster that is locust, headless,
# through the Service (the kind config publishes it on 127.0.0.1:30080):
#
# ```bash
# locust -f app/locustfile.py --headless -H http://127.0.0.1:30080 \
#        --users 120 --spawn-rate 0.5 --run-time 4m --csv ramp
# ```
#
# Each locust user is *closed-loop*: it sends a request, waits for the answer, thinks 1–5 s,
# and sends the next. So users are not requests per second: when the pod slows down, the
# same users send less. Locust reports requests per second, failures and latency
# percentiles (in `ramp_stats_history.csv`, one row per second). Never load-test through
# `kubectl port-forward`: it tunnels every connection to *one* pod, so new replicas get
# nothing (notebook 06 shows what that does to an HPA). The same ramp on this backend:

# %%
start = b.now
b.load(profile("ramp", start_users=0, end_users=120, ramp_seconds=240, duration=260))
ramp = b.run(260, speed=speed).between(start, start + 259).samples
per10 = ramp.assign(window=((ramp.time - start) // 10 * 10).astype(int)).groupby("window")
steps = per10.agg(users=("users", "mean"), rps=("rps", "mean"), p95_ms=("latency_p95", "median"))
steps.round(1).iloc[2::2]

# %%
within_slo = steps[steps.p95_ms <= 500]
one_pod_rps = float(within_slo.rps.max())
saturated_rps = float(steps.rps.tail(8).mean())
print(f"one pod: about {one_pod_rps:.0f} rps within the SLO (at ~{within_slo.users.max():.0f} "
      f"users); it saturates near {saturated_rps:.0f} rps, and past that only the queue grows")

# %% [markdown]
# Past the knee the pod does not serve more, it only makes everyone wait: p95 grows by
# seconds while the requests per second stay flat. That is the number every target in the
# course is derived from: a CPU target that adds a pod before ~15 rps per pod, a Knative
# concurrency target that fits what one pod holds in flight at that rate (notebook 03), a
# KEDA target in requests per pod.

# %% [markdown]
# ## Vertical or horizontal?
#
# There are two ways to serve more. **Vertical** scaling gives each pod more CPU and memory
# (bigger requests and limits); Kubernetes' Vertical Pod Autoscaler (VPA) does it for you
# from observed usage, and applies a new size by evicting the pod and starting a new one, so
# every change pays the model load again. **Horizontal** scaling adds pods of the same size;
# that is what the rest of the course does. The same ramp on the twin, with one pod given a
# bigger CPU limit (the request grows with it):

# %%
LIMIT = "spec.template.spec.containers[0].resources.limits.cpu"
REQUEST = "spec.template.spec.containers[0].resources.requests.cpu"
ramp_load = profile("ramp", start_users=0, end_users=200, ramp_seconds=300, duration=320)
sizes = {}
for limit, request in (("500m", "200m"), ("1000m", "400m"), ("2000m", "800m")):
    big = whatif.run(whatif.variant_with("base", "Deployment", {LIMIT: limit, REQUEST: request}),
                     ramp_load, 320, seed=seed).samples
    per = big.assign(w=big.time // 10).groupby("w").agg(rps=("rps", "mean"),
                                                       p95=("latency_p95", "median"))
    sizes[limit] = float(per[per.p95 <= 500].rps.max())
sizes

# %% [markdown]
# Doubling the limit to one core more than doubles what the pod serves within the SLO; four
# times the limit serves no more than two, because the app's single worker process uses at
# most one core. That is the limit of vertical scaling: one process, one node, and a restart
# for every resize. Horizontal scaling has no such ceiling but needs a stateless app and a
# load balancer (the Service) in front, which is why the course scales out. VPA and a CPU
# HPA must not act on the same metric of the same pods: each undoes the other's work. Use
# VPA's recommendations (its `Off` mode) to choose the requests an HPA divides by.

# %% [markdown]
# ## What you would type
#
# Every labkit call has a terminal twin. For each variant labkit can list them; for the
# `base` variant deployed here:

# %%
print("\n".join(kubectl_equivalents("base")))

# %% [markdown]
# ## Check your understanding
#
# 1. Which two columns of a Timeline would you compare to see whether the autoscaler kept
#    up with demand?
# 2. Why does the course ship the same YAML for the real cluster and for the twin?
# 3. One user waits 1–5 s between requests. Roughly how many requests per second should a
#    single user produce?
#
# <details><summary>Answers</summary>
#
# 1. `desired_replicas` (what the autoscaler wants) and `ready_replicas` (what serves);
#    or `latency_p95` against your SLO.
# 2. So what you learn on the twin transfers: the twin reads the same fields (requests,
#    targets, windows) the controllers read.
# 3. About one every 3 s, i.e. ~0.3 rps, plus the response time.
# </details>

# %% [markdown]
# ## Summary
#
# - The course app is a small CPU-bound inference service; the autoscalers differ in what
#   they watch and how fast they move.
# - `backend="auto"` chooses a kind cluster or the twin and says which; everything after that
#   is identical.
# - A Timeline is the one record of a run: samples per second plus Kubernetes-style events.
#
# ## What's next
#
# [01 · HPA v1](01-hpa-v1.ipynb): the classic CPU autoscaler, and the formula behind it.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [Kubernetes: Pods, Deployments, Services](https://kubernetes.io/docs/concepts/workloads/)
# - [Kubernetes: Autoscaling workloads (horizontal, vertical, event-driven)](https://kubernetes.io/docs/concepts/workloads/autoscaling/)
# - [kind: quick start](https://kind.sigs.k8s.io/docs/user/quick-start/)
# - [Locust: running without the web UI (`--headless`)](https://docs.locust.io/en/stable/running-without-web-ui.html)

# %% [markdown]
# ## Verification
#
# This cell checks what the notebook showed: the pod was Ready when the Timeline began, it
# served the single user well under a 500 ms p95 without errors, and the ramp found one
# pod's capacity: within the SLO up to somewhere between 10 and 20 rps, saturated near 20.

# %% tags=["verification"]
checks.require(
    checks.Check("labkit doctor: the lab's twin track is ready here", status == 0,
                 f"exit status {status}"),
    checks.reached(tl, 1, within=0, after=0),
    checks.p95_below(tl, 500, after=20),
    checks.no_errors(tl),
    checks.Check("a 1-core pod serves more than twice a 500m pod; 2 cores no more than 1",
                 sizes["1000m"] > 2 * sizes["500m"] and sizes["2000m"] <= sizes["1000m"] * 1.05,
                 f"rps within the SLO by CPU limit: {sizes}"),
    checks.Check("one pod serves 10-20 rps within the SLO and saturates near 20 rps",
                 10 <= one_pod_rps <= 20 and 15 <= saturated_rps <= 25,
                 f"{one_pod_rps:.1f} rps within the SLO, {saturated_rps:.1f} rps saturated"),
)
