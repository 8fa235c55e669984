"""The scorecard of a finished run: what it cost, how it served, how fast it reacted.

Works on any Timeline (twin or cluster). Each sample stands for the interval until the next
one (the last for the median interval), so the integrals do not depend on the sample rate.
"""

from __future__ import annotations

import math
import re
import sys
import types
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .timeline import Timeline

_NEW_SIZE = re.compile(r"New size:\s*(\d+)")

#: Scorecard keys, in order, with their meaning (the comparison table's columns).
SCORECARD_KEYS: dict[str, str] = {
    "pod_seconds": "cost: sum of spec.replicas x sample interval (pods asked for, ready or not)",
    "ready_pod_seconds": "sum of ready replicas x sample interval",
    "peak_replicas": "the largest spec.replicas",
    "requests": "completed requests (sum of rps x interval)",
    "errors": "failed requests",
    "seconds_over_slo": "seconds whose p95 latency exceeded the SLO",
    "p95_ms": "the 95th percentile of the per-second p95 latencies (ms; seconds without a "
              "completed request are left out)",
    "cold_starts": "ColdStart events (requests waiting for a pod from zero)",
    "time_to_first_scale_out": "seconds from the start to the first rescale that added replicas",
    "time_back_to_min": "seconds from the start until replicas were back at the minimum "
                        "after the first scale-out",
}


def _intervals(times: np.ndarray) -> np.ndarray:
    """Seconds each sample stands for: up to the next sample; the last gets the median step."""
    if len(times) == 0:
        return times.astype(float)
    steps = np.diff(times)
    last = float(np.median(steps)) if len(steps) else 1.0
    return np.append(steps, last)


def first_scale_out(tl: Timeline) -> float | None:
    """Time of the first ``SuccessfulRescale`` to a size above the replicas before it.

    Falls back to the samples (the first rise of spec.replicas) when the autoscaler emits no
    rescale events (Knative's KPA writes none).
    """
    s = tl.samples
    for _, ev in tl.events_with("SuccessfulRescale").iterrows():
        m = _NEW_SIZE.search(str(ev.message))
        if not m:
            continue
        before = s.spec_replicas[s.time < ev.time]
        if len(before):
            previous = int(before.iloc[-1])
        else:
            previous = int(s.spec_replicas.iloc[0]) if len(s) else 0
        if int(m.group(1)) > previous:
            return float(ev.time)
    if len(s):
        rises = s.time[s.spec_replicas > s.spec_replicas.iloc[0]]
        if len(rises):
            return float(rises.iloc[0])
    return None


def scorecard(tl: Timeline, slo_ms: float | None = None) -> dict[str, Any]:
    """The scorecard of ``tl`` (keys and meaning in :data:`SCORECARD_KEYS`).

    ``slo_ms`` defaults to ``tl.meta["slo_ms"]``, else 500 ms. The minimum is
    ``tl.meta["min_replicas"]`` when the backend recorded it, else the first spec.replicas.
    Times that never happened are None.
    """
    slo = float(slo_ms if slo_ms is not None else tl.meta.get("slo_ms", 500))
    s = tl.samples
    dt = _intervals(s.time.to_numpy(dtype=float))
    p95 = s.latency_p95.to_numpy(dtype=float)
    over = np.nan_to_num(p95, nan=-math.inf) > slo
    rps = np.nan_to_num(s.rps.to_numpy(dtype=float))
    card: dict[str, Any] = {
        "pod_seconds": float(np.sum(s.spec_replicas.to_numpy() * dt)),
        "ready_pod_seconds": float(np.sum(s.ready_replicas.to_numpy() * dt)),
        "peak_replicas": int(s.spec_replicas.max()) if len(s) else 0,
        "requests": float(np.round(np.sum(rps * dt), 1)),
        "errors": int(s.errors.sum()),
        "seconds_over_slo": float(np.sum(dt[over])),
        "p95_ms": (float(np.nanpercentile(p95, 95)) if np.isfinite(p95).any() else None),
        "cold_starts": len(tl.events_with("ColdStart")),
        "time_to_first_scale_out": first_scale_out(tl),
        "time_back_to_min": None,
    }
    t_out = card["time_to_first_scale_out"]
    if t_out is not None and len(s):
        minimum = tl.meta.get("min_replicas")
        minimum = int(s.spec_replicas.iloc[0]) if minimum is None else int(minimum)
        back = s.time[(s.time > t_out) & (s.spec_replicas <= minimum)]
        card["time_back_to_min"] = float(back.iloc[0]) if len(back) else None
    return card


