"""`kubectl get hpa`, `kubectl describe hpa` and a decision trace, rendered from the twin's status.

The layout is upstream's, read at the pinned versions (Kubernetes 1.36):

- ``kubectl get hpa``: the API server's table columns and ``formatHPAMetrics`` in
  kubernetes/kubernetes ``pkg/printers/internalversion/printers.go`` (read from the stored
  current version: the v1.36.4 repository snapshot is too large to fetch here; the
  ``cpu: 23%/50%`` form is what the 1.36 HPA walkthrough shows), printed by kubernetes/
  cli-runtime ``pkg/printers/tableprinter.go`` (headers upper-cased) through its tabwriter
  (``pkg/printers/tabwriter.go``: min width 6, padding 3) at v0.36.2;
- ``kubectl describe hpa``: ``describeHorizontalPodAutoscalerV2`` and ``DescribeEvents`` in
  kubernetes/kubectl ``pkg/describe/describe.go`` at v0.36.3 (the staging copy of kubectl
  1.36; kubectl describes any HPA through autoscaling/v2 first), a tabwriter with padding 2;
- ages: ``HumanDuration`` in kubernetes/apimachinery ``pkg/util/duration/duration.go`` at
  v0.36.3; quantities: the canonical decimal-SI form of ``resource.Quantity``;
- events: the HPA controller records them as ``horizontal-pod-autoscaler``
  (kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal.go``).

Everything here is a pure function of an :class:`HPAView` (the spec, the last reconcile and the
events); :func:`twin_hpa_view` builds one from a twin run.

Simplifies: no creation timestamp is known on the twin, so ``CreationTimestamp`` is the
``created`` argument; identical events are aggregated by (type, reason, message), as the event
correlator does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from .autoscalers.hpa_controller import MetricStatus, ReconcileResult
from .autoscalers.hpa_spec import HPASpec
from .autoscalers.hpa_types import MetricSpec

__all__ = ["HPAView", "quantity", "human_duration", "tabwrite", "get_hpa", "describe_hpa",
           "decision_trace", "twin_hpa_view"]

_SUFFIX = {0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
#: The twin's t = 0 shown as a wall-clock time in ``CreationTimestamp`` (any fixed time would do).
TWIN_EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class HPAView:
    """What kubectl would read about one HPA: its spec, its status (the last reconcile), its
    labels and events (time, type, reason, message) and the times, in seconds on the twin's
    clock, of its creation and of ``now``."""

    spec: HPASpec
    status: ReconcileResult | None
    now: float
    created: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    events: tuple[tuple[float, str, str, str], ...] = ()


# -- formatting helpers ------------------------------------------------------------------------
def quantity(milli: int | None) -> str:
    """A value in thousandths as ``resource.Quantity`` prints it in decimal SI: ``404m``,
    ``2``, ``384M``; ``<unknown>`` for None."""
    if milli is None:
        return "<unknown>"
    if milli == 0:
        return "0"
    sign, m = ("-" if milli < 0 else ""), abs(int(milli))
    for exp in (18, 15, 12, 9, 6, 3, 0):
        if m % 10 ** (exp + 3) == 0:
            return f"{sign}{m // 10 ** (exp + 3)}{_SUFFIX[exp]}"
    return f"{sign}{m}m"


def human_duration(seconds: float) -> str:
    """apimachinery's ``HumanDuration`` (the AGE column and event ages)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" + (f"{days}d" if days else "")
    return f"{hours // (24 * 365)}y"


def tabwrite(text: str, *, padding: int, minwidth: int = 0) -> str:
    """Go's ``text/tabwriter`` with a space pad character and left alignment.

    A cell is text ended by a tab; the last cell of a line is not part of any column. A column
    block is a run of consecutive lines that have a cell in that column; its width is the
    widest cell plus ``padding`` (at least ``minwidth``).
    """
    lines = [ln.split("\t") for ln in text.split("\n")]
    widths: list[int] = []
    out: list[str] = []

    def write(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1
                             else cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)


def _percent(value: int | None) -> str:
    return "<unknown>" if value is None else f"{value}%"


def _status_of(view: HPAView, i: int) -> MetricStatus | None:
    st = view.status
    if st is None or i >= len(st.current_metrics):
        return None
    return st.current_metrics[i]


