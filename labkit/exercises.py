"""Exercise checkers: run the learner's manifest on the twin and judge what the autoscaler did.

A checker never reads the YAML for the "right answer". It replaces the object the learner
edited in a course variant, runs the twin (always the twin: deterministic and fast, whatever
backend the notebook uses) under a fixed load profile, and applies behaviour checks from
:mod:`labkit.checks`. Each check carries hints naming the field to look at::

    result = exercises.check("gentle-scale-down", my_hpa)
    result          # ✅/❌ per check, hints under the failures
    result.passed

The exercises are listed in :data:`EXERCISES`; each notebook uses one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import yaml

from . import checks as c
from .errors import LabkitError, ManifestError
from .load import LoadProfile, Spike
from .timeline import Timeline


@dataclass(frozen=True)
class Exercise:
    """What the learner must achieve, on which variant, under which load."""

    name: str
    goal: str
    variant: str
    kind: str                                    # the kind of object the learner edits
    profile: LoadProfile
    duration: float
    judge: Callable[[Timeline], list[c.Check]]


@dataclass(frozen=True, eq=False)
class ExerciseResult:
    """The checks of one attempt; iterate it to get them (so ``checks.require`` accepts it)."""

    exercise: str
    goal: str
    checks: tuple[c.Check, ...]
    timeline: Timeline | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ch.passed for ch in self.checks)

    def __bool__(self) -> bool:
        return self.passed

    def __iter__(self) -> Iterator[c.Check]:
        return iter(self.checks)

    def __str__(self) -> str:
        head = f"Exercise {self.exercise!r}: {'PASSED' if self.passed else 'NOT YET'}"
        return f"{head}\n  goal: {self.goal}\n" + c.report(self.checks)

    def _repr_markdown_(self) -> str:
        head = f"### Exercise `{self.exercise}`: {'✅ passed' if self.passed else '❌ not yet'}"
        body = "\n".join(f"- {ch._repr_markdown_()}" for ch in self.checks)
        return f"{head}\n\n*Goal:* {self.goal}\n\n{body}"


def _parse(text: str | dict, exercise: Exercise) -> dict:
    """The learner's object from YAML text (or a dict), checked for the expected kind."""
    if isinstance(text, dict):
        doc = text
    else:
        from .yaml_reader import load_all
        try:
            docs = [d for d in load_all(text, f"<exercise {exercise.name}>") if d]
        except ManifestError as e:
            raise LabkitError(f"exercise {exercise.name!r}: the YAML does not parse ({e}); "
                              "check the indentation (spaces, not tabs) around that line") from None
        if len(docs) != 1:
            raise LabkitError(f"exercise {exercise.name!r}: expected one {exercise.kind}, got "
                              f"{len(docs)} documents")
        doc = docs[0]
    if not isinstance(doc, dict) or doc.get("kind") != exercise.kind:
        got = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise LabkitError(f"exercise {exercise.name!r}: expected a {exercise.kind}, got {got}; "
                          f"edit the {exercise.kind} shown in the exercise cell")
    return doc


def simulate(exercise: Exercise, doc: dict, *, seed: int = 0) -> Timeline:
    """Run ``exercise``'s variant with ``doc`` replacing its object, on the twin."""
    from .backends.sim import SimBackend
    from .manifests import load_variant

    variant = load_variant(exercise.variant, overrides=[doc])
    b = SimBackend(seed=seed)
    b.deploy(variant)
    b.load(exercise.profile)
    return b.run(exercise.duration)


def check(name: str, manifest: str | dict, *, seed: int = 0) -> ExerciseResult:
    """Judge the learner's ``manifest`` for exercise ``name`` by running it on the twin.

    A manifest that does not parse or is invalid gives a failing result whose hint is the
    error message (the exercise cell never crashes on a typo).
    """
    try:
        exercise = EXERCISES[name]
    except KeyError:
        raise LabkitError(f"unknown exercise {name!r}; choose one of "
                          f"{', '.join(EXERCISES)}") from None
    try:
        doc = _parse(manifest, exercise)
        tl = simulate(exercise, doc, seed=seed)
    except LabkitError as e:
        fail = c.Check("the manifest is accepted", False, "rejected", (str(e),))
        return ExerciseResult(name, exercise.goal, (fail,))
    return ExerciseResult(name, exercise.goal, tuple(exercise.judge(tl)), tl)


