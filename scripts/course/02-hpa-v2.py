# %% [markdown]
# # 02 · HPA v2: several metrics and a behavior block
#
# autoscaling/v2 keeps the same formula but lets you give the HPA several metrics and,
# above all, tell it how fast it may move up and down. This is where flapping is caused and
# cured.

# %% [markdown]
# ## Overview
#
# 1. Give the HPA two metrics and see which one wins.
# 2. Read a `behavior` block: stabilization windows and rate policies.
# 3. Compare the course's settings, the API defaults and an aggressive setting.
# 4. Make the HPA flap, then cure it.
# 5. Kill a pod: `minReplicas` 1 vs 2.
# 6. Exercise: scale down gently, one pod per minute.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · HPA v1](01-hpa-v1.ipynb) | Necessary | the replica formula |
# | Memory requests | Helpful | memory utilization works like CPU |
#
# **Time to learn:** 45 minutes.

# %%
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit import checks, exercises, kubectl_hpa, lab, live, whatif
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.backends.sim import SimBackend
from labkit.load import Constant, Spike, Step
from labkit.manifests import load_variant
from labkit.scorecard import compare

# %% tags=["parameters"]
backend = "auto"   # "auto" | "sim" | "kind"
speed = None       # twin pacing; 1.0 is real time, None runs as fast as possible
duration = 600     # seconds of each comparison run
seed = 0

# %% [markdown]
# ## Several metrics: the largest proposal wins
#
# The course's v2 HPA watches CPU (target 70 %) *and* memory (target 80 %). For each metric
# the HPA computes a proposal with the formula from notebook 01 and takes the **maximum**.
# A metric that cannot be read blocks scale-*down* (the HPA will not shrink on partial
# information) but not scale-up.

# %%
print(exercises.manifest_of("hpa-v2", "HorizontalPodAutoscaler"))

# %% [markdown]
# ## The behavior block
#
# `behavior` has a `scaleUp` and a `scaleDown` section, each with:
#
# - `stabilizationWindowSeconds`: scale *down* only to the highest recommendation of that
#   many seconds (default 300); scale *up* only to the lowest (default 0, i.e. at once);
# - `policies`: how much may change per `periodSeconds`, as `Pods` (a count) or `Percent`;
# - `selectPolicy`: `Max` picks the policy that allows the biggest change, `Min` the
#   smallest, `Disabled` forbids that direction.
#
# With no `behavior` at all (v1, or v2 without the block) the HPA uses the legacy rule from
# notebook 01: up to `max(2 × current, 4)` per sync and a 5-minute scale-down window. An
# *empty* `behavior: {}` gets the API defaults instead: up by 4 pods or 100 % per 15 s,
# down by 100 % per 15 s after the 300 s window.

# %%
spike = Spike(base_users=2, peak_users=60, start=30, length=150, duration=duration)
spike_end = spike.start + spike.length
course = lab.run("hpa-v2", spike, duration, backend=backend, speed=speed, seed=seed)
live.show(course)

# %% [markdown]
# On a cluster: `kubectl apply -k manifests/hpa-v2`, then watch as before:

# %%
print("\n".join(kubectl_equivalents("hpa-v2")))

# %% [markdown]
# ## A custom per-pod metric: requests per second
#
# CPU is an indirect signal: it rises only after the requests arrive, and metrics-server
# averages it over a window. The app counts its own requests (`app_requests_total` on its
# `/metrics`), so the HPA can scale on the load itself, as a **Pods** metric. On a cluster,
# Prometheus scrapes the pods and prometheus-adapter serves the per-pod rate through the
# custom metrics API (`custom.metrics.k8s.io`), with a rule such as
#
# ```yaml
# rules:
# - seriesQuery: 'app_requests_total{namespace!="",pod!=""}'
#   resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
#   name: {matches: "^(.*)_total$", as: "${1}_per_second"}
#   metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'
# ```
#
# The twin has no Prometheus; `set_metric` serves what the adapter would: the last second's
# requests divided by the ready pods. The target comes from notebook 00's ramp: one pod
# serves about 14 rps within the SLO, so we aim at **10 per pod**, next to CPU at 70 %.

