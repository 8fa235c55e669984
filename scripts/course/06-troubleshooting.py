# %% [markdown]
# # 06 · Troubleshooting: break it on purpose, then fix it
#
# Most autoscaling bugs are not in the autoscaler: they are in what it is given. Each section
# here reproduces one classic failure on the twin, shows how it looks from `kubectl`, and
# fixes it.

# %% [markdown]
# ## Overview
#
# 1. `<unknown>` targets: no CPU request, and no metrics at all.
# 2. `kubectl port-forward` sending all the load to one pod.
# 3. Flapping with a 0 s scale-down window.
# 4. Knative (or KServe) that never scales to zero.
# 5. KEDA and an HPA fighting over the same Deployment.
# 6. Exercise: repair a Deployment so its HPA works again.
#
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | Notebooks 01–04 | Necessary | each pitfall belongs to one of them |
#
# **Time to learn:** 40 minutes.

# %%
from labkit import checks, exercises, kubectl_hpa, live, whatif
from labkit.backends.sim import SimBackend
from labkit.load import Spike, Step
from labkit.manifests import load_variant

# %% tags=["parameters"]
backend = "auto"   # the pitfalls always run on the twin; this only matters for the app
speed = None
duration = 300     # seconds of each broken run
seed = 0

# %% [markdown]
# Every broken run here uses the twin, whatever `backend` says: breaking a shared cluster on
# purpose is rude, and the twin shows each failure in a second. The load is the course
# spike (60 users from t = 30 s for 150 s), or a short burst of 30 users for the
# Knative and KEDA cases.

# %%
spike = Spike(base_users=2, peak_users=60, start=30, length=150, duration=duration)
burst = Step(steps=((0, 0), (20, 30), (100, 0)), duration=duration)   # for 4 and 5
CPU_REQUEST = "spec.template.spec.containers[0].resources.requests.cpu"
CPU_LIMIT = "spec.template.spec.containers[0].resources.limits.cpu"

# %% [markdown]
# ## 1. `<unknown>`: the HPA cannot compute utilization
#
# **Symptom.** `kubectl get hpa` shows `TARGETS <unknown>/50%` and the replica count never
# moves. **Cause A:** the container has no CPU request, so utilization (usage ÷ request) has
# no denominator.
#
# There is a twist first. Remove only `requests.cpu` and the HPA still works: when a
# container sets a *limit* but no request, Kubernetes copies the limit into the request. The
# HPA then measures against 500m instead of 200m, the pods look 2.5 times less busy, and
# the app scales late and little:

# %%
request_only = whatif.variant_with("hpa-v1", "Deployment", {CPU_REQUEST: None})
late = whatif.run(request_only, spike, duration, seed=seed)
int(late.samples.spec_replicas.max()), late.samples.metric_value.max()

# %% [markdown]
# Remove the CPU limit as well and the request is really gone:

# %%
no_cpu = whatif.variant_with("hpa-v1", "Deployment", {CPU_REQUEST: None, CPU_LIMIT: None})
broken = whatif.run(no_cpu, spike, duration, seed=seed)
for e in broken.events.drop_duplicates("reason", keep="last").itertuples():
    print(f"t={e.time:4.0f} s  {e.type:<8} {e.reason}: {e.message}")

# %% [markdown]
# `kubectl describe hpa app-fastapi` prints the same warning: `FailedGetResourceMetric ...
# missing request for cpu`. The pods were busy, yet the count never moved and the metric
# never had a value:

# %%
int(broken.samples.spec_replicas.max()), int(broken.samples.metric_value.notna().sum())

# %% [markdown]
# **Cause B:** metrics-server is missing, or cannot reach the kubelets (on kind it needs
# `--kubelet-insecure-tls`). `kubectl top pods` then fails too. On the twin we break it on
# purpose: it keeps answering, with no pod metrics.

# %%
sim = SimBackend(seed=seed)
sim.deploy("hpa-v1")
sim.load(spike)
sim.inject_fault("metrics-server")
no_metrics = sim.run(duration)
for e in no_metrics.events.drop_duplicates("reason", keep="last").itertuples():
    print(f"t={e.time:4.0f} s  {e.type:<8} {e.reason}: {e.message}")

