"""Grid sweeps on the twin (labkit.sweeps): every combination once, in parallel, and the frontier."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit import sweeps
from labkit.errors import LabkitError
from labkit.load import Spike

SPIKE = Spike(base_users=2, peak_users=120, start=30, length=150, duration=300)
TARGET = "spec.metrics[0].resource.target.averageUtilization"
WINDOW = "spec.behavior.scaleDown.stabilizationWindowSeconds"


def test_a_grid_runs_every_combination_in_parallel_with_the_serial_results():
    fields = {TARGET: [30, 90], WINDOW: [0, 300]}
    parallel = sweeps.grid("hpa-v2", "HorizontalPodAutoscaler", fields, SPIKE, 300, workers=2)
    serial = sweeps.grid("hpa-v2", "HorizontalPodAutoscaler", fields, SPIKE, 300, workers=1)
    assert list(zip(parallel[TARGET], parallel[WINDOW])) == [(30, 0), (30, 300), (90, 0),
                                                             (90, 300)]
    pd.testing.assert_frame_equal(parallel, serial)
    # a low target buys more pods; a long scale-down window keeps them longer
    by = parallel.set_index([TARGET, WINDOW])
    assert by.loc[(30, 0), "peak_replicas"] > by.loc[(90, 0), "peak_replicas"]
    assert by.loc[(30, 300), "pod_seconds"] > by.loc[(30, 0), "pod_seconds"]
    assert by.loc[(30, 300), "seconds_over_slo"] <= by.loc[(90, 300), "seconds_over_slo"]


def test_the_frontier_keeps_the_rows_no_other_row_beats_on_cost_and_slo():
    table = pd.DataFrame({"x": range(6),
                          "pod_seconds": [100, 200, 150, 300, 100, 250],
                          "seconds_over_slo": [50, 10, 30, 0, 60, 10]})
    front = sweeps.frontier(table)
    # (100, 50) beats (100, 60); (200, 10) beats (250, 10); the rest trade cost for service
    assert list(front.x) == [0, 2, 1, 3]
    assert sweeps._pareto(table.pod_seconds, table.seconds_over_slo) == \
        [True, True, True, True, False, False]


def test_grid_rows_are_marked_on_the_frontier():
    table = sweeps.grid("hpa-v2", "HorizontalPodAutoscaler", {TARGET: [30, 60, 90]}, SPIKE,
                        300, workers=1)
    front = sweeps.frontier(table)
    assert set(front[TARGET]) == set(table[table.on_frontier][TARGET])
    for _, row in table[~table.on_frontier].iterrows():
        assert ((front.pod_seconds <= row.pod_seconds)
                & (front.seconds_over_slo <= row.seconds_over_slo)).any()


def test_a_grid_needs_fields_and_values():
    with pytest.raises(LabkitError):
        sweeps.grid("hpa-v2", "HorizontalPodAutoscaler", {}, SPIKE, 60)
    with pytest.raises(LabkitError):
        sweeps.grid("hpa-v2", "HorizontalPodAutoscaler", {TARGET: []}, SPIKE, 60)