# -- kubectl get hpa ---------------------------------------------------------------------------
def _target_cell(metric: MetricSpec, st: MetricStatus | None) -> str:
    t = metric.target
    cur = st.current_value_milli if st else None
    if metric.type in ("Resource", "ContainerResource"):
        if t.average_value_milli is not None:
            return f"{metric.name}: {quantity(cur)}/{quantity(t.average_value_milli)}"
        util = st.current_utilization if st else None
        goal = f"{t.average_utilization}%" if t.average_utilization is not None else "<auto>"
        return f"{metric.name}: {_percent(util)}/{goal}"
    if metric.type == "Pods":
        return f"{quantity(cur)}/{quantity(t.average_value_milli)}"
    if t.average_value_milli is not None:          # Object or External, AverageValue
        return f"{quantity(cur)}/{quantity(t.average_value_milli)} (avg)"
    return f"{quantity(cur)}/{quantity(t.value_milli)}"


def targets(view: HPAView) -> str:
    """The TARGETS column: at most two metrics, then ``+ N more...``."""
    metrics = view.spec.metrics
    if not metrics:
        return "<none>"
    cells = [_target_cell(m, _status_of(view, i)) for i, m in enumerate(metrics)]
    shown = ", ".join(cells[:2])
    return shown if len(cells) <= 2 else f"{shown} + {len(cells) - 2} more..."


def get_hpa(views: Sequence[HPAView]) -> str:
    """``kubectl get hpa``: NAME, REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS, AGE."""
    rows = ["\t".join(("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"))]
    for v in views:
        ref = v.spec.scale_target_ref
        current = v.status.current_replicas if v.status else 0
        rows.append("\t".join((v.spec.name, f"{ref.kind}/{ref.name}", targets(v),
                               str(v.spec.min_replicas), str(v.spec.max_replicas), str(current),
                               human_duration(v.now - v.created))))
    return tabwrite("\n".join(rows), padding=3, minwidth=6)


# -- kubectl describe hpa ----------------------------------------------------------------------
def _metric_lines(view: HPAView) -> list[str]:
    out = []
    for i, m in enumerate(view.spec.metrics):
        st, t = _status_of(view, i), m.target
        cur = st.current_value_milli if st else None
        if m.type == "External":
            if t.average_value_milli is not None:
                out.append(f'  "{m.name}" (target average value):\t{quantity(cur)} / '
                           f"{quantity(t.average_value_milli)}")
            else:
                out.append(f'  "{m.name}" (target value):\t{quantity(cur)} / '
                           f"{quantity(t.value_milli)}")
        elif m.type == "Pods":
            out.append(f'  "{m.name}" on pods:\t{quantity(cur)} / '
                       f"{quantity(t.average_value_milli)}")
        elif m.type == "Object":
            obj = m.described_object or {}
            head = f'  "{m.name}" on {obj.get("kind", "")}/{obj.get("name", "")} '
            if t.average_value_milli is not None:
                out.append(f"{head}(target average value):\t{quantity(cur)} / "
                           f"{quantity(t.average_value_milli)}")
            else:
                out.append(f"{head}(target value):\t{quantity(cur)} / {quantity(t.value_milli)}")
        elif m.type in ("Resource", "ContainerResource"):
            head = (f"  resource {m.name} on pods" if m.type == "Resource" else
                    f'  resource {m.name} of container "{m.container}" on pods')
            if t.average_value_milli is not None:
                out.append(f"{head}:\t{quantity(cur)} / {quantity(t.average_value_milli)}")
            else:
                util = st.current_utilization if st else None
                now = "<unknown>" if util is None else f"{util}% ({quantity(cur)})"
                goal = f"{t.average_utilization}%" if t.average_utilization is not None \
                    else "<auto>"
                out.append(f"{head}  (as a percentage of request):\t{now} / {goal}")
        else:
            out.append(f'  <unknown metric type "{m.type}">')
    return out


def _behavior_lines(spec: HPASpec) -> list[str]:
    b = spec.behavior
    if b is None:
        return []
    out = ["Behavior:"]
    for title, rules in (("Scale Up", b.scale_up), ("Scale Down", b.scale_down)):
        if rules is None:
            continue
        out.append(f"  {title}:")
        if rules.stabilization_window_seconds is not None:
            out.append(f"    Stabilization Window: {rules.stabilization_window_seconds} seconds")
        if rules.policies:
            out.append(f"    Select Policy: {rules.select_policy or 'Max'}")
            out.append("    Policies:")
            for p in rules.policies:
                out.append(f"      - Type: {p.type}\tValue: {p.value}\tPeriod: "
                           f"{p.period_seconds} seconds")
    return out


