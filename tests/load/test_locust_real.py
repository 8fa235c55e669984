"""Real locust users against the real app on 127.0.0.1: a few users, a few seconds."""

from __future__ import annotations

import os
import threading

import psutil
import pytest

from labkit import _procs
from labkit.appserver import AppServer
from labkit.load import profile
from labkit.loadgen import LocustProcess, drive
from labkit.timeline import TimelineRecorder


#: Processes other test modules keep for the whole session (e.g. tests/app's servers).
_BEFORE: set[int] = set()


def leftovers(keep: AppServer | None = None) -> list[str]:
    """Our descendants that are locust or the app, except ``keep`` and those that were
    already running before this module started (none may be left)."""
    found = []
    for p in psutil.Process().children(recursive=True):
        if (keep is not None and p.pid == keep.proc.pid) or p.pid in _BEFORE:
            continue
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "locust" in cmd or " -m app" in cmd:
            found.append(f"{p.pid}: {cmd}")
    return found


@pytest.fixture(scope="module")
def app():
    _BEFORE.update(p.pid for p in psutil.Process().children(recursive=True))
    with AppServer() as server:
        yield server
    assert leftovers() == []


def test_locust_load_appears_in_the_timeline(app):
    seen = []
    rec = TimelineRecorder({"variant": "local"})
    tl = drive(profile("constant", users=3, spawn_rate=3, duration=5), app.url,
               recorder=rec, on_stats=lambda stats, row: seen.append(row))
    assert leftovers(app) == [] and _procs.running_children() == [app.proc]
    s = tl.samples
    assert 4 <= len(s) <= 6 and len(seen) == len(s)
    assert s.users.max() == 3
    assert s.rps.max() > 0
    served = s[s.rps > 0]
    assert (served.latency_p50 > 0).all() and (served.latency_p95 >= served.latency_p50).all()
    assert served.latency_p99.notna().all()
    assert s.errors.sum() == 0
    assert tl.meta["variant"] == "local" and tl.meta["stats"]["num_requests"] > 0


def test_profile_changes_resize_the_swarm(app):
    # locust caches /stats/requests for 2 s, so its user count lags the resize by 2-3 s
    # (more on a busy machine): give the step 5 s to show before the run ends.
    p = profile("step", steps=((0, 1), (2, 4)), spawn_rate=10, duration=7)
    tl = drive(p, app.url)
    users = list(tl.samples.users)
    assert max(users[:2]) <= 1 and users[-1] == 4
    assert leftovers(app) == []


def test_stop_event_ends_the_run_early(app):
    stop = threading.Event()
    timer = threading.Timer(2.0, stop.set)
    timer.start()
    tl = drive(profile("constant", users=2, duration=60), app.url, stop=stop)
    timer.cancel()
    assert len(tl) <= 4
    assert leftovers(app) == []


def test_keyboard_interrupt_stops_locust(app):
    def interrupt(stats, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(profile("constant", users=1, duration=30), app.url, on_stats=interrupt)
    assert leftovers(app) == [] and _procs.running_children() == [app.proc]


def test_locust_api_by_hand(app):
    with LocustProcess(app.url) as locust:
        assert locust.stats().state == "ready"
        locust.swarm(2, 2)
        locust.stop()
        assert locust.proc.poll() is None
    assert leftovers(app) == []


def test_only_a_host_header_can_be_passed_to_locust():
    import pytest as _pytest
    from labkit.errors import LabkitError
    with _pytest.raises(LabkitError, match="only a Host header"):
        drive(profile("constant", users=1, duration=1), "http://127.0.0.1:9",
              headers={"Authorization": "x"})


def test_host_header_and_think_time_reach_the_locustfile_environment():
    lp = LocustProcess("http://127.0.0.1:9", env={"LOCUST_HOST_HEADER": "app-knative.default."
                                                  "example.com", "LOCUST_WAIT_MIN": "0.5"})
    try:
        assert lp.extra_env["LOCUST_HOST_HEADER"] == "app-knative.default.example.com"
    finally:
        lp.close()


def test_a_taken_port_gets_one_clear_error_before_anything_starts():
    import socket

    from labkit.errors import LabkitError
    before = list(_procs.running_children())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LabkitError, match=f"127.0.0.1:{port} is already in use.*--port"):
            AppServer(port=port).start()
    assert _procs.running_children() == before, "nothing was started"


# -- review D21, D22, D27: one locust per LocustProcess, reachable only by labkit, no stray logs
def test_start_twice_leaves_no_swarm_behind(app):
    lp = LocustProcess(app.url)
    lp.start()
    first = lp.proc
    assert lp.start() is lp and lp.proc is first, "a second start() while running is a no-op"
    lp.swarm(2, 2)
    lp.close()
    assert first.poll() is not None
    assert leftovers(app) == []
    from labkit.errors import LabkitError
    with pytest.raises(LabkitError, match="not running"):
        lp.swarm(1, 1)


def test_a_second_locust_on_a_taken_web_port_is_refused(app):
    from labkit.errors import LabkitError
    with LocustProcess(app.url) as first:
        before = list(_procs.running_children())
        with pytest.raises(LabkitError, match="already in use"):
            LocustProcess(app.url, web_port=first.web_port).start()
        assert _procs.running_children() == before
    assert leftovers(app) == []


def test_locust_web_api_answers_only_labkit(app):
    import httpx
    with LocustProcess(app.url) as lp:
        base = f"http://127.0.0.1:{lp.web_port}"
        form = {"user_count": "2", "spawn_rate": "2", "host": "http://192.0.2.10"}
        # a cross-site form post, as a web page in the learner's browser would send it
        r = httpx.post(f"{base}/swarm", data=form, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        # DNS rebinding: a foreign Host header
        r = httpx.get(f"{base}/stats/requests", headers={"Host": "attacker.example"})
        assert r.status_code == 403
        # another local process without the run's token
        r = httpx.post(f"{base}/swarm", data={**form, "host": app.url})
        assert r.status_code == 403 and "X-Labkit-Token" in r.json()["message"]
        # even with the token, the swarm cannot be re-aimed past labkit's loopback check
        r = httpx.post(f"{base}/swarm", data=form, headers={"X-Labkit-Token": lp._token})
        assert r.status_code == 403 and "only" in r.json()["message"]
        assert lp.stats().user_count == 0
        lp.swarm(1, 1)          # labkit itself still steers it
        assert httpx.get(f"{base}/stats/requests").status_code == 200  # reading is fine
    assert leftovers(app) == []


def test_logs_are_removed_after_a_clean_stop(app):
    with LocustProcess(app.url) as lp:
        log = lp.log_path
        assert log and os.path.exists(log)
    assert not os.path.exists(log)
    with AppServer() as server:
        app_log = server.log_path
        assert os.path.exists(app_log)
    assert not os.path.exists(app_log)
