"""`labkit bench sim`'s tables have the columns the README shows (a tiny scenario, not a timing)."""

from __future__ import annotations

import pytest

from labkit import bench
from labkit.load import Spike


def test_the_scaling_table_reports_time_cost_per_simulated_second_and_memory():
    tiny = bench.SimScenario("tiny", "hpa-v2", Spike(base_users=2, peak_users=40, start=10,
                                                      length=40, duration=90), 90)
    (row,) = bench.bench_scaling((tiny,), repeat=1)
    assert list(row) == ["scenario", "simulated_s", "peak_pods", "wall_s", "cpu_s",
                         "cpu_us_per_sim_s", "cpu_ns_per_pod_s", "peak_mib"]
    assert row["simulated_s"] == 90 and row["peak_pods"] >= 1
    # cpu_s is rounded to the millisecond, the cost per simulated second is not
    assert row["cpu_us_per_sim_s"] == pytest.approx(row["cpu_s"] / 90 * 1e6, abs=0.0006 / 90 * 1e6)
    assert row["peak_mib"] > 0


def test_the_scaling_scenarios_cover_time_and_pods():
    names = [s.name for s in bench.SCALING_SCENARIOS]
    assert [n.split(" (")[0] for n in names] == ["1 h", "24 h", "7 days", "peak 10 pods",
                                                  "peak 100 pods", "peak 1000 pods"]
    assert [s.duration for s in bench.SCALING_SCENARIOS[:3]] == [3600, 86400, 7 * 86400]
    assert [s.max_replicas for s in bench.SCALING_SCENARIOS[3:]] == [10, 100, 1000]