def _event_lines(view: HPAView) -> list[str]:
    if not view.events:
        return ["Events:\t<none>"]
    groups: dict[tuple[str, str, str], list[float]] = {}
    for t, type_, reason, message in view.events:
        groups.setdefault((type_, reason, message.strip()), []).append(t)
    rows = sorted(groups.items(), key=lambda kv: max(kv[1]))
    out = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    for (type_, reason, message), times in rows:
        first = human_duration(view.now - min(times))
        age = first if len(times) == 1 else \
            f"{human_duration(view.now - max(times))} (x{len(times)} over {first})"
        out.append(f"  {type_}\t{reason}\t{age}\thorizontal-pod-autoscaler\t{message}")
    return out


def describe_hpa(view: HPAView, *, epoch: datetime = TWIN_EPOCH,
                 scale_to_zero_gate: bool = False) -> str:
    """``kubectl describe hpa NAME``, with the status conditions and the events.

    ``scale_to_zero_gate`` False (Kubernetes 1.36, where ``HPAScaleToZero`` is alpha and off)
    leaves out the ``ScaledToZero`` condition the twin computes for 1.37 (spec §1.11).
    """
    spec, st = view.spec, view.status
    labels = sorted(view.labels.items())
    head = [f"Name:\t{spec.name}", f"Namespace:\t{spec.namespace}"]
    if labels:
        head.append(f"Labels:\t{labels[0][0]}={labels[0][1]}")
        head += [f"\t{k}={v}" for k, v in labels[1:]]
    else:
        head.append("Labels:\t<none>")
    created = epoch + timedelta(seconds=view.created)
    head += ["Annotations:\t<none>",
             f"CreationTimestamp:\t{created.strftime('%a, %d %b %Y %H:%M:%S %z')}",
             f"Reference:\t{spec.scale_target_ref.kind}/{spec.scale_target_ref.name}",
             "Metrics:\t( current / target )"]
    head += _metric_lines(view)
    head += [f"Min replicas:\t{spec.min_replicas}", f"Max replicas:\t{spec.max_replicas}"]
    head += _behavior_lines(spec)
    current, desired = (st.current_replicas, st.desired_replicas) if st else (0, 0)
    head.append(f"{spec.scale_target_ref.kind} pods:\t{current} current / {desired} desired")
    if st is not None and st.conditions:
        head += ["Conditions:", "  Type\tStatus\tReason\tMessage",
                 "  ----\t------\t------\t-------"]
        head += [f"  {c.type}\t{c.status}\t{c.reason}\t{c.message}" for c in st.conditions
                 if scale_to_zero_gate or c.type != "ScaledToZero"]
    # DescribeEvents flushes the writer first: the events are aligned on their own
    body = tabwrite("\n".join(head), padding=2)
    return body + "\n" + tabwrite("\n".join(_event_lines(view)), padding=2)


# -- one decision, step by step ----------------------------------------------------------------
def decision_trace(view: HPAView, tolerance: float = 0.1) -> list[tuple[str, str]]:
    """The last reconcile as (step, what happened) rows: each metric's reading, ratio and
    proposal, the combined proposal and the event's reason, stabilization, the rate limit and
    ``[min, max]``, and the replicas written."""
    st = view.status
    if st is None:
        return [("status", "the HPA has not synced yet")]
    rows: list[tuple[str, str]] = [("current replicas (scale.spec.replicas)",
                                    str(st.current_replicas))]
    for i, m in enumerate(view.spec.metrics):
        ms = _status_of(view, i)
        proposal = st.metric_proposals[i] if i < len(st.metric_proposals) else None
        t = m.target
        if t.average_utilization is not None:
            value = ms.current_utilization if ms else None
            goal, unit = float(t.average_utilization), "%"
        else:
            raw = ms.current_value_milli if ms else None
            value = None if raw is None else raw / 1000
            goal, unit = (t.average_value_milli or t.value_milli or 0) / 1000, ""
        if value is None:
            rows.append((f"metric {m.display()}", "<unknown>: no proposal from this metric"))
            continue
        ratio = value / goal if goal else math.inf
        inside = abs(1 - ratio) <= tolerance
        rows.append((f"metric {m.display()}",
                     f"{value:g}{unit} / target {goal:g}{unit} = ratio {ratio:.2f}"
                     + (f" (within the {tolerance:g} tolerance: keep {st.current_replicas})"
                        if inside else "")))
        rows.append(("  proposal of this metric", "-" if proposal is None else str(proposal)))
    if st.metric_desired_replicas is None:
        rows.append(("combined proposal", "none: metrics were not evaluated"))
        rows.append(("replicas written", "unchanged"))
        return rows
    rows.append(("combined proposal (the largest)", str(st.metric_desired_replicas)))
    rows.append(("reason in the event (raw proposal vs current)",
                 repr(st.rescale_reason) if st.rescale_reason else "'' (proposal == current)"))
    n = st.normalized
    if n is not None:
        rows.append(("after the stabilization window", f"{n.stabilized_replicas} "
                     f"(AbleToScale {n.able_to_scale_reason})"))
        rows.append(("after the rate limit and [minReplicas, maxReplicas]",
                     f"{n.desired_replicas} (ScalingLimited "
                     f"{'True' if n.scaling_limited else 'False'} {n.scaling_limited_reason})"))
    rows.append(("replicas written", f"{st.desired_replicas}" + ("" if st.rescale else
                                                                 " (no change)")))
    return rows