# %%
RPS = {"type": "Pods", "pods": {"metric": {"name": "app_requests_per_second"},
                                "target": {"type": "AverageValue", "averageValue": "10"}}}
CPU = load_variant("hpa-v2").get("HorizontalPodAutoscaler").doc["spec"]["metrics"][0]
by_metric = {}
for label, metrics in (("cpu 70 %", [CPU]), ("rps 10 per pod", [RPS]), ("both", [CPU, RPS])):
    twin = SimBackend(seed=seed)
    twin.deploy(whatif.variant_with("hpa-v2", "HorizontalPodAutoscaler", {"spec.metrics": metrics}))
    world = twin.world          # the adapter's answer: requests per second per ready pod
    twin.set_metric("app_requests_per_second", source="Pods", series=lambda t, w=world:
                    w.service.last.rps / max(1, w.entry.ready_replicas))
    twin.load(spike)
    by_metric[label] = twin.run(duration)
print("$ kubectl get hpa\n" + kubectl_hpa.get_hpa([kubectl_hpa.twin_hpa_view(twin)]))
compare(by_metric)[["pod_seconds", "peak_replicas", "seconds_over_slo", "time_to_first_scale_out"]]

# %% [markdown]
# The requests-per-second HPA acts at the first sync after the users arrive, before CPU has
# built up, and sizes the Deployment to what one pod serves: fewer seconds over the SLO, and
# fewer pod-seconds, than CPU at 70 %. With both metrics the largest proposal wins again, so
# the pair is as quick as the rps metric alone and as generous as CPU. (`kubectl get hpa`
# shows a Pods metric as `current/target` without a name.)

# %%
m = compare(by_metric)
metric_claims = [checks.Check(
    "rps per pod scales out before CPU and spends fewer seconds over the SLO",
    m.time_to_first_scale_out["rps 10 per pod"] < m.time_to_first_scale_out["cpu 70 %"]
    and m.seconds_over_slo["rps 10 per pod"] < m.seconds_over_slo["cpu 70 %"],
    f"{m.time_to_first_scale_out.to_dict()}, {m.seconds_over_slo.to_dict()}")]

# %% [markdown]
# ## Course settings, defaults, legacy, aggressive
#
# To see the `behavior` settings differ, the spike must be big enough for the rate limits
# to bind: 150 users, about 10 pods. We run it on the twin (`whatif.variant_with` edits one
# field, like `kubectl patch`) for 900 s, long enough to come back down, with four
# behaviors on the same CPU-only HPA: the course's, the API defaults (`behavior: {}`), none
# at all (legacy), and "aggressive" (scale-down window 0, remove everything at once). And
# once more with the course HPA as shipped, CPU *and* memory.

