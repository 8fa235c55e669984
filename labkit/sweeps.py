"""Sweeps over a grid of settings, run in parallel on the local cores, and their frontier.

:func:`grid` runs one variant under one load once per combination of field values (the same
field paths as :func:`labkit.whatif.variant_with`) on the twin, in worker processes, and returns
one scorecard row per combination; :func:`frontier` keeps the rows no other row beats on both
cost (pod-seconds) and service (seconds over the SLO): the settings worth arguing about.

    table = sweeps.grid("hpa-v2", "HorizontalPodAutoscaler",
                        {"spec.metrics[0].resource.target.averageUtilization": [30, 50, 70, 90],
                         "spec.behavior.scaleDown.stabilizationWindowSeconds": [0, 60, 300]},
                        spike, 1800)
    sweeps.frontier(table)

Every run is seeded the same, so a row does not depend on how many workers ran the grid.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .errors import LabkitError
from .load import LoadProfile
from .manifests import Variant, load_variant

COST = "pod_seconds"
SLO = "seconds_over_slo"


def _one(job: tuple[Variant, str, tuple[tuple[str, Any], ...], LoadProfile, float, int, float]
         ) -> dict[str, Any]:
    """One run of the grid (in a worker process): its scorecard and p95."""
    from .scorecard import scorecard
    from .whatif import run, variant_with

    variant, kind, changes, profile, duration, seed, slo_ms = job
    tl = run(variant_with(variant, kind, dict(changes)), profile, duration, seed=seed)
    return scorecard(tl, slo_ms)


def _context():
    """Fork when nothing else runs in this process (workers start at once, imports shared),
    else spawn (forking a process with threads can deadlock them)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def grid(variant: str | Variant, kind: str, fields: Mapping[str, Iterable[Any]],
         profile: LoadProfile, duration: float, *, seed: int = 0, slo_ms: float = 500.0,
         workers: int | None = None) -> pd.DataFrame:
    """Run ``variant`` under ``profile`` for ``duration`` simulated seconds once per
    combination of ``fields`` (path -> values in the ``kind`` object), ``workers`` runs at a
    time (default: one per local core; 1 runs them here, one after the other).

    Returns one row per combination, in grid order: a column per field (named by its path),
    the scorecard (:data:`labkit.scorecard.SCORECARD_KEYS`) and ``on_frontier``
    (:func:`frontier`).
    """
    v = variant if isinstance(variant, Variant) else load_variant(variant)
    paths = list(fields)
    if not paths:
        raise LabkitError("grid needs at least one field path with its values")
    values = [list(fields[p]) for p in paths]
    if any(not vs for vs in values):
        raise LabkitError("every field of the grid needs at least one value")
    combos = list(itertools.product(*values))
    jobs = [(v, kind, tuple(zip(paths, combo)), profile, duration, seed, slo_ms)
            for combo in combos]
    n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if n == 1:
        cards = [_one(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=n, mp_context=_context()) as pool:
            cards = list(pool.map(_one, jobs, chunksize=max(1, math.ceil(len(jobs) / (4 * n)))))
    table = pd.DataFrame([dict(zip(paths, combo)) | card for combo, card in zip(combos, cards)])
    table["on_frontier"] = _pareto(table[COST].to_numpy(), table[SLO].to_numpy())
    return table


def _pareto(cost: Sequence[float], over: Sequence[float]) -> list[bool]:
    """For each point, whether no other point is at least as good on both and better on one."""
    out = []
    for i, (c, o) in enumerate(zip(cost, over)):
        dominated = any((c2 <= c and o2 <= o) and (c2 < c or o2 < o)
                        for j, (c2, o2) in enumerate(zip(cost, over)) if j != i)
        out.append(not dominated)
    return out


def frontier(table: pd.DataFrame, cost: str = COST, slo: str = SLO) -> pd.DataFrame:
    """The rows of a :func:`grid` table that no other row beats on both ``cost`` and ``slo``
    (lower is better on both), cheapest first: the cost/SLO trade-off the settings offer."""
    keep = _pareto(table[cost].to_numpy(), table[slo].to_numpy())
    return table[keep].sort_values([cost, slo]).reset_index(drop=True)
