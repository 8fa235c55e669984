"""Twin scenarios whose Timelines are stored in ``tests/sim/golden/`` (see README there).

Each scenario exercises a different part of the twin: every variant, scale-out and back, scale
to zero and the cold start, Pending pods on a full node, several nodes, injected faults, a
sample interval other than 1 s, and a compressed diurnal day that reaches ~170 pods. The golden
files were recorded from ``main`` before the twin was made faster (issue 14); the test replays
each scenario and compares the Timeline with the file column by column, so a speed-up cannot
change what a learner sees without someone explaining why.

Record again (only when a change of the twin's results is intended and explained in the
commit): ``.venv/bin/python scripts/record_golden_timelines.py``.
"""

from __future__ import annotations

import copy
from typing import Callable

from labkit.backends.sim import SimBackend
from labkit.load import Burst, Constant, Diurnal, LoadProfile, Ramp, Spike, Step, Trace
from labkit.manifests import Variant, load_variant
from labkit.timeline import Timeline

SPIKE = Spike(base_users=2, peak_users=100, start=30, length=300, duration=1200)
SPIKE_30MIN = Spike(base_users=0, peak_users=200, start=300, length=600, duration=1800)
IDLE_THEN_ONE = Step(steps=((0, 0), (20, 5), (120, 0), (500, 1), (560, 0)), duration=700,
                     spawn_rate=50)
BIG_NODE = {"node_cpu_milli": 64000, "node_memory_mib": 131072}
#: Asynchronous: 3000 jobs posted at 100 a second, workers (queue) or Jobs (queue-jobs).
JOB_BURST = Burst(jobs=3000, start=10, length=30, duration=300)


def _edited(variant: str, kind: str, edit: Callable[[dict], object]) -> Variant:
    v = load_variant(variant)
    doc = copy.deepcopy(v.get(kind).doc)
    edit(doc)
    return v.replace(doc)


def _max_replicas(variant: str, n: int) -> Variant:
    return _edited(variant, "HorizontalPodAutoscaler",
                   lambda d: d["spec"].__setitem__("maxReplicas", n))


def _run(variant: str | Variant, profile: LoadProfile | None, duration: float,
         **kw) -> Timeline:
    b = SimBackend(**kw)
    b.deploy(variant)
    b.load(profile)
    return b.run(duration)


def _segments(variant: str | Variant, profile: LoadProfile, steps, **kw) -> Timeline:
    """Run in segments; between them ``steps`` call ``fn(backend)`` (faults, repairs)."""
    b = SimBackend(**kw)
    b.deploy(variant)
    b.load(profile)
    for duration, fn in steps:
        b.run(duration)
        if fn is not None:
            fn(b)
    return b.timeline()


def _standard_kserve(doc: dict) -> None:
    doc["metadata"].setdefault("annotations", {})["serving.kserve.io/deploymentMode"] = \
        "Standard"
    doc["spec"]["predictor"].update(minReplicas=1, maxReplicas=5, scaleMetric="cpu",
                                    scaleTarget=50)


SCENARIOS: dict[str, Callable[[], Timeline]] = {
    "hpa-v1-spike": lambda: _run("hpa-v1", SPIKE, 1200),
    "hpa-v1-seed7-ramp": lambda: _run("hpa-v1", Ramp(start_users=0, end_users=150,
                                                     ramp_seconds=300, duration=900), 900,
                                      seed=7),
    "hpa-v1-full-node": lambda: _run("hpa-v1", Constant(users=400, duration=600), 600,
                                     params={"node_cpu_milli": 2000}),
    "hpa-v1-two-nodes": lambda: _run(_max_replicas("hpa-v1", 30),
                                     Constant(users=600, duration=600), 600, nodes=2),
    "hpa-v2-spike-30min": lambda: _run("hpa-v2", SPIKE_30MIN, 1800),
    "hpa-v2-legacy": lambda: _run(
        _edited("hpa-v2", "HorizontalPodAutoscaler", lambda d: d["spec"].pop("behavior")),
        SPIKE.with_(peak_users=250), 1200),
    "hpa-v2-sample-5s": lambda: _run("hpa-v2", SPIKE_30MIN, 1800, sample_interval=5.0),
    "hpa-v2-metrics-server-down": lambda: _segments(
        "hpa-v2", Constant(users=150, duration=900),
        [(200, lambda b: b.inject_fault("metrics-server")),
         (200, lambda b: b.inject_fault("metrics-server", False)), (300, None)]),
    "hpa-v2-trace": lambda: _run("hpa-v2", Trace(times=(0, 120, 240, 420, 600),
                                                 values=(5, 60, 20, 90, 0), unit="rps",
                                                 duration=800), 800),
    "hpa-v2-diurnal-2h-200pods": lambda: _run(
        _max_replicas("hpa-v2", 200), Diurnal(min_users=150, peak_users=3000, period=7200,
                                              duration=7200), 7200, params=BIG_NODE),
    "knative-spike-30min": lambda: _run("knative", SPIKE_30MIN, 1800),
    "knative-idle-then-one": lambda: _run("knative", IDLE_THEN_ONE, 700),
    "keda-spike-30min": lambda: _run("keda", SPIKE_30MIN, 1800),
    "keda-idle-then-one": lambda: _run("keda", IDLE_THEN_ONE, 700),
    "keda-trigger-fault": lambda: _segments(
        "keda", Constant(users=5, duration=400),
        [(100, lambda b: b.inject_fault("keda-trigger")), (120, None)]),
    "kserve-spike": lambda: _run("kserve", SPIKE, 1200),
    "queue-burst": lambda: _run("queue", JOB_BURST, 400),
    "queue-jobs-burst": lambda: _run("queue-jobs", JOB_BURST, 300),
    "kserve-standard": lambda: _run(_edited("kserve", "InferenceService", _standard_kserve),
                                    Constant(users=100, duration=300), 300),
}
