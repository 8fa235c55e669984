"""The autoscaling annotations Knative Serving reads, with every alias: one table for all.

The twin (:mod:`labkit.autoscalers.knative_settings`) and the linter (:mod:`labkit.lint`) both
read annotation keys through this table, so they accept the same spellings.

Source: knative/serving, tag ``knative-v1.23.0``, ``pkg/apis/autoscaling/register.go``: each
annotation is a ``kmap.KeyPriority`` (the kebab-case key first, then the older camelCase alias,
e.g. ``MinScaleAnnotation = {".../min-scale", ".../minScale"}``). ``KeyPriority.Get`` returns the
first key present, so when both spellings are set the kebab-case one wins. Knative validates the
values (``pkg/apis/autoscaling/annotation_validation.go``) but does *not* reject keys it does not
know: an unknown ``autoscaling.knative.dev/...`` key is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

PREFIX = "autoscaling.knative.dev/"


@dataclass(frozen=True)
class Annotation:
    """One autoscaling annotation: its name after the prefix, its aliases, and its value kind.

    ``kind`` says what :mod:`labkit.lint` checks before the twin's own validation runs:
    ``class``, ``metric``, ``number``, ``int`` (whole number >= 0), ``duration`` or ``str``.
    ``config_key`` is the ``config-autoscaler`` ConfigMap key it overrides, if any.
    """

    name: str
    aliases: tuple[str, ...] = ()
    kind: str = "str"
    config_key: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Full keys in Knative's priority order (``kmap.KeyPriority``)."""
        return (PREFIX + self.name, *(PREFIX + a for a in self.aliases))


# register.go at knative-v1.23.0, in its order; aliases copied from the KeyPriority lists.
ANNOTATIONS: Mapping[str, Annotation] = {a.name: a for a in (
    Annotation("class", kind="class", config_key="pod-autoscaler-class"),
    Annotation("initial-scale", ("initialScale",), "int", "initial-scale"),
    Annotation("max-scale", ("maxScale",), "int", "max-scale"),
    Annotation("metric", kind="metric"),
    Annotation("metric-aggregation-algorithm", ("metricAggregationAlgorithm",), "str"),
    Annotation("activation-scale", kind="int"),
    Annotation("min-scale", ("minScale",), "int", "min-scale"),
    Annotation("panic-threshold-percentage", ("panicThresholdPercentage",), "number",
               "panic-threshold-percentage"),
    Annotation("panic-window-percentage", ("panicWindowPercentage",), "number",
               "panic-window-percentage"),
    Annotation("scale-down-delay", ("scaleDownDelay",), "duration", "scale-down-delay"),
    Annotation("scale-to-zero-pod-retention-period", ("scaleToZeroPodRetentionPeriod",),
               "duration", "scale-to-zero-pod-retention-period"),
    Annotation("target", kind="number"),
    Annotation("target-burst-capacity", ("targetBurstCapacity",), "number",
               "target-burst-capacity"),
    Annotation("target-utilization-percentage", ("targetUtilizationPercentage",), "number"),
    Annotation("window", kind="duration", config_key="stable-window"),
)}

#: Every key Knative reads (kebab-case and aliases) -> the annotation it belongs to.
KNOWN_KEYS: Mapping[str, Annotation] = {k: a for a in ANNOTATIONS.values() for k in a.keys}


def lookup(annotations: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(key, value)`` of annotation ``name`` as Knative reads it (``KeyPriority.Get``), or None."""
    for key in ANNOTATIONS[name].keys:
        if key in annotations:
            return key, str(annotations[key])
    return None


def shadowed(annotations: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(ignored key, key read instead)`` for each annotation set under two spellings."""
    out = []
    for a in ANNOTATIONS.values():
        present = [k for k in a.keys if k in annotations]
        out.extend((k, present[0]) for k in present[1:])
    return out
