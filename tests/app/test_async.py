"""The asynchronous mode against a real Redis on 127.0.0.1: enqueue, worker, result.

The guarantee under test is the one app/jobs.py states: at least once, one result per job.
Faults are real: workers get SIGKILL and SIGTERM mid-job, redis-server gets SIGKILL and is
started again on its append-only file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid

import pytest


TEXTS = ["A warm, funny film.", "Dull, long and pointless.", "The cast shines."]


def wait_for(what: str, predicate, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


def queue_env(redis_server, **extra: str) -> dict[str, str]:
    """A fresh queue name per test, so tests sharing one Redis never see each other's jobs."""
    return {"APP_REDIS_URL": redis_server.url, "APP_QUEUE": f"t-{uuid.uuid4().hex[:8]}",
            **extra}


def enqueue(app, texts=TEXTS) -> str:
    r = app.post("/jobs", json={"text": texts})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["result_url"] == f"/jobs/{r.json()['id']}"
    return r.json()["id"]


def finished(app, job_id: str):
    job = app.get(f"/jobs/{job_id}").json()
    return job if job["status"] in ("done", "failed") else None


def stats(app) -> dict:
    r = app.get("/queue")
    assert r.status_code == 200, r.text
    return r.json()


def test_enqueue_answers_at_once_and_the_worker_writes_what_predict_returns(
        start_app, start_worker, redis_server):
    env = queue_env(redis_server, APP_CPU_WORK_MS="200")
    app = start_app(**env)
    t0 = time.monotonic()
    ids = [enqueue(app, [t]) for t in TEXTS]
    assert time.monotonic() - t0 < 1.0  # three jobs of 200 ms CPU each: not waited for
    assert stats(app)["length"] == 3
    assert app.get(f"/jobs/{ids[0]}").json()["status"] == "queued"
    start_worker(**env)
    jobs = [wait_for(f"job {i}", lambda i=i: finished(app, i)) for i in ids]
    expected = app.post("/predict", json={"text": TEXTS}).json()["probs"]
    assert [j["result"]["probs"][0] for j in jobs] == expected
    assert all(j["status"] == "done" and j["attempts"] == 1 for j in jobs)
    assert all(j["enqueued_at"] <= j["started_at"] <= j["finished_at"] for j in jobs)
    s = stats(app)
    assert (s["length"], s["processing"], s["done"], s["failed"], s["redelivered"]) == \
        (0, 0, 3, 0, 0)


def test_bad_input_unknown_ids_and_the_mode_switched_off(start_app, app_default, redis_server):
    app = start_app(**queue_env(redis_server, APP_MAX_TEXTS="2"))
    for body in ({"text": []}, {"text": "one string"}, {"texts": ["x"]}, {"text": [1, 2]},
                 {"text": ["a", "b", "c"]}):
        r = app.post("/jobs", json=body)
        assert r.status_code == 422, body
        assert r.json()["message"].startswith("invalid request body")
    assert app.post("/jobs", content=b"not json").status_code == 422
    assert stats(app)["length"] == 0  # nothing rejected was queued
    for job_id in (uuid.uuid4().hex, "not-a-job-id", "x" * 32):
        r = app.get(f"/jobs/{job_id}")
        assert r.status_code == 404 and "no job" in r.json()["detail"]
    r = app_default.post("/jobs", json={"text": TEXTS})
    assert r.status_code == 503 and "APP_REDIS_URL" in r.json()["detail"]


def test_a_full_queue_refuses_with_429_and_stores_nothing(start_app, redis_server):
    env = queue_env(redis_server, APP_MAX_QUEUE="3")
    app = start_app(**env)
    ids = [enqueue(app) for _ in range(3)]
    r = app.post("/jobs", json={"text": TEXTS})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "queue full: 3 jobs are waiting (APP_MAX_QUEUE=3)" in r.json()["detail"]
    db = redis_server.client()
    assert db.llen(env["APP_QUEUE"]) == 3
    assert len(db.keys(f"{env['APP_QUEUE']}:job:*")) == 3  # the refused job left no hash
    assert {app.get(f"/jobs/{i}").json()["status"] for i in ids} == {"queued"}


def test_worker_killed_mid_job_the_job_runs_again_and_its_result_is_written_once(
        start_app, start_worker, redis_server):
    env = queue_env(redis_server, APP_CPU_WORK_MS="1500", APP_WORKER_LEASE_S="1")
    app = start_app(**env)
    job_id = enqueue(app)
    first = start_worker(**env)
    wait_for("the job to start", lambda: app.get(f"/jobs/{job_id}").json()["status"] == "running")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    s = stats(app)
    assert (s["length"], s["processing"]) == (0, 1)  # held by the dead worker, not lost
    start_worker(**env)
    job = wait_for("the redelivered job", lambda: finished(app, job_id))
    assert (job["status"], job["attempts"]) == ("done", 2)
    s = stats(app)
    assert (s["done"], s["redelivered"], s["processing"], s["length"]) == (1, 1, 0, 0)


def test_sigterm_lets_the_worker_finish_its_job_then_exit_zero(
        start_app, start_worker, redis_server):
    env = queue_env(redis_server, APP_CPU_WORK_MS="1000")
    app = start_app(**env)
    ids = [enqueue(app) for _ in range(3)]
    worker = start_worker(**env)
    wait_for("a job to start",
             lambda: app.get(f"/jobs/{ids[0]}").json()["status"] == "running")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert finished(app, ids[0])["attempts"] == 1
    s = stats(app)
    assert (s["done"], s["length"], s["processing"]) == (1, 2, 0)  # the rest still queued