#: The readable table: scorecard key -> column title with its unit, and decimals shown.
TABLE_COLUMNS: dict[str, tuple[str, int]] = {
    "pod_seconds": ("pod-seconds", 0),
    "seconds_over_slo": ("seconds over SLO", 0),
    "p95_ms": ("p95 (ms)", 0),
    "errors": ("errors", 0),
    "cold_starts": ("cold starts", 0),
    "time_to_first_scale_out": ("first scale-out (s)", 0),
    "time_back_to_min": ("back to min (s)", 0),
}


#: Titles of the other scorecard columns, for tables that pick them.
_OTHER_TITLES = {"ready_pod_seconds": "ready pod-seconds", "peak_replicas": "peak pods",
                 "requests": "requests"}


def table(cards: Mapping[str, Mapping[str, Any]] | pd.DataFrame | Mapping[str, Any]
          ) -> pd.DataFrame:
    """The scorecard(s) as a small table with units, numbers rounded, "–" for never.

    ``cards`` is one scorecard (a one-row table), ``{name: scorecard}``, or a
    :func:`compare` table. A whole scorecard shows the columns of :data:`TABLE_COLUMNS`;
    a table of chosen columns (``compare(runs)[["pod_seconds", "peak_replicas"]]``) shows
    those. For reading; compute with :func:`scorecard`/:func:`compare`.
    """
    if isinstance(cards, pd.DataFrame):
        frame = cards
    elif cards and all(isinstance(v, Mapping) for v in cards.values()):
        frame = pd.DataFrame.from_dict(dict(cards), orient="index")
    else:
        frame = pd.DataFrame([dict(cards)], index=["run"])
    whole = all(k in frame.columns for k in SCORECARD_KEYS)
    keys = [k for k in TABLE_COLUMNS if k in frame.columns] if whole else list(frame.columns)
    out = pd.DataFrame(index=frame.index)
    for key in keys:
        title, decimals = TABLE_COLUMNS.get(key, (_OTHER_TITLES.get(key, str(key)), None))
        out[title] = [_cell(v, decimals) for v in frame[key]]
    out.index.name = frame.index.name
    return pd.DataFrame(out)


def _cell(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if decimals is None:  # a column we know nothing about: small numbers keep a decimal
        decimals = 1 if abs(value) < 10 and value != round(value) else 0
    return f"{float(value):,.{decimals}f}"


class ScorecardTable(pd.DataFrame):
    """What :func:`compare` returns: the numbers for code, a rounded table with units on
    screen (a notebook cell ending in ``compare(runs)`` shows :func:`table` of it)."""

    @property
    def _constructor(self):
        return ScorecardTable

    def readable(self) -> pd.DataFrame:
        return table(pd.DataFrame(self))

    def _repr_html_(self) -> str | None:
        return self.readable()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.readable())


def compare(timelines: Mapping[str, Timeline], slo_ms: float | None = None) -> ScorecardTable:
    """One scorecard row per run, indexed by the run's name (columns: :data:`SCORECARD_KEYS`)."""
    rows = {name: scorecard(tl, slo_ms) for name, tl in timelines.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(SCORECARD_KEYS))
    frame.index.name = "run"
    return ScorecardTable(frame)


class _CallableModule(types.ModuleType):
    """This module answers ``labkit.scorecard(tl)`` as the function does.

    ``labkit.scorecard`` is both a public function (the package docstring's example) and this
    submodule; once anything imports the submodule (``from labkit.scorecard import compare``,
    as the notebooks do), Python binds the *module* to the package attribute, which hid the
    function ("'module' object is not callable"). Calling the module calls the function.
    """

    def __call__(self, tl: Timeline, slo_ms: float | None = None) -> dict[str, Any]:
        return scorecard(tl, slo_ms)


sys.modules[__name__].__class__ = _CallableModule