# %%
AGGRESSIVE = {"scaleDown": {"stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
big = Spike(base_users=2, peak_users=150, start=30, length=150, duration=900)
cpu = [m for m in load_variant("hpa-v2").get("HorizontalPodAutoscaler").doc["spec"]["metrics"]
       if m["resource"]["name"] == "cpu"]
cpu_only = whatif.variant_with("hpa-v2", "HorizontalPodAutoscaler", {"spec.metrics": cpu})
runs = {"course, cpu + memory": whatif.run(load_variant("hpa-v2"), big, 900, seed=seed),
        "course, cpu only": whatif.run(cpu_only, big, 900, seed=seed)}
for label, behavior in {"defaults {}": {}, "legacy (none)": None, "aggressive": AGGRESSIVE}.items():
    v = whatif.variant_with(cpu_only, "HorizontalPodAutoscaler", {"spec.behavior": behavior})
    runs[label] = whatif.run(v, big, 900, seed=seed)

# %%
table = compare(runs)[["pod_seconds", "peak_replicas", "seconds_over_slo", "time_back_to_min"]]
table

# %%
{label: list(zip(st.time.astype(int), st.after)) for label, st in
 ((label, checks.steps(tl)) for label, tl in runs.items())}

# %% [markdown]
# Read the steps (time, new size) next to the table:
#
# - **Scale-up** is the same four times up to 8 pods; then the course's `Pods 4` / `Percent
#   100` per 30 s policies make it wait for the next period, while the legacy rule allows
#   `max(2 × current, 4)` at every 15 s sync.
# - **Scale-down**: every run waits out its window, then the course's `Percent 50` per 60 s
#   walks down in steps, the API defaults (100 % per 15 s) and the legacy rule drop almost at
#   once, and "aggressive" returns to one pod within a minute of the users leaving: the
#   cheapest row.
# - **Memory**: the course HPA as shipped never gets back to one pod (`time_back_to_min` is
#   empty: it did not happen within the run). An idle model still holds its memory, so the
#   memory proposal keeps several pods long after the CPU proposal wants one. The largest
#   proposal wins, in both directions: a memory metric on a model server mostly costs money.
#
# The aggressive HPA is the cheapest. That looks good until the load is *not* a single
# clean spike.

# %%
ends = {label: int(tl.samples.spec_replicas.iloc[-1]) for label, tl in runs.items()}
back = table.time_back_to_min
to9 = {k: float(tl.samples[tl.samples.spec_replicas >= 9].time.min()) for k, tl in runs.items()}
claims = [
    checks.Check("the legacy rule gets past 8 pods sooner than the course's policies",
                 to9["legacy (none)"] < to9["course, cpu only"], f"9 pods at t = {to9}"),
    checks.Check("the course's 50 %/60 s walks down slower than the defaults and legacy",
                 back["course, cpu only"] > max(back["defaults {}"], back["legacy (none)"]),
                 f"back to 1 after {back.to_dict()}"),
    checks.Check("aggressive is the cheapest row", table.pod_seconds.idxmin() == "aggressive",
                 f"{table.pod_seconds.to_dict()}"),
    checks.Check("the memory metric keeps pods to the end", ends["course, cpu + memory"] > 1
                 == ends["course, cpu only"], f"last replicas {ends}"),
    checks.never_removes_more_than(runs["course, cpu only"], 5, per=60),
]

# %% [markdown]
# ## Flapping, caused and cured
#
# Real traffic wobbles. Here the users alternate between 5 and 60 every minute, and the
# model takes **30 s** to load, as real ML models do. With a 0 s scale-down window, every
# dip removes the pods that the next bump must start again, and the users wait while they
# load. With the course's 300 s window the pods stay.

# %%
wobble = Step(steps=tuple((t, 60 if (t // 60) % 2 else 5) for t in range(0, 600, 60)),
              duration=600, spawn_rate=100)
slow_model = whatif.variant_with("hpa-v2", "Deployment",
                                 {"spec.template.spec.containers[0].env[2].value": "30"})
flap = whatif.run(whatif.variant_with(slow_model, "HorizontalPodAutoscaler",
                                      {"spec.behavior": AGGRESSIVE}), wobble, 600, seed=seed)
cured = whatif.run(slow_model, wobble, 600, seed=seed)
live.compare_figure({"0 s window (flapping)": flap, "course: 300 s window": cured})

# %%
wobbly = compare({"flapping": flap, "course": cured})[["pod_seconds", "seconds_over_slo"]]
wobbly.assign(reversals=[checks.reversals(flap), checks.reversals(cured)])

# %% [markdown]
# That is the real trade-off. The flapping HPA is cheaper in pod-seconds, but every bump
# meets too few pods and the p95 is over the SLO for minutes in total; the 300 s window
# pays for idle pods in the dips and keeps users almost always under 500 ms. A model that
# loads slowly makes churn expensive. `kubectl describe hpa` shows the condition
# `AbleToScale True ScaleDownStabilized` while the window holds pods back.

# %%
over = wobbly.seconds_over_slo
claims += [
    checks.flaps(flap, at_least=4),
    checks.steady(cured, max_reversals=1),
    checks.Check("flapping costs users: at least twice the seconds over the SLO",
                 over["flapping"] >= 2 * max(over["course"], 1), f"{over.to_dict()}"),
    checks.Check("and saves pod-seconds", wobbly.pod_seconds["flapping"]
                 < wobbly.pod_seconds["course"], f"{wobbly.pod_seconds.to_dict()}"),
]

# %% [markdown]
# ## `minReplicas: 2`: a spare pod for availability
#
# `minReplicas` is also how many pods may fail before users notice. Pods die for reasons the
# HPA never sees: a node drained or lost, an eviction, an out-of-memory kill, a `kubectl
# delete pod`. When one goes, two controllers act at once. The EndpointSlice controller
# takes the terminating pod out of the Service's endpoints, so no new request reaches it.
# The Deployment's ReplicaSet sees fewer active pods than `spec.replicas` and creates a
# replacement. That new pod must be scheduled, start its container, load the model and pass
# its readiness probe before the Service sends it anything.
#
# `inject_fault("pod-failure")` deletes the oldest Ready pod now, as `kubectl delete pod
# <name>` does (on the kind backend it runs exactly that, on one of your own pods). We run
# 10 users (a light load that one pod serves well) against the slow 30 s model from the
# flapping section. Then we delete a pod at t = 120 s: once with `minReplicas: 1`, once with 2.
#
# **Predict first.** With one replica, how long does no pod serve, and what do the users get
# in that time? With two replicas, how many requests fail?

# %%
light = Constant(users=10, duration=300)
kill_at = 120
availability = {}
for floor in (1, 2):
    twin = SimBackend(seed=seed)
    twin.deploy(whatif.variant_with(slow_model, "HorizontalPodAutoscaler",
                                    {"spec.minReplicas": floor}))
    twin.load(light)
    twin.run(kill_at)
    print(f"minReplicas {floor}: kubectl delete pod {twin.inject_fault('pod-failure')}")
    availability[f"minReplicas {floor}"] = twin.run(light.duration - kill_at)

# %%
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                    subplot_titles=("Ready pods (the Service's endpoints)",
                                    "failed requests per second"))
for (label, tl), color in zip(availability.items(), ("#d62728", "#1f77b4")):
    s = tl.samples
    fig.add_trace(go.Scatter(x=s.time, y=s.ready_replicas, name=label, legendgroup=label,
                             line={"color": color, "shape": "hv"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=s.time, y=s.errors, name=label, legendgroup=label,
                             showlegend=False, line={"color": color}), row=2, col=1)
fig.add_vline(x=kill_at, line={"dash": "dash", "color": "grey"},
              annotation_text="kubectl delete pod")
fig.update_xaxes(title_text="seconds", row=2, col=1)
fig.update_layout(height=450, title="One pod deleted under 10 users: minReplicas 1 vs 2")
live.static.display_figure(fig)


# %%
def after_the_kill(tl):
    """What the users saw from the deletion on."""
    s = tl.samples[tl.samples.time >= kill_at]
    return {"failed_requests": int(s.errors.sum()),
            "seconds_without_a_ready_pod": int((s.ready_replicas == 0).sum()),
            "fewest_ready_pods": int(s.ready_replicas.min())}


outage = compare(availability)[["pod_seconds"]].assign(
    **{k: [after_the_kill(tl)[k] for tl in availability.values()]
       for k in ("failed_requests", "seconds_without_a_ready_pod", "fewest_ready_pods")})
outage

# %% [markdown]
# With one replica, the Service has no endpoint from the deletion until the replacement is
# Ready: a bit longer than the model's 30 s load, since scheduling, the container start and
# the first successful probe come on top of it. Every request in that gap fails, because a Service
# with no endpoints refuses the connection. The HPA cannot help: it has no pod to measure, and the
# Deployment already asks for one pod. With two replicas the other pod serves all 10 users
# while the replacement loads, and no request fails. The price is the spare pod: twice the
# pod-seconds at this load. That is why the seed course uses `minReplicas: 2` in production
# (the comment in `manifests/hpa-v2/hpa.yaml`; the lab keeps 1 so that hpa-v1 and hpa-v2
# compare directly). A PodDisruptionBudget adds to it for *voluntary* disruptions such as a
# node drain; it cannot prevent a crash.
#
# On a cluster, delete one pod by name and watch the endpoints:
# `kubectl get pods -l app=app-fastapi`, then `kubectl delete pod <name>`, and meanwhile
# `kubectl get endpointslices -l kubernetes.io/service-name=app-fastapi -w`.

# %%
one, two = (after_the_kill(availability[k]) for k in ("minReplicas 1", "minReplicas 2"))
gap = availability["minReplicas 1"].samples.query("time >= @kill_at and ready_replicas == 0")
claims += [
    checks.Check("one replica: no pod serves for longer than the 30 s model load, and "
                 "requests fail", one["seconds_without_a_ready_pod"] > 30
                 and one["failed_requests"] > 0, f"{one}"),
    checks.Check("one replica: the failures stop once the replacement is Ready",
                 availability["minReplicas 1"].samples.query(
                     "time > @gap.time.max()").errors.sum() == 0,
                 f"last second without a Ready pod: t = {gap.time.max()}"),
    checks.Check("two replicas: one pod keeps serving and no request fails",
                 two["failed_requests"] == 0 and two["fewest_ready_pods"] == 1, f"{two}"),
    checks.Check("the spare pod costs about twice the pod-seconds",
                 outage.pod_seconds["minReplicas 2"] >= 1.8 * outage.pod_seconds["minReplicas 1"],
                 f"{outage.pod_seconds.to_dict()}"),
]

# %% [markdown]
# ## Edit the HPA while the load runs
#
# On a cluster you would `kubectl edit hpa app-fastapi` (or `kubectl apply -f` an edited file)
# while users keep coming. The backend's `apply` does the same on the twin and on kind: two
# minutes into a steady load we lower the CPU target from 70 % to 35 %. The HPA reads the new
# target at its next sync and adds pods; its recommendation history is kept.

# %%
b = lab.open_backend(backend, seed=seed)
b.deploy("hpa-v2")
b.load(Constant(users=30, duration=240))
b.run(120, speed=speed)
lower = whatif.variant_with("hpa-v2", "HorizontalPodAutoscaler",
                            {"spec.metrics[0].resource.target.averageUtilization": 35})
print(b.apply(lower.get("HorizontalPodAutoscaler").doc))    # kubectl apply -f hpa.yaml
edited = b.run(120, speed=speed)
b.close()
live.show(edited)

# %% [markdown]
# ## Check your understanding
#
# 1. CPU proposes 4 pods and memory proposes 6. What does the HPA do?
# 2. `scaleDown.policies` lists `Percent 50 / 60 s` and `Pods 1 / 60 s` with
#    `selectPolicy: Max`. From 10 pods, how many may go in the first minute?
# 3. Why does a 0 s scale-down window flap, and what does it cost?
# 4. A pod of a Deployment with one replica is deleted. Why does the HPA not add a pod,
#    and what do users see until the replacement is Ready?
#
# <details><summary>Answers</summary>
#
# 1. It scales to 6: the maximum of the proposals wins.
# 2. Five: `Max` picks the policy allowing the *largest* change (50 % of 10 = 5 > 1).
# 3. Every dip below the threshold removes pods at once; the next bump must start them again,
#    and requests queue while the model loads. The run above: several times the seconds over
#    the SLO, for fewer pod-seconds.
# 4. The ReplicaSet already creates the replacement, and the HPA has no Ready pod to measure
#    (and `spec.replicas` is already at its minimum of 1). Until the new pod has loaded the model and
#    passed its readiness probe, the Service has no endpoint, so requests fail. `minReplicas: 2`
#    keeps one pod serving.
# </details>

# %% [markdown]
# ## Exercise: one pod per minute
#
# The platform team asks: scale out as fast as before, but on the way down **never remove
# more than one pod per minute** (so caches and connections drain gently), and still get
# back to 2 pods. The checker runs your HPA on the twin under a bigger spike than ours
# (150 users, about 10 pods), where the choice of policy really shows.
#
# **Predict first.** With the policy below (`Percent 50` per 60 s), how many pods may go in
# the first minute of scale-down from 10? Run the check cell, compare, then edit the
# `behavior` until it passes.

# %% tags=["exercise"]
my_hpa = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - {type: Percent, value: 50, periodSeconds: 60}
"""

# %% tags=["solution"]
my_hpa = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - {type: Pods, value: 1, periodSeconds: 60}   # one pod per minute, no more
"""

# %%
result = exercises.check("gentle-scale-down", my_hpa)
result

# %% [markdown]
# **Then explain.** Why does adding a second policy `{type: Pods, value: 1, periodSeconds:
# 60}` next to the Percent one not help, and what single change to `selectPolicy` would make
# the two-policy version pass? Why does `Pods 1` per 30 s fail?
#
# <details><summary>Explanation (after you have tried)</summary>
#
# A Percent policy counts from the pods at the start of the period: 50 % of 10 is 5 pods in a
# minute. With two policies, `selectPolicy: Max` picks the one allowing the *bigger* change,
# so the gentle policy never applies; `Min` would pick it. `periodSeconds` is the window the
# count applies to: 1 pod per 30 s is 2 pods per minute.
# </details>

# %% [markdown]
# ## Summary
#
# - With several metrics the HPA follows the one that asks for the most pods.
# - `behavior` shapes the *speed*: stabilization windows filter the recommendations,
#   policies cap the change per period, `selectPolicy` picks among policies.
# - A short scale-down window saves pod-seconds on clean spikes and flaps on wobbly load;
#   the 300 s default is a sensible guard.
# - `minReplicas: 2` keeps a pod serving when one dies: with one replica, users get errors
#   until the replacement has loaded the model and is Ready.
#
# ## What's next
#
# [03 · Knative and KServe](03-knative-kserve.ipynb): scaling on requests in flight, panic
# mode, and scale to zero.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [Kubernetes: configurable scaling behavior](https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#configurable-scaling-behavior)
# - [API reference: HorizontalPodAutoscaler autoscaling/v2](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/)
# - [Kubernetes: ReplicaSet (how it replaces pods)](https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/)
# - [Kubernetes: termination behavior for pods and their endpoints](https://kubernetes.io/docs/tutorials/services/pods-and-endpoint-termination-flow/)
# - [Kubernetes: disruptions and PodDisruptionBudgets](https://kubernetes.io/docs/concepts/workloads/pods/disruptions/)
# - [Kubernetes: autoscaling on multiple and custom metrics (walkthrough)](https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale-walkthrough/#autoscaling-on-multiple-metrics-and-custom-metrics)

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    checks.reached(course, 3, within=90, after=spike.start),
    checks.back_to(runs["aggressive"], 1, within=90, after=big.start + big.length,
                   column="spec_replicas"),
    claims + metric_claims,   # the numbers the text states, computed next to it above
    checks.Check("the lowered target added pods while the load ran",
                 edited.samples.spec_replicas.iloc[-1]
                 > edited.samples[edited.samples.time <= 120].spec_replicas.iloc[-1],
                 f"{edited.samples[edited.samples.time <= 120].spec_replicas.iloc[-1]} -> "
                 f"{edited.samples.spec_replicas.iloc[-1]} replicas"),
    result,
)