# -- from a twin run -----------------------------------------------------------------------------
def twin_hpa_views(backend: Any) -> list[HPAView]:
    """Views of every HPA a :class:`~labkit.backends.sim.SimBackend` runs, at its current time
    (the KEDA-made HPA included)."""
    world = getattr(backend, "world", None)
    if world is None:
        return []
    now = backend.now
    created = -float(backend.recorder.meta.get("rollout_seconds", 0.0) or 0.0)
    tl = backend.timeline()
    out = []
    for loop in _hpa_loops(world.autoscalers):
        ref = loop.object_ref
        ev = tl.events[tl.events.object == ref]
        events = tuple((float(r.time), str(r.type), str(r.reason), str(r.message))
                       for r in ev.itertuples())
        labels = _labels_of(backend.variant, loop.spec.name)
        out.append(HPAView(loop.spec, loop.last, now, created, labels, events))
    return out


def twin_hpa_view(backend: Any, name: str | None = None) -> HPAView:
    """The view of one HPA (the first, or the one called ``name``)."""
    views = [v for v in twin_hpa_views(backend) if name is None or v.spec.name == name]
    if not views:
        from .errors import LabkitError
        raise LabkitError(f"no HorizontalPodAutoscaler{' ' + name if name else ''} on the twin; "
                          "deploy a variant with an HPA (hpa-v1, hpa-v2, keda) and run it first")
    return views[0]


def _hpa_loops(autoscalers: Iterable[Any]) -> list[Any]:
    out = []
    for a in autoscalers:
        if str(getattr(a, "object_ref", "")).startswith("HorizontalPodAutoscaler/") and \
                hasattr(a, "last"):
            out.append(a)
        inner = getattr(a, "hpa", None)          # KEDA's loop runs the HPA it created
        if inner is not None and hasattr(inner, "last"):
            out.append(inner)
    return out


def _labels_of(variant: Any, name: str) -> dict[str, str]:
    """The HPA's labels: from its manifest, or, for the HPA KEDA creates for a ScaledObject
    (``keda-hpa-<name>``), KEDA's own labels overlaid with the ScaledObject's
    (``newHPAForScaledObject`` in kedacore/keda ``controllers/keda/hpa.go`` at v2.20.2)."""
    for obj in getattr(variant, "objects", ()):
        if obj.kind == "HorizontalPodAutoscaler" and obj.name == name:
            labels = (obj.doc.get("metadata") or {}).get("labels") or {}
            return {str(k): str(v) for k, v in labels.items()}
    for obj in getattr(variant, "objects", ()):
        if obj.kind == "ScaledObject" and name == f"keda-hpa-{obj.name}":
            from .backends.kind.versions import KEDA_VERSION

            labels = {"app.kubernetes.io/name": name[:63],
                      "app.kubernetes.io/version": KEDA_VERSION,
                      "app.kubernetes.io/part-of": obj.name,
                      "app.kubernetes.io/managed-by": "keda-operator"}
            own = (obj.doc.get("metadata") or {}).get("labels") or {}
            labels.update({str(k): str(v) for k, v in own.items()})
            return labels
    return {}
