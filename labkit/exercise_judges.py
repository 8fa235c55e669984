"""The course's exercise judges: what each exercise's run on the twin must show, and why not.

A judge is a pure function ``(timeline, manifest) -> checks``. The checks are behaviour
checks from :mod:`labkit.checks` on the run; the *hints* of a failing check are written from
what the run did (peak, when, how many removed) and from the field of the learner's manifest
that explains it, concept first, field second, never the value of the solution. The loads are
chosen so that near misses behave differently (tests/notebooks/test_exercise_judges.py runs
each judge with its solution and with wrong answers that must fail with a hint naming their
cause).
"""

from __future__ import annotations

import math
from typing import Any

from . import checks as c
from .load import Burst, Spike, Step
from .timeline import Timeline

Check = c.Check


def field_at(doc: Any, path: str, default: Any = None) -> Any:
    """``field_at(doc, "spec.behavior.scaleDown")``: nested dict lookup, ``default`` if absent.

    A segment ``name[i]`` indexes a list (``spec.template.spec.containers[0]``).
    """
    cur = doc
    for part in path.split("."):
        name, _, index = part.partition("[")
        if not isinstance(cur, dict) or name not in cur:
            return default
        cur = cur[name]
        if index:
            i = int(index.rstrip("]"))
            if not isinstance(cur, list) or i >= len(cur):
                return default
            cur = cur[i]
    return cur


def _peak(tl: Timeline, column: str = "spec_replicas") -> int:
    return int(tl.samples[column].max()) if len(tl) else 0


def _over_slo(tl: Timeline, after: float = 0.0) -> int:
    s = tl.samples[tl.samples.time >= after]
    return int((s.latency_p95 > 500).sum())


# -- 01 · hpa-quota -------------------------------------------------------------------------
#: 200 users: more than 5 pods' worth, so a quota that is not a hard cap shows.
QUOTA_SPIKE = Spike(base_users=2, peak_users=200, start=30, length=150, duration=900)
QUOTA = 5


def judge_hpa_quota(tl: Timeline, doc: dict,
                    course: dict | None = None) -> list[Check]:
    start, end = QUOTA_SPIKE.start, QUOTA_SPIKE.start + QUOTA_SPIKE.length
    spec = doc.get("spec") or {}
    peak = _peak(tl)
    target = spec.get("targetCPUUtilizationPercentage")
    over_hint = [f"Your HPA asked for {peak} pods under this spike, more than the quota of "
                 f"{QUOTA}."]
    if target is not None and target != 50:
        over_hint.append(f"A higher target (yours is {target} %) only makes the HPA add pods "
                         "later; under enough load it still grows past any number.")
    over_hint.append("A quota is a hard ceiling: which of the HPA's fields bounds what it may "
                     "ask for, whatever the load? (spec.maxReplicas)")
    full = c.reached(tl, QUOTA, within=60, after=start, column="spec_replicas")
    if not full.passed:
        p95_bad = _over_slo(tl, after=start)
        if peak < QUOTA:
            hint = [f"Your HPA stopped at {peak} pods although the spike needed more than "
                    f"{QUOTA}: users saw a p95 above 500 ms for {p95_bad} s. The quota allows "
                    f"{QUOTA}: use all of it (spec.maxReplicas)."]
        else:
            hint = [f"It took {full.observed.split('(')[-1].rstrip(')')} to reach {QUOTA} pods. "
                    "A target above 50 % waits for more CPU before adding pods: keep "
                    "spec.targetCPUUtilizationPercentage as it was and cap with "
                    "spec.maxReplicas."]
        full = Check(full.claim, False, full.observed, tuple(hint))
    low = int(tl.samples[tl.samples.time >= end].spec_replicas.min()) if len(tl) else 0
    return [
        c.never_exceeds(tl, QUOTA, hint=over_hint),
        full,
        c.back_to(tl, 1, within=420, after=end, column="spec_replicas",
                  hint=[f"After the spike your HPA never went below {low} pods. It never "
                        "scales below spec.minReplicas, whatever the load: the quota is a "
                        "ceiling, not a floor."]),
    ]


