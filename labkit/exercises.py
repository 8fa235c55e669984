"""Exercise checkers: run the learner's manifest on the twin and judge what the autoscaler did.

A checker first runs the validator (``labkit validate``: the Kubernetes schema in strict mode,
labkit's CRD schemas and lints), so an unknown or misspelt field fails with the validator's
message, as ``kubectl apply`` would refuse it. It never reads the YAML for the "right answer":
it replaces the object the learner edited in a course variant, runs the twin (always the twin:
deterministic and fast, whatever backend the notebook uses) under a fixed load profile, and
applies the exercise's judge (:mod:`labkit.exercise_judges`). Each failing check carries hints
written from what the run did and the field that explains it::

    result = exercises.check("gentle-scale-down", my_hpa)
    result          # PASS/FAIL per check, hints under the failures
    result.passed

The exercises are listed in :data:`EXERCISES`; each notebook uses one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yaml

from . import checks as c
from . import exercise_judges as j
from .errors import LabkitError, ManifestError
from .exercise_judges import (BURST, COURSE_SPIKE, GENTLE_SPIKE, KEDA_BURSTS, QUOTA,
                              QUOTA_SPIKE, RIGHT_SIZE_LOAD)
from .load import LoadProfile
from .timeline import Timeline

__all__ = ["Exercise", "ExerciseResult", "EXERCISES", "check", "simulate", "manifest_of",
           "BURST", "COURSE_SPIKE", "GENTLE_SPIKE", "KEDA_BURSTS", "QUOTA_SPIKE",
           "RIGHT_SIZE_LOAD"]


@dataclass(frozen=True)
class Exercise:
    """What the learner must achieve, on which variant, under which load."""

    name: str
    goal: str
    variant: str
    kind: str                                    # the kind of object the learner edits
    profile: LoadProfile
    duration: float
    #: ``judge(timeline, learner's object, course's object) -> checks``
    judge: Callable[[Timeline, dict, dict], list[c.Check]]


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
        head = f"### Exercise `{self.exercise}`: {'passed' if self.passed else 'not yet'}"
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
            # the reader's message names the line and what to check there
            raise LabkitError(f"exercise {exercise.name!r}: the YAML does not parse: {e}") \
                from None
        if len(docs) != 1:
            raise LabkitError(f"exercise {exercise.name!r}: expected one {exercise.kind}, got "
                              f"{len(docs)} documents")
        doc = docs[0]
    if not isinstance(doc, dict) or doc.get("kind") != exercise.kind:
        got = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise LabkitError(f"exercise {exercise.name!r}: expected a {exercise.kind}, got {got}; "
                          f"edit the {exercise.kind} shown in the exercise cell")
    return doc


def _course_object(exercise: Exercise, doc: dict) -> dict:
    """The course's object the learner's replaces (same kind and name), or {} if none."""
    from .manifests import load_variant

    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) \
        else None
    for obj in load_variant(exercise.variant).objects:
        if obj.kind == exercise.kind and (name is None or obj.name == name):
            return obj.doc
    return {}


def validation_errors(exercise: Exercise, doc: dict) -> list[str]:
    """What ``labkit validate`` says about the variant with the learner's object in it.

    The learner's object is named ``<your Kind>`` in the messages (not a course file), and
    only errors count: warnings do not block an exercise.
    """
    from .manifests import ManifestObject, load_variant
    from .validate import validate_objects

    mine = ManifestObject(Path(f"<your {exercise.kind}>"), 0, doc)
    objs = []
    for obj in load_variant(exercise.variant).objects:
        same = (obj.kind, obj.name) == (mine.kind, mine.name)
        objs.append(mine if same else obj)
    if mine not in objs:
        objs.append(mine)
    return [str(f) for f in validate_objects(objs) if f.severity == "error"]


def simulate(exercise: Exercise, doc: dict, *, seed: int = 0) -> Timeline:
    """Run ``exercise``'s variant with ``doc`` replacing its object, on the twin."""
    from .backends.sim import SimBackend
    from .manifests import load_variant

    variant = load_variant(exercise.variant, overrides=[doc])
    b = SimBackend(seed=seed)
    b.deploy(variant)
    b.load(exercise.profile)
    return b.run(exercise.duration)


