"""Each exercise checker tells right from wrong: its solution passes, and plausible wrong
answers fail with a hint that names their cause.

The wrong answers are the near misses a learner really writes (found by trying the exercises
the wrong way): a target instead of a cap, a policy period that is too short, a retention
annotation, a cooldown shorter than the pause in the traffic. Each is an edit of the
notebook's own solution, so the tests follow the notebooks.
"""

from __future__ import annotations

import nbformat
import pytest

from labkit import exercises
from labkit.verify import course_notebooks

NOTEBOOKS = {p.name: p for p in course_notebooks()}
WHERE = {
    "hpa-quota": ("01-hpa-v1.ipynb", "my_hpa"),
    "gentle-scale-down": ("02-hpa-v2.ipynb", "my_hpa"),
    "kserve-to-zero": ("03-knative-kserve.ipynb", "my_isvc"),
    "keda-cooldown": ("04-keda.ipynb", "my_scaledobject"),
    "right-size-target": ("05-compare.ipynb", "my_hpa"),
    "fix-cpu-request": ("06-troubleshooting.ipynb", "my_deployment"),
    "queue-drain": ("07-async-inference.ipynb", "my_scaledobject"),
}


def _solution(exercise: str) -> str:
    notebook, variable = WHERE[exercise]
    nb = nbformat.read(str(NOTEBOOKS[notebook]), as_version=4)
    source = "\n".join(c.source for c in nb.cells
                       if {"exercise", "solution"} & set(c.metadata.get("tags", [])))
    namespace: dict = {"exercises": exercises}
    exec(compile(source, "<cells>", "exec"), namespace)   # noqa: S102 - our own notebook cells
    return namespace[variable]


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, f"the solution no longer contains {old!r}"
    return text.replace(old, new)


def _hints(result) -> str:
    return " ".join(h for ch in result.checks if not ch.passed for h in ch.hints)