# -- the course's exercises --------------------------------------------------------------
#: The fixed load of the HPA exercises: 2 users, 60 users from t=30 s for 150 s, then 2.
COURSE_SPIKE = Spike(base_users=2, peak_users=60, start=30, length=150, duration=900)
_END = COURSE_SPIKE.start + COURSE_SPIKE.length
#: The quota exercise needs a spike that wants more than 5 pods: 100 users (60 peak at 5).
QUOTA_SPIKE = Spike(base_users=2, peak_users=100, start=30, length=150, duration=900)


def _judge_hpa_quota(tl: Timeline) -> list[c.Check]:
    return [
        c.reached(tl, 3, within=90, after=COURSE_SPIKE.start,
                  hint="The HPA adds pods when average CPU utilization exceeds "
                       "spec.targetCPUUtilizationPercentage (percent of the CPU request): a "
                       "lower target scales out earlier. Check spec.minReplicas <= "
                       "spec.maxReplicas too."),
        c.never_exceeds(tl, 5, hint="spec.maxReplicas caps what the HPA may ask for: the "
                                    "quota is 5 pods."),
        c.back_to(tl, 1, within=420, after=_END, column="spec_replicas",
                  hint="After the spike the HPA returns to spec.minReplicas (after its 5-minute "
                       "stabilization window): set spec.minReplicas to 1."),
    ]


def _judge_gentle_scale_down(tl: Timeline) -> list[c.Check]:
    return [
        c.reached(tl, 4, within=90, after=COURSE_SPIKE.start,
                  hint="Scale-up must stay fast: keep spec.behavior.scaleUp as in the course "
                       "(or leave it out) and do not set selectPolicy: Disabled."),
        c.never_removes_more_than(
            tl, 1, per=60,
            hint="Set spec.behavior.scaleDown.policies to one policy {type: Pods, value: 1, "
                 "periodSeconds: 60}. With several policies, selectPolicy: Max picks the one "
                 "that removes the MOST pods (Percent 50 % wins over Pods 1)."),
        c.back_to(tl, 2, within=600, after=_END, column="spec_replicas",
                  hint="Scale-down must still happen: keep spec.behavior.scaleDown."
                       "stabilizationWindowSeconds at most 300 and selectPolicy not Disabled."),
    ]


def _judge_fix_request(tl: Timeline) -> list[c.Check]:
    return [
        c.no_event(tl, "FailedGetResourceMetric", contains="missing request",
                   hint="The HPA cannot compute utilization without a CPU request: add "
                        "spec.template.spec.containers[0].resources.requests.cpu (200m in the "
                        "course)."),
        c.reached(tl, 3, within=120, after=COURSE_SPIKE.start,
                  hint="Utilization is usage / request: with a request far larger than 200m "
                       "the pods never look busy. Use the course's 200m."),
    ]


#: Knative/KServe: a burst past what one pod serves (~20 rps), then silence long enough to
#: reach zero. 40 users would not do: ~13 rps stays under the KPA's 7 in flight per pod.
BURST = Spike(base_users=0, peak_users=100, start=20, length=100, duration=360,
              spawn_rate=100)
_BURST_END = BURST.start + BURST.length


def _judge_kserve_zero(tl: Timeline) -> list[c.Check]:
    return [
        c.reached(tl, 2, within=90, after=BURST.start,
                  hint="Under the burst the predictor needs more than one pod: keep "
                       "spec.predictor.scaleMetric concurrency and scaleTarget 10, and "
                       "spec.predictor.maxReplicas above 1."),
        c.back_to(tl, 0, within=150, after=_BURST_END,
                  hint="KServe defaults spec.predictor.minReplicas to 1, which becomes Knative's "
                       "min-scale 1: the last pod never goes. Set spec.predictor.minReplicas: 0."),
    ]


