"""labkit calibrate: the fit, and a short real run against the app on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from labkit import calibrate as cal
from labkit.errors import LabkitError


@pytest.mark.parametrize("a, ca, b, cb, per_request, per_text", [
    pytest.param(1, 2.1, 50, 4.55, 2.05, 0.05, id="line"),
    pytest.param(1, 3.0, 50, 2.0, 3.0, 0.0, id="noise-never-negative"),
])
def test_fit_cpu(a, ca, b, cb, per_request, per_text):
    got = cal.fit_cpu(a, ca, b, cb)
    assert got == pytest.approx((per_request, per_text))


def test_fit_needs_two_sizes():
    with pytest.raises(LabkitError, match="two different"):
        cal.fit_cpu(5, 1.0, 5, 2.0)


def test_percentile():
    assert cal.percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert cal.percentile([1.0, 2.0, 3.0, 4.0, 100.0], 95) == 100.0


def test_only_local_target():
    with pytest.raises(LabkitError, match="only 'local'"):
        cal.calibrate("cluster")


def test_calibrate_measures_the_real_app_and_the_twin_reads_it(tmp_path):
    out = tmp_path / "twin-params.json"
    res = cal.calibrate(out=out, requests=8, concurrency=(1, 2))
    data = json.loads(out.read_text())
    assert set(cal.DOCS) <= set(data) and data["_doc"] == cal.DOCS
    assert 0 < data["startup_seconds"] < 60
    assert data["_measured"]["healthz_seconds"] <= data["startup_seconds"]
    assert data["cpu_ms_per_request"] >= 0 and data["cpu_ms_per_text"] >= 0
    assert data["cpu_ms_per_request"] + 50 * data["cpu_ms_per_text"] > 0
    assert data["memory_mib_idle"] > 20
    assert set(data["_measured"]["latency_by_concurrency"]) == {"1", "2"}
    assert res["_path"] == str(out)
    from labkit.backends.sim.params import load_params
    p = load_params(out)
    assert p.startup_seconds == data["startup_seconds"]
    assert p.cpu_ms_per_text == data["cpu_ms_per_text"]


def test_shipped_parameters_file_is_documented_and_loadable():
    data = json.loads(cal.PARAMS_FILE.read_text())
    assert set(cal.DOCS) <= set(data)
    from labkit.backends.sim.params import load_params
    assert load_params().memory_mib_idle == data["memory_mib_idle"]


def test_an_interrupted_calibrate_keeps_the_old_file_whole(tmp_path, monkeypatch):
    """Review D28: the write used to truncate the file first; now a rename replaces it."""
    import os
    out = tmp_path / "twin-params.json"
    old = cal.PARAMS_FILE.read_text()
    out.write_text(old)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cal.calibrate(out=out, requests=4, concurrency=(1,))
    assert out.read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["twin-params.json"], "no partial file left"