# -- 02 · gentle-scale-down -----------------------------------------------------------------
#: 150 users: about 10 pods, enough for the choice of scale-down policy to show.
GENTLE_SPIKE = Spike(base_users=2, peak_users=150, start=30, length=150, duration=1200)


def _removal_per_policy(policy: dict, start_pods: int) -> str:
    kind, value, period = policy.get("type"), policy.get("value"), policy.get("periodSeconds")
    if not isinstance(value, int) or not isinstance(period, int) or period <= 0:
        return ""
    if kind == "Percent":
        removed = start_pods - math.floor(start_pods * (1 - value / 100))
        return (f"Percent {value} counts from the pods at the start of the period: from "
                f"{start_pods} pods it may remove {removed} per {period} s")
    if kind == "Pods":
        per_minute = value * math.ceil(60 / period)
        if period < 60:
            return (f"Pods {value} per {period} s is {per_minute} per minute: periodSeconds is "
                    "the window the count applies to")
        return f"Pods {value} per {period} s"
    return ""


def judge_gentle_scale_down(tl: Timeline, doc: dict,
                            course: dict | None = None) -> list[Check]:
    start, end = GENTLE_SPIKE.start, GENTLE_SPIKE.start + GENTLE_SPIKE.length
    down = field_at(doc, "spec.behavior.scaleDown") or {}
    up = field_at(doc, "spec.behavior.scaleUp") or {}
    policies = [p for p in down.get("policies") or [] if isinstance(p, dict)]
    select = down.get("selectPolicy", "Max")
    peak = _peak(tl)

    gentle = c.never_removes_more_than(tl, 1, per=60)
    if not gentle.passed:
        hint = [f"Your HPA {gentle.observed}."]
        if not policies:
            hint.append("Without scaleDown.policies the default applies: 100 % per 15 s.")
        for p in policies:
            said = _removal_per_policy(p, peak)
            if said:
                hint.append(said + ".")
        if len(policies) > 1 and select == "Max":
            hint.append("With several policies, selectPolicy Max picks the one that allows "
                        "the biggest change, so the gentle one never applies.")
        hint.append("Look at spec.behavior.scaleDown.policies: one policy whose count and "
                    "period say exactly 'one pod per minute'.")
        gentle = Check(gentle.claim, False, gentle.observed, tuple(hint))

    fast = c.reached(tl, 8, within=90, after=start, column="spec_replicas")
    if not fast.passed:
        why = ("spec.behavior.scaleUp.selectPolicy Disabled forbids scaling up at all"
               if up.get("selectPolicy") == "Disabled" else
               "scale-up must stay as fast as the course's: leave spec.behavior.scaleUp out "
               "(or as in the course)")
        fast = Check(fast.claim, False, fast.observed,
                     (f"Under the spike your HPA reached {peak} pods: {why}.",))

    back = c.back_to(tl, 2, within=900, after=end, column="spec_replicas")
    if not back.passed:
        window = down.get("stabilizationWindowSeconds")
        if select == "Disabled":
            why = "spec.behavior.scaleDown.selectPolicy Disabled forbids scale-down at all"
        elif isinstance(window, int) and window > 300:
            why = (f"spec.behavior.scaleDown.stabilizationWindowSeconds {window}: the HPA keeps "
                   f"the highest recommendation of the last {window} s before removing a pod")
        else:
            why = ("a policy that removes less than one pod per minute is too slow: from "
                   f"{peak} pods, one per minute takes {peak - 2} minutes after the window")
        back = Check(back.claim, False, back.observed, (f"{why}.",))
    return [fast, gentle, back]


# -- 05 · right-size-target -----------------------------------------------------------------
#: The exercise's load (the sweep in notebook 05 runs a different one): 20 users, 80 from
#: t = 60 s for three minutes.
RIGHT_SIZE_LOAD = Spike(base_users=20, peak_users=80, start=60, length=180, duration=420)
RIGHT_SIZE_PATH = "spec.metrics[0].resource.target.averageUtilization"


