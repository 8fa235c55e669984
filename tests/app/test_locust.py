"""The course's load: locust (as a subprocess) against the real app, briefly and on loopback."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app import reviews

from tests.app.conftest import APP_DIR

LOCUST = [sys.executable, "-m", "locust"]


@pytest.mark.parametrize("locust_path, route", [
    pytest.param("predict", "/predict", id="plain"),
    pytest.param("v1", "/v1/models/custom-model:predict", id="kserve-v1"),
])
def test_locust_smoke(app_default, tmp_path, locust_path, route):
    prefix = tmp_path / "run"
    cmd = [*LOCUST, "-f", str(APP_DIR / "locustfile.py"), "--headless", "-u", "3", "-r", "3",
           "-t", "3s", "-H", app_default.url, "--csv", str(prefix), "--only-summary"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "LOCUST_PATH": locust_path},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, out
    rows = {r["Name"]: r for r in csv.DictReader(Path(f"{prefix}_stats.csv").open())}
    assert int(rows[route]["Request Count"]) > 0, out
    assert int(rows["Aggregated"]["Failure Count"]) == 0, out
    assert "gevent" not in sys.modules  # locust ran in its own process, never in this one


def test_unknown_locust_path_stops_locust(tmp_path):
    done = subprocess.run([*LOCUST, "-f", str(APP_DIR / "locustfile.py"), "--headless", "-u", "1",
                           "-t", "1s", "-H", "http://127.0.0.1:9"], cwd=tmp_path,
                          env={**os.environ, "LOCUST_PATH": "v2"}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "LOCUST_PATH='v2' is not a known route; accepted: predict, v1 or jobs" in \
        done.stdout + done.stderr


@pytest.mark.parametrize("path, url, key", [
    pytest.param("predict", "/predict", "text", id="plain"),
    pytest.param("v1", "/v1/models/m:predict", "instances", id="kserve-v1"),
    pytest.param("jobs", "/jobs", "text", id="async-jobs"),
])
def test_requests_carry_1_to_99_sentences(path, url, key):
    rng = random.Random(1)
    sizes = []
    for _ in range(500):
        got_url, body = reviews.request_for(rng, path, "m")
        assert got_url == url and set(body) == {key}
        assert set(body[key]) <= set(reviews.SENTENCES)
        sizes.append(len(body[key]))
    assert 1 <= min(sizes) < 5 and 90 < max(sizes) <= 99
    assert 40 < sum(sizes) / len(sizes) < 60  # the typical request the benchmark sends: ~50
