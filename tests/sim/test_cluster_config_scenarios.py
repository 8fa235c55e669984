"""Knative's cluster-level configuration (``config-autoscaler``) as part of a variant.

The twin reads the variant's ``config-autoscaler`` ConfigMap (namespace knative-serving, as
Knative does: knative/serving knative-v1.23.0 ``config/core/configmaps/autoscaler.yaml``) below
the revision's annotations and above Knative's defaults; the linter reads it the same way.
"""

from __future__ import annotations

import copy

import pytest

from labkit.backends.sim import SimBackend
from labkit.errors import ManifestError
from labkit.lint import lint_objects
from labkit.load import Step
from labkit.manifests import ManifestObject, load_variant

from .conftest import simulate

IDLE_THEN_QUIET = Step(steps=((0, 0), (20, 5), (120, 0)), duration=400, spawn_rate=50)


def _config(data: dict[str, str], namespace: str = "knative-serving") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "config-autoscaler", "namespace": namespace}, "data": data}


def _knative(annotations: dict[str, str] | None = None, config: dict | None = None):
    v = load_variant("knative")
    if annotations:
        ksvc = copy.deepcopy(v.get("Service").doc)
        ksvc["spec"]["template"]["metadata"]["annotations"].update(annotations)
        v = v.replace(ksvc)
    return v.replace(config, append=True) if config else v


def test_initial_scale_zero_needs_allow_zero_initial_scale_in_config_autoscaler():
    """knative/serving knative-v1.23.0 ``test/e2e/initscale/initial_scale_zero_test.go``
    (``TestInitScaleZero``, run with ``allow-zero-initial-scale: true`` set in
    config-autoscaler by ``test/e2e-tests.sh``): no pod is created. Without that key, Knative's
    webhook refuses ``initial-scale: 0``, and so does the twin."""
    with pytest.raises(ManifestError, match="allow-zero-initial-scale"):
        SimBackend().deploy(_knative({"autoscaling.knative.dev/initial-scale": "0"}))
    b = SimBackend()
    b.deploy(_knative({"autoscaling.knative.dev/initial-scale": "0"},
                      _config({"allow-zero-initial-scale": "true"})))
    tl = b.run(30)
    assert (tl.rollout.spec_replicas == 0).all() and (tl.samples.spec_replicas == 0).all()


def test_enable_scale_to_zero_false_keeps_one_pod():
    """knative/docs page "Configuring scale to zero" (knative.dev/docs/serving/autoscaling/
    scale-to-zero/, "Enable scale to zero": global key only, no per-revision setting): with ``enable-scale-to-zero: "false"`` an idle revision keeps one pod; the shipped variant
    (min-scale 0) reaches zero after the same idle period."""
    off = simulate(_knative(config=_config({"enable-scale-to-zero": "false"})),
                   IDLE_THEN_QUIET, 400)
    on = simulate(_knative(), IDLE_THEN_QUIET, 400)
    assert off.samples[off.samples.time > 300].spec_replicas.min() == 1
    assert on.samples.spec_replicas.iloc[-1] == 0


def test_the_stable_window_comes_from_the_config_map_when_no_annotation_sets_it():
    """``stable-window`` in config-autoscaler is the revision's window unless the ``window``
    annotation overrides it (knative/docs page "Additional autoscaling configuration for Knative
    Pod Autoscaler", knative.dev/docs/serving/autoscaling/kpa-specific/): a 20 s window sees
    the traffic gone 40 s sooner than the default 60 s."""
    def zero_at(tl):
        s = tl.samples
        return s[(s.time > 120) & (s.spec_replicas == 0)].time.min()
    fast = simulate(_knative(config=_config({"stable-window": "20s"})), IDLE_THEN_QUIET, 400)
    default = simulate(_knative(), IDLE_THEN_QUIET, 400)
    assert zero_at(fast) <= zero_at(default) - 30
    pinned = simulate(_knative({"autoscaling.knative.dev/window": "60s"},
                               _config({"stable-window": "20s"})), IDLE_THEN_QUIET, 400)
    assert zero_at(pinned) == zero_at(default)


def test_a_config_autoscaler_outside_knative_serving_is_ignored_and_the_linter_says_so():
    v = _knative(config=_config({"enable-scale-to-zero": "false"}, namespace="default"))
    tl = simulate(v, IDLE_THEN_QUIET, 400)
    assert tl.samples.spec_replicas.iloc[-1] == 0          # as Knative: not its ConfigMap
    found = lint_objects(list(v.objects))
    assert any(f.severity == "warning" and "only in namespace knative-serving" in f.message
               for f in found)


def test_the_linter_refuses_a_value_knatives_config_webhook_refuses():
    cm = ManifestObject(load_variant("knative").path, 9, _config({"stable-window": "3s"}))
    found = [f for f in lint_objects([cm]) if f.severity == "error"]
    assert len(found) == 1 and "stable-window" in found[0].message


def test_a_config_autoscaler_applied_while_running_reaches_the_running_revision():
    """Knative watches ``config-autoscaler`` (knative/serving knative-v1.23.0
    ``cmd/autoscaler/main.go``, ``pkg/reconciler/autoscaling/config/store.go``): applying
    ``enable-scale-to-zero: "false"`` to a running cluster keeps the revision's last pod when
    the traffic stops; an invalid value is refused before anything changes."""
    b = SimBackend()
    b.deploy(_knative())
    b.load(IDLE_THEN_QUIET)
    b.run(60)
    assert b.apply(_config({"enable-scale-to-zero": "false"})) == [
        "configmap/config-autoscaler created"]
    tl = b.run(340)
    assert tl.samples[tl.samples.time > 300].spec_replicas.min() == 1
    with pytest.raises(ManifestError, match="stable-window"):
        b.apply(_config({"stable-window": "3s"}))
    assert b.world.autoscalers[0].settings.stable_window == 60
    assert b.apply(_config({"enable-scale-to-zero": "true"})) == [
        "configmap/config-autoscaler configured"]
    assert b.run(200).samples.spec_replicas.iloc[-1] == 0