# %% [markdown]
# Read the words after `failed to get cpu utilization:`; they tell the causes apart. Cause A
# says `missing request for cpu`. Here the metrics API answered, but with no pod metrics:
# `no metrics returned from resource metrics API`. That is what a cluster prints when
# metrics-server runs but cannot scrape the kubelets (the kind TLS case). If the
# metrics-server Deployment is deleted instead, the API itself is unavailable, and the
# message reads `unable to fetch metrics from resource metrics API: the server is currently
# unable to handle the request (get pods.metrics.k8s.io)`: an error from the list call
# versus an empty list (kubernetes/kubernetes
# `pkg/controller/podautoscaler/metrics/client.go`, `GetResourceMetric`).

# %% [markdown]
# **Fix.** Set `resources.requests.cpu` on every container of the pod; check
# `kubectl get pods -n kube-system -l k8s-app=metrics-server` and `kubectl top pods`.

# %% [markdown]
# ## 2. `kubectl port-forward` pins all load to one pod
#
# `kubectl port-forward svc/app-fastapi 8080:8080` looks like it talks to the Service, but
# it picks **one pod** and tunnels every connection to it. New replicas get nothing: the HPA
# adds pods, the busy pod stays busy, the latency does not improve, and the average
# utilization falls because the new pods idle.
#
# The twin always routes through the Service (like the course's NodePort on 127.0.0.1:30080),
# so we *compute* this case rather than simulate it. The labelled projection below takes the
# CPU demand measured in a normal run and replays the HPA's formula with all of it on one
# pod (capped at the 500m limit = 250 % of the request) and the other pods idle.

# %%
normal = whatif.run(load_variant("hpa-v1"), spike, duration, seed=seed)
projection = whatif.port_forward_projection(normal)
projection

# %% [markdown]
# The HPA stops adding pods once the idle ones dilute the average below the target, while
# one pod still carries every request. **Fix.** Send load through the Service: a NodePort
# (what the course's kind config publishes), an Ingress, or `kubectl run` a load generator
# *inside* the cluster.

# %% [markdown]
# ## 3. Flapping: a 0 s scale-down window
#
# Load that wobbles (5 and 60 users, every minute), a model that takes 30 s to load, and
# `stabilizationWindowSeconds: 0`: the HPA removes pods on each dip and the next bump waits
# for new ones to load (notebook 02 measures the cost).

