"""The twin's asynchronous path: producers, the Redis list, workers, KEDA's redis trigger and
ScaledJob (labkit/backends/sim/jobqueue.py, scaledjob_loop.py)."""

from __future__ import annotations

import copy
import math

import pytest

from labkit.backends.sim import SimBackend
from labkit.backends.sim.jobqueue import RedisList, job_seconds
from labkit.backends.sim.params import load_params
from labkit.backends.sim.pods import pod_template_from_manifest
from labkit.backends.sim.scaledjob_loop import worker_exit_rules
from labkit.errors import LabkitError, ManifestError
from labkit.load import Burst, Spike, profile
from labkit.manifests import load_variant


def run(variant, prof, seconds, **kw):
    b = SimBackend(**kw)
    b.deploy(variant)
    b.load(prof)
    return b, b.run(seconds)


# -- the list and the profiles ------------------------------------------------------------

def test_the_list_is_fifo_refuses_past_its_limit_and_knows_its_oldest_job():
    q = RedisList("jobs", max_len=10)
    assert q.push(0.0, 6) == 6 and q.push(2.0, 6) == 4   # 2 refused: queue full
    assert q.length == 10 and q.oldest_age(5.0) == 5.0
    assert q.pop(7) == [(0.0, 6), (2.0, 1)]
    assert q.length == 3 and q.oldest_age(5.0) == 3.0
    assert q.pop(10) == [(2.0, 3)] and q.length == 0 and q.oldest_age(9.0) == 0.0


def test_a_burst_is_a_producer_rate_and_any_profile_can_send_jobs():
    b = Burst(jobs=600, start=10, length=20)
    assert b.mode == "async" and b.rate_at(9) == 0 and b.rate_at(10) == 30 and b.rate_at(30) == 0
    assert b.users_at(15) == 30            # one job a second per locust user
    s = Spike(peak_users=90, wait_min=1, wait_max=5, mode="async")
    assert s.rate_at(s.start) == 30        # 90 producers, one job per 3 s think time each
    with pytest.raises(LabkitError, match="mode must be one of sync, async"):
        Spike(mode="fire-and-forget")
    with pytest.raises(LabkitError, match="think time"):
        Spike(mode="async", wait_min=0, wait_max=0)
    assert profile("burst", jobs=10).jobs == 10


def test_worker_command_lines_are_read_as_app_worker_parses_them():
    assert worker_exit_rules(("python", "-m", "app.worker")) == (0, None)
    assert worker_exit_rules(("python", "-m", "app.worker", "--batch", "50")) == (50, 5.0)
    assert worker_exit_rules(("python", "-m", "app.worker", "--batch=20", "--idle-exit", "2")) \
        == (20, 2.0)
    with pytest.raises(ManifestError, match="--batch takes a number"):
        worker_exit_rules(("python", "-m", "app.worker", "--batch", "many"))


def test_one_worker_costs_what_the_real_worker_measured():
    """benchmarks/bench_worker.py: one worker, real Redis on 127.0.0.1, ~50-sentence jobs:
    44.6 jobs/s and 21.3 ms CPU per job at one core. The twin's calibrated parameters give
    the same within 5 %."""
    doc = load_variant("queue").get("Deployment", "app-worker").doc
    c = pod_template_from_manifest(doc["spec"]["template"]).main
    job_s, cpu_s = job_seconds(load_params(), c, 1000.0, 49.8)
    assert 1 / job_s == pytest.approx(44.6, rel=0.05)
    assert cpu_s * 1000 == pytest.approx(21.3, rel=0.05)
    job_s_limited, _ = job_seconds(load_params(), c, 500.0, 49.8)   # the manifest's 500m
    assert 1 / job_s_limited == pytest.approx(22, rel=0.05)


# -- ScaledObject on the list length ------------------------------------------------------

def test_queue_a_burst_wakes_the_workers_drains_every_job_once_and_returns_to_zero():
    b, tl = run("queue", Burst(jobs=1200, start=10, length=20), 200)
    s = tl.samples
    assert s.rps.sum() == pytest.approx(1200)            # every job done, none twice
    assert s.errors.sum() == 0
    assert s.spec_replicas.iloc[0] == 0                  # min 0: no worker before the burst
    # KEDA's poll (every 5 s) activates at the first poll that sees LLEN > 0 ...
    act = tl.events_with("KEDAScaleTargetActivated")
    assert len(act) == 1 and 10 <= act.time[0] <= 15
    assert "from 0 to 1" in act.message[0]
    # ... and its HPA (AverageValue 100 jobs per worker) takes it further.
    assert s.spec_replicas.max() >= 4
    assert (s.metric_name == "inference-jobs list length (per pod)").all()
    # The queue columns: the backlog grows, ages, and drains.
    assert s.queue_length.max() > 300 and s.oldest_job_age.max() > 5
    drained = s[(s.time > 30) & (s.queue_length == 0)].time.min()
    assert drained < 60 and (s[s.time >= drained].oldest_job_age == 0).all()
    # Back to zero one cooldown (60 s) after the last poll that saw a job.
    deact = tl.events_with("KEDAScaleTargetDeactivated")
    assert len(deact) == 1 and drained + 60 <= deact.time[0] <= drained + 60 + 5
    assert s.spec_replicas.iloc[-1] == 0
    # Latency is enqueue -> result: the wait in the list counts.
    assert s.latency_p95.max() > 5000