#: The exercise's HPA apart from its target: what the learner must leave as it is.
RIGHT_SIZE_BASE = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "app-fastapi"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                "name": "app-fastapi"},
             "minReplicas": 1, "maxReplicas": 10,
             "metrics": [{"type": "Resource", "resource": {
                 "name": "cpu", "target": {"type": "Utilization"}}}]},
}


def _without(doc: dict, path: str) -> Any:
    import copy

    out = copy.deepcopy(doc)
    parent, _, last = path.rpartition(".")
    holder = field_at(out, parent)
    if isinstance(holder, dict):
        holder.pop(last, None)
    return out


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Field paths where ``a`` and ``b`` differ (for the hint)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _differences(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]


def judge_right_size(tl: Timeline, doc: dict,
                     course: dict | None = None) -> list[Check]:
    target = field_at(doc, RIGHT_SIZE_PATH)
    peak = _peak(tl)
    changed = _differences(_without(doc, RIGHT_SIZE_PATH), RIGHT_SIZE_BASE)
    out = [Check("only the CPU target differs from the exercise's HPA", not changed,
                 "unchanged elsewhere" if not changed else f"also changed: {', '.join(changed)}",
                 (f"This exercise is about the target alone: put {', '.join(changed)} back as "
                  "it was (a warm floor with minReplicas is another design, discussed in the "
                  "notebook).",))]
    slow = c.p95_below(tl, 500, after=30, allow_seconds=10)
    if not slow.passed:
        slow = Check(slow.claim, False, slow.observed, (
            f"With target {target} % the pods were packed too tightly: the HPA waited for "
            f"that much CPU before adding a pod and peaked at {peak}. Lower "
            f"{RIGHT_SIZE_PATH} a little (the sweep shows the trend).",))
    cost = c.at_most_pod_seconds(tl, 2000)
    if not cost.passed:
        cost = Check(cost.claim, False, cost.observed, (
            f"With target {target} % the HPA went to {peak} pods and kept them half idle. "
            f"Raise {RIGHT_SIZE_PATH} a little.",))
    return out + [slow, cost]


# -- 06 · fix-cpu-request -------------------------------------------------------------------
#: The course spike: 2 users, 60 from t = 30 s for 150 s, then 2 (about 4 pods at 200m).
COURSE_SPIKE = Spike(base_users=2, peak_users=60, start=30, length=150, duration=900)


def judge_fix_request(tl: Timeline, doc: dict,
                      course: dict | None = None) -> list[Check]:
    res = field_at(doc, "spec.template.spec.containers[0].resources") or {}
    req = (res.get("requests") or {}).get("cpu")
    lim = (res.get("limits") or {}).get("cpu")
    peak = _peak(tl)
    blind = c.no_event(tl, "FailedGetResourceMetric", contains="missing request", hint=(
        "The HPA reported 'missing request for cpu': utilization is usage / request, and "
        "this container has no request to divide by. Add "
        "spec.template.spec.containers[0].resources.requests.cpu (what one pod typically "
        "uses).",))
    scaled = c.reached(tl, 3, within=120, after=COURSE_SPIKE.start)
    if not scaled.passed and blind.passed:
        if req is None and lim is not None:
            why = (f"With only a limit ({lim}), Kubernetes copies the limit into the request: "
                   f"usage / {lim} makes a busy pod look less busy than it is, and the HPA "
                   f"stopped at {peak}. Set resources.requests.cpu explicitly.")
        else:
            why = (f"Your request ({req}) is far above what one pod uses, so even a busy pod "
                   f"looks idle to the HPA (peak {peak} pods). resources.requests.cpu should "
                   "be the typical usage of one pod.")
        scaled = Check(scaled.claim, False, scaled.observed, (why,))
    sane = c.never_exceeds(tl, 6, hint=(
        f"Your HPA went to {peak} pods for a load that about 4 serve: a request ({req}) far "
        "below what a pod uses makes every pod look overloaded. resources.requests.cpu "
        "should be the typical usage of one pod.",))
    return [blind, scaled, sane]