# %%
wobble = Step(steps=tuple((t, 60 if (t // 60) % 2 else 5) for t in range(0, 600, 60)),
              duration=600, spawn_rate=100)
slow_model = whatif.variant_with("hpa-v2", "Deployment",
                                 {"spec.template.spec.containers[0].env[2].value": "30"})
zero_window = {"spec.behavior.scaleDown": {"stabilizationWindowSeconds": 0}}
flap = whatif.run(whatif.variant_with(slow_model, "HorizontalPodAutoscaler", zero_window),
                  wobble, 600, seed=seed)
checks.reversals(flap), len(flap.events_with("SuccessfulRescale"))

# %% [markdown]
# **Fix.** Keep a scale-down window (the default 300 s), or at least longer than the period
# of the wobble; `kubectl describe hpa` then reports `ScaleDownStabilized`.

# %% [markdown]
# ## 3b. "Max replicas hit": the HPA is at its ceiling
#
# **Symptom.** Latency is bad, the HPA shows `REPLICAS` equal to `MAXPODS`, and adding
# load changes nothing. `kubectl describe hpa` says why in one condition. Here the course
# HPA with `maxReplicas: 2` under the spike, stopped at t = 120 s:

# %%
capped = SimBackend(seed=seed)
capped.deploy(whatif.variant_with("hpa-v1", "HorizontalPodAutoscaler", {"spec.maxReplicas": 2}))
capped.load(spike)
at_cap = capped.run(120)
described = kubectl_hpa.describe_hpa(kubectl_hpa.twin_hpa_view(capped))
print(described.split("Events:")[0])
claims = [checks.flaps(flap, at_least=4),
          checks.Check("max replicas hit: ScalingLimited True TooManyReplicas",
                       "TooManyReplicas" in described, "in describe hpa"),
          checks.p95_above(at_cap, 500, after=spike.start)]

# %% [markdown]
# `ScalingLimited True TooManyReplicas`: the metric wants more pods than `maxReplicas`
# allows. **Fix.** Raise `maxReplicas` if the cluster (and your budget or quota) can hold
# them, or make each pod serve more; and check `kubectl logs` of a busy pod for errors
# before you buy more pods for a bug.

# %% [markdown]
# ## 4. Knative that never scales to zero
#
# `autoscaling.knative.dev/min-scale: "1"` keeps one pod forever, whatever the retention
# period says. The same happens with a KServe InferenceService that omits
# `minReplicas: 0` (KServe's default is 1, notebook 03).

# %%
MIN_SCALE = 'spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"]'
pinned = whatif.run(whatif.variant_with("knative", "Service", {MIN_SCALE: "1"}), burst,
                    duration, seed=seed)
shipped = whatif.run(load_variant("knative"), burst, duration, seed=seed)
int(pinned.samples.ready_replicas.iloc[-1]), int(shipped.samples.ready_replicas.iloc[-1])

# %% [markdown]
# The shipped Service (`min-scale: "0"`) is at zero by the end of the run; the pinned one
# still pays for a pod. `kubectl get podautoscalers` shows `DESIRED 1` for it forever.

# %% [markdown]
# **Fix.** `min-scale: "0"` (and `minReplicas: 0` on an InferenceService); check that
# `enable-scale-to-zero` is true in the `config-autoscaler` ConfigMap of `knative-serving`.

# %% [markdown]
# ## 5. KEDA and an HPA fighting
#
# KEDA creates its own HPA for the Deployment. Add a second HPA (say, the hpa-v1 one someone
# applied earlier) and two controllers write `spec.replicas` of the same Deployment with
# different opinions. `kubectl get hpa` shows two HPAs with the same reference, and at every
# sync the events alternate: KEDA's HPA writes its size (from requests in flight), the other
# writes its own (from CPU). The pods in between are started and killed for nothing.

# %%
fight_variant = load_variant("keda", overrides=[load_variant("hpa-v1").get(
    "HorizontalPodAutoscaler").doc])
fight = whatif.run(fight_variant, burst, duration, seed=seed)
for e in fight.events_with("SuccessfulRescale").head(10).itertuples():
    print(f"t={e.time:4.0f} s  {e.object.split('/')[-1]:<21} {e.message}")

# %% [markdown]
# **Fix.** One autoscaler per workload: delete the extra HPA (`kubectl delete hpa
# app-fastapi`) and put CPU as a trigger of the ScaledObject if you want both signals. KEDA's
# admission webhook, when installed, rejects a ScaledObject whose target already has an HPA.

# %% [markdown]
# ## Check your understanding
#
# 1. `kubectl get hpa` shows `<unknown>/50%`. Name two causes and the command that tells them
#    apart.
# 2. Your load test with `kubectl port-forward` shows 6 replicas but no latency improvement.
#    Why?
# 3. An InferenceService has `min-scale: "0"` in its annotations but keeps one pod. What is
#    missing?
#
# <details><summary>Answers</summary>
#
# 1. No CPU request, or no metrics-server; `kubectl describe hpa` (the event message) and
#    `kubectl top pods` (fails without metrics-server).
# 2. port-forward tunnels to one pod; the others receive nothing.
# 3. `spec.predictor.minReplicas: 0`: KServe's default of 1 becomes `min-scale: 1`.
# </details>

# %% [markdown]
# ## Exercise: repair the Deployment
#
# This Deployment (the course's, cut to the fields that matter here) lost its CPU request
# and limit, so its HPA is blind. Repair `my_deployment` so that the HPA reports no
# `FailedGetResourceMetric ... missing request`, the app reaches 3 pods within 120 s of the
# spike, and it does not over-scale: about 4 pods serve this spike, so no more than 6.
#
# **Predict first.** Someone suggests adding only `limits: {cpu: 500m}` (a limit is "the
# most it may use", so surely the HPA can divide by that). How many pods will the HPA reach?
# Try it, read the hint, then repair it properly.

# %% tags=["exercise"]
my_deployment = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-fastapi
  labels: {app: app-fastapi}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app-fastapi}
  template:
    metadata:
      labels: {app: app-fastapi}
    spec:
      containers:
        - name: app-fastapi
          image: labkit/app:0.1.0
          imagePullPolicy: IfNotPresent
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: APP_CPU_WORK_MS, value: "20"}     # ~25 ms of CPU per request
            - {name: APP_STARTUP_DELAY_S, value: "5"}  # model load
          resources:
            requests: {memory: 512Mi}
            limits: {memory: 768Mi}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 2
"""

# %% tags=["solution"]
my_deployment = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-fastapi
  labels: {app: app-fastapi}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app-fastapi}
  template:
    metadata:
      labels: {app: app-fastapi}
    spec:
      containers:
        - name: app-fastapi
          image: labkit/app:0.1.0
          imagePullPolicy: IfNotPresent
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: APP_CPU_WORK_MS, value: "20"}     # ~25 ms of CPU per request
            - {name: APP_STARTUP_DELAY_S, value: "5"}  # model load
          resources:
            requests: {cpu: 200m, memory: 512Mi}
            limits: {cpu: 500m, memory: 768Mi}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 2
"""

# %%
result = exercises.check("fix-cpu-request", my_deployment)
result

# %% [markdown]
# **Then explain.** What goes wrong with a request of `2` (two cores), and with `50m`? What
# number should the request be, and how would you measure it on a cluster?
#
# <details><summary>Explanation (after you have tried)</summary>
#
# Utilization is usage / request. With 2 cores every pod looks idle and the HPA never adds
# one; with 50m every pod looks four times overloaded and the HPA runs to `maxReplicas`.
# The request should be what one pod typically uses under normal load: `kubectl top pods`
# during a load test (or the usage the capacity ramp of notebook 00 measured).
# </details>

# %% [markdown]
# ## Summary
#
# - `<unknown>` means the HPA has no number: a missing request or missing metrics-server.
#   A limit without a request becomes the request, and the HPA scales late.
# - Load through `port-forward` never spreads; test through the Service.
# - Windows prevent flapping; `min-scale`/`minReplicas` decide whether zero is reachable.
# - One autoscaler per workload.
#
# ## What's next
#
# [07 · Asynchronous inference](07-async-inference.ipynb): a queue between clients and the
# model, and KEDA scaling workers on the backlog. Or back to [05 · Compare](05-compare.ipynb)
# with your own load trace, or the course on a real cluster: `labkit up`, then
# `labkit verify --backend kind`.

# %% [markdown]
# ## Learn more (official documentation)
#
# - [Kubernetes: HPA walkthrough (`kubectl describe hpa`, conditions)](https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale-walkthrough/)
# - [metrics-server: requirements and kind/kubelet TLS](https://github.com/kubernetes-sigs/metrics-server#requirements)
# - [Knative: debugging application issues](https://knative.dev/docs/serving/troubleshooting/debugging-application-issues/)
# - [KEDA: troubleshooting](https://keda.sh/docs/2.20/troubleshooting/)

# %% [markdown]
# ## Verification

# %% tags=["verification"]
checks.require(
    checks.event_seen(broken, "FailedGetResourceMetric", contains="missing request"),
    checks.metric_unknown(broken),
    checks.never_exceeds(broken, 1),
    checks.Check("a limit without a request scales late", late.samples.spec_replicas.max() < 4,
                 f"peak {late.samples.spec_replicas.max()} pods"),
    checks.event_seen(no_metrics, "FailedGetResourceMetric", contains="no metrics returned"),
    checks.metric_unknown(no_metrics),
    checks.Check("port-forward: latency stays high with more pods", projection.attrs["stuck"],
                 projection.attrs["summary"]),
    claims,         # flapping and max-replicas-hit, computed next to their text above
    checks.stays_at_least(pinned, 1, after=20, column="ready_replicas"),
    checks.back_to(shipped, 0, within=180, after=100),
    checks.fights(fight, at_least=3),
    result,
)
