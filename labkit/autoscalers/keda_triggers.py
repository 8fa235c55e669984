"""KEDA triggers: parsing, metric names and targets, value and activity semantics (§4.3, §4.6).

Sources: [KD-SC] ``prometheus_scaler.go``, ``redis_scaler.go``, ``metrics_api_scaler.go``,
``cron_scaler.go``, ``cpu_memory_scaler.go``, ``scaler.go``; ``pkg/util/normalize_string.go``.

Simplifies: metrics-api reads JSON bodies only (a subset of gjson paths: dots, array indexes,
``#`` for a length); the cron matcher ignores DST transitions (wall-clock times, fold 0).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import quantity as _quantity
from ..errors import ManifestError

RESOURCE_TRIGGERS = ("cpu", "memory")
SUPPORTED_TRIGGERS = ("prometheus", "redis", "metrics-api", "cron", "kubernetes-workload", "cpu",
                      "memory")
# Value of a cron metric outside its window. The spec (§4.6) says 0; every kedacore/keda
# cron_scaler.go read (v2.x through the keda-scalers layout) returns 1 (defaultDesiredReplicas).
# The HPA result is the same either way (target 1, min ≥ 1).
CRON_VALUE_OUTSIDE_WINDOW = 1.0


@dataclass(frozen=True)
class Trigger:
    """One ScaledObject trigger, with its HPA metric name and thresholds resolved.

    ``target`` is the scaling threshold (HPA target value; for cron 1, for cpu/memory the
    ``value``), ``activation_target`` the activation threshold (value must exceed it).
    """

    index: int
    type: str
    metadata: Mapping[str, str]
    metric_type: str
    metric_name: str
    target: float
    activation_target: float = 0.0
    name: str | None = None
    use_cached_metrics: bool = False
    container_name: str | None = None

    @property
    def is_resource(self) -> bool:
        return self.type in RESOURCE_TRIGGERS


@dataclass(frozen=True)
class TriggerResult:
    """One scaler read: the metric value (``None`` on error), whether it is active, the error.

    ``fallback`` is True when the value is KEDA's synthetic fallback value (§4.5).
    """

    metric_name: str
    value: float | None
    active: bool
    error: str | None = None
    fallback: bool = False


# ---------------------------------------------------------------- strings and quantities

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<val>\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$")


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """A label selector string (``app=x,tier!=db,env in (a,b),!canary``) as
    ``(key, op, values)`` with op ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!exists``
    (the syntax of apimachinery's ``labels.Parse``); ValueError when it is not one."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for part in (p for p in parts if p.strip()):
        m = _REQUIREMENT.match(part)
        if not m or (m.group("neg") and m.group("op")):
            raise ValueError(f"{part.strip()!r} is not a label requirement")
        key, op, val = m.group("key"), (m.group("op") or "").strip(), m.group("val") or ""
        if not op:
            out.append((key, "!exists" if m.group("neg") else "exists", ()))
        elif op in ("in", "notin"):
            if not val.startswith("("):
                raise ValueError(f"{part.strip()!r}: {op} needs a (list)")
            out.append((key, op, tuple(v.strip() for v in val[1:-1].split(",") if v.strip())))
        else:
            out.append((key, "!=" if op == "!=" else "=", (val,)))
    return out


def selector_matches(selector: list[tuple[str, str, tuple[str, ...]]],
                     labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every requirement of a parsed selector."""
    for key, op, values in selector:
        have = labels.get(key)
        ok = {"=": have == values[0] if values else False,
              "!=": have != values[0] if values else True,
              "in": have in values, "notin": have not in values,
              "exists": key in labels, "!exists": key not in labels}[op]
        if not ok:
            return False
    return True


def normalize_string(s: str) -> str:
    """KEDA's ``NormalizeString``: ``/ . : %`` become ``-``."""
    for ch in "/.:%":
        s = s.replace(ch, "-")
    return s


def cron_time_format(s: str) -> str:
    """KEDA's ``parseCronTimeFormat`` used in cron metric names."""
    return s.replace(" ", "").replace("*", "x").replace("/", "Sl").replace("?", "Qm")


_SUFFIX = {-3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}


def quantity_string(milli: int) -> str:
    """Canonical DecimalSI text of a milli-quantity, as Go prints it (5000 → ``"5"``, 500 → ``"500m"``)."""
    if milli == 0:
        return "0"
    n, exp = milli, -3
    while n % 1000 == 0 and exp < 18:
        n //= 1000
        exp += 3
    return f"{n}{_SUFFIX[exp]}"


def milli(value: float) -> int:
    """``int64(value × 1000)``: KEDA's milli conversion truncates (``GetMetricTargetMili``)."""
    return int(value * 1000)


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (``"500m"``, ``"2Gi"``, ``"1e3"``) as a float; ValueError otherwise."""
    return float(_quantity.parse_quantity(str(text).strip()))


# ---------------------------------------------------------------- trigger parsing

def _require(meta: Mapping[str, str], key: str, where: str, trigger_type: str) -> str:
    value = meta.get(key)
    if value in (None, ""):
        raise ManifestError(f"trigger {trigger_type} needs metadata.{key}; KEDA refuses the "
                            "ScaledObject without it", field=f"{where}.metadata.{key}")
    return str(value)


def _float(meta: Mapping[str, str], key: str, where: str, default: float | None = None,
           trigger_type: str = "") -> float:
    raw = meta.get(key)
    if raw in (None, ""):
        if default is None:
            _require(meta, key, where, trigger_type)
        return float(default)
    try:
        return float(str(raw))
    except ValueError:
        raise ManifestError(f"metadata.{key}={raw!r} is not a number", field=f"{where}.metadata.{key}") from None


def parse_trigger(doc: Mapping[str, Any], index: int, *, where: str = "spec.triggers",
                  namespace: str = "default") -> Trigger:
    """Parse ``spec.triggers[index]`` (§4.2, §4.6) and resolve its HPA metric name and thresholds."""
    at = f"{where}[{index}]"
    ttype = str(doc.get("type", ""))
    if ttype not in SUPPORTED_TRIGGERS:
        raise ManifestError(f"trigger type {ttype!r} is not simulated by the twin; use one of "
                            f"{', '.join(SUPPORTED_TRIGGERS)} (or run on the kind backend)",
                            field=f"{at}.type")
    meta = {str(k): str(v) for k, v in (doc.get("metadata") or {}).items()}
    metric_type = str(doc.get("metricType") or "")
    common = dict(index=index, type=ttype, metadata=meta, name=doc.get("name"),
                  use_cached_metrics=bool(doc.get("useCachedMetrics", False)))

    if ttype in RESOURCE_TRIGGERS:
        metric_type = metric_type or meta.get("type", "")
        if metric_type not in ("Utilization", "AverageValue"):
            raise ManifestError(f"trigger {ttype} needs metricType Utilization or AverageValue "
                                f"(got {metric_type or 'none'})", field=f"{at}.metricType")
        value = _require(meta, "value", at, ttype)
        try:
            target = float(value) if metric_type == "Utilization" else parse_quantity(value)
        except ValueError:
            raise ManifestError(f"metadata.value={value!r} is not a number or quantity",
                                field=f"{at}.metadata.value") from None
        return Trigger(**common, metric_type=metric_type, metric_name=ttype, target=target,
                       container_name=meta.get("containerName") or None)

    metric_type = metric_type or "AverageValue"
    if metric_type not in ("AverageValue", "Value"):
        raise ManifestError(f"metricType {metric_type} is only allowed for cpu/memory triggers; "
                            "use AverageValue or Value", field=f"{at}.metricType")
    if ttype == "kubernetes-workload":
        # kedacore/keda v2.20.2 pkg/scalers/kubernetes_workload_scaler.go: the number of pods
        # matching podSelector in the ScaledObject's namespace (Succeeded/Failed not counted);
        # value must be > 0; metric "s<i>-workload-<namespace>".
        selector = _require(meta, "podSelector", at, ttype)
        try:
            parse_label_selector(selector)
        except ValueError as e:
            raise ManifestError(f"error parsing pod selector: {e}",
                                field=f"{at}.metadata.podSelector") from None
        value = _float(meta, "value", at, 0.0)
        if value <= 0:
            raise ManifestError("value must be a float greater than 0 (KEDA refuses the "
                                "trigger)", field=f"{at}.metadata.value")
        return Trigger(**common, metric_type=metric_type,
                       metric_name=f"s{index}-" + normalize_string(f"workload-{namespace}"),
                       target=value, activation_target=_float(meta, "activationValue", at, 0.0))
    if ttype == "prometheus":
        _require(meta, "serverAddress", at, ttype)
        _require(meta, "query", at, ttype)
        return Trigger(**common, metric_type=metric_type, metric_name=f"s{index}-prometheus",
                       target=_float(meta, "threshold", at, trigger_type=ttype),
                       activation_target=_float(meta, "activationThreshold", at, 0.0))
    if ttype == "redis":
        if not (meta.get("address") or meta.get("host") or meta.get("addressFromEnv")
                or meta.get("hostFromEnv")):
            raise ManifestError("trigger redis needs metadata.address (or host and port)",
                                field=f"{at}.metadata.address")
        list_name = _require(meta, "listName", at, ttype)
        return Trigger(**common, metric_type=metric_type,
                       metric_name=f"s{index}-" + normalize_string(f"redis-{list_name}"),
                       target=_float(meta, "listLength", at, 5.0),
                       activation_target=_float(meta, "activationListLength", at, 0.0))
    if ttype == "metrics-api":
        _require(meta, "url", at, ttype)
        location = _require(meta, "valueLocation", at, ttype)
        if meta.get("format", "json") != "json":
            raise ManifestError(f"metrics-api format {meta['format']!r} is not simulated; use json",
                                field=f"{at}.metadata.format")
        target = _float(meta, "targetValue", at, 0.0)
        if target == 0:
            raise ManifestError("trigger metrics-api needs a non-zero metadata.targetValue",
                                field=f"{at}.metadata.targetValue")
        return Trigger(**common, metric_type=metric_type,
                       metric_name=f"s{index}-" + normalize_string(f"metric-api-{location}"),
                       target=target,
                       activation_target=_float(meta, "activationTargetValue", at, 0.0))
    # cron
    tz, start, end = (_require(meta, k, at, ttype) for k in ("timezone", "start", "end"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ManifestError(f"cron timezone {tz!r} is unknown; use an IANA name such as "
                            "Europe/Berlin", field=f"{at}.metadata.timezone") from None
    for key, expr in (("start", start), ("end", end)):
        try:
            CronSchedule.parse(expr)
        except ValueError as e:
            raise ManifestError(f"cron {key}: {e}", field=f"{at}.metadata.{key}") from None
    if start == end:
        raise ManifestError("cron start and end can not have exactly the same value",
                            field=f"{at}.metadata.end")
    desired = _float(meta, "desiredReplicas", at, trigger_type=ttype)
    if desired == 0:
        raise ManifestError("cron needs a non-zero metadata.desiredReplicas",
                            field=f"{at}.metadata.desiredReplicas")
    name = f"s{index}-" + normalize_string(
        f"cron-{tz}-{cron_time_format(start)}-{cron_time_format(end)}")
    return Trigger(**common, metric_type=metric_type, metric_name=name, target=1.0)


def hpa_metric_spec(trigger: Trigger, so_name: str) -> dict:
    """The autoscaling/v2 ``MetricSpec`` KEDA puts in its HPA for this trigger (§4.3)."""
    if trigger.is_resource:
        if trigger.metric_type == "Utilization":
            target = {"type": "Utilization", "averageUtilization": int(trigger.target)}
        else:
            target = {"type": "AverageValue", "averageValue": trigger.metadata["value"]}
        if trigger.container_name:
            return {"type": "ContainerResource",
                    "containerResource": {"name": trigger.type, "container": trigger.container_name,
                                          "target": target}}
        return {"type": "Resource", "resource": {"name": trigger.type, "target": target}}
    key = "averageValue" if trigger.metric_type == "AverageValue" else "value"
    return {"type": "External",
            "external": {"metric": {"name": trigger.metric_name,
                                    "selector": {"matchLabels": {"scaledobject.keda.sh/name": so_name}}},
                         "target": {"type": trigger.metric_type,
                                    key: quantity_string(milli(trigger.target))}}}


# ---------------------------------------------------------------- values and activity

def trigger_result(trigger: Trigger, *, value: float | None = None, error: str | None = None,
                   now: float | None = None) -> TriggerResult:
    """Turn a scaler read into a ``TriggerResult``: active ⇔ ``value > activation threshold``.

    For cron, ``value`` is ignored: ``now`` (Unix seconds) decides the window (§4.6).
    """
    if error is not None:
        return TriggerResult(trigger.metric_name, None, False, error)
    if trigger.type == "cron":
        if now is None:
            raise ValueError("a cron trigger needs now")
        inside = cron_active(trigger.metadata["start"], trigger.metadata["end"],
                             trigger.metadata["timezone"], now)
        v = float(trigger.metadata["desiredReplicas"]) if inside else CRON_VALUE_OUTSIDE_WINDOW
        return TriggerResult(trigger.metric_name, v, inside)
    if value is None:
        raise ValueError("a value or an error is needed")
    return TriggerResult(trigger.metric_name, float(value), value > trigger.activation_target)


def prometheus_value(samples: Sequence[float], *, ignore_null_values: bool = True) -> float:
    """The scalar of an instant-query result (§4.6): empty/NaN/Inf → 0 if ignored, else error."""
    if len(samples) > 1:
        raise ValueError(f"prometheus query returned {len(samples)} elements; it must return one")
    if not samples or math.isnan(samples[0]) or math.isinf(samples[0]):
        if ignore_null_values:
            return 0.0
        raise ValueError("prometheus metrics may have lost track: empty, NaN or Inf result "
                         "(ignoreNullValues is false)")
    return float(samples[0])


def metrics_api_value(body: str | bytes | Any, value_location: str) -> float:
    """Read the number at ``value_location`` (gjson path subset) from a JSON body [KD-SC].

    A string value is read as a Kubernetes quantity; anything else raises ValueError.
    """
    node = json.loads(body) if isinstance(body, (str, bytes)) else body
    for part in value_location.split("."):
        if isinstance(node, list):
            if part == "#":
                node = len(node)
            elif part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
    if isinstance(node, bool) or node is None or not isinstance(node, (int, float, str)):
        kind = "Null" if node is None else type(node).__name__
        raise ValueError(f"valueLocation must point to value of type number or a string "
                         f"representing a Quantity got: '{kind}'")
    if isinstance(node, str):
        try:
            return parse_quantity(node)
        except ValueError:
            raise ValueError(f"valueLocation must point to value of type number or a string "
                             f"representing a Quantity got: '{node}'") from None
    return float(node)


# ---------------------------------------------------------------- cron

_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}),
           (1, 12, {n: i + 1 for i, n in enumerate(
               "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}),
           (0, 6, {n: i for i, n in enumerate("SUN MON TUE WED THU FRI SAT".split())}))


def _parse_field(expr: str, lo: int, hi: int, names: Mapping[str, int]) -> tuple[frozenset, bool]:
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step_s and (not step_s.isdigit() or step < 1):
            raise ValueError(f"bad step in {part!r}")
        if rng in ("*", "?"):
            a, b = lo, hi
            star = star or step == 1
        else:
            ends = [names.get(x.upper(), None) if not x.isdigit() else int(x) for x in rng.split("-")]
            if len(ends) > 2 or any(e is None for e in ends):
                raise ValueError(f"cannot parse {part!r}")
            a = ends[0]
            b = ends[1] if len(ends) == 2 else (hi if step_s else a)
            if a < lo or b > hi or a > b:
                raise ValueError(f"{part!r} is outside [{lo}, {hi}]")
        values.update(range(a, b + 1, step))
    return frozenset(values), star


@dataclass(frozen=True)
class CronSchedule:
    """A 5-field cron schedule (minute hour day-of-month month day-of-week), robfig/cron rules.

    Day matching: if day-of-month or day-of-week is ``*``, both must match; otherwise either.
    """

    minutes: frozenset
    hours: frozenset
    days: frozenset
    months: frozenset
    weekdays: frozenset
    dom_star: bool
    dow_star: bool

    @classmethod
    def parse(cls, expr: str) -> "CronSchedule":
        parts = expr.split()
        if len(parts) != 5:
            raise ValueError(f"expected exactly 5 fields (minute hour dom month dow), found "
                             f"{len(parts)}: {expr!r}")
        (mi, _), (h, _), (d, ds), (mo, _), (w, ws) = (
            _parse_field(p, *_FIELDS[i]) for i, p in enumerate(parts))
        return cls(mi, h, d, mo, w, ds, ws)

    def _day_ok(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        return (dom and dow) if (self.dom_star or self.dow_star) else (dom or dow)

    def next_after(self, wall: datetime) -> datetime:
        """The first matching wall-clock minute strictly after ``wall`` (naive datetime)."""
        t = wall.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=5 * 366)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise ValueError("the cron schedule never matches within five years")


def cron_active(start: str, end: str, timezone: str, now_unix: float) -> bool:
    """Inside the cron window ⇔ the next ``end`` comes no later than the next ``start`` (§4.6)."""
    tz = ZoneInfo(timezone)
    wall = datetime.fromtimestamp(now_unix, tz).replace(tzinfo=None)
    nxt_start = CronSchedule.parse(start).next_after(wall).replace(tzinfo=tz).timestamp()
    nxt_end = CronSchedule.parse(end).next_after(wall).replace(tzinfo=tz).timestamp()
    return nxt_end <= nxt_start