#: KEDA: a burst into the gateway, then nothing.
KEDA_BURST = Spike(base_users=0, peak_users=100, start=20, length=100, duration=360)
_KEDA_END = KEDA_BURST.start + KEDA_BURST.length


def _judge_keda_cooldown(tl: Timeline) -> list[c.Check]:
    return [
        c.reached(tl, 1, within=30, after=KEDA_BURST.start,
                  hint="KEDA wakes the app (0 -> 1) at the first poll where the trigger is "
                       "active: keep spec.pollingInterval small (5 s) and the trigger's "
                       "activationTargetValue at 0."),
        c.reached(tl, 3, within=90, after=KEDA_BURST.start,
                  hint="1 -> N is the HPA's job, from the trigger's targetValue (requests in "
                       "flight per pod): 5 in the course; a larger target means fewer pods."),
        c.back_to(tl, 0, within=120, after=_KEDA_END,
                  hint="KEDA scales to zero spec.cooldownPeriod seconds after the last active "
                       "poll (default 300 s): set spec.cooldownPeriod to 60."),
    ]


#: The right-size exercise: a busy base (20 users) stepping up to 80 for three minutes.
RIGHT_SIZE_LOAD = Spike(base_users=20, peak_users=80, start=60, length=180, duration=420)


def _judge_right_size(tl: Timeline) -> list[c.Check]:
    return [
        c.p95_below(tl, 500, after=30, allow_seconds=10,
                    hint="Too many slow seconds: the pods are packed too tightly. Lower "
                         "spec.metrics[0].resource.target.averageUtilization so the HPA adds "
                         "pods earlier."),
        c.at_most_pod_seconds(tl, 2000,
                              hint="Too expensive: pods sit half idle. Raise "
                                   "spec.metrics[0].resource.target.averageUtilization."),
    ]


EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise("hpa-quota", "under a 100-user spike, reach 3 pods within 90 s, never run more "
             "than 5 (the quota), and return to 1 pod afterwards", "hpa-v1",
             "HorizontalPodAutoscaler", QUOTA_SPIKE, QUOTA_SPIKE.duration, _judge_hpa_quota),
    Exercise("gentle-scale-down", "scale out fast under the spike, but never remove more than "
             "1 pod per minute on the way down", "hpa-v2", "HorizontalPodAutoscaler",
             COURSE_SPIKE, COURSE_SPIKE.duration, _judge_gentle_scale_down),
    Exercise("right-size-target", "from 20 to 80 users and back, at most 10 s with p95 above "
             "500 ms (after the first 30 s) and at most 2000 pod-seconds", "hpa-v2",
             "HorizontalPodAutoscaler", RIGHT_SIZE_LOAD, RIGHT_SIZE_LOAD.duration,
             _judge_right_size),
    Exercise("fix-cpu-request", "make the HPA see CPU again: no FailedGetResourceMetric, and "
             "3 pods within 120 s of the spike", "hpa-v1", "Deployment", COURSE_SPIKE, 300,
             _judge_fix_request),
    Exercise("kserve-to-zero", "serve the burst with more than one pod, then scale the "
             "predictor to zero within 150 s of the last request", "kserve", "InferenceService",
             BURST, BURST.duration, _judge_kserve_zero),
    Exercise("keda-cooldown", "wake from zero within 30 s, reach 3 pods within 90 s, and be "
             "back at zero within 120 s of the last request", "keda", "ScaledObject",
             KEDA_BURST, KEDA_BURST.duration, _judge_keda_cooldown),
)}


def manifest_of(variant: str, kind: str, name: str | None = None) -> str:
    """The YAML of one object of a course variant: the starting point of an exercise."""
    from .manifests import load_variant

    return yaml.safe_dump(load_variant(variant).get(kind, name).doc, sort_keys=False)

