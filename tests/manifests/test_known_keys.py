"""The linter and the twin accept the same manifests as the pinned upstream versions.

Knative rows: knative/serving knative-v1.23.0, ``pkg/apis/autoscaling/register.go`` (the
``kmap.KeyPriority`` alias lists) and ``annotation_validation.go``. The docs example
``autoscaling.knative.dev/scaleToZeroPodRetentionPeriod`` is the camelCase alias of
``ScaleToZeroPodRetentionPeriodAnnotation``. KEDA rows: kedacore/keda v2.20.2,
``apis/keda/v1alpha1/scaledobject_types_test.go`` ``TestCheckReplicaCountBoundsAreValid`` plus
the unset-minimum cases of ``CheckReplicaCountBoundsAreValid``.
"""

from __future__ import annotations

import copy

import pytest

from labkit.autoscalers.keda import scaled_object_from_manifest
from labkit.autoscalers.knative_annotations import ANNOTATIONS, KNOWN_KEYS, lookup
from labkit.autoscalers.knative_settings import kpa_settings
from labkit.errors import ManifestError
from labkit.lint import lint_objects
from labkit.manifests import load_variant

A = "autoscaling.knative.dev/"


def _ksvc(annotations: dict[str, str], config: dict[str, str] | None = None):
    v = load_variant("knative")
    doc = copy.deepcopy(v.get("Service").doc)
    doc["spec"]["template"]["metadata"]["annotations"] = annotations
    v = v.replace(doc)
    if config is not None:
        v = v.replace({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "config-autoscaler", "namespace": "knative-serving"},
                       "data": config}, append=True)
    return v


def _twin_accepts_knative(annotations, config=None) -> bool:
    try:
        kpa_settings(annotations, container_concurrency=20, config=config)
    except ManifestError:
        return False
    return True


KNATIVE = [
    # annotations, config-autoscaler data, accepted by Knative 1.23
    pytest.param({A + "minScale": "3"}, None, True, id="alias-minScale"),
    pytest.param({A + "maxScale": "5", A + "initialScale": "2"}, None, True, id="alias-max-initial"),
    pytest.param({A + "scaleToZeroPodRetentionPeriod": "1m5s"}, None, True,
                 id="docs-example-scaleToZeroPodRetentionPeriod"),
    pytest.param({A + "scaleDownDelay": "15m"}, None, True, id="alias-scaleDownDelay"),
    pytest.param({A + "targetBurstCapacity": "-1", A + "panicWindowPercentage": "20",
                  A + "panicThresholdPercentage": "150",
                  A + "targetUtilizationPercentage": "80",
                  A + "metricAggregationAlgorithm": "weightedExponential"}, None, True,
                 id="alias-panic-tbc-tu-algorithm"),
    pytest.param({A + "minScale": "-1"}, None, False, id="alias-minScale-negative"),
    pytest.param({A + "panicWindowPercentage": "0"}, None, False, id="alias-panic-window-0"),
    pytest.param({A + "minScale": "4", A + "maxScale": "2"}, None, False, id="alias-min-above-max"),
    pytest.param({A + "initialScale": "0"}, None, False, id="initial-zero-not-allowed"),
    pytest.param({A + "initialScale": "0"}, {"allow-zero-initial-scale": "true"}, True,
                 id="initial-zero-allowed-by-config"),
    pytest.param({A + "max-scale": "0"}, {"max-scale-limit": "10"}, False,
                 id="unlimited-above-max-scale-limit"),
    pytest.param({A + "window": "5s"}, None, False, id="window-below-6s"),
]


@pytest.mark.parametrize("annotations, config, accepted", KNATIVE)
def test_knative_twin_and_linter_agree_with_upstream(annotations, config, accepted):
    assert _twin_accepts_knative(annotations, config) is accepted
    errors = [f for f in lint_objects(_ksvc(annotations, config).objects) if f.severity == "error"]
    assert (errors == []) is accepted, errors


