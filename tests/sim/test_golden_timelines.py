"""The twin's results do not change by accident: Timelines equal the recorded ones, column by column.

The files in ``tests/sim/golden/`` were recorded from ``main`` before the twin was made faster
(issue 14; ``provenance.json`` names the commit). Every sample column and the events table must
be equal, floats bit for bit (NaN equal to NaN). A change of results that is intended is
recorded again with ``scripts/record_golden_timelines.py`` and explained in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labkit.timeline import SAMPLE_COLUMNS, Timeline

from .golden_scenarios import SCENARIOS

GOLDEN = Path(__file__).parent / "golden"


def _read(name: str) -> Timeline:
    """The stored Timeline; floats parsed by Python's ``float`` (exact round trip of repr)."""
    def table(kind: str) -> list[dict]:
        df = pd.read_csv(GOLDEN / f"{name}.{kind}.csv.gz", dtype=str, keep_default_na=False)
        return df.to_dict("records")

    floats = {"time", "rps", "latency_p50", "latency_p95", "latency_p99", "metric_value",
              "metric_target"}
    samples = [{k: (float(v) if k in floats and v != "" else v) for k, v in row.items()}
               for row in table("samples")]
    for row in samples:
        row["panic_mode"] = row["panic_mode"] == "True"
    events = [{**row, "time": float(row["time"])} for row in table("events")]
    return Timeline.from_records(samples, events)


def _first_difference(name: str, column: str, got: pd.Series, want: pd.Series,
                      times: pd.Series) -> str:
    g, w = got.to_numpy(), want.to_numpy()
    if len(g) != len(w):
        return f"{name}: {column} has {len(g)} rows, the golden file {len(w)}"
    if g.dtype.kind == "f":
        same = (g == w) | (np.isnan(g) & np.isnan(w))
    else:
        same = g == w
    i = int(np.argmin(same))
    return (f"{name}: column {column!r} differs first at row {i} (golden time "
            f"{times.iloc[i]:g} s): got {g[i]!r}, golden {w[i]!r}; {int((~same).sum())} rows "
            "differ")


def test_the_golden_files_state_their_provenance():
    prov = json.loads((GOLDEN / "provenance.json").read_text())
    assert len(prov["commit"]) == 40 and prov["scenarios"] == sorted(SCENARIOS)
    for name in SCENARIOS:
        assert (GOLDEN / f"{name}.samples.csv.gz").exists(), name


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_timeline_equals_the_golden_one_column_by_column(name):
    got = SCENARIOS[name]()
    want = _read(name)
    assert len(got.samples) == len(want.samples), f"{name}: number of samples"
    for column in SAMPLE_COLUMNS:
        g, w = got.samples[column], want.samples[column]
        equal = g.equals(w) if g.dtype.kind != "f" else bool(
            ((g.to_numpy() == w.to_numpy()) | (g.isna().to_numpy() & w.isna().to_numpy())).all())
        assert equal, _first_difference(name, column, g, w, want.samples.time)
    ge, we = got.events.reset_index(drop=True), want.events.reset_index(drop=True)
    assert len(ge) == len(we), f"{name}: {len(ge)} events, golden {len(we)}"
    for column in we.columns:
        assert ge[column].astype(str).tolist() == we[column].astype(str).tolist(), \
            _first_difference(name, f"events.{column}", ge[column].astype(str),
                              we[column].astype(str), we.time)
