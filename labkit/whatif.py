"""What-if experiments: a course variant with one field changed, and sweeps over that field.

Fields are named by their path in the object, as ``kubectl explain`` and ``kubectl patch``
name them: ``spec.behavior.scaleDown.stabilizationWindowSeconds``, or with a list index,
``spec.template.spec.containers[0].resources.requests.cpu``. ``None`` removes the field.
Annotation keys contain dots, so a path segment can be quoted:
``spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"]``.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Iterable, Mapping

import pandas as pd

from .errors import LabkitError
from .load import LoadProfile
from .manifests import Variant, load_variant
from .timeline import Timeline

_TOKEN = re.compile(r'\["([^"]+)"\]|\[(\d+)\]|([^.\[\]]+)')


def _path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for quoted, index, plain in _TOKEN.findall(path):
        parts.append(int(index) if index else (quoted or plain))
    if not parts:
        raise LabkitError(f"empty field path {path!r}; use e.g. spec.maxReplicas")
    return parts


def set_field(doc: dict, path: str, value: Any) -> dict:
    """Set (or with ``None`` remove) the field at ``path`` in ``doc``, in place; return doc."""
    parts = _path(path)
    node: Any = doc
    for i, key in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        try:
            if isinstance(key, int):
                node = node[key]
            else:
                if node.get(key) is None:
                    if value is None:
                        return doc
                    node[key] = [] if isinstance(nxt, int) else {}
                node = node[key]
        except (IndexError, KeyError, AttributeError, TypeError) as e:
            raise LabkitError(f"cannot reach {path!r}: no {key!r} at that level") from e
    last = parts[-1]
    if value is None:
        if isinstance(node, dict):
            node.pop(last, None)
        elif isinstance(last, int) and last < len(node):
            node.pop(last)
    else:
        node[last] = value
    return doc


def variant_with(variant: str | Variant, kind: str, changes: Mapping[str, Any], *,
                 name: str | None = None) -> Variant:
    """``variant`` with the ``kind`` object's fields changed (paths -> values; None removes).

    The terminal equivalent: ``kubectl patch`` (or edit the YAML) and ``kubectl apply``.
    """
    v = variant if isinstance(variant, Variant) else load_variant(variant)
    doc = copy.deepcopy(v.get(kind, name).doc)
    for path, value in changes.items():
        set_field(doc, path, value)
    return v.replace(doc)


def run(variant: Variant, profile: LoadProfile, duration: float, *, seed: int = 0) -> Timeline:
    """Run a variant on the twin (sweeps always use the twin: fast and repeatable)."""
    from .backends.sim import SimBackend

    b = SimBackend(seed=seed)
    b.deploy(variant)
    b.load(profile)
    return b.run(duration)


def sweep(variant: str | Variant, kind: str, path: str, values: Iterable[Any],
          profile: LoadProfile, duration: float, *, seed: int = 0,
          slo_ms: float = 500.0) -> pd.DataFrame:
    """Run the variant once per value of the field at ``path``; one scorecard row per value.

    Columns: the scorecard (:mod:`labkit.scorecard`) plus ``p95_ms`` (the 95th percentile of
    the per-second p95 over the run), indexed by the value.
    """
    from .scorecard import scorecard

    rows = {}
    for value in values:
        tl = run(variant_with(variant, kind, {path: value}), profile, duration, seed=seed)
        card = scorecard(tl, slo_ms)
        card["p95_ms"] = float(tl.samples.latency_p95.quantile(0.95))
        rows[value] = card
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = str(_path(path)[-1]).split("/")[-1]
    return table


def port_forward_projection(tl: Timeline, *, limit_percent: float = 250.0,
                            idle_percent: float = 1.0, syncs: int = 12) -> pd.DataFrame:
    """What the HPA of ``tl``'s run would do if ``kubectl port-forward`` carried all the load.

    A computation, not a simulation (the twin always balances through the Service): the CPU
    demand of the run's peak (utilization x ready pods, in percent of one pod's request) is
    put on ONE pod, capped at its limit (``limit_percent``, 500m / 200m = 250 %), while every
    other pod idles at ``idle_percent``. The HPA's v1 rule is replayed sync by sync
    (spec/autoscalers.md §1.4, §1.6, §1.9): integer average utilization, tolerance 0.1,
    ``ceil(current x average / target)``, at most ``max(2 x current, 4)`` and maxReplicas.

    Returns one row per sync; ``attrs["stuck"]`` is True when the pod count grew while the
    one busy pod stayed saturated (demand above its limit), ``attrs["summary"]`` says so.
    """
    s = tl.samples
    target = float(s.metric_target.dropna().iloc[0]) if s.metric_target.notna().any() else 50.0
    demand = float((s.metric_value * s.ready_replicas).quantile(0.9))
    max_replicas = int(tl.meta.get("max_replicas", 10))
    rows, n = [], 1
    for i in range(syncs):
        busy = min(demand, limit_percent)
        average = math.floor((busy + idle_percent * (n - 1)) / n)
        ratio = average / target
        desired = n if abs(ratio - 1) <= 0.1 else math.ceil(n * ratio)
        desired = max(1, min(desired, max(2 * n, 4), max_replicas))
        rows.append({"sync": i, "time_s": 15 * i, "replicas": n, "busy_pod_percent": busy,
                     "average_percent": average, "desired": desired,
                     "pods_serving": 1, "busy_pod_overloaded": demand > limit_percent})
        if desired == n:
            break
        n = desired
    table = pd.DataFrame(rows).set_index("sync")
    stuck = n > 1 and demand > limit_percent
    table.attrs["stuck"] = bool(stuck)
    table.attrs["summary"] = (f"demand {demand:.0f} % of one request on 1 pod (limit "
                              f"{limit_percent:.0f} %): the HPA settles at {n} pods, "
                              f"{n - 1} of them idle")
    return table