def test_queue_a_wrong_list_name_reads_zero_and_never_wakes_a_worker():
    v = load_variant("queue")
    so = copy.deepcopy(v.get("ScaledObject").doc)
    so["spec"]["triggers"][0]["metadata"]["listName"] = "inference-job"   # a typo
    b, tl = run(v.replace(so), Burst(jobs=300, start=5, length=10), 120)
    s = tl.samples
    assert s.spec_replicas.max() == 0 and s.rps.sum() == 0
    assert s.queue_length.iloc[-1] == 300 and s.oldest_job_age.iloc[-1] > 100
    assert (s.metric_value == 0).all()


def test_async_load_on_a_variant_without_a_queue_fails_and_sync_load_on_queue_is_served():
    _, tl = run("hpa-v1", Burst(jobs=100, start=0, length=10), 20)
    assert tl.samples.errors.sum() == 100                # POST /jobs: async mode off (503)
    assert tl.samples.queue_length.isna().all()          # no Redis in hpa-v1
    _, tl = run("queue", Spike(peak_users=5, start=0, length=30, duration=30), 30)
    s = tl.samples
    assert s.rps.sum() > 20 and s.errors.sum() == 0      # /predict on the enqueue API
    assert (s.queue_length == 0).all() and s.spec_replicas.max() == 0


def test_a_full_queue_refuses_jobs_past_app_max_queue():
    v = load_variant("queue")
    api = copy.deepcopy(v.get("Deployment", "app-fastapi").doc)
    for e in api["spec"]["template"]["spec"]["containers"][0]["env"]:
        if e["name"] == "APP_MAX_QUEUE":
            e["value"] = "100"
    _, tl = run(v.replace(api), Burst(jobs=600, start=0, length=5), 60)
    s = tl.samples
    assert s.queue_length.max() == 100
    assert s.errors.sum() + s.rps.sum() == pytest.approx(600)
    assert s.errors.sum() > 300


# -- ScaledJob -----------------------------------------------------------------------------

def test_queue_jobs_batches_of_50_at_most_10_jobs_every_job_done_and_history_kept_at_5():
    b, tl = run("queue-jobs", Burst(jobs=1200, start=10, length=20), 120)
    s, loop = tl.samples, b.world.autoscalers[0]
    assert s.rps.sum() == pytest.approx(1200) and s.errors.sum() == 0
    assert s.spec_replicas.max() <= 10                   # maxReplicaCount
    assert s.spec_replicas.iloc[-1] == 0 and s.queue_length.iloc[-1] == 0
    created = tl.events_with("KEDAJobsCreated")
    n_jobs = sum(int(m.split()[1]) for m in created.message)
    assert n_jobs >= 1200 / 50                           # each Job takes at most 50
    assert all(j.taker is None or j.taker.done <= 50 for j in loop.jobs)
    assert len(loop.jobs) <= 5                           # successfulJobsHistoryLimit
    assert len(tl.events_with("Completed")) == n_jobs
    first = created.time.min()
    # first poll after the burst starts, LLEN 120 (2 s x 60 jobs/s): ceil(120 / 50) Jobs
    assert 10 <= first <= 15 and created.message[0] == "Created 3 jobs"
    assert tl.events_with("ScaledJobInactive").time.max() > s[s.queue_length > 0].time.max()


def test_queue_jobs_default_strategy_subtracts_running_jobs_accurate_only_pending_ones():
    """scale_jobs.go: default creates ``maxScale - running``; accurate ``maxScale - pending``
    (Jobs already running took their messages off the list, so they are not subtracted)."""
    v = load_variant("queue-jobs")
    created, drained = {}, {}
    for strategy in ("default", "accurate"):
        sj = copy.deepcopy(v.get("ScaledJob").doc)
        sj["spec"]["scalingStrategy"]["strategy"] = strategy
        _, tl = run(v.replace(sj), Burst(jobs=1200, start=0, length=20), 90)
        s = tl.samples
        assert s.rps.sum() == pytest.approx(1200)
        created[strategy] = [int(m.split()[1]) for m in tl.events_with("KEDAJobsCreated").message]
        drained[strategy] = s[(s.time > 20) & (s.queue_length == 0)].time.min()
    # First poll (t = 2 s, LLEN 120): 3 Jobs either way. Second poll: 3 Jobs run, none pending.
    assert created["default"][:2] == [3, 4] and created["accurate"][:2] == [3, 7]
    assert drained["accurate"] < drained["default"]


