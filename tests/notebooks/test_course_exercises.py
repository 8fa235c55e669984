"""Each exercise's starting point fails its checker and its solution passes, on the twin."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from labkit import exercises
from labkit.verify import course_notebooks

NOTEBOOKS = {p.name: p for p in course_notebooks()}


def _cells(notebook: str, tag: str) -> str:
    nb = nbformat.read(str(NOTEBOOKS[notebook]), as_version=4)
    return "\n".join(c.source for c in nb.cells if tag in c.metadata.get("tags", []))


def _value(source: str, variable: str) -> str:
    namespace: dict = {"exercises": exercises}
    exec(compile(source, "<cell>", "exec"), namespace)   # noqa: S102 - our own notebook cell
    return namespace[variable]


CASES = [
    pytest.param("01-hpa-v1.ipynb", "hpa-quota", "my_hpa", "spec.maxReplicas", id="01-quota"),
    pytest.param("02-hpa-v2.ipynb", "gentle-scale-down", "my_hpa",
                 "spec.behavior.scaleDown.policies", id="02-gentle"),
    pytest.param("03-knative-kserve.ipynb", "kserve-to-zero", "my_isvc",
                 "spec.predictor.minReplicas", id="03-kserve-zero"),
    pytest.param("04-keda.ipynb", "keda-cooldown", "my_scaledobject", "spec.cooldownPeriod",
                 id="04-keda-cooldown"),
    pytest.param("05-compare.ipynb", "right-size-target", "my_hpa", "averageUtilization",
                 id="05-right-size"),
    pytest.param("06-troubleshooting.ipynb", "fix-cpu-request", "my_deployment",
                 "resources.requests.cpu", id="06-fix-request"),
    pytest.param("07-async-inference.ipynb", "queue-drain", "my_scaledobject",
                 "spec.cooldownPeriod", id="07-queue-drain"),
]


@pytest.mark.parametrize("notebook, exercise, variable, field", CASES)
def test_exercise_judges_behaviour(notebook, exercise, variable, field):
    start = exercises.check(exercise, _value(_cells(notebook, "exercise"), variable))
    assert not start.passed, f"the starting point of {exercise} already passes:\n{start}"
    failing_hints = " ".join(h for ch in start.checks if not ch.passed for h in ch.hints)
    assert field in failing_hints, f"no hint names {field}:\n{start}"
    solution = _value(_cells(notebook, "exercise") + "\n" + _cells(notebook, "solution"),
                      variable)
    done = exercises.check(exercise, solution)
    assert done.passed, str(done)


@pytest.mark.parametrize("text, message", [
    pytest.param("kind: [unclosed", "does not parse", id="bad-yaml"),
    pytest.param("kind: Deployment\nmetadata: {name: x}", "expected a HorizontalPodAutoscaler",
                 id="wrong-kind"),
])
def test_bad_manifest_is_a_failing_result_not_a_crash(text, message):
    r = exercises.check("hpa-quota", text)
    assert not r.passed
    assert message in str(r)


def test_unknown_exercise():
    with pytest.raises(Exception, match="unknown exercise"):
        exercises.check("nope", "{}")
