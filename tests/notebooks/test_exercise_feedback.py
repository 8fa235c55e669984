"""Exercise feedback a learner can act on: their YAML shown as code at the line that failed,
parser and object names kept (not eaten as HTML tags when the result renders as Markdown)."""

from __future__ import annotations

from labkit import checks, exercises

INDENTED = """
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: app-fastapi
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-fastapi}
  minReplicas: 1
 maxReplicas: 5
  targetCPUUtilizationPercentage: 50
"""


def test_a_yaml_error_shows_the_learners_lines_as_code():
    result = exercises.check("hpa-quota", INDENTED)
    (fail,) = result.checks
    assert not fail.passed
    assert ">  9 |  maxReplicas: 5" in fail.code  # the line the parser names, marked
    assert "   8 |   minReplicas: 1" in fail.code
    md = result._repr_markdown_()
    assert "```text\n" in md and ">  9 |  maxReplicas: 5" in md
    assert "&lt;block end&gt;" in md and "<block end>" not in md  # visible, not a tag
    assert ">  9 |" in str(result)  # the plain-text form shows it too


def test_markdown_keeps_angle_brackets_of_object_names():
    ch = checks.Check("the manifest passes labkit validate", False, "1 error(s)",
                      ("<your HorizontalPodAutoscaler>: spec.maxReplicas: must be >= 1",))
    md = ch._repr_markdown_()
    assert "&lt;your HorizontalPodAutoscaler&gt;" in md and "&gt;= 1" in md


def test_excerpt_needs_a_line_number():
    assert exercises.excerpt("a: 1\n", "expected a HorizontalPodAutoscaler") == ""
    assert exercises.excerpt({"kind": "x"}, "line 1") == ""
