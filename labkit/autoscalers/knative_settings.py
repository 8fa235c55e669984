"""Knative revision settings: ``config-autoscaler`` defaults overridden by annotations (§2.2–2.3).

Pure rules [KN-CFG, KN-REG, KN-TGT]: the ConfigMap keys and defaults of knative/serving
``pkg/autoscaler/config/config.go`` and the annotation checks of
``pkg/apis/autoscaling/annotation_validation.go`` (tag ``knative-v1.23.0``); annotation keys and
their aliases come from :mod:`labkit.autoscalers.knative_annotations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import ManifestError
from .knative_annotations import PREFIX, lookup
from .kpa_window import panic_window_seconds

ANNOTATION_PREFIX = PREFIX
KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"


# config-autoscaler defaults [KN-CFG]; the ConfigMap spells durations as strings.
CONFIG_DEFAULTS: Mapping[str, str] = {
    "container-concurrency-target-default": "100",
    "container-concurrency-target-percentage": "70",
    "requests-per-second-target-default": "200",
    "pod-autoscaler-class": KPA_CLASS,
    "stable-window": "60s",
    "panic-window-percentage": "10",
    "panic-threshold-percentage": "200",
    "max-scale-up-rate": "1000",
    "max-scale-down-rate": "2",
    "target-burst-capacity": "211",
    "activator-capacity": "100",
    "enable-scale-to-zero": "true",
    "scale-to-zero-grace-period": "30s",
    "scale-to-zero-pod-retention-period": "0s",
    "scale-down-delay": "0s",
    "initial-scale": "1",
    "allow-zero-initial-scale": "false",
    "min-scale": "0",
    "max-scale": "0",
    "max-scale-limit": "0",
}
RPS_TARGET_UTILIZATION = 0.7   # fixed for RPS, no ConfigMap key [KN-TGT]

#: Where Knative reads it: knative/serving knative-v1.23.0 config/core/configmaps/autoscaler.yaml
#: (``name: config-autoscaler``, ``namespace: knative-serving``; ``ConfigName`` in
#: pkg/autoscaler/config/config.go). A ConfigMap of that name elsewhere is just a ConfigMap.
CONFIG_NAMESPACE, CONFIG_NAME = "knative-serving", "config-autoscaler"


def is_autoscaler_config(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` is the ConfigMap Knative's autoscaler reads (name and namespace)."""
    meta = doc.get("metadata") or {}
    return (doc.get("kind") == "ConfigMap" and str(doc.get("apiVersion")) == "v1"
            and meta.get("name") == CONFIG_NAME and meta.get("namespace") == CONFIG_NAMESPACE)


def autoscaler_config(docs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``data`` of the ``config-autoscaler`` ConfigMap among ``docs`` ({} when there is none).

    The ``_example`` key of the shipped ConfigMap is documentation, not configuration.
    """
    for doc in docs:
        if is_autoscaler_config(doc):
            return {str(k): str(v) for k, v in (doc.get("data") or {}).items()
                    if k != "_example"}
    return {}


@dataclass(frozen=True)
class KPASettings:
    """The resolved autoscaling settings of one revision (ConfigMap defaults + annotations)."""

    pod_autoscaler_class: str = KPA_CLASS
    metric: str = "concurrency"
    target: float = 70.0
    total: float = 100.0
    target_utilization: float = 0.7
    container_concurrency: int = 0
    stable_window: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    target_burst_capacity: float = 211.0
    activator_capacity: float = 100.0
    activation_scale: int = 1
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    scale_down_delay: float = 0.0
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention_period: float = 0.0
    enable_scale_to_zero: bool = True
    metric_aggregation_algorithm: str = "linear"

    @property
    def panic_threshold(self) -> float:
        """The panic threshold as a ratio (200 % → 2.0)."""
        return self.panic_threshold_percentage / 100.0

    @property
    def panic_window(self) -> int:
        """The panic window in whole seconds (§2.4)."""
        return panic_window_seconds(self)

    @property
    def initial_target(self) -> int:
        """Replicas a new revision starts with: ``max(min-scale, initial-scale)`` (§2.6)."""
        return max(self.min_scale, self.initial_scale)


# ---------------------------------------------------------------- parsing helpers

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Parse a Go duration string (``"60s"``, ``"1m30s"``, ``"0"``) into seconds.

    Raises ``ValueError`` when the text is not a Go duration.
    """
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h")
    return sign * total


class _Reader:
    """Reads one key from annotations first, then the ConfigMap, raising ManifestError naming it."""

    def __init__(self, annotations: Mapping[str, str], config: Mapping[str, str]):
        self.annotations, self.config = annotations, config

    def raw(self, annotation: str | None, key: str | None) -> tuple[str, str] | None:
        # The kebab-case key or its camelCase alias, whichever Knative's KeyPriority finds first.
        found = lookup(self.annotations, annotation) if annotation else None
        if found is not None:
            return found[1], found[0]
        if key and key in self.config:
            return str(self.config[key]), f"config-autoscaler {key}"
        if key and key in CONFIG_DEFAULTS:
            return CONFIG_DEFAULTS[key], f"config-autoscaler {key}"
        return None

    def number(self, annotation, key, *, lo=None, hi=None, lo_open=False, integer=False,
               allowed=(), hint=""):
        got = self.raw(annotation, key)
        if got is None:
            return None, None
        text, where = got
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise ManifestError(f"{where}={text!r} is not {'an integer' if integer else 'a number'}"
                                f"{hint}", field=where) from None
        if value in allowed:
            return value, where
        bad = (lo is not None and (value <= lo if lo_open else value < lo)) or (
            hi is not None and value > hi)
        if bad:
            rng = f"{'>' if lo_open else '>='} {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise ManifestError(f"{where}={text!r} is out of range: it must be {rng}{hint}; "
                                "Knative rejects the revision otherwise", field=where)
        return value, where

    def duration(self, annotation, key, *, lo=0.0, hi=None, lo_open=False, whole=False):
        got = self.raw(annotation, key)
        if got is None:
            return None
        text, where = got
        try:
            seconds = parse_duration(text)
        except ValueError as e:
            raise ManifestError(f"{where}: {e}", field=where) from None
        if (seconds <= lo if lo_open else seconds < lo) or (hi is not None and seconds > hi):
            rng = f"> {lo:g}s" if hi is None and lo_open else (
                f">= {lo:g}s" if hi is None else f"in [{lo:g}s, {hi:g}s]")
            raise ManifestError(f"{where}={text!r} is out of range: it must be {rng}",
                                field=where)
        if whole and seconds != int(seconds):
            raise ManifestError(f"{where}={text!r} must be whole seconds (e.g. 60s)", field=where)
        return seconds