def excerpt(manifest: str | dict, message: str, around: int = 2) -> str:
    """The learner's YAML around the line an error message names ("line 9"), numbered,
    with ``>`` at that line; empty when the message names no line."""
    import re

    if not isinstance(manifest, str):
        return ""
    m = re.search(r"line (\d+)", message)
    if not m:
        return ""
    lines = manifest.splitlines()
    at = int(m.group(1))
    first, last = max(1, at - around), min(len(lines), at + around)
    width = len(str(last))
    return "\n".join(f"{'>' if n == at else ' '} {n:>{width}} | {lines[n - 1]}"
                     for n in range(first, last + 1))


def check(name: str, manifest: str | dict, *, seed: int = 0) -> ExerciseResult:
    """Judge the learner's ``manifest`` for exercise ``name`` by running it on the twin.

    The validator runs first: a manifest that does not parse, is not the expected kind, or
    that ``labkit validate`` rejects gives a failing result whose hints are the validator's
    messages (the exercise cell never crashes on a typo).
    """
    try:
        exercise = EXERCISES[name]
    except KeyError:
        raise LabkitError(f"unknown exercise {name!r}; choose one of "
                          f"{', '.join(EXERCISES)}") from None
    try:
        doc = _parse(manifest, exercise)
        errors = validation_errors(exercise, doc)
        if errors:
            fail = c.Check("the manifest passes labkit validate", False,
                           f"{len(errors)} error(s)", tuple(errors))
            return ExerciseResult(name, exercise.goal, (fail,))
        tl = simulate(exercise, doc, seed=seed)
    except LabkitError as e:
        fail = c.Check("the manifest is accepted", False, "rejected", (str(e),),
                       code=excerpt(manifest, str(e)))
        return ExerciseResult(name, exercise.goal, (fail,))
    return ExerciseResult(name, exercise.goal,
                          tuple(exercise.judge(tl, doc, _course_object(exercise, doc))), tl)


# -- the course's exercises (judges and loads: labkit/exercise_judges.py) -------------------
EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise("hpa-quota", f"under a {QUOTA_SPIKE.peak_users:.0f}-user spike, never run more than "
             f"{QUOTA} pods (the quota) but use all {QUOTA} within 60 s, and return to 1 pod "
             "afterwards", "hpa-v1", "HorizontalPodAutoscaler", QUOTA_SPIKE,
             QUOTA_SPIKE.duration, j.judge_hpa_quota),
    Exercise("gentle-scale-down", "scale out fast under the spike (8 pods within 90 s), but never "
             "remove more than 1 pod per minute on the way down, and still get back to 2",
             "hpa-v2", "HorizontalPodAutoscaler", GENTLE_SPIKE, GENTLE_SPIKE.duration,
             j.judge_gentle_scale_down),
    Exercise("right-size-target", "from 20 to 80 users and back, at most 10 s with p95 above "
             "500 ms (after the first 30 s) and at most 2000 pod-seconds, changing the CPU "
             "target only", "hpa-v2", "HorizontalPodAutoscaler", RIGHT_SIZE_LOAD,
             RIGHT_SIZE_LOAD.duration, j.judge_right_size),
    Exercise("fix-cpu-request", "make the HPA see CPU again: no FailedGetResourceMetric, 3 pods "
             "within 120 s of the spike, and no more than 6 (about 4 serve it)", "hpa-v1",
             "Deployment", COURSE_SPIKE, 300, j.judge_fix_request),
    Exercise("kserve-to-zero", "serve the burst with more than one pod, then scale the "
             "predictor to zero within 150 s of the last request", "kserve", "InferenceService",
             BURST, BURST.duration, j.judge_kserve_zero),
    Exercise("keda-cooldown", "wake from zero within 20 s, reach 3 pods within 90 s, keep a pod "
             "through the 75 s pause between two bursts, and be back at zero within 120 s of "
             "the last request", "keda", "ScaledObject", KEDA_BURSTS, KEDA_BURSTS.duration,
             j.judge_keda_cooldown),
    Exercise("queue-drain", f"drain a burst of {j.QUEUE_BURST.jobs:.0f} jobs (100 a second for "
             f"30 s) within {j.QUEUE_DRAIN_S} s of the last one, for at most "
             f"{j.QUEUE_BUDGET} pod-seconds of workers, and be back at zero workers within "
             f"{j.QUEUE_ZERO_S} s", "queue", "ScaledObject", j.QUEUE_BURST,
             j.QUEUE_BURST.duration, j.judge_queue_drain),
)}


def manifest_of(variant: str, kind: str, name: str | None = None) -> str:
    """The YAML of one object of a course variant: the starting point of an exercise."""
    from .manifests import load_variant

    return yaml.safe_dump(load_variant(variant).get(kind, name).doc, sort_keys=False)