def test_queue_columns_are_nan_for_synchronous_variants():
    _, tl = run("hpa-v2", Spike(peak_users=10, duration=30), 30)
    assert math.isnan(tl.samples.queue_length.iloc[-1])


def test_pending_pod_conditions_count_a_job_pending_until_its_pod_has_them_all():
    """scale_jobs.go getPendingJobCount: with pendingPodConditions a Job is pending while no
    pod has every listed condition True; the twin's pods gain PodScheduled when bound and
    Ready once the container runs."""
    from labkit.autoscalers.keda_scaledjob import job_is_pending
    wanted = ("Ready", "PodScheduled")
    b = SimBackend()
    b.deploy("queue-jobs")
    b.load(Burst(jobs=300, start=0, length=3))
    b.run(2.2)                                      # the first poll (t = 2 s) created Jobs
    loop = b.world.autoscalers[0]
    assert loop.jobs and all(job_is_pending(j.view(), wanted) for j in loop.jobs)
    b.run(0.5)                                      # bound to a node, not started yet
    assert all(j.pod.node is not None for j in loop.jobs)
    assert all(job_is_pending(j.view(), wanted) for j in loop.jobs)
    assert not any(job_is_pending(j.view(), ("PodScheduled",)) for j in loop.jobs)
    b.run(5)                                        # containers running: not pending
    running = [j for j in loop.jobs if j.pod.phase == "Running"]
    assert running and not any(job_is_pending(j.view(), wanted) for j in running)


@pytest.mark.parametrize("variant", ["queue", "queue-jobs"])
def test_labkit_run_sends_jobs_to_the_queue_variants(variant, capsys):
    """`labkit run queue` on the twin: a profile given by name becomes producers posting jobs
    (lab.run sets mode="async" for the queue variants); every job is done, none refused."""
    from labkit.cli import main
    assert main(["run", variant, "--profile", "burst", "--users", "30", "--duration", "200"]) \
        == 0
    out = capsys.readouterr().out
    assert f"sim/{variant}" in out
    requests = next(line for line in out.splitlines() if line.strip().startswith("requests:"))
    errors = next(line for line in out.splitlines() if line.strip().startswith("errors:"))
    assert float(requests.split(":")[1]) == pytest.approx(30 * 20)   # 30 jobs/s for 20 s
    assert float(errors.split(":")[1]) == 0


def _edited_scaled_job(**spec):
    doc = copy.deepcopy(load_variant("queue-jobs").get("ScaledJob").doc)
    doc["spec"].update(spec)
    return doc


def test_kubectl_apply_of_an_edited_scaledjob_deletes_the_older_jobs_unless_gradual():
    """KEDA v2.20.2 scaledjob_controller.go deletePreviousVersionScaleJobs: a new generation
    deletes every Job of an older one (running or finished) unless rollout.strategy is
    gradual; either way the new maxReplicaCount holds from the next poll on."""
    for rollout, deleted in ((None, True), ({"strategy": "gradual"}, False)):
        b = SimBackend()
        b.deploy("queue-jobs")
        b.load(Burst(jobs=3000, start=0, length=30))
        b.run(15)
        loop = b.world.autoscalers[0]
        before = len(loop.jobs)
        assert before >= 5
        extra = {"rollout": rollout} if rollout else {}
        assert b.apply(_edited_scaled_job(maxReplicaCount=3, **extra)) == \
            ["scaledjob.keda.sh/app-batch configured"]
        tl = b.timeline()
        started = tl.events_with("ScaledJobRolloutCleanupStarted")
        if deleted:
            assert started.message.tolist() == [
                f"Deleting {before} jobs owned by the previous version of the scaledJob"]
            assert loop.jobs == []
        else:
            assert started.empty and len(loop.jobs) == before
        tl = b.run(60)
        later = tl.samples[tl.samples.time > 40]
        assert later.spec_replicas.max() <= 3
        assert tl.samples.rps.sum() > 0


def test_kubectl_delete_scaledjob_removes_its_jobs_and_the_list_stops_draining():
    b = SimBackend()
    b.deploy("queue-jobs")
    b.load(Burst(jobs=3000, start=0, length=30))
    b.run(15)
    loop = b.world.autoscalers[0]
    assert loop.jobs
    assert b.delete("scaledjob", "app-batch") == ['scaledjob.keda.sh "app-batch" deleted']
    assert loop.jobs == [] and loop not in b.world.autoscalers
    tl = b.run(60)
    s = tl.samples[tl.samples.time > 16]
    assert s.rps.sum() == 0 and s.queue_length.iloc[-1] > 1000