def _bool(text: str) -> bool:
    return text.strip().lower() == "true"


def kpa_settings(annotations: Mapping[str, str], *, container_concurrency: int = 0,
                 config: Mapping[str, str] | None = None) -> KPASettings:
    """Resolve a revision's KPA settings from its annotations and ``config-autoscaler`` (§2.2–2.3).

    Rules [KN-CFG, KN-REG, KN-TGT]:

    - an annotation overrides the ConfigMap key; the ConfigMap overrides the built-in default;
    - ``total`` = ``containerConcurrency`` if > 0, else the concurrency (or RPS) default; a ``target``
      annotation replaces it, capped at ``containerConcurrency`` for concurrency;
    - utilization = ConfigMap percentage (values ≤ 1 read as fractions) for concurrency, 0.7 for
      RPS; the ``target-utilization-percentage`` annotation overrides both;
    - ``target = max(0.01, total × utilization)``.

    Raises ManifestError naming the annotation or key when a value is malformed or out of range.
    """
    cfg = dict(config or {})
    rd = _Reader(annotations, cfg)

    cls = rd.raw("class", "pod-autoscaler-class")[0]
    if cls not in (KPA_CLASS, HPA_CLASS):
        # validateClass rejects only unknown classes in the knative.dev domain; any other class
        # is accepted and left to a custom autoscaler, which the lab does not install.
        why = ("Knative rejects the revision" if cls.endswith(".knative.dev") else
               "Knative accepts it as a custom class, but no autoscaler in the lab handles it, "
               "so the revision would never scale")
        raise ManifestError(f"{ANNOTATION_PREFIX}class={cls!r}: {why}; use {KPA_CLASS} "
                            f"or {HPA_CLASS}", field=ANNOTATION_PREFIX + "class")
    metric_raw = rd.raw("metric", None)
    metric = metric_raw[0] if metric_raw else ("concurrency" if cls == KPA_CLASS else "cpu")
    if cls == KPA_CLASS and metric not in ("concurrency", "rps"):
        raise ManifestError(f"{ANNOTATION_PREFIX}metric={metric!r} is not supported by the KPA "
                            "(only concurrency or rps); for cpu or memory set "
                            f"{ANNOTATION_PREFIX}class: {HPA_CLASS}",
                            field=ANNOTATION_PREFIX + "metric")
    if container_concurrency < 0:
        raise ManifestError(f"containerConcurrency={container_concurrency} must be >= 0 "
                            "(0 = unlimited)", field="containerConcurrency")

    # Target resolution (§2.3).
    if metric == "rps":
        total, _ = rd.number(None, "requests-per-second-target-default", lo=0.01)
        utilization = RPS_TARGET_UTILIZATION
    else:
        cc_default, _ = rd.number(None, "container-concurrency-target-default", lo=0.01)
        total = float(container_concurrency) if container_concurrency > 0 else cc_default
        pct, where = rd.number(None, "container-concurrency-target-percentage", lo=0, hi=100,
                               lo_open=True)
        utilization = pct if pct <= 1.0 else pct / 100.0
    ann_target, _ = rd.number("target", None, lo=0.01)
    if ann_target is not None:
        total = ann_target
        if metric == "concurrency" and container_concurrency > 0:
            total = min(ann_target, float(container_concurrency))
    ann_tu, _ = rd.number("target-utilization-percentage", None, lo=1, hi=100)
    if ann_tu is not None:
        utilization = ann_tu / 100.0
    target = max(0.01, total * utilization)

    stable_window = rd.duration("window", "stable-window", lo=6.0, hi=3600.0, whole=True)
    pwp, _ = rd.number("panic-window-percentage", "panic-window-percentage", lo=1, hi=100)
    ptp, _ = rd.number("panic-threshold-percentage", "panic-threshold-percentage", lo=110, hi=1000)
    up, _ = rd.number(None, "max-scale-up-rate", lo=1, lo_open=True)
    down, _ = rd.number(None, "max-scale-down-rate", lo=1, lo_open=True)
    tbc, _ = rd.number("target-burst-capacity", "target-burst-capacity", lo=0, allowed=(-1,),
                       hint=" (or -1 for unlimited)")
    act_cap, _ = rd.number(None, "activator-capacity", lo=1)
    grace = rd.duration(None, "scale-to-zero-grace-period", lo=0.0, lo_open=True)
    retention = rd.duration("scale-to-zero-pod-retention-period",
                            "scale-to-zero-pod-retention-period", lo=0.0)
    delay = rd.duration("scale-down-delay", "scale-down-delay", lo=0.0, hi=3600.0, whole=True)
    enable_s2z = _bool(rd.raw(None, "enable-scale-to-zero")[0])
    allow_zero_initial = _bool(rd.raw(None, "allow-zero-initial-scale")[0])
    initial, where = rd.number("initial-scale", "initial-scale", lo=0, integer=True)
    if initial == 0 and not allow_zero_initial:
        raise ManifestError(f"{where}=0 needs allow-zero-initial-scale: \"true\" in the "
                            "config-autoscaler ConfigMap; use 1 or enable it", field=where)
    min_scale, min_where = rd.number("min-scale", "min-scale", lo=0, integer=True)
    max_scale, max_where = rd.number("max-scale", "max-scale", lo=0, integer=True)
    limit, _ = rd.number(None, "max-scale-limit", lo=0, integer=True)
    if limit > 0 and (max_scale == 0 or max_scale > limit):
        raise ManifestError(f"{max_where}={max_scale} exceeds max-scale-limit {limit} "
                            "(0 means unlimited); set max-scale between 1 and the limit",
                            field=max_where)
    if max_scale > 0 and min_scale > max_scale:
        # Knative: "max-scale=%d is less than min-scale=%d" (validateMinMaxScale).
        raise ManifestError(f"min-scale {min_scale} is above max-scale {max_scale} (Knative: "
                            f"max-scale={max_scale} is less than min-scale={min_scale}); lower "
                            "min-scale or raise max-scale",
                            field=min_where or ANNOTATION_PREFIX + "min-scale")
    act, act_where = rd.number("activation-scale", None, lo=2, integer=True,
                               hint=" (1 is the built-in behaviour; leave it unset)")
    if act is not None and (act < min_scale or (max_scale > 0 and act > max_scale)):
        raise ManifestError(f"{act_where}={act} must lie within [min-scale {min_scale}, "
                            f"max-scale {max_scale or 'unlimited'}]", field=act_where)
    algo_raw = rd.raw("metric-aggregation-algorithm", None)
    algo = algo_raw[0] if algo_raw else "linear"
    if algo not in ("linear", "weighted-exponential", "weightedExponential"):
        raise ManifestError(f"{ANNOTATION_PREFIX}metric-aggregation-algorithm={algo!r} must be "
                            "linear or weighted-exponential",
                            field=ANNOTATION_PREFIX + "metric-aggregation-algorithm")

    return KPASettings(
        pod_autoscaler_class=cls, metric=metric, target=target, total=total,
        target_utilization=utilization, container_concurrency=container_concurrency,
        stable_window=stable_window, panic_window_percentage=pwp,
        panic_threshold_percentage=ptp, max_scale_up_rate=up, max_scale_down_rate=down,
        target_burst_capacity=tbc, activator_capacity=act_cap,
        activation_scale=act if act is not None else 1, initial_scale=initial,
        min_scale=min_scale, max_scale=max_scale, scale_down_delay=delay,
        scale_to_zero_grace_period=grace, scale_to_zero_pod_retention_period=retention,
        enable_scale_to_zero=enable_s2z, metric_aggregation_algorithm=algo)