def test_redis_crash_and_restart_loses_no_job_and_writes_each_result_once(
        start_app, start_worker, tmp_path):
    from tests.app.conftest import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    try:
        env = queue_env(server, APP_CPU_WORK_MS="40")
        app = start_app(**env)
        ids = [enqueue(app) for _ in range(40)]
        worker = start_worker(**env)
        wait_for("some jobs done", lambda: stats(app)["done"] >= 5)
        server.kill()
        r = app.post("/jobs", json={"text": TEXTS})
        assert r.status_code == 503 and "queue unavailable" in r.json()["detail"]
        assert app.get(f"/jobs/{ids[0]}").status_code == 503
        time.sleep(1.0)
        server.start()
        wait_for("all jobs done", lambda: stats(app)["done"] == 40, timeout=60)
        jobs = [app.get(f"/jobs/{i}").json() for i in ids]
        assert {j["status"] for j in jobs} == {"done"}
        s = stats(app)
        assert (s["done"], s["failed"], s["length"], s["processing"]) == (40, 0, 0, 0)
        assert worker.poll() is None, "the worker must survive Redis restarting"
        assert "Redis unavailable" in worker.log.read_text()
    finally:
        server.kill()


def test_unreadable_and_undeliverable_jobs_are_marked_failed_not_retried_forever(
        start_app, start_worker, redis_server):
    env = queue_env(redis_server, APP_MAX_ATTEMPTS="2")
    app = start_app(**env)
    q, db = env["APP_QUEUE"], redis_server.client()
    bad, tired = uuid.uuid4().hex, uuid.uuid4().hex
    # Written as app/jobs.py's enqueue script writes a job, with a body no producer sends.
    db.hset(f"{q}:job:{bad}", mapping={"status": "queued", "body": "{not json",
                                       "enqueued_at": time.time(), "attempts": 0})
    db.hset(f"{q}:job:{tired}", mapping={"status": "queued", "body": json.dumps({"text": TEXTS}),
                                         "enqueued_at": time.time(), "attempts": 2})
    db.lpush(q, bad, tired)
    start_worker(**env)
    assert "unreadable job body" in wait_for("bad", lambda: finished(app, bad))["error"]
    assert "gave up after 2 deliveries" in wait_for("tired", lambda: finished(app, tired))["error"]
    assert (stats(app)["failed"], stats(app)["done"]) == (2, 0)


def test_batch_worker_takes_n_jobs_and_exits_and_idle_exit_ends_an_empty_job(
        start_app, start_worker, redis_server):
    env = queue_env(redis_server, APP_CPU_WORK_MS="0")
    app = start_app(**env)
    for _ in range(5):
        enqueue(app)
    assert start_worker("--batch", "3", **env).wait(30) == 0
    assert (stats(app)["done"], stats(app)["length"]) == (3, 2)
    t0 = time.monotonic()
    assert start_worker("--batch", "10", "--idle-exit", "1", **env).wait(30) == 0
    assert stats(app)["done"] == 5
    assert time.monotonic() - t0 < 20


def test_worker_without_redis_url_stops_with_one_clear_error(built):
    import os
    import sys
    done = subprocess.run([sys.executable, "-m", "app.worker"], cwd=built.workdir,
                          env={**os.environ, "PYTHONPATH": "", "APP_REDIS_URL": ""},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "APP_REDIS_URL is empty" in done.stderr


@pytest.mark.parametrize("env, message", [
    ({"APP_REDIS_URL": "http://127.0.0.1:6379"}, "is not a Redis URL"),
    ({"APP_QUEUE": "bad name!"}, "is not a queue name"),
    ({"APP_MAX_QUEUE": "0"}, "out of range"),
    ({"APP_WORKER_LEASE_S": "soon"}, "not a valid float"),
])
def test_queue_settings_are_validated(built, env, message):
    from app.settings import Settings, SettingsError
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"APP_MODEL_PATH": str(built.model_path), **env})


def test_locust_producers_post_jobs_that_wait_in_the_list(start_app, redis_server, tmp_path):
    """LOCUST_PATH=jobs (what labkit.loadgen sets for mode="async"): 202s only, no worker
    running, so every accepted job is still in the list that KEDA's redis trigger reads."""
    import csv
    import os
    import sys
    from pathlib import Path

    from tests.app.conftest import APP_DIR

    app = start_app(**queue_env(redis_server))
    prefix = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(APP_DIR / "locustfile.py"), "--headless",
         "-u", "3", "-r", "3", "-t", "3s", "-H", app.url, "--csv", str(prefix),
         "--only-summary"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "LOCUST_PATH": "jobs", "LOCUST_WAIT_MIN": "0.2",
             "LOCUST_WAIT_MAX": "0.2"})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["Name"]: r for r in csv.DictReader(Path(f"{prefix}_stats.csv").open())}
    posted = int(rows["/jobs"]["Request Count"])
    assert posted > 3 and int(rows["Aggregated"]["Failure Count"]) == 0
    # every job locust saw accepted waits (locust's CSV may miss the last second's answers)
    assert stats(app)["length"] >= posted