# -- 03 · kserve-to-zero --------------------------------------------------------------------
#: A burst past what one pod serves (~20 rps), then silence long enough to reach zero.
BURST = Spike(base_users=0, peak_users=100, start=20, length=100, duration=360, spawn_rate=100)
_RETENTION = "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
_MIN_SCALE = "autoscaling.knative.dev/min-scale"


def judge_kserve_zero(tl: Timeline, doc: dict,
                      course: dict | None = None) -> list[Check]:
    end = BURST.start + BURST.length
    ann = field_at(doc, "metadata.annotations") or {}
    predictor = field_at(doc, "spec.predictor") or {}
    mode = ann.get("serving.kserve.io/deploymentMode", "Knative")
    served = c.reached(tl, 2, within=90, after=BURST.start)
    if not served.passed:
        served = Check(served.claim, False, served.observed, (
            f"Under the burst the predictor stayed at {_peak(tl, 'ready_replicas')} pod(s): "
            "check spec.predictor.maxReplicas (above 1) and spec.predictor.scaleTarget (how "
            "many requests in flight one pod should hold; one pod serves about 1).",))
    zero = c.back_to(tl, 0, within=150, after=end)
    if not zero.passed:
        low = int(tl.samples[tl.samples.time >= end].ready_replicas.min())
        if mode in ("RawDeployment", "Standard"):
            why = (f"deploymentMode {mode} runs the predictor as a Deployment with an HPA, and "
                   f"an HPA never goes below one pod (yours kept {low}). Scale to zero needs "
                   "the Knative mode.")
        elif predictor.get("minReplicas", 1) != 0:
            why = ("KServe writes Knative's min-scale from spec.predictor.minReplicas, whose "
                   "default is 1, and that overrides a min-scale annotation of your own: "
                   f"the last pod stays (yours kept {low}). Look at spec.predictor.minReplicas.")
        elif _RETENTION in ann:
            why = (f"{_RETENTION}: {ann[_RETENTION]} keeps the last pod that long after the "
                   "traffic stops; the goal leaves 150 s.")
        else:
            why = f"The predictor kept {low} pod(s) to the end: check {_MIN_SCALE}."
        zero = Check(zero.claim, False, zero.observed, (why,))
    return [served, zero]


# -- 04 · keda-cooldown ---------------------------------------------------------------------
#: Two bursts of 100 users with a 75 s pause between them, then silence. The first burst
#: starts off the 30 s poll grid, so the polling interval matters for waking up; the pause is
#: longer than notebook 04's 60 s cooldown, so copying the course's value is not enough.
KEDA_BURSTS = Step(steps=((0, 0), (35, 100), (95, 0), (170, 100), (230, 0)), duration=470)
KEDA_FIRST, KEDA_PAUSE, KEDA_LAST = 35, (95, 170), 230


def judge_keda_cooldown(tl: Timeline, doc: dict,
                        course: dict | None = None) -> list[Check]:
    spec = doc.get("spec") or {}
    poll = spec.get("pollingInterval", 30)
    cooldown = spec.get("cooldownPeriod", 300)
    trig = (field_at(doc, "spec.triggers[0].metadata") or {})
    activation = trig.get("activationTargetValue", "0")
    woke = c.reached(tl, 1, within=20, after=KEDA_FIRST)
    if not woke.passed:
        woke = Check(woke.claim, False, woke.observed, (
            f"KEDA only looks at the trigger once every spec.pollingInterval ({poll} s "
            "here): the first request waited for the next poll, plus the pod start.",))
    grew = c.reached(tl, 3, within=90, after=KEDA_FIRST, hint=(
        f"The app stayed at {_peak(tl, 'ready_replicas')} pod(s): 1 -> N is the HPA's job, "
        "from the trigger's targetValue (requests in flight per pod); a larger target means "
        "fewer pods.",))
    activations = len(tl.events_with("KEDAScaleTargetActivated"))
    warm = c.stays_at_least(tl, 1, after=KEDA_PAUSE[0], until=KEDA_PAUSE[1] + 5,
                            column="ready_replicas")
    warm_claim = Check(f"no second cold start: a pod stays through the pause ({warm.claim})",
                       warm.passed and activations <= 1,
                       f"{warm.observed}, {activations} activation(s)")
    if not warm_claim.passed:
        if str(activation) not in ("0", "", "0.0"):
            why = (f"activationTargetValue {activation}: the trigger counts as inactive while "
                   f"in-flight requests are at or below {activation}, so KEDA scales to zero "
                   "in the middle of the traffic.")
        else:
            why = (f"spec.cooldownPeriod {cooldown} s is shorter than the pauses in your "
                   "traffic: KEDA went to zero in the 75 s pause and the second burst paid a "
                   "cold start.")
        warm_claim = Check(warm_claim.claim, False, warm_claim.observed, (why,))
    zero = c.back_to(tl, 0, within=120, after=KEDA_LAST)
    if not zero.passed:
        zero = Check(zero.claim, False, zero.observed, (
            f"KEDA goes to zero spec.cooldownPeriod seconds after the last active poll (yours "
            f"is {cooldown} s; the default is 300).",))
    return [woke, grew, warm_claim, zero]