def test_the_twin_reads_the_alias_a_min_scale_3_service_keeps_3_pods():
    s = kpa_settings({A + "minScale": "3", A + "maxScale": "5"})
    assert (s.min_scale, s.max_scale, s.initial_target) == (3, 5, 3)
    assert kpa_settings({A + "scaleToZeroPodRetentionPeriod": "1m5s"}) \
        .scale_to_zero_pod_retention_period == 65


def test_kebab_case_wins_when_both_spellings_are_set_and_the_linter_says_so():
    ann = {A + "min-scale": "2", A + "minScale": "4"}
    assert lookup(ann, "min-scale") == (A + "min-scale", "2")     # KeyPriority.Get: first key
    assert kpa_settings(ann).min_scale == 2
    findings = lint_objects(_ksvc(ann).objects)
    assert [(f.severity, f.field.rsplit("[", 1)[-1]) for f in findings] == \
        [("warning", A + "minScale]")]


def test_unknown_key_is_a_warning_because_knative_ignores_it():
    (f,) = lint_objects(_ksvc({A + "minScael": "3"}).objects)
    assert f.severity == "warning" and "did you mean autoscaling.knative.dev/minScale" in f.message
    assert _twin_accepts_knative({A + "minScael": "3"})


def test_the_table_has_every_alias_of_register_go():
    aliases = {k for a in ANNOTATIONS.values() for k in a.keys[1:]}
    assert aliases == {A + n for n in (
        "initialScale", "maxScale", "metricAggregationAlgorithm", "minScale",
        "panicThresholdPercentage", "panicWindowPercentage", "scaleDownDelay",
        "scaleToZeroPodRetentionPeriod", "targetBurstCapacity", "targetUtilizationPercentage")}
    assert len(KNOWN_KEYS) == 15 + 10


def _so(**spec) -> dict:
    doc = copy.deepcopy(load_variant("keda").get("ScaledObject").doc)
    for k in ("minReplicaCount", "maxReplicaCount", "idleReplicaCount"):
        doc["spec"].pop(k, None)
    doc["spec"].update(spec)
    return doc


KEDA = [
    pytest.param(dict(minReplicaCount=1, maxReplicaCount=5), True, id="min1-max5"),
    pytest.param(dict(minReplicaCount=1, maxReplicaCount=5, idleReplicaCount=0), True,
                 id="min1-max5-idle0"),
    pytest.param(dict(minReplicaCount=2, maxReplicaCount=1), False, id="min2-above-max1"),
    pytest.param(dict(minReplicaCount=1, maxReplicaCount=5, idleReplicaCount=1), False,
                 id="idle1-equals-min1"),
    pytest.param(dict(minReplicaCount=1, maxReplicaCount=5, idleReplicaCount=2), False,
                 id="idle2-above-min1"),
    # minReplicaCount written as 0: compared as the HPA's minimum, 1.
    pytest.param(dict(minReplicaCount=0, maxReplicaCount=5, idleReplicaCount=0), True,
                 id="min0-idle0-valid"),
    pytest.param(dict(maxReplicaCount=5, idleReplicaCount=0), False, id="min-unset-idle0"),
    pytest.param(dict(minReplicaCount=0, maxReplicaCount=0), False, id="min0-max0"),
    pytest.param(dict(maxReplicaCount=0), True, id="min-unset-max0"),
]


@pytest.mark.parametrize("spec, accepted", KEDA)
def test_keda_twin_and_linter_agree_with_the_webhook(spec, accepted):
    doc = _so(**spec)
    try:
        scaled_object_from_manifest(doc)
        twin = True
    except ManifestError:
        twin = False
    assert twin is accepted
    v = load_variant("keda").replace(doc)
    errors = [f for f in lint_objects(v.objects) if f.severity == "error"]
    assert (errors == []) is accepted, errors