# (exercise, label, edit of the solution, words the failing hints must contain)
POLICY = "{type: Pods, value: 1, periodSeconds: 60}"
WRONG = [
    # 01: a quota is a cap (maxReplicas), not a higher target, and all of it should be used
    ("hpa-quota", "no-cap", ("maxReplicas: 5", "maxReplicas: 10"), ["asked for", "maxReplicas"]),
    ("hpa-quota", "target-instead-of-cap",
     ("maxReplicas: 5", "maxReplicas: 10", "Percentage: 50", "Percentage: 150"),
     ["higher target", "maxReplicas"]),
    ("hpa-quota", "quota-unused", ("maxReplicas: 5", "maxReplicas: 4"),
     ["stopped at 4", "use all"]),
    ("hpa-quota", "min-equals-max", ("minReplicas: 1", "minReplicas: 5"), ["minReplicas"]),
    ("hpa-quota", "slow-target", ("Percentage: 50", "Percentage: 150"), ["took", "target"]),
    # 02: the policy must say one pod per minute, alone or with Min
    ("gentle-scale-down", "percent", (POLICY, "{type: Percent, value: 25, periodSeconds: 60}"),
     ["Percent 25", "removed"]),
    ("gentle-scale-down", "short-period", (POLICY, "{type: Pods, value: 1, periodSeconds: 30}"),
     ["per 30 s is 2 per minute"]),
    ("gentle-scale-down", "max-of-two",
     (POLICY, POLICY + "\n        - {type: Percent, value: 50, periodSeconds: 60}"),
     ["selectPolicy Max"]),
    ("gentle-scale-down", "disabled", ("policies:", "selectPolicy: Disabled\n      policies:"),
     ["Disabled forbids scale-down"]),
    ("gentle-scale-down", "long-window",
     ("stabilizationWindowSeconds: 300", "stabilizationWindowSeconds: 3600"), ["3600"]),
    # 03: minReplicas default, retention, the HPA mode, capacity
    ("kserve-to-zero", "default-min", ("minReplicas: 0", "minReplicas: 1"),
     ["spec.predictor.minReplicas", "default is 1"]),
    ("kserve-to-zero", "retention",
     ("deploymentMode: Knative", "deploymentMode: Knative\n    autoscaling.knative.dev/"
      "scale-to-zero-pod-retention-period: \"5m\""), ["retention-period: 5m"]),
    ("kserve-to-zero", "raw-deployment", ("deploymentMode: Knative", "deploymentMode: "
                                          "RawDeployment"), ["RawDeployment", "HPA"]),
    ("kserve-to-zero", "one-pod", ("maxReplicas: 10", "maxReplicas: 1"), ["maxReplicas"]),
    # 04: poll, cooldown vs the pause, activation, target
    ("keda-cooldown", "slow-poll", ("pollingInterval: 5", "pollingInterval: 30"),
     ["pollingInterval (30 s"]),
    ("keda-cooldown", "course-cooldown", ("cooldownPeriod: 90", "cooldownPeriod: 60"),
     ["cooldownPeriod 60 s is shorter than the pauses"]),
    ("keda-cooldown", "cooldown-zero", ("cooldownPeriod: 90", "cooldownPeriod: 0"),
     ["cooldownPeriod 0 s is shorter than the pauses"]),
    ("keda-cooldown", "cooldown-too-long", ("cooldownPeriod: 90", "cooldownPeriod: 150"),
     ["yours is 150 s"]),
    ("keda-cooldown", "activation-high",
     ('activationTargetValue: "0"', 'activationTargetValue: "50"'), ["activationTargetValue 50"]),
    ("keda-cooldown", "target-high", ('targetValue: "5"\n', 'targetValue: "50"\n'),
     ["targetValue"]),
    # 05: near misses on either side, and changing more than the target
    ("right-size-target", "too-low", ("averageUtilization: 70", "averageUtilization: 60"),
     ["Raise", "idle"]),
    ("right-size-target", "too-high", ("averageUtilization: 70", "averageUtilization: 85"),
     ["Lower", "packed"]),
    ("right-size-target", "warm-floor", ("minReplicas: 1", "minReplicas: 3"),
     ["target alone"]),
    # 06: a limit only, a huge request, a tiny request, no request
    ("fix-cpu-request", "limit-only", ("cpu: 200m, ", ""), ["copies the limit"]),
    ("fix-cpu-request", "two-cores", ("cpu: 200m", "cpu: '2'", "cpu: 500m", "cpu: '4'"),
     ["far above", "idle"]),
    ("fix-cpu-request", "tiny-request", ("cpu: 200m", "cpu: 50m"), ["far", "below", "overloaded"]),
    # no CPU at all: the validator's lint already names it, before any run
    ("fix-cpu-request", "no-cpu-at-all", ("cpu: 200m, ", "", "cpu: 500m, ", ""),
     ["sets none", "requests.cpu"]),
    # 07: jobs per worker, the worker cap, the cooldown (cost, then zero), a slow poll
    ("queue-drain", "big-list-length", ('listLength: "100"', 'listLength: "1000"'),
     ["asked for only", "listLength is 1000"]),
    ("queue-drain", "worker-cap", ("maxReplicaCount: 10", "maxReplicaCount: 2"),
     ["spec.maxReplicaCount (2)"]),
    ("queue-drain", "default-cooldown", ("cooldownPeriod: 60", "cooldownPeriod: 300"),
     ["Too expensive", "cooldownPeriod (300 s here)", "yours is 300 s"]),
    ("queue-drain", "cooldown-too-long", ("cooldownPeriod: 60", "cooldownPeriod: 180"),
     ["yours is 180 s"]),
    ("queue-drain", "slow-poll-big-list",
     ("pollingInterval: 5", "pollingInterval: 30", 'listLength: "100"', 'listLength: "1000"'),
     ["pollingInterval is 30 s"]),
]


@pytest.mark.parametrize("exercise", list(WHERE))
def test_solution_passes(exercise):
    result = exercises.check(exercise, _solution(exercise))
    assert result.passed, str(result)


@pytest.mark.parametrize("exercise, label, edits, words", WRONG,
                         ids=[f"{w[0]}-{w[1]}" for w in WRONG])
def test_wrong_answer_fails_with_its_cause(exercise, label, edits, words):
    text = _solution(exercise)
    for old, new in zip(edits[::2], edits[1::2]):
        text = _edit(text, old, new)
    result = exercises.check(exercise, text)
    assert not result.passed, f"{label} passes:\n{result}"
    hints = _hints(result)
    for w in words:
        assert w in hints, f"{label}: no {w!r} in the hints:\n{result}"


@pytest.mark.parametrize("exercise, old, new, word", [
    pytest.param("hpa-quota", "targetCPUUtilizationPercentage", "targetCPUUtilisationPercentage",
                 "Did you mean 'targetCPUUtilizationPercentage'", id="hpa-typo"),
    pytest.param("keda-cooldown", "cooldownPeriod: 90", "coolDownPeriod: 90", "coolDownPeriod",
                 id="keda-typo"),
    pytest.param("kserve-to-zero", "minReplicas: 0", "minReplica: 0", "minReplica",
                 id="kserve-typo"),
])
def test_misspelt_field_fails_with_the_validators_message(exercise, old, new, word):
    result = exercises.check(exercise, _edit(_solution(exercise), old, new))
    assert not result.passed
    [ch] = result.checks
    assert ch.claim == "the manifest passes labkit validate"
    assert word in " ".join(ch.hints)
    assert "<your " in " ".join(ch.hints), "the message names the learner's object"