# -- 07 · queue-drain -----------------------------------------------------------------------
#: 3000 jobs posted at 100 a second from t = 10 s, then nothing (an open loop: the producers
#: never wait for the workers).
QUEUE_BURST = Burst(jobs=3000, start=10, length=30, duration=300)
QUEUE_END = QUEUE_BURST.start + QUEUE_BURST.length
QUEUE_DRAIN_S, QUEUE_BUDGET, QUEUE_ZERO_S = 30, 900, 120


def judge_queue_drain(tl: Timeline, doc: dict,
                      course: dict | None = None) -> list[Check]:
    spec = doc.get("spec") or {}
    poll = spec.get("pollingInterval", 30)
    cooldown = spec.get("cooldownPeriod", 300)
    top = spec.get("maxReplicaCount", 100)
    per_worker = (field_at(doc, "spec.triggers[0].metadata") or {}).get("listLength", "5")
    peak = _peak(tl)
    backlog = int(tl.samples.queue_length.max()) if len(tl) else 0
    drained = c.drained(tl, within=QUEUE_DRAIN_S, after=QUEUE_END)
    if not drained.passed:
        if peak >= top:
            why = (f"The workers stopped at spec.maxReplicaCount ({top}) while {backlog} jobs "
                   "waited: one worker drains about 22 jobs a second, so the cap sets the "
                   "drain time.")
        else:
            why = (f"The backlog peaked at {backlog} jobs but KEDA's HPA asked for only {peak} "
                   f"worker(s): it wants ceil(LLEN / listLength) and your listLength is "
                   f"{per_worker} jobs per worker (spec.triggers[0].metadata.listLength).")
        if poll > 10:
            why += (f" And the first worker waited for a poll: spec.pollingInterval is "
                    f"{poll} s.")
        drained = Check(drained.claim, False, drained.observed, (why,))
    used = c.at_most_pod_seconds(tl, QUEUE_BUDGET)
    if not used.passed:
        zero_at = tl.samples[(tl.samples.time > QUEUE_END) & (tl.samples.spec_replicas == 0)]
        idle = (f"the workers sat idle until t={float(zero_at.time.iloc[0]):.0f} s"
                if len(zero_at) else "the workers were still there at the end")
        used = Check(used.claim, False, used.observed, (
            f"Too expensive: {idle}. After the last job KEDA waits spec.cooldownPeriod "
            f"({cooldown} s here) before scaling to zero, and {peak} workers (from "
            f"spec.triggers[0].metadata.listLength {per_worker}) cost while they wait.",))
    zero = c.back_to(tl, 0, within=QUEUE_ZERO_S, after=QUEUE_END, column="spec_replicas")
    if not zero.passed:
        zero = Check(zero.claim, False, zero.observed, (
            f"KEDA scales to zero spec.cooldownPeriod seconds after the last poll that saw a "
            f"waiting job (yours is {cooldown} s; the default is 300).",))
    return [drained, used, zero]
